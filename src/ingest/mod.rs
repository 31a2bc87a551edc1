//! Ingest: raw transaction logs in, committed Parquet out, exactly once.
//!
//! The pipeline for one run:
//! 1. resolve the inputs (files, folders, globs, stdin) and skip files already ingested;
//! 2. stream each input's records ([`csv_records`], [`ndjson_records`]);
//! 3. apply the contract's rules ([`validate`]); a broken line becomes a row of `rejects`;
//!    steps 2 and 3 run on every core, a chunk of the input at a time ([`chunks`],
//!    [`parsing`]), and hand their results on in input order;
//! 4. drop re-deliveries of an `event_id` already accepted, in this run or an earlier one;
//! 5. buffer accepted rows per CST day and write sorted Parquet files into staging, each
//!    file also summed into the day's `per_second` and `per_hour` rollups ([`PerSecond`],
//!    [`PerHour`]);
//! 6. commit: move the files into place and write the manifest, atomically.
//!
//! Memory stays bounded: rows go to disk every [`IngestOptions::rows_per_file`] rows per day,
//! and seen ids beyond [`IngestOptions::ids_in_memory`] spill to disk by minute ([`dedupe`]).

pub mod batches;
pub mod chunks;
pub mod csv_records;
pub mod dedupe;
pub mod fx;
pub mod input;
pub mod mapping;
pub mod ndjson_records;
pub mod parsing;
pub mod summary;
pub mod validate;
pub mod window;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use crate::cst::date_from_days;
use crate::error::{Error, Result};
use crate::schema::{
    DUPLICATES, FX_RATES, FX_RATES_SCHEMA, PER_HOUR, PER_SECOND, REJECTS, TRANSACTIONS,
};
use crate::warehouse::commit::{self, CommitPlan, STAGING_DIR};
use crate::warehouse::manifest::{
    Counts, DataFile, InputRecord, Manifest, RunRecord, TextPosition,
};
use crate::warehouse::parquet_files::{
    for_each_event_id, sort_batch, write_file, write_sorted_file,
};
use crate::warehouse::per_hour;
use crate::warehouse::per_second;
use crate::warehouse::rollups::Rollups;
use crate::warehouse::Warehouse;
use batches::{DayRows, DuplicatesBuilder, RejectsBuilder};
use chunks::{Chunk, Ending, Framing, Outcome, StoredEvent};
use dedupe::{id_hash, SeenIds, SmallKey};
use fx::FxRates;
use input::{Encoding, Input};
use mapping::ColumnMapping;
use parsing::{parse_csv_chunk, parse_ndjson_chunk, CsvLayout};
use validate::Reject;
use window::LineWindow;

/// What to ingest and how.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files, folders, globs, or `-` for standard input, in de-duplication order.
    pub inputs: Vec<String>,
    /// A rates CSV; without one, the warehouse's stored rates (or the bundled sample rates).
    pub fx_rates: Option<PathBuf>,
    /// Forces the encoding of standard input (files are known by their names).
    pub stdin_encoding: Option<Encoding>,
    /// Accepted rows of one CST day buffered before they are written to a file.
    pub rows_per_file: usize,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Event ids held in memory for de-duplication before older minutes spill to disk.
    pub ids_in_memory: usize,
    /// Source column names and time format, for logs that do not use the contract's.
    pub mapping: ColumnMapping,
    /// A file modified less than this long ago may still be growing: its unfinished last
    /// line (no newline yet) is left for a later run. `None` reads every file to its end.
    pub settle: Option<std::time::Duration>,
    /// Commit a run even when it found nothing new (the manifest then lists the skipped
    /// inputs). Scheduled jobs turn this off so that an idle run leaves no trace.
    pub commit_when_nothing_new: bool,
    /// The longest record held whole, in bytes: a longer one (a line of GiBs with no newline)
    /// is rejected as `record_too_long`, only its start kept, and memory stays bounded.
    pub max_record_bytes: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            inputs: Vec::new(),
            fx_rates: None,
            stdin_encoding: None,
            rows_per_file: 1_000_000,
            progress: false,
            ids_in_memory: 8_000_000,
            mapping: ColumnMapping::default(),
            settle: None,
            commit_when_nothing_new: true,
            max_record_bytes: chunks::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// The outcome of one ingest run: the run record also written to the manifest.
