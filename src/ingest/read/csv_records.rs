//! CSV records with their starting line and their raw text.
//!
//! `csv_core` does the RFC 4180 parsing; this wrapper adds what the rejects table needs and
//! the `csv` crate does not expose: the verbatim bytes of each record and the 1-based
//! physical line where it starts (a quoted field may span lines). Ingest's reader of chunks
//! in memory ([`SliceRecords`]) splits the lines csv_core would read in the obvious way (no
//! carriage return, quotes only around whole fields) itself, from bit masks of the line's
//! commas and quotes, and hands every other line to csv_core; tests check that both read
//! every text alike.

use std::io::{self, BufRead};

use super::window::count_newlines;

/// Streams records out of a CSV byte stream.
pub struct CsvRecords<R> {
    src: R,
    parser: csv_core::Reader,
    /// Bytes consumed for the current record: leading blank lines, the record, terminators.
    raw: Vec<u8>,
    /// Where the record itself starts and ends within `raw`.
    content: (usize, usize),
    fields: Vec<u8>,
    ends: Vec<usize>,
    field_count: usize,
    /// Newlines consumed before the current record's raw bytes.
    lines_before: u64,
    line: u64,
    at_start: bool,
    /// The longest record read, in bytes; a longer one is an error ([`RecordTooLong`]).
    max_record: usize,
}

/// The error of a record longer than the maximum record size: it was not read whole, so the
/// records after it cannot be found by this reader.
#[derive(Debug)]
pub(crate) struct RecordTooLong {
    /// The 1-based line where the record starts.
    pub line: u64,
    pub max_record: usize,
}

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: a record longer than the maximum record size of {} bytes (--max-record-bytes)",
            self.line, self.max_record
        )
    }
}

impl std::error::Error for RecordTooLong {}

impl RecordTooLong {
    /// The `RecordTooLong` that `e` carries, if it is one.
    pub fn of(e: &io::Error) -> Option<&RecordTooLong> {
        e.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

impl<R: BufRead> CsvRecords<R> {
    pub fn new(src: R) -> Self {
        Self::with_max_record(src, crate::ingest::read::chunks::DEFAULT_MAX_RECORD_BYTES)
    }

    /// Reads records of at most `max_record` bytes: a longer one is an error carrying a
    /// [`RecordTooLong`], so that one line of GiBs is never held.
    pub fn with_max_record(src: R, max_record: usize) -> Self {
        CsvRecords {
            src,
            parser: csv_core::Reader::new(),
            raw: Vec::with_capacity(1024),
            content: (0, 0),
            fields: vec![0; 1024],
            ends: vec![0; 32],
            field_count: 0,
            lines_before: 0,
            line: 0,
            at_start: true,
            max_record,
        }
    }

    /// Advances to the next non-blank record; `Ok(false)` at the end of the input.
    pub fn advance(&mut self) -> io::Result<bool> {
        loop {
            if !self.read_one()? {
                return Ok(false);
            }
            if !self.raw()[..].iter().all(u8::is_ascii_whitespace) {
                return Ok(true);
            }
            // A blank (or whitespace-only) line: skipped and not counted.
        }
    }

    fn read_one(&mut self) -> io::Result<bool> {
        self.lines_before += count_newlines(&self.raw);
        self.raw.clear();
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            let input = self.src.fill_buf()?;
            let mut input: &[u8] = input;
            let mut skipped = 0;
            if self.at_start && !input.is_empty() {
                self.at_start = false;
                if input.starts_with(b"\xEF\xBB\xBF") {
                    input = &input[3..];
                    skipped = 3;
                    if input.is_empty() {
                        // An empty slice would tell the parser the file ended: read on.
                        self.src.consume(skipped);
                        continue;
                    }
                }
            }
            let (result, n_in, n_out, n_ends) = self.parser.read_record(
                input,
                &mut self.fields[out_len..],
                &mut self.ends[ends_len..],
            );
            self.raw.extend_from_slice(&input[..n_in]);
            self.src.consume(n_in + skipped);
            if self.raw.len() > self.max_record {
                let lead = self.raw.iter().position(|b| !matches!(b, b'\n' | b'\r'));
                let line = self.lines_before + count_newlines(&self.raw[..lead.unwrap_or(0)]) + 1;
                let too_long = RecordTooLong {
                    line,
                    max_record: self.max_record,
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, too_long));
            }
            out_len += n_out;
            ends_len += n_ends;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    let len = self.fields.len();
                    self.fields.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.field_count = ends_len;
                    self.locate_content();
                    return Ok(true);
                }
                csv_core::ReadRecordResult::End => {
                    self.field_count = 0;
                    self.locate_content();
                    return Ok(false);
                }
            }
        }
    }

    fn locate_content(&mut self) {
        let start = self
            .raw
            .iter()
            .position(|b| *b != b'\n' && *b != b'\r')
            .unwrap_or(self.raw.len());
        let mut end = self.raw.len();
        while end > start && matches!(self.raw[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        self.content = (start, end);
        self.line = self.lines_before + count_newlines(&self.raw[..start]) + 1;
    }

    /// Counts `n` more lines before the next record: the lines of a grown file that an earlier
    /// run read and this one skipped.
    pub fn add_skipped_lines(&mut self, n: u64) {
        self.lines_before += n;
    }

    /// The 1-based physical line where the current record starts.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The verbatim text of the current record, without its line terminator.
    pub fn raw(&self) -> &[u8] {
        &self.raw[self.content.0..self.content.1]
    }

    /// Fields in the current record.
    pub fn field_count(&self) -> usize {
        self.field_count
    }

    /// The unquoted bytes of field `i` of the current record.
    pub fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.fields[start..self.ends[i]]
    }

    /// The rest of the input, right after the current record (a record boundary), and the
    /// newlines consumed so far: what [`SliceRecords`] needs to read on in chunks.
    pub fn into_rest(self) -> (R, u64) {
        let lines = self.lines_before + count_newlines(&self.raw);
        (self.src, lines)
    }
}

