//! The per-record part of ingest, which needs nothing but the record: parsing, the
//! contract's rules, the hash of the event id. Runs on worker threads, one chunk at a time
//! ([`super::chunks`]); what depends on earlier records (de-duplication) is left to the caller.

use std::borrow::Cow;

use crate::ingest::accept::dedupe::id_hash;
use crate::ingest::fx::FxRates;
use crate::ingest::read::chunks::{too_long, Chunk, RAW_PREFIX_BYTES};
use crate::ingest::read::csv_records::SliceRecords;
use crate::ingest::read::mapping::ColumnMapping;
use crate::ingest::read::ndjson_records;
use crate::ingest::read::validate::{self, validate, Event, RawEvent, Reject, RejectKind, Value};

/// How the records of a CSV input are laid out, from its header.
pub struct CsvLayout {
    /// The column of each contract field, in `INPUT_FIELDS` order.
    pub columns: [Option<usize>; crate::schema::INPUT_FIELDS.len()],
    /// The header's number of fields, which every record must have.
    pub width: usize,
}

/// Parses and checks the CSV records of a chunk (text after the header, from a record
/// boundary), filling in its records and newlines. A record longer than `max_record` bytes
/// is rejected, its raw text cut to its first [`RAW_PREFIX_BYTES`].
pub fn parse_csv_chunk(
    chunk: &mut Chunk,
    layout: &CsvLayout,
    mapping: &ColumnMapping,
    fx: &FxRates,
    max_record: usize,
) {
    let text = std::mem::take(&mut chunk.text);
    let (fields, ends) = (
        std::mem::take(&mut chunk.fields),
        std::mem::take(&mut chunk.ends),
    );
    // One UTF-8 check for the whole chunk: a line of a valid chunk is valid, since lines end
    // at a newline, an ASCII byte. Only a chunk with invalid bytes checks record by record.
    let valid = simdutf8::basic::from_utf8(&text).ok();
    let mut records = SliceRecords::new(&text, fields, ends);
    while records.advance() {
        let line = records.line();
        let raw = records.raw_range();
        if raw.len() > max_record {
            let reject = too_long(raw.len() as u64, max_record);
            let kept = raw.len().min(RAW_PREFIX_BYTES);
            chunk.reject(line, reject, raw.start..raw.start + kept);
            continue;
        }
        match csv_event(&records, valid, layout, mapping, fx) {
            Ok(e) => chunk.accept(line, &e, id_hash(&e.event_id)),
            Err(reject) => chunk.reject(line, reject, records.raw_range()),
        }
    }
    chunk.newlines = records.newlines();
    (chunk.fields, chunk.ends) = records.into_buffers();
    chunk.text = text;
}

/// The current record of `records` as an accepted event, or why it is rejected. `valid`: the
/// chunk's text, when all of it is valid UTF-8.
fn csv_event<'r>(
    records: &'r SliceRecords<'_>,
    valid: Option<&'r str>,
    layout: &CsvLayout,
    mapping: &ColumnMapping,
    fx: &FxRates,
) -> Result<Event<'r>, Reject> {
    if records.field_count() != layout.width {
        return Err(Reject::new(
            RejectKind::CsvFieldCount,
            format!(
                "expected {} fields as in the header, found {}",
                layout.width,
                records.field_count()
            ),
        ));
    }
    let bytes = records.field_bytes();
    // One UTF-8 check for the whole record (none when it is a line of a valid chunk); a
    // field is then valid exactly when it starts and ends on character boundaries. Only a
    // record with invalid bytes checks field by field, as it must name the field (an ignored
    // column may hold anything).
    let all = match (valid, records.line_range()) {
        (Some(chunk), Some(line)) => chunk.get(line),
        _ => simdutf8::basic::from_utf8(bytes).ok(),
    };
    let mut raw: RawEvent<'r> = std::array::from_fn(|_| Value::Absent);
    let mut bad_utf8 = None;
    for (f, col) in layout.columns.iter().enumerate() {
        let Some(col) = col else { continue };
        let range = records.field_range(*col);
        if range.is_empty() {
            continue;
        }
        let text = match all.and_then(|all| all.get(range.clone())) {
            Some(text) => Ok(text),
            None => std::str::from_utf8(&bytes[range]),
        };
        match text {
            Ok(s) => raw[f] = Value::Text(Cow::Borrowed(s)),
            Err(_) => bad_utf8 = Some(crate::schema::INPUT_FIELDS[f]),
        }
    }
    if let Some(name) = bad_utf8 {
        return Err(Reject::new(
            RejectKind::BadEncoding,
            format!("{name} is not valid UTF-8"),
        ));
    }
    mapping.convert_time(&mut raw[validate::f::EVENT_TIME])?;
    validate(&mut raw, fx)
}

/// Parses and checks the NDJSON lines of a chunk (whole lines), filling in its records and
/// newlines. `at_line_one`: the chunk starts at the text's first line, which may start with
/// a byte-order mark. A line longer than `max_record` bytes is rejected, its raw text cut to
/// its first [`RAW_PREFIX_BYTES`].
pub fn parse_ndjson_chunk(
    chunk: &mut Chunk,
    at_line_one: bool,
    mapping: &ColumnMapping,
    fx: &FxRates,
    max_record: usize,
) {
    let text = std::mem::take(&mut chunk.text);
    let renamed = mapping.columns != crate::schema::INPUT_FIELDS.map(str::to_string);
    let mut pos = 0;
    let mut line_no = 0;
    while pos < text.len() {
        let end = text[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |i| pos + i + 1);
        line_no += 1;
        let mut start = pos;
        pos = end;
        if at_line_one && line_no == 1 && text[start..end].starts_with(b"\xEF\xBB\xBF") {
            start += 3;
        }
        let mut line = &text[start..end];
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > max_record {
            let reject = too_long(line.len() as u64, max_record);
            let kept = line.len().min(RAW_PREFIX_BYTES);
            chunk.reject(line_no, reject, start..start + kept);
            continue;
        }
        let outcome = match simdutf8::basic::from_utf8(line) {
            Err(_) => Err(Reject::new(
                RejectKind::BadEncoding,
                "line is not valid UTF-8",
            )),
            Ok(text) => if renamed {
                ndjson_records::parse_line_with_keys(text, &mapping.columns)
            } else {
                ndjson_records::parse_line(text)
            }
            .and_then(|mut raw| {
                mapping.convert_time(&mut raw[validate::f::EVENT_TIME])?;
                validate(&mut raw, fx)
            }),
        };
        match outcome {
            Ok(e) => chunk.accept(line_no, &e, id_hash(&e.event_id)),
            Err(reject) => chunk.reject(line_no, reject, start..start + line.len()),
        }
    }
    // Every line but an unfinished last one ends with a newline.
    chunk.newlines = line_no - u64::from(!text.is_empty() && !text.ends_with(b"\n"));
    chunk.text = text;
}
