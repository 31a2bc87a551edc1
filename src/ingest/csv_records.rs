//! CSV records with their starting line and their raw text.
//!
//! `csv_core` does the RFC 4180 parsing; this wrapper adds what the rejects table needs and
//! the `csv` crate does not expose: the verbatim bytes of each record and the 1-based
//! physical line where it starts (a quoted field may span lines).

use std::io::{self, BufRead};

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
}

impl<R: BufRead> CsvRecords<R> {
    pub fn new(src: R) -> Self {
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
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
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

    #[test]
    fn short_and_long_rows_keep_their_fields() {
        let got = records("a,b,c\n1\n1,2,3,4\n");
        assert_eq!(got[1].2.len(), 1);
        assert_eq!(got[2].2.len(), 4);
    }
}
