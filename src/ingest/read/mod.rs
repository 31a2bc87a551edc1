//! The read stage of ingest: an input's text, record by record, in order.
//!
//! Opens an input (decompressing it), keeps the window of lines to read (resuming after
//! what an earlier run read, holding back an unfinished last line), maps a CSV header's
//! columns to the contract's fields, parses CSV or NDJSON chunks on every core and hands
//! them, in input order, to the accept stage; what cannot be read becomes a reject.
//!
//! One concept per file: [`window`] (which lines of an input a run reads), [`csv_records`]
//! and [`ndjson_records`] (records and their raw text), [`mapping`] (a log's own column
//! names and time format), [`validate`] (the contract's field rules), [`parsing`] (one
//! record's whole path to an event or a reject) and [`chunks`] (that on every core, in
//! input order).

pub(crate) mod chunks;
pub mod csv_records;
pub(crate) mod mapping;
pub mod ndjson_records;
pub(crate) mod parsing;
pub mod validate;
pub(crate) mod window;

use std::io::{BufRead, Read};

use crate::error::{Error, Result};
use crate::ingest::accept::Accept;
use crate::ingest::fx::FxRates;
use crate::ingest::input::{self, Encoding, Input};
use crate::schema::INPUT_FIELDS;
use crate::warehouse::manifest::{Counts, TextPosition};
use chunks::{Chunk, Ending, Framing};
use mapping::ColumnMapping;
use parsing::{parse_csv_chunk, parse_ndjson_chunk, CsvLayout};
use validate::Reject;
use window::LineWindow;

/// Reads inputs into the accept stage, with the run's mapping, rates and record limit.
pub(crate) struct InputReader<'r, 'a> {
    pub mapping: &'r ColumnMapping,
    pub fx: &'r FxRates,
    pub max_record: usize,
    /// Threads that parse.
    pub threads: usize,
    pub accept: &'r mut Accept<'a>,
}

/// What of an input could not be read.
enum Unread {
    Nothing,
    /// A CSV file whose header names none of the contract's required columns: binary
    /// garbage, or some other table. Nothing of it is read.
    NotALog(String),
    /// Its CSV header (too long, or its bytes unreadable): none of its records can be read.
    Header(std::io::Error),
    /// Everything from this 1-based line on.
    From(u64, std::io::Error),
}

impl Unread {
    /// What is left unread when reading ended so, after `lines` lines.
    fn after(ending: Ending, lines: u64) -> Self {
        match ending {
            Ending::Complete => Unread::Nothing,
            Ending::Broken(e) => Unread::From(lines + 1, e),
        }
    }
}

/// What reading one input gave.
pub(crate) struct InputRead {
    /// Why the input turned out not to be a transaction log (nothing of it was read).
    pub not_a_log: Option<String>,
    pub counts: Counts,
    pub read_to: TextPosition,
    pub held_back: u64,
}