#[derive(Debug, Clone)]
pub struct IngestReport {
    pub run: RunRecord,
    /// False when the run found nothing new and, as asked, committed nothing.
    pub committed: bool,
    pub rejects_by_kind: BTreeMap<String, u64>,
    pub warehouse: PathBuf,
}

/// Rollup groups (`per_second` and `per_hour`) held for all days before they are written out
/// early (a run over many days, or over logs of very many platforms or categories): ~100
/// bytes each.
const ROLLUP_GROUPS_IN_MEMORY: usize = 4_000_000;

/// Bytes of strings buffered for one file before it is written, whatever its row count:
/// records may be up to `--max-record-bytes` long, and an Arrow string column holds at most
/// 2 GiB. Typical rows (~150 bytes) reach `rows_per_file` long before this.
const BYTES_PER_FILE: usize = 256 << 20;

/// Accepted rows and seen ids of one CST day.
struct DayBuffer {
    rows: DayRows,
    files_written: usize,
    rows_written: u64,
    /// The day's files written so far, summed per second and per hour (written at the end
    /// of the run).
    rollups: Rollups,
    rollup_files: usize,
}

/// The state of a run between its first input and its commit.
struct Run<'w> {
    wh: &'w Warehouse,
    manifest: Manifest,
    run_id: String,
    staging: PathBuf,
    fx: FxRates,
    /// The rates the warehouse held before this run (rewritten only if they changed).
    stored_fx: FxRates,
    days: HashMap<i32, DayBuffer, BuildHasherDefault<SmallKey>>,
    rejects: RejectsBuilder,
    duplicates: DuplicatesBuilder,
    rejects_by_kind: BTreeMap<String, u64>,
    new_files: Vec<DataFile>,
    moves: Vec<(String, String)>,
    rows_per_file: usize,
    /// Files staged so far per line table (rejects, duplicates), for their names.
    line_table_files: BTreeMap<&'static str, usize>,
    pending_write: Option<PendingWrite>,
    /// Every accepted id, committed or from this run, in bounded memory.
    seen: SeenIds,
    mapping: ColumnMapping,
    commit_when_nothing_new: bool,
    max_record: usize,
}

/// The rates of a run: those the warehouse holds, and those the run converts with.
struct RunRates {
    stored: FxRates,
    fx: FxRates,
}

/// A Parquet file being written on another thread, staged once it is done.
struct PendingWrite {
    handle: std::thread::JoinHandle<Result<Written>>,
    rel: String,
    table: &'static str,
    cst_date: Option<String>,
    rows: u64,
}

/// What the writer thread did: the file's size, and for a `transactions` file its rows
/// summed per second and per hour (of the CST day given).
struct Written {
    bytes: u64,
    rollups: Option<(i32, Rollups)>,
}