/// Records out of a chunk of CSV text held in memory that starts at a record boundary (see
/// [`last_record_end`]): the same records, fields, raw text and lines as [`CsvRecords`]
/// gives for that part of the stream, with lines counted from the chunk's start and the raw
/// text borrowed from the chunk instead of copied.
pub struct SliceRecords<'t> {
    text: &'t [u8],
    pos: usize,
    parser: csv_core::Reader,
    fields: Vec<u8>,
    ends: Vec<usize>,
    field_count: usize,
    /// The current record is a plain line read without csv_core: its fields lie in the text
    /// itself, at `starts[i]..ends[i]` of the line.
    plain: Option<std::ops::Range<usize>>,
    starts: Vec<usize>,
    /// Where a plain line's quotes are, and its commas while they are sorted out.
    quotes: Vec<usize>,
    commas: Vec<usize>,
    content: (usize, usize),
    /// Newlines before the current record's raw text.
    newlines_before: u64,
    /// csv_core's line count when it had read nothing of `text`.
    line_base: u64,
    /// Newlines of plain lines, which csv_core did not read.
    plain_newlines: u64,
    line: u64,
}

impl<'t> SliceRecords<'t> {
    /// Reads `text`, which continues a stream (so a leading byte-order mark is data, not
    /// stripped as it is at the start of a file); `fields` and `ends` are buffers to reuse.
    pub fn new(text: &'t [u8], fields: Vec<u8>, ends: Vec<usize>) -> Self {
        let mut parser = csv_core::Reader::new();
        // csv_core strips a BOM on its first read; a first read of a lone newline (a blank
        // line at the start of a record: skipped) makes it a parser that has read already.
        let _ = parser.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
        let line_base = parser.line();
        SliceRecords {
            text,
            pos: 0,
            parser,
            fields: if fields.is_empty() {
                vec![0; 1024]
            } else {
                fields
            },
            ends: if ends.is_empty() { vec![0; 32] } else { ends },
            field_count: 0,
            plain: None,
            starts: vec![0; 32],
            quotes: Vec::new(),
            commas: Vec::new(),
            content: (0, 0),
            newlines_before: 0,
            line_base,
            plain_newlines: 0,
            line: 0,
        }
    }