impl InputReader<'_, '_> {
    /// Reads one input (from `resume` on, when given) into the accept stage, hashing its
    /// raw bytes into `checksum` when given.
    pub fn read(
        &mut self,
        input: &Input,
        forced: Option<Encoding>,
        progress: Option<indicatif::ProgressBar>,
        resume: Option<TextPosition>,
        hold_back: bool,
        checksum: Option<input::RunningChecksum>,
    ) -> Result<InputRead> {
        let opened = input::open(input, forced, progress, checksum)?;
        let mut text =
            LineWindow::new(opened.reader, hold_back, self.max_record).reading(opened.read_size);
        let mut counts = Counts::default();
        let corrupt = |e| Error::corrupt(&input.name, e);
        let ending = match (opened.encoding, resume) {
            (Encoding::Csv, None) => self.ingest_csv(input, &mut text, 0, &mut counts)?,
            (Encoding::Csv, Some(at)) => match text.take_first_line() {
                // The header still names the columns; the records before `at` were read.
                Ok(header) => {
                    text.skip_to(at.offset).map_err(corrupt)?;
                    let skipped_lines = at.lines.saturating_sub(1);
                    let reader = std::io::Cursor::new(header).chain(&mut text);
                    self.ingest_csv(input, reader, skipped_lines, &mut counts)?
                }
                Err(e) => Unread::Header(e),
            },
            (Encoding::Ndjson, at) => {
                let at = at.unwrap_or_default();
                text.skip_to(at.offset).map_err(corrupt)?;
                self.ingest_ndjson(input, &mut text, at.lines, &mut counts)?
            }
        };
        let mut not_a_log = None;
        match ending {
            Unread::Nothing => {}
            Unread::NotALog(why) => not_a_log = Some(why),
            Unread::Header(e) => self.unreadable(input, 1, e, true, &mut counts)?,
            Unread::From(line, e) => self.unreadable(input, line, e, false, &mut counts)?,
        }
        debug_assert!(counts.balanced());
        Ok(InputRead {
            not_a_log,
            counts,
            read_to: text.position(),
            held_back: text.held_back(),
        })
    }

    /// Records that the rest of an input, from `line` on, could not be read: one reject, of
    /// kind `record_too_long` when a CSV header was too long to read, else
    /// `unreadable_input`. Errors of the machine rather than the input (permissions, a full
    /// disk) stop the run instead.
    fn unreadable(
        &mut self,
        input: &Input,
        line: u64,
        e: std::io::Error,
        header: bool,
        counts: &mut Counts,
    ) -> Result<()> {
        use std::io::ErrorKind;
        if matches!(
            e.kind(),
            ErrorKind::PermissionDenied | ErrorKind::StorageFull
        ) {
            return Err(Error::io(&input.name, e));
        }
        let too_long = csv_records::RecordTooLong::of(&e);
        let reject = match too_long {
            Some(too_long) if header => Reject::new(
                validate::RejectKind::RecordTooLong,
                format!(
                    "the CSV header is longer than the maximum record size of {} bytes (--max-record-bytes); the file's records cannot be read without it",
                    too_long.max_record
                ),
            ),
            _ => Reject::new(
                validate::RejectKind::UnreadableInput,
                format!(
                    "the input cannot be read from this line on ({e}); the records before it are kept; replace the file with an undamaged copy and ingest it again"
                ),
            ),
        };
        let line = too_long.map_or(line, |t| t.line.max(line));
        tracing::warn!("{}:{line}: {}", input.name, reject.reason);
        counts.records += 1;
        counts.rejected += 1;
        self.accept.reject(&reject, input, line, b"")
    }

    /// Reads the CSV records of an input; `Ok` with what could not be read, if anything.
    fn ingest_csv<R: BufRead + Send>(
        &mut self,
        input: &Input,
        reader: R,
        skipped_lines: u64,
        counts: &mut Counts,
    ) -> Result<Unread> {
        let mut records = csv_records::CsvRecords::with_max_record(reader, self.max_record);
        match records.advance() {
            Ok(true) => {}
            Ok(false) => return Ok(Unread::Nothing), // an empty file
            Err(e) => return Ok(Unread::Header(e)),
        }
        records.add_skipped_lines(skipped_lines);
        let layout = match map_header(&records, self.mapping) {
            Ok(layout) => layout,
            Err(why) => return Ok(Unread::NotALog(why)),
        };
        // The records after the header, parsed on every core, taken in input order.
        let (rest, mut lines_before) = records.into_rest();
        let (mapping, fx, max) = (self.mapping.clone(), self.fx.clone(), self.max_record);
        let threads = self.threads;
        let parse = |chunk: &mut Chunk, _: u64| parse_csv_chunk(chunk, &layout, &mapping, &fx, max);
        let ending = chunks::parse_in_order(
            rest,
            &input.name,
            Framing::Csv,
            max,
            threads,
            parse,
            |chunk| {
                self.accept.take_chunk(chunk, input, lines_before, counts)?;
                lines_before += chunk.newlines;
                Ok(())
            },
        )?;
        Ok(Unread::after(ending, lines_before))
    }