/// How the writer thread treats a batch.
#[derive(Clone, Copy)]
enum WriteKind {
    /// A `transactions` file of the CST day: sorted by (event_time, event_id), then summed
    /// per second and per hour.
    Transactions(i32),
    /// Written as it is, its sort order (possibly none) recorded.
    Sorted(&'static [usize]),
}

/// Ingests the inputs into the warehouse at `root`, creating it if needed.
pub fn ingest(root: &Path, opts: &IngestOptions) -> Result<IngestReport> {
    if !(256..=chunks::MAX_MAX_RECORD_BYTES).contains(&opts.max_record_bytes) {
        return Err(Error::Usage(format!(
            "a maximum record size of {} bytes is out of range: give 256 to {} (--max-record-bytes)",
            opts.max_record_bytes,
            chunks::MAX_MAX_RECORD_BYTES
        )));
    }
    let inputs = input::resolve_inputs(&opts.inputs)?;
    if inputs.is_empty() {
        return Err(Error::Usage(
            "no log files among the inputs (expected *.csv, *.jsonl or *.ndjson, optionally .gz or .zst)".into(),
        ));
    }
    if !opts.mapping.is_identity() {
        check_mapping(&inputs, &opts.mapping, opts.max_record_bytes)?;
    }
    let given_rates = match &opts.fx_rates {
        Some(path) => Some(FxRates::from_file(path)?),
        None => None,
    };
    let (wh, manifest) = Warehouse::open_or_create(root)?;
    let stored_fx = load_stored_rates(&wh, &manifest)?;
    let mut fx = stored_fx.clone();
    match given_rates {
        Some(rates) => {
            // A rate the warehouse already converted with may not change: the amounts already
            // ingested would disagree with the new ones and with the fx_rates table.
            let text =
                |r: i64| crate::money::format_fixed(i128::from(r), crate::money::RATE_SCALE as u32);
            for (currency, day, rate) in rates.iter() {
                if let Some(stored) = fx.get(currency, day).filter(|s| *s != rate) {
                    return Err(Error::Data(format!(
                        "{}: {currency} on {} is {} here but {} in the warehouse's fx_rates, which earlier runs converted with; keep the stored rate",
                        opts.fx_rates.as_deref().unwrap_or(Path::new("rates")).display(),
                        date_from_days(day),
                        text(rate),
                        text(stored),
                    )));
                }
            }
            fx.merge(&rates)
        }
        None if fx.is_empty() => {
            tracing::info!("no --fx-rates and none stored: using the bundled sample rates");
            fx = FxRates::parse(fx::BUNDLED_RATES.as_bytes(), "<bundled rates>")?;
        }
        None => {}
    }

    let run_id = Manifest::run_id(manifest.next_run);
    let staging = root.join(STAGING_DIR).join(&run_id);
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(staging.display().to_string(), e))?;
    let rates = RunRates {
        stored: stored_fx,
        fx,
    };
    let result = run_inputs(&wh, manifest, run_id, rates, &staging, &inputs, opts);
    if result.is_err() {
        // Nothing of a failed run may linger: the warehouse stays exactly as it was.
        commit::discard_uncommitted(&staging);
    }
    result
}