    /// The buffers, to reuse for the next chunk.
    pub fn into_buffers(self) -> (Vec<u8>, Vec<usize>) {
        (self.fields, self.ends)
    }

    /// Advances to the next non-blank record; `false` at the end of the chunk.
    pub fn advance(&mut self) -> bool {
        loop {
            let start = self.pos;
            self.newlines_before = self.newlines_read();
            if !self.read_plain() && !self.read_one() {
                return false;
            }
            if !self.text[start..self.pos]
                .iter()
                .all(u8::is_ascii_whitespace)
            {
                self.locate_content(start);
                return true;
            }
        }
    }

    /// Reads the next line as a record without csv_core when it is plain: not empty, without
    /// carriage returns, and every quote one that opens a field or closes it right before a
    /// comma or the line's end (`a,"b, c",d`: no doubled quotes, no quote inside an unquoted
    /// field, no newline inside quotes). Its fields are then exactly the text between commas,
    /// or between a field's quotes, as csv_core would find them (starting a record, csv_core
    /// reads such a line just so), and csv_core, which does not see the line, stays at the
    /// start of a record (the state it was in, or one that reads the next line the same way).
    ///
    /// The line is scanned once, 64 bytes at a time ([`Masks`]): its newline, commas and
    /// quotes come out as bit masks, a few instructions per 64 bytes and per comma, where a
    /// byte search per field (memchr) paid its start-up cost thirteen times a line.
    fn read_plain(&mut self) -> bool {
        let rest = &self.text[self.pos..];
        let (mut commas, mut quotes) = (0, 0);
        let mut base = 0;
        let end = loop {
            if base >= rest.len() {
                break rest.len();
            }
            let m = Masks::of(&rest[base..]);
            // Only the bytes before the newline belong to the line.
            let within = if m.newline == 0 {
                u64::MAX
            } else {
                (1 << m.newline.trailing_zeros()) - 1
            };
            let mut bits = m.comma & within;
            while bits != 0 {
                store(
                    &mut self.ends,
                    commas,
                    base + bits.trailing_zeros() as usize,
                );
                commas += 1;
                bits &= bits - 1;
            }
            let mut bits = m.special & within;
            while bits != 0 {
                let at = base + bits.trailing_zeros() as usize;
                if rest[at] == b'\r' {
                    return false; // csv_core's business
                }
                store(&mut self.quotes, quotes, at);
                quotes += 1;
                bits &= bits - 1;
            }
            if m.newline != 0 {
                break base + m.newline.trailing_zeros() as usize;
            }
            base += Masks::BLOCK;
        };
        if end == 0 {
            return false; // an empty line or the end: csv_core's business
        }
        let fields = if quotes == 0 {
            self.starts_after_commas(commas, end)
        } else {
            match self.split_quoted(&rest[..end], commas, quotes) {
                Some(fields) => fields,
                None => return false,
            }
        };
        self.field_count = fields;
        self.plain = Some(self.pos..self.pos + end);
        let newline = end < rest.len();
        self.plain_newlines += u64::from(newline);
        self.pos += end + usize::from(newline);
        true
    }

    /// The fields of a line without quotes, whose `commas` commas are in `ends`: between
    /// them. Returns their number.
    fn starts_after_commas(&mut self, commas: usize, end: usize) -> usize {
        store(&mut self.ends, commas, end);
        store(&mut self.starts, commas, 0);
        self.starts[0] = 0;
        for i in 1..=commas {
            self.starts[i] = self.ends[i - 1] + 1;
        }
        commas + 1
    }