    /// Reads the NDJSON records of an input; `Ok` with what could not be read, if anything.
    fn ingest_ndjson<R: BufRead + Send>(
        &mut self,
        input: &Input,
        reader: R,
        skipped_lines: u64,
        counts: &mut Counts,
    ) -> Result<Unread> {
        let (mapping, fx, max) = (self.mapping.clone(), self.fx.clone(), self.max_record);
        let threads = self.threads;
        let parse = |chunk: &mut Chunk, seq: u64| {
            // Line 1 of the text may start with a byte-order mark.
            let at_line_one = seq == 0 && skipped_lines == 0;
            parse_ndjson_chunk(chunk, at_line_one, &mapping, &fx, max)
        };
        let mut lines_before = skipped_lines;
        let ending = chunks::parse_in_order(
            reader,
            &input.name,
            Framing::Lines,
            max,
            threads,
            parse,
            |chunk| {
                self.accept.take_chunk(chunk, input, lines_before, counts)?;
                lines_before += chunk.newlines;
                Ok(())
            },
        )?;
        Ok(Unread::after(ending, lines_before))
    }
}

/// The layout of a CSV file from its header (the current record of `records`): contract
/// fields (or their mapped names) by position; other columns are ignored. `Err` with why the
/// file is no transaction log when the header names none of the required columns.
fn map_header<R: BufRead>(
    records: &csv_records::CsvRecords<R>,
    mapping: &ColumnMapping,
) -> std::result::Result<CsvLayout, String> {
    let mut columns: [Option<usize>; INPUT_FIELDS.len()] = [None; INPUT_FIELDS.len()];
    for i in 0..records.field_count() {
        let name = String::from_utf8_lossy(records.field(i));
        if let Some(f) = mapping.columns.iter().position(|n| n == name.trim()) {
            columns[f].get_or_insert(i);
        }
    }
    if validate::f::REQUIRED.iter().all(|f| columns[*f].is_none()) {
        let names = validate::f::REQUIRED.map(|f| mapping.columns[f].as_str());
        return Err(format!(
            "not a transaction log: its first line names none of the columns {}; check the file (or map its columns in a job file) and ingest it again",
            names.join(", ")
        ));
    }
    Ok(CsvLayout {
        columns,
        width: records.field_count(),
    })
}

/// Checks, before anything is written, that every renamed column exists in each CSV input's
/// header: a mapping that does not fit would otherwise reject every line.
pub(crate) fn check_mapping(
    inputs: &[Input],
    mapping: &ColumnMapping,
    max_record: usize,
) -> Result<()> {
    for input in inputs
        .iter()
        .filter(|i| i.path.is_some() && i.unreadable.is_none())
    {
        let opened = input::open(input, None, None, None)?;
        if opened.encoding != Encoding::Csv {
            continue;
        }
        let mut records = csv_records::CsvRecords::with_max_record(opened.reader, max_record);
        match records.advance() {
            Ok(true) => {}
            // An empty file has no columns to check; one whose header cannot be read gets its
            // reject when it is ingested.
            Ok(false) | Err(_) => continue,
        }
        let header: Vec<String> = (0..records.field_count())
            .map(|i| String::from_utf8_lossy(records.field(i)).trim().to_string())
            .collect();
        for (f, column) in mapping.columns.iter().enumerate() {
            let Some(origin) = &mapping.origins[f] else {
                continue;
            };
            if !header.contains(column) {
                return Err(Error::Config(format!(
                    "{origin}: {} is mapped to column {column:?}, which {} does not have (its columns: {}); nothing was ingested",
                    crate::schema::INPUT_FIELDS[f],
                    input.name,
                    header.join(", ")
                )));
            }
        }
    }
    Ok(())
}