fn run_inputs(
    wh: &Warehouse,
    manifest: Manifest,
    run_id: String,
    rates: RunRates,
    staging: &Path,
    inputs: &[Input],
    opts: &IngestOptions,
) -> Result<IngestReport> {
    let started_at = now_rfc3339();
    let mut run = Run {
        wh,
        manifest,
        run_id,
        staging: staging.to_path_buf(),
        fx: rates.fx,
        stored_fx: rates.stored,
        days: HashMap::default(),
        rejects: RejectsBuilder::default(),
        duplicates: DuplicatesBuilder::default(),
        rejects_by_kind: BTreeMap::new(),
        new_files: Vec::new(),
        moves: Vec::new(),
        rows_per_file: opts.rows_per_file.max(1),
        line_table_files: BTreeMap::new(),
        pending_write: None,
        seen: SeenIds::new(staging.join("ids"), opts.ids_in_memory),
        mapping: opts.mapping.clone(),
        commit_when_nothing_new: opts.commit_when_nothing_new,
        max_record: opts.max_record_bytes,
    };
    let progress = summary::progress_bar(inputs, opts.progress);
    let mut records = Vec::new();
    let mut seen_in_run: HashMap<(u64, String), String> = HashMap::new();
    let mut checksums = input::ChecksumsAhead::start(
        inputs
            .iter()
            .enumerate()
            .filter(|(_, input)| input.unreadable.is_none())
            .filter_map(|(n, input)| {
                let path = input.path.clone()?;
                let prefix = run
                    .manifest
                    .last_read_of(&absolute_name(&path))
                    .and_then(|p| p.size);
                Some((n, path, input.name.clone(), prefix))
            })
            .collect(),
    );
    for (n, input) in inputs.iter().enumerate() {
        crate::faults::point("input", n);
        let mut record = InputRecord {
            name: input.name.clone(),
            path: input.path.as_deref().map(absolute_name),
            size: None,
            blake3: None,
            skipped_as_ingested_by: None,
            resumed_from: None,
            read_to: None,
            held_back: 0,
            counts: Counts::default(),
            unreadable: input.unreadable.clone(),
        };
        if let Some(why) = &input.unreadable {
            tracing::warn!("{}: skipped: {why}", input.name);
            records.push(record);
            continue;
        }
        let mut resume = None;
        let mut hold_back = false;
        if let (Some(path), Some(abs)) = (&input.path, &record.path) {
            let prior = run.manifest.last_read_of(abs).cloned();
            let prefix = prior.as_ref().and_then(|p| p.size);
            let sums = checksums.get(n, path, &input.name, prefix)?;
            let (size, hash) = (sums.size, sums.blake3.clone());
            let earlier = run
                .manifest
                .ingested_by(size, &hash)
                .map(str::to_string)
                .or_else(|| seen_in_run.get(&(size, hash.clone())).cloned());
            record.size = Some(size);
            record.blake3 = Some(hash.clone());
            if let Some(by) = earlier {
                tracing::info!(
                    "{}: same bytes as already ingested by {by}; skipped",
                    input.name
                );
                if let Some(p) = &progress {
                    p.inc(size);
                }
                record.skipped_as_ingested_by = Some(by);
                records.push(record);
                continue;
            }
            seen_in_run.insert((size, hash), run.run_id.clone());
            // A file that starts with exactly the bytes an earlier run read has grown (or its
            // unfinished last line was completed): read on from where that run stopped.
            resume = prior
                .filter(|p| p.blake3.is_some() && p.blake3 == sums.prefix_blake3)
                .and_then(|p| p.read_to)
                .filter(|at| at.offset > 0);
            if let Some(at) = resume {
                tracing::info!(
                    "{}: grew since it was last read; reading on from line {}",
                    input.name,
                    at.lines + 1
                );
            }
            hold_back = opts
                .settle
                .is_some_and(|window| input::modified_within(path, window));
        }
        let read = run.ingest_input(
            input,
            opts.stdin_encoding,
            progress.clone(),
            resume,
            hold_back,
        )?;
        record.counts = read.counts;
        record.resumed_from = resume;
        record.read_to = Some(read.read_to);
        record.held_back = read.held_back;
        if let Some(why) = read.not_a_log {
            tracing::warn!("{}: skipped: {why}", input.name);
            record.unreadable = Some(why);
        }
        records.push(record);
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    run.finish(records, started_at)
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
struct InputRead {
    /// Why the input turned out not to be a transaction log (nothing of it was read).
    not_a_log: Option<String>,
    counts: Counts,
    read_to: TextPosition,
    held_back: u64,
}

impl Run<'_> {
    fn ingest_input(
        &mut self,
        input: &Input,
        forced: Option<Encoding>,
        progress: Option<indicatif::ProgressBar>,
        resume: Option<TextPosition>,
        hold_back: bool,
    ) -> Result<InputRead> {
        let opened = input::open(input, forced, progress)?;
        let mut text = LineWindow::new(opened.reader, hold_back, self.max_record);
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
        self.reject(&reject, input, line, b"")
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
        // Header: contract fields (or their mapped names) by position; other columns are
        // ignored.
        let mut columns: [Option<usize>; 13] = [None; 13];
        for i in 0..records.field_count() {
            let name = String::from_utf8_lossy(records.field(i));
            if let Some(f) = self.mapping.columns.iter().position(|n| n == name.trim()) {
                columns[f].get_or_insert(i);
            }
        }
        if validate::f::REQUIRED.iter().all(|f| columns[*f].is_none()) {
            let names = validate::f::REQUIRED.map(|f| self.mapping.columns[f].as_str());
            return Ok(Unread::NotALog(format!(
                "not a transaction log: its first line names none of the columns {}; check the file (or map its columns in a job file) and ingest it again",
                names.join(", ")
            )));
        }
        let layout = CsvLayout {
            columns,
            width: records.field_count(),
        };
        // The records after the header, parsed on every core, taken in input order.
        let (rest, mut lines_before) = records.into_rest();
        let (mapping, fx, max) = (self.mapping.clone(), self.fx.clone(), self.max_record);
        let parse = |chunk: &mut Chunk, _: u64| parse_csv_chunk(chunk, &layout, &mapping, &fx, max);
        let ending =
            chunks::parse_in_order(rest, &input.name, Framing::Csv, max, parse, |chunk| {
                self.take_chunk(chunk, input, lines_before, counts)?;
                lines_before += chunk.newlines;
                Ok(())
            })?;
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
        let parse = |chunk: &mut Chunk, seq: u64| {
            // Line 1 of the text may start with a byte-order mark.
            let at_line_one = seq == 0 && skipped_lines == 0;
            parse_ndjson_chunk(chunk, at_line_one, &mapping, &fx, max)
        };
        let mut lines_before = skipped_lines;
        let ending =
            chunks::parse_in_order(reader, &input.name, Framing::Lines, max, parse, |chunk| {
                self.take_chunk(chunk, input, lines_before, counts)?;
                lines_before += chunk.newlines;
                Ok(())
            })?;
        Ok(Unread::after(ending, lines_before))
    }

    /// The order-dependent part of reading a chunk: de-duplication, rows, rejects, counts.
    fn take_chunk(
        &mut self,
        chunk: &Chunk,
        input: &Input,
        lines_before: u64,
        counts: &mut Counts,
    ) -> Result<()> {
        for record in &chunk.records {
            counts.records += 1;
            let line = lines_before + record.line;
            match &record.outcome {
                Outcome::Accepted(stored) => {
                    if self.accept(stored, chunk.strings(), input, line)? {
                        counts.accepted += 1;
                    } else {
                        counts.duplicates += 1;
                    }
                }
                Outcome::Rejected { reject, raw } => {
                    counts.rejected += 1;
                    self.reject(reject, input, line, &chunk.text[raw.clone()])?;
                }
            }
        }
        Ok(())
    }

    /// Adds an accepted event (stored with `strings`) unless its id was seen before;
    /// `Ok(false)` for a duplicate, which is recorded in the `duplicates` table instead.
    fn accept(&mut self, e: &StoredEvent, strings: &str, input: &Input, line: u64) -> Result<bool> {
        let day = match self.days.entry(e.day) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                load_committed_ids(self.wh, &self.manifest, e.day, &mut self.seen)?;
                v.insert(DayBuffer {
                    rows: DayRows::default(),
                    files_written: 0,
                    rows_written: 0,
                    rollups: Rollups::default(),
                    rollup_files: 0,
                })
            }
        };
        if !self.seen.insert(e.event_time_ms, e.id_hash)? {
            self.duplicates
                .append(&self.run_id, &input.name, line, &e.view(strings));
            if self.duplicates.len() >= self.rows_per_file {
                self.flush_duplicates()?;
            }
            return Ok(false);
        }
        day.rows.push_stored(e, strings);
        if day.rows.len() >= self.rows_per_file || day.rows.bytes() >= BYTES_PER_FILE {
            self.flush_day(e.day)?;
        }
        Ok(true)
    }

    fn reject(&mut self, reject: &Reject, input: &Input, line: u64, raw: &[u8]) -> Result<()> {
        *self
            .rejects_by_kind
            .entry(reject.kind.as_str().to_string())
            .or_default() += 1;
        self.rejects
            .append(&self.run_id, &input.name, line, reject, raw);
        if self.rejects.len() >= self.rows_per_file || self.rejects.bytes() >= BYTES_PER_FILE {
            self.flush_rejects()?;
        }
        Ok(())
    }

    fn flush_day(&mut self, day: i32) -> Result<()> {
        let Some(buffer) = self.days.get_mut(&day) else {
            return Ok(());
        };
        if buffer.rows.is_empty() {
            return Ok(());
        }
        let batch = buffer.rows.finish()?;
        let date = date_from_days(day).to_string();
        let rel = format!(
            "{TRANSACTIONS}/{}={date}/part-{}-{:04}.parquet",
            crate::schema::PARTITION_COLUMN,
            self.run_id,
            buffer.files_written
        );
        buffer.files_written += 1;
        buffer.rows_written += batch.num_rows() as u64;
        if self.days.values().map(|d| d.rollups.len()).sum::<usize>() > ROLLUP_GROUPS_IN_MEMORY {
            self.flush_rollups()?;
        }
        // Sorted by event_time, then event_id, so files are the same whatever the input order.
        self.write_in_background(
            rel,
            TRANSACTIONS,
            Some(date),
            batch,
            WriteKind::Transactions(day),
        )
    }

    /// Stages each day's `per_second` and `per_hour` groups summed so far as files of that
    /// day.
    fn flush_rollups(&mut self) -> Result<()> {
        let mut days: Vec<i32> = self.days.keys().copied().collect();
        days.sort_unstable();
        for day in days {
            let Some(buffer) = self.days.get_mut(&day) else {
                continue;
            };
            if buffer.rollups.is_empty() {
                continue;
            }
            let seconds = buffer.rollups.per_second.take_batch()?;
            let hours = buffer.rollups.per_hour.take_batch()?;
            let date = date_from_days(day).to_string();
            let seq = buffer.rollup_files;
            buffer.rollup_files += 1;
            let sorted = WriteKind::Sorted(&[0, 1, 2]);
            let rel = per_second::file_path(&date, &self.run_id, seq);
            self.write_in_background(rel, PER_SECOND, Some(date.clone()), seconds, sorted)?;
            let rel = per_hour::file_path(&date, &self.run_id, seq);
            self.write_in_background(rel, PER_HOUR, Some(date), hours, sorted)?;
        }
        Ok(())
    }

    fn flush_rejects(&mut self) -> Result<()> {
        if self.rejects.is_empty() {
            return Ok(());
        }
        let batch = self.rejects.finish()?;
        self.write_line_table(REJECTS, batch)
    }

    fn flush_duplicates(&mut self) -> Result<()> {
        if self.duplicates.is_empty() {
            return Ok(());
        }
        let batch = self.duplicates.finish()?;
        self.write_line_table(DUPLICATES, batch)
    }

    /// Stages the next `<table>/<table>-<run>-<n>.parquet` of a per-line table (rejects,
    /// duplicates): unpartitioned, in input order.
    fn write_line_table(&mut self, table: &'static str, batch: RecordBatch) -> Result<()> {
        let seq = self.line_table_files.entry(table).or_default();
        let rel = format!("{table}/{table}-{}-{:04}.parquet", self.run_id, *seq);
        *seq += 1;
        self.write_in_background(rel, table, None, batch, WriteKind::Sorted(&[]))
    }

    /// Writes a staged Parquet file on another thread, so encoding and compression use the
    /// second core while parsing goes on. At most one write is in flight, which bounds memory
    /// to two batches.
    fn write_in_background(
        &mut self,
        rel: String,
        table: &'static str,
        cst_date: Option<String>,
        batch: RecordBatch,
        kind: WriteKind,
    ) -> Result<()> {
        self.finish_pending_write()?;
        let path = self.staging.join(&rel);
        let rows = batch.num_rows() as u64;
        let handle = std::thread::spawn(move || match kind {
            WriteKind::Transactions(day) => {
                let key = [1, 0];
                let sorted = sort_batch(&batch, &key)?;
                drop(batch); // the unsorted rows, before encoding needs memory
                let rollups = Rollups::of_transactions(&sorted)?;
                let bytes = write_sorted_file(&path, &sorted.schema(), &sorted, &key)?;
                Ok(Written {
                    bytes,
                    rollups: Some((day, rollups)),
                })
            }
            WriteKind::Sorted(sorted_by) => Ok(Written {
                bytes: write_sorted_file(&path, &batch.schema(), &batch, sorted_by)?,
                rollups: None,
            }),
        });
        self.pending_write = Some(PendingWrite {
            handle,
            rel,
            table,
            cst_date,
            rows,
        });
        Ok(())
    }

    fn finish_pending_write(&mut self) -> Result<()> {
        if let Some(p) = self.pending_write.take() {
            let written = p.handle.join().map_err(|_| {
                Error::Other(anyhow::anyhow!("the Parquet writer thread panicked"))
            })??;
            if let Some((day, rollups)) = written.rollups {
                if let Some(buffer) = self.days.get_mut(&day) {
                    buffer.rollups.merge(rollups);
                }
            }
            self.stage(p.rel, p.table, p.cst_date, p.rows, written.bytes);
        }
        Ok(())
    }

    fn stage(&mut self, rel: String, table: &str, cst_date: Option<String>, rows: u64, bytes: u64) {
        let staged = format!("{STAGING_DIR}/{}/{rel}", self.run_id);
        self.moves.push((staged, rel.clone()));
        self.new_files.push(DataFile {
            table: table.into(),
            path: rel,
            cst_date,
            rows,
            bytes,
            run_id: self.run_id.clone(),
        });
    }

    /// Writes what is buffered, the rates, and commits the run.
    fn finish(mut self, inputs: Vec<InputRecord>, started_at: String) -> Result<IngestReport> {
        let mut days: Vec<i32> = self.days.keys().copied().collect();
        days.sort_unstable();
        for day in &days {
            self.flush_day(*day)?;
        }
        self.finish_pending_write()?; // the last day's rows summed per second and hour
        self.flush_rollups()?;
        self.flush_rejects()?;
        self.flush_duplicates()?;
        self.finish_pending_write()?;

        // The rates table is replaced by one file holding every rate used so far.
        let mut deletes = Vec::new();
        let old_rates: Vec<DataFile> = self.manifest.files_of(FX_RATES).cloned().collect();
        let rates_changed = self.stored_fx != self.fx || old_rates.is_empty();
        let nothing_new = self.new_files.is_empty()
            && !rates_changed
            && inputs.iter().all(|i| {
                i.skipped_as_ingested_by.is_some()
                    || (i.resumed_from.is_some() && i.read_to == i.resumed_from)
            });
        // Nothing new has zero counts and no rows, so this one record serves both outcomes.
        let mut totals = Counts::default();
        for i in &inputs {
            totals.add(&i.counts);
        }
        let rows_by_date = days
            .iter()
            .filter_map(|d| {
                let b = &self.days[d];
                (b.rows_written > 0).then(|| (date_from_days(*d).to_string(), b.rows_written))
            })
            .collect();
        let run = RunRecord {
            run_id: self.run_id.clone(),
            started_at,
            finished_at: now_rfc3339(),
            double11_version: env!("CARGO_PKG_VERSION").into(),
            inputs,
            totals,
            rows_by_date,
        };
        if nothing_new && !self.commit_when_nothing_new {
            commit::discard_uncommitted(&self.staging);
            return Ok(IngestReport {
                run,
                committed: false,
                rejects_by_kind: self.rejects_by_kind,
                warehouse: self.wh.root().to_path_buf(),
            });
        }
        if rates_changed {
            let rel = format!("{FX_RATES}/fx_rates-{}.parquet", self.run_id);
            let batch = self.fx.to_batch()?;
            let rows = batch.num_rows() as u64;
            let bytes = write_file(&self.staging.join(&rel), &FX_RATES_SCHEMA, batch, &[0, 1])?;
            self.stage(rel, FX_RATES, None, rows, bytes);
            deletes.extend(old_rates.iter().map(|f| f.path.clone()));
        }

        let mut manifest = self.manifest.clone();
        manifest.files.retain(|f| !deletes.contains(&f.path));
        manifest.files.extend(self.new_files.iter().cloned());
        manifest.next_run += 1;
        manifest.format_version = crate::warehouse::manifest::FORMAT_VERSION;
        manifest.written_by = env!("CARGO_PKG_VERSION").into();
        manifest.runs.push(run.clone());
        let plan = CommitPlan {
            moves: std::mem::take(&mut self.moves),
            deletes,
            manifest,
        };
        commit::commit(self.wh.root(), &self.run_id, &plan)?;
        Ok(IngestReport {
            run,
            committed: true,
            rejects_by_kind: self.rejects_by_kind,
            warehouse: self.wh.root().to_path_buf(),
        })
    }
}