    /// The fields of `line`, whose commas and quotes are at `ends[..commas]` and
    /// `quotes[..quotes]`, when each quote opens a field or closes it (see
    /// [`Self::read_plain`]); `None` for any other use of quotes. Returns their number.
    fn split_quoted(&mut self, line: &[u8], commas: usize, quotes: usize) -> Option<usize> {
        // The commas move from `ends` to a buffer of their own: `ends` is rewritten.
        self.commas.clear();
        self.commas.extend_from_slice(&self.ends[..commas]);
        let (mut c, mut q, mut start, mut fields) = (0, 0, 0, 0);
        loop {
            let (field, next) = if q < quotes && self.quotes[q] == start {
                // A quoted field: up to the next quote, which a comma or the end must follow.
                let close = *self.quotes[..quotes].get(q + 1)?;
                q += 2;
                match line.get(close + 1) {
                    None => (start + 1..close, None),
                    Some(b',') => {
                        while self.commas.get(c).is_some_and(|&at| at <= close) {
                            c += 1; // commas inside the quotes
                        }
                        (start + 1..close, Some(close + 1))
                    }
                    Some(_) => return None, // a doubled quote, or text after the quotes
                }
            } else {
                let comma = self.commas.get(c).copied();
                let end = comma.unwrap_or(line.len());
                if q < quotes && self.quotes[q] < end {
                    return None; // a quote inside an unquoted field
                }
                (start..end, comma)
            };
            store(&mut self.starts, fields, field.start);
            store(&mut self.ends, fields, field.end);
            fields += 1;
            match next {
                Some(comma) => {
                    c += 1;
                    start = comma + 1;
                }
                None => return Some(fields),
            }
        }
    }

    fn read_one(&mut self) -> bool {
        self.plain = None;
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            let input = &self.text[self.pos..];
            let (result, n_in, n_out, n_ends) = self.parser.read_record(
                input,
                &mut self.fields[out_len..],
                &mut self.ends[ends_len..],
            );
            self.pos += n_in;
            out_len += n_out;
            ends_len += n_ends;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    let len = self.fields.len();
                    self.fields.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.field_count = ends_len;
                    return true;
                }
                csv_core::ReadRecordResult::End => {
                    self.field_count = 0;
                    return false;
                }
            }
        }
    }

    fn locate_content(&mut self, raw_start: usize) {
        let raw = &self.text[raw_start..self.pos];
        let lead = raw
            .iter()
            .position(|b| *b != b'\n' && *b != b'\r')
            .unwrap_or(raw.len());
        let start = raw_start + lead;
        let mut end = self.pos;
        while end > start && matches!(self.text[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        self.content = (start, end);
        self.line = self.newlines_before + count_newlines(&raw[..lead]) + 1;
    }

    /// Newlines of `text` the parser has consumed: csv_core counts every `\n` it reads.
    fn newlines_read(&self) -> u64 {
        self.parser.line() - self.line_base + self.plain_newlines
    }

    /// Newlines in the whole chunk (call once done with its records, when all of it is read).
    pub fn newlines(&self) -> u64 {
        self.newlines_read() + count_newlines(&self.text[self.pos..])
    }

    /// The 1-based line within the chunk where the current record starts.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The verbatim text of the current record, without its line terminator.
    pub fn raw(&self) -> &'t [u8] {
        &self.text[self.content.0..self.content.1]
    }

    /// Where the current record's verbatim text lies in the chunk.
    pub fn raw_range(&self) -> std::ops::Range<usize> {
        self.content.0..self.content.1
    }

    /// Fields in the current record.
    pub fn field_count(&self) -> usize {
        self.field_count
    }

    /// Where [`Self::field_bytes`] lies in the chunk's text, when the record is a plain line
    /// (its fields are then slices of the text itself, not unescaped copies).
    pub fn line_range(&self) -> Option<std::ops::Range<usize>> {
        self.plain.clone()
    }

    /// The bytes the current record's unquoted fields lie in ([`Self::field_range`]): the
    /// fields one after the other, or for a plain line, the line with its commas.
    pub fn field_bytes(&self) -> &'_ [u8] {
        if let Some(line) = &self.plain {
            return &self.text[line.clone()];
        }
        let end = if self.field_count == 0 {
            0
        } else {
            self.ends[self.field_count - 1]
        };
        &self.fields[..end]
    }

    /// Where field `i` lies in [`Self::field_bytes`].
    pub fn field_range(&self, i: usize) -> std::ops::Range<usize> {
        let start = match (i, &self.plain) {
            (_, Some(_)) => self.starts[i],
            (0, None) => 0,
            (_, None) => self.ends[i - 1],
        };
        start..self.ends[i]
    }
}

/// Sets `v[i]` to `x`, growing `v` if it is that short.
fn store(v: &mut Vec<usize>, i: usize, x: usize) {
    if i >= v.len() {
        v.resize(i * 2 + 1, 0);
    }
    v[i] = x;
}

/// Where a block of [`Masks::BLOCK`] bytes holds the bytes a plain line's reader looks for:
/// bit `i` of a mask is set when byte `i` is that byte.
#[derive(Debug, PartialEq, Eq)]
struct Masks {
    newline: u64,
    comma: u64,
    /// A quote or a carriage return.
    special: u64,
}

impl Masks {
    const BLOCK: usize = 64;

    /// The masks of the first [`Self::BLOCK`] bytes of `bytes` (all of it if shorter).
    fn of(bytes: &[u8]) -> Masks {
        match bytes.first_chunk::<{ Self::BLOCK }>() {
            Some(block) => Self::of_block(block),
            None => {
                // Zeros match none of the bytes looked for.
                let mut block = [0; Self::BLOCK];
                block[..bytes.len()].copy_from_slice(bytes);
                Self::of_block(&block)
            }
        }
    }

    /// SSE2, part of every x86-64 processor: four 16-byte loads, one compare of each per byte
    /// looked for, the four 16-bit masks joined into one of 64 bits. A block of 64 bytes
    /// takes most lines (of about 160 bytes) in three steps, where blocks of 16 took eleven,
    /// each with its own branches and newline check.
    #[cfg(target_arch = "x86_64")]
    fn of_block(block: &[u8; Self::BLOCK]) -> Masks {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let (mut newline, mut comma, mut special) = (0u64, 0u64, 0u64);
        for (k, part) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is in every x86-64 target's baseline; the load reads 16 bytes,
            // unaligned, from a slice of exactly 16 bytes (`chunks_exact`).
            let (n, c, q) = unsafe {
                let v = _mm_loadu_si128(part.as_ptr().cast());
                let n = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
                let c = _mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8));
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let cr = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8));
                (
                    _mm_movemask_epi8(n) as u16,
                    _mm_movemask_epi8(c) as u16,
                    _mm_movemask_epi8(_mm_or_si128(quote, cr)) as u16,
                )
            };
            let shift = 16 * k;
            newline |= u64::from(n) << shift;
            comma |= u64::from(c) << shift;
            special |= u64::from(q) << shift;
        }
        Masks {
            newline,
            comma,
            special,
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn of_block(block: &[u8; Self::BLOCK]) -> Masks {
        Self::of_block_bytewise(block)
    }

    /// The same masks a byte at a time (other processors; the reference in tests).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn of_block_bytewise(block: &[u8; Self::BLOCK]) -> Masks {
        let mask = |hit: fn(u8) -> bool| {
            block
                .iter()
                .enumerate()
                .fold(0, |m, (i, b)| m | (u64::from(hit(*b)) << i))
        };
        Masks {
            newline: mask(|b| b == b'\n'),
            comma: mask(|b| b == b','),
            special: mask(|b| b == b'"' || b == b'\r'),
        }
    }
}