/// How the manifest names an input file: its absolute path.
fn absolute_name(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Checks, before anything is written, that every renamed column exists in each CSV input's
/// header: a mapping that does not fit would otherwise reject every line.
fn check_mapping(inputs: &[Input], mapping: &ColumnMapping, max_record: usize) -> Result<()> {
    for input in inputs
        .iter()
        .filter(|i| i.path.is_some() && i.unreadable.is_none())
    {
        let opened = input::open(input, None, None)?;
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

/// The rates stored in the warehouse's `fx_rates` table.
fn load_stored_rates(wh: &Warehouse, manifest: &Manifest) -> Result<FxRates> {
    let mut rates = FxRates::default();
    for file in manifest.files_of(FX_RATES) {
        let path = wh.root().join(&file.path);
        for batch in crate::warehouse::parquet_files::read_all(&path)? {
            rates.merge(&FxRates::from_batch(&batch, &file.path)?);
        }
    }
    Ok(rates)
}

/// Feeds the ids already committed for a CST day into `seen`: the contract lets
/// de-duplication rely on a re-delivery carrying the same instant, hence the same day.
fn load_committed_ids(
    wh: &Warehouse,
    manifest: &Manifest,
    day: i32,
    seen: &mut SeenIds,
) -> Result<()> {
    let date = date_from_days(day).to_string();
    for file in manifest.files_of(TRANSACTIONS) {
        if file.cst_date.as_deref() == Some(date.as_str()) {
            for_each_event_id(&wh.root().join(&file.path), |ms, id| {
                seen.add_committed(ms, id_hash(id))
            })?;
        }
    }
    Ok(())
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