/// The end of the last complete record in `text`: just after its last newline that lies
/// outside quotes, for `text` that starts at a record boundary. `None` when no newline of
/// `text` ends a record yet (a quoted field may span lines, and chunks).
///
/// This follows csv_core's reading of RFC 4180 with its defaults (`,`, `"`, doubled quotes
/// as escapes, `\r`, `\n` or `\r\n` ending a record): a quote opens a quoted field only at
/// the start of a field, elsewhere it is an ordinary byte; inside quotes, `""` is a quote
/// and a lone `"` closes the field. A newline outside quotes always ends a record (or is a
/// blank line), after which csv_core is at the start of a record again.
pub fn last_record_end(text: &[u8]) -> Option<usize> {
    let mut last = None;
    let newline_before = |from: usize, to: usize, last: &mut Option<usize>| {
        if let Some(i) = memchr::memrchr(b'\n', &text[from..to]) {
            *last = Some(from + i + 1);
        }
    };
    // Outside quotes from `i`; `field_start`: `i` is where a field starts.
    let (mut i, mut field_start) = (0, true);
    loop {
        let Some(q) = memchr::memchr(b'"', &text[i..]).map(|q| i + q) else {
            newline_before(i, text.len(), &mut last);
            return last;
        };
        newline_before(i, q, &mut last);
        let opens = if q == i {
            field_start
        } else {
            matches!(text[q - 1], b',' | b'\n' | b'\r')
        };
        if !opens {
            (i, field_start) = (q + 1, false);
            continue;
        }
        // Inside quotes: find the closing quote.
        let mut j = q + 1;
        loop {
            // A quoted field still open at the end: the records before it are complete.
            let Some(c) = memchr::memchr(b'"', &text[j..]).map(|c| j + c) else {
                return last;
            };
            if text.get(c + 1) == Some(&b'"') {
                j = c + 2; // a doubled quote: still inside
                continue;
            }
            (i, field_start) = (c + 1, false);
            break;
        }
    }
}

/// Finds where a record ends in CSV text read piece by piece, by the rules of
/// [`last_record_end`]: what reading past a record too long to hold needs (a quoted field's
/// newlines do not end it). Starts at a record boundary.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RecordEndScanner {
    state: ScanState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    /// Where a field starts: a quote here opens a quoted field.
    #[default]
    FieldStart,
    /// Inside an unquoted field: a quote is data.
    Unquoted,
    Quoted,
    /// Inside quotes, just after a quote: another one is an escaped quote, anything else
    /// closed the field.
    QuoteInQuoted,
}

impl RecordEndScanner {
    /// Just after the newline in `piece` that ends the current record, if it ends there; the
    /// scanner is then at the start of a record again.
    pub fn first_end(&mut self, piece: &[u8]) -> Option<usize> {
        use ScanState::*;
        for (i, b) in piece.iter().enumerate() {
            self.state = match (self.state, *b) {
                (Quoted, b'"') => QuoteInQuoted,
                (Quoted, _) => Quoted,
                (QuoteInQuoted, b'"') => Quoted,
                (FieldStart, b'"') => Quoted,
                (_, b'\n') => {
                    self.state = FieldStart;
                    return Some(i + 1);
                }
                (_, b',' | b'\r') => FieldStart,
                _ => Unquoted,
            };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<(u64, String, Vec<String>)> {
        // A tiny buffer forces records to straddle reads.
        let mut r = CsvRecords::new(io::BufReader::with_capacity(3, text.as_bytes()));
        let mut out = Vec::new();
        while r.advance().expect("in-memory read") {
            let fields = (0..r.field_count())
                .map(|i| String::from_utf8_lossy(r.field(i)).into_owned())
                .collect();
            out.push((
                r.line(),
                String::from_utf8_lossy(r.raw()).into_owned(),
                fields,
            ));
        }
        out
    }

    #[test]
    fn lines_and_raw_text_follow_the_file() {
        let got = records("a,b\n1,2\n\n3,\"x\ny\"\r\n  \n4,\"q\"\"z\"");
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (1, "a,b".into(), vec!["a".into(), "b".into()]));
        assert_eq!(got[1], (2, "1,2".into(), vec!["1".into(), "2".into()]));
        assert_eq!(
            got[2],
            (4, "3,\"x\ny\"".into(), vec!["3".into(), "x\ny".into()])
        );
        assert_eq!(
            got[3],
            (7, "4,\"q\"\"z\"".into(), vec!["4".into(), "q\"z".into()])
        );
    }

    #[test]
    fn crlf_bom_and_empty_files() {
        let got = records("\u{feff}a,b\r\n1,2\r\n3,4");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].2, vec!["a".to_string(), "b".to_string()]);
        assert_eq!((got[1].0, got[2].0), (2, 3));
        assert!(records("").is_empty());
        assert!(records("\n\n").is_empty());
    }

    type Rec = (u64, String, Vec<String>);

    /// The records of `text` read in chunks as ingest cuts them (`want` bytes, or more up to
    /// the last record boundary), with lines counted on across chunks.
    fn chunked_records(text: &[u8], want: usize) -> Vec<Rec> {
        let (mut out, mut pos, mut lines_before) = (Vec::new(), 0, 0);
        let (mut fields, mut ends) = (Vec::new(), Vec::new());
        while pos < text.len() {
            let mut size = want.min(text.len() - pos);
            let end = loop {
                if pos + size >= text.len() {
                    break text.len();
                }
                if let Some(end) = last_record_end(&text[pos..pos + size]) {
                    break pos + end;
                }
                size = (size * 2).min(text.len() - pos);
            };
            let chunk = &text[pos..end];
            let mut r = SliceRecords::new(chunk, fields, ends);
            while r.advance() {
                let f = (0..r.field_count())
                    .map(|i| {
                        String::from_utf8_lossy(&r.field_bytes()[r.field_range(i)]).into_owned()
                    })
                    .collect();
                out.push((
                    lines_before + r.line(),
                    String::from_utf8_lossy(r.raw()).into_owned(),
                    f,
                ));
            }
            (fields, ends) = r.into_buffers();
            lines_before += count_newlines(chunk);
            pos = end;
        }
        out
    }

    fn streamed_records(text: &[u8]) -> Vec<Rec> {
        let mut r = CsvRecords::new(io::BufReader::with_capacity(5, text));
        // As after a header: csv_core strips a byte-order mark only on its very first read.
        r.at_start = false;
        let _ = r.parser.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
        let mut out = Vec::new();
        while r.advance().expect("in-memory read") {
            let f = (0..r.field_count())
                .map(|i| String::from_utf8_lossy(r.field(i)).into_owned())
                .collect();
            out.push((r.line(), String::from_utf8_lossy(r.raw()).into_owned(), f));
        }
        out
    }

    #[test]
    fn masks_match_a_bytewise_scan() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut block = [0u8; Masks::BLOCK];
            for b in &mut block {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = b"ab,\"\r\n\x00\xff"[(x % 8) as usize];
            }
            assert_eq!(
                Masks::of_block(&block),
                Masks::of_block_bytewise(&block),
                "{block:?}"
            );
        }
        // A short tail is read as if padded with bytes that match nothing.
        let m = Masks::of(b",\n\"");
        assert_eq!((m.comma, m.newline, m.special), (0b1, 0b10, 0b100));
    }

    #[test]
    fn chunks_cut_at_record_boundaries_read_like_one_stream() {
        let tricky: [&[u8]; 13] = [
            b"a,\"b, c\",d\n\"x\",y\na,\"b\"\n\"a,b\",\"\"\n,\"\",\n\"q\"",
            b"a,\"b\"c,d\na,\"b\"\"c\",d\na,b\"c,d\n\"a\"\"\n\"a\"\r\n",
            b"\"open,x\ny\",z\n\"\",\"\"\"\n",
            b"\"a\",\"b\nc\"\n",
            b"1,\"a\nb\",2\n3,\"\"\"\",4\r\n\n  \n5,x\"y,\"z\n\"\r6,7",
            b"a\"b\nc,\"d\"e\nf\"\n\"g\nh\"\n",
            b"\xEF\xBB\xBFx,y\n\xEF\xBB\xBF\"q\nr\",s\n",
            b"\r\r\n\n1,2\r3,4\r\n\"\n\n\",\"\"\n",
            b"1,\"unterminated\nfield\n2,3\n",
            b"\"\"\"\n\"\"\"\n,\"\n\",\n",
            b"x,\"\",\"\n\"\"\"\n",
            b"",
            b"\n\n\n",
        ];
        for text in tricky {
            let want = streamed_records(text);
            for size in 1..=text.len().max(1) {
                assert_eq!(
                    chunked_records(text, size),
                    want,
                    "{text:?} in chunks of {size}"
                );
            }
        }
        // Random texts of the bytes that matter, every chunk size.
        for text in random_texts(b"a,\"\n\r \xEF\xBB\xBF", 0x2545_f491_4f6c_dd1d, 7) {
            let want = streamed_records(&text);
            for size in 1..=text.len().max(1) {
                assert_eq!(
                    chunked_records(&text, size),
                    want,
                    "{text:?} in chunks of {size}"
                );
            }
        }
    }

    /// 3000 texts of up to 39 bytes drawn from `alphabet` (xorshift from `seed`; `step` varies
    /// the draw), deterministic.
    fn random_texts(alphabet: &[u8], mut seed: u64, step: usize) -> Vec<Vec<u8>> {
        (0..3000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let len = (seed % 40) as usize;
                (0..len)
                    .map(|i| alphabet[((seed >> (i % 50)) as usize + i * step) % alphabet.len()])
                    .collect()
            })
            .collect()
    }

    /// Every record end of `text` as [`RecordEndScanner`] finds them, fed `piece` bytes at a
    /// time.
    fn scanned_ends(text: &[u8], piece: usize) -> Vec<usize> {
        let (mut scanner, mut ends, mut at) = (RecordEndScanner::default(), Vec::new(), 0);
        for part in text.chunks(piece.max(1)) {
            let mut from = 0;
            while let Some(end) = scanner.first_end(&part[from..]) {
                from += end;
                ends.push(at + from);
            }
            at += part.len();
        }
        ends
    }

    #[test]
    fn the_scanner_finds_the_record_ends_that_chunks_are_cut_at() {
        for text in random_texts(b"a,\"\n\r ", 0x9e37_79b9_7f4a_7c15, 5) {
            let len = text.len();
            let mut want: Vec<usize> = (1..=len)
                .filter_map(|k| last_record_end(&text[..k]))
                .collect();
            want.dedup();
            for piece in 1..=len.max(1) {
                assert_eq!(
                    scanned_ends(&text, piece),
                    want,
                    "{text:?} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn a_header_longer_than_the_maximum_is_an_error_not_a_buffer() {
        let mut text = b"\n\nevent_id,".to_vec();
        text.extend(std::iter::repeat_n(b'x', 10_000));
        let mut r = CsvRecords::with_max_record(io::BufReader::with_capacity(64, &text[..]), 1000);
        let e = r.advance().expect_err("too long");
        let too_long = RecordTooLong::of(&e).expect("carries RecordTooLong");
        assert_eq!((too_long.line, too_long.max_record), (3, 1000));
        assert!(r.raw.capacity() < 4000, "held {} bytes", r.raw.capacity());
    }

    #[test]
    fn record_ends_lie_outside_quotes() {
        assert_eq!(last_record_end(b"a,b\nc,d"), Some(4));
        assert_eq!(last_record_end(b"a,\"b\nc\nd"), None);
        assert_eq!(
            last_record_end(b"x,y\na,\"b\nc"),
            Some(4),
            "a field still open at the end leaves the records before it"
        );
        assert_eq!(last_record_end(b"a,\"b\nc\"\nd"), Some(8));
        assert_eq!(
            last_record_end(b"a\"b\nc"),
            Some(4),
            "a quote inside a field is data"
        );
        assert_eq!(
            last_record_end(b"\"a\"\"\n\""),
            None,
            "a doubled quote stays inside"
        );
        assert_eq!(last_record_end(b"x\r\n"), Some(3));
        assert_eq!(last_record_end(b""), None);
        let mut long = vec![b'x'; 1000];
        long.push(b'\n');
        assert_eq!(last_record_end(&long), Some(1001));
        // A quoted field holding a newline, starting at every offset of a long line: only
        // the newline after the closing quote ends the record.
        for at in 0..40 {
            let mut text = vec![b'x'; at];
            text.extend_from_slice(b",\"a\nb\"\"c\",d\n");
            text.extend_from_slice(b"e,\"f\n");
            assert_eq!(last_record_end(&text), Some(at + 12), "quote at {at}");
        }
    }

    #[test]
    fn short_and_long_rows_keep_their_fields() {
        let got = records("a,b,c\n1\n1,2,3,4\n");
        assert_eq!(got[1].2.len(), 1);
        assert_eq!(got[2].2.len(), 4);
    }
}
