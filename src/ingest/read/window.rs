//! The part of an input's decompressed text that a run reads.
//!
//! Logs grow: a scheduler may pick a file up while its writer is still appending. Two things
//! make that safe. A run can start where an earlier run of the same file stopped (the bytes
//! and lines it already read are skipped), and it can leave an unfinished last line (no
//! newline yet) for a later run instead of reading half a record. [`LineWindow`] does both
//! and reports where it stopped, which the manifest records for the next run.
//!
//! Waiting for a newline holds the line read so far; a line longer than the maximum record
//! size is handed on unfinished instead (it is rejected as too long whatever follows), so a
//! line of GiBs never sits in memory.

use std::io::{self, BufRead, Read};

pub use crate::warehouse::manifest::TextPosition;

/// Reads from an inner stream, counting what was consumed, optionally withholding the last
/// line when the stream ends without a newline.
pub struct LineWindow<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[pos..released]` may be handed out; `buf[released..filled]` is read but held until
    /// a newline (or the end, when nothing is held back) releases it.
    pos: usize,
    released: usize,
    filled: usize,
    eof: bool,
    hold_back_partial_line: bool,
    /// Bytes of one line held at most while waiting for its newline.
    max_line: usize,
    consumed: TextPosition,
}

/// What a window reads at a time unless told otherwise ([`LineWindow::reading`]).
const CHUNK: usize = 256 * 1024;

impl<R: Read> LineWindow<R> {
    /// A window over `inner` that holds at most `max_line` bytes of a line waiting for its
    /// newline (the run's maximum record size).
    pub fn new(inner: R, hold_back_partial_line: bool, max_line: usize) -> Self {
        LineWindow {
            inner,
            buf: vec![0; CHUNK],
            pos: 0,
            released: 0,
            filled: 0,
            eof: false,
            hold_back_partial_line,
            max_line,
            consumed: TextPosition::default(),
        }
    }

    /// Reads up to about `bytes` at a time (the window's size; it grows only for a line
    /// longer than that).
    pub fn reading(mut self, bytes: usize) -> Self {
        self.buf.resize(bytes.max(1), 0);
        self
    }

    /// Where the reader has got to.
    pub fn position(&self) -> TextPosition {
        self.consumed
    }

    /// Bytes read from the inner stream but withheld: the unfinished last line.
    pub fn held_back(&self) -> u64 {
        if self.eof {
            (self.filled - self.released) as u64
        } else {
            0
        }
    }

    /// Reads the first line, newline included (the CSV header), consuming it. A first line
    /// longer than the maximum record size is an error carrying a
    /// [`crate::ingest::read::csv_records::RecordTooLong`].
    pub fn take_first_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let max = self.max_line as u64;
        (&mut *self)
            .take(max.saturating_add(1))
            .read_until(b'\n', &mut line)?;
        if line.len() as u64 > max {
            let too_long = crate::ingest::read::csv_records::RecordTooLong {
                line: 1,
                max_record: self.max_line,
            };
            return Err(io::Error::new(io::ErrorKind::InvalidData, too_long));
        }
        Ok(line)
    }

    /// Consumes bytes up to `offset` (from the start of the text). An input shorter than that
    /// is an error: the file was replaced, not appended to.
    pub fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        while self.consumed.offset < offset {
            let want = offset - self.consumed.offset;
            let available = self.fill_buf()?.len() as u64;
            if available == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "ends at byte {} before the {offset} bytes an earlier run read",
                        self.consumed.offset
                    ),
                ));
            }
            self.consume(want.min(available) as usize);
        }
        Ok(())
    }
}

impl<R: Read> Read for LineWindow<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for LineWindow<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.released || self.eof {
            return Ok(&self.buf[self.pos..self.released]);
        }
        // Everything released was consumed: keep the held bytes, read more after them.
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.released = 0;
        self.pos = 0;
        loop {
            if self.filled == self.buf.len() {
                if self.filled > self.max_line {
                    // A line too long to be a record: hand it on as it is.
                    self.released = self.filled;
                    break;
                }
                // A line longer than the buffer: grow until its newline arrives.
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
            let n = match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
                if !self.hold_back_partial_line {
                    self.released = self.filled;
                }
                break;
            }
            let start = self.filled;
            self.filled += n;
            if let Some(i) = self.buf[start..self.filled]
                .iter()
                .rposition(|b| *b == b'\n')
            {
                self.released = start + i + 1;
                break;
            }
        }
        Ok(&self.buf[self.pos..self.released])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.released - self.pos);
        let lines = count_newlines(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.consumed.offset += n as u64;
        self.consumed.lines += lines;
    }
}

/// The number of `\n` in `bytes`. Every byte of an input is counted at least once, so this
/// is written to be fast: 255-byte blocks summed in a `u8` (which the compiler vectorises),
/// then eight bytes at a time.
pub fn count_newlines(bytes: &[u8]) -> u64 {
    let mut blocks = bytes.chunks_exact(255);
    let mut total: u64 = (&mut blocks)
        .map(|block| {
            let n = block
                .iter()
                .fold(0u8, |n, b| n.wrapping_add(u8::from(*b == b'\n')));
            u64::from(n)
        })
        .sum();
    // A zero byte of `word ^ NEWLINES` is a newline; this test of each byte is exact.
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const NEWLINES: u64 = 0x0A0A_0A0A_0A0A_0A0A;
    let mut words = blocks.remainder().chunks_exact(8);
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w) ^ NEWLINES;
        let nonzero = ((x & LOW7) + LOW7) | x;
        total += u64::from((!nonzero & !LOW7).count_ones());
    }
    total + words.remainder().iter().filter(|b| **b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8], hold: bool, chunk: usize) -> (Vec<u8>, TextPosition, u64) {
        // A tiny inner reader that returns `chunk` bytes at a time, to cross buffer edges.
        struct Slow<'a>(&'a [u8], usize);
        impl Read for Slow<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut w = LineWindow::new(Slow(text, chunk), hold, usize::MAX);
        let mut out = Vec::new();
        w.read_to_end(&mut out).expect("read");
        (out, w.position(), w.held_back())
    }

    #[test]
    fn an_unfinished_last_line_is_held_back_only_when_asked() {
        for chunk in [1, 3, 1000] {
            let (out, pos, held) = read_all(b"a,b\n1,2\n3,", true, chunk);
            assert_eq!(out, b"a,b\n1,2\n");
            assert_eq!(
                pos,
                TextPosition {
                    offset: 8,
                    lines: 2
                }
            );
            assert_eq!(held, 2);
            let (out, pos, held) = read_all(b"a,b\n1,2\n3,", false, chunk);
            assert_eq!(out, b"a,b\n1,2\n3,");
            assert_eq!(
                pos,
                TextPosition {
                    offset: 10,
                    lines: 2
                }
            );
            assert_eq!(held, 0);
            let (out, _, held) = read_all(b"a\nb\n", true, chunk);
            assert_eq!((out.as_slice(), held), (&b"a\nb\n"[..], 0));
        }
    }

    #[test]
    fn a_line_longer_than_the_maximum_is_handed_on_unfinished() {
        let mut text = b"ok\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 20 << 20));
        text.extend_from_slice(b"\nend\n");
        for hold in [false, true] {
            let mut w = LineWindow::new(&text[..], hold, 1 << 20);
            let mut out = Vec::new();
            w.read_to_end(&mut out).expect("read");
            assert_eq!(out, text);
            assert!(w.buf.len() <= 4 << 20, "held {} bytes", w.buf.len());
        }
        let mut w = LineWindow::new(&text[3..], false, 1000);
        let e = w.take_first_line().expect_err("too long a header");
        assert!(
            crate::ingest::read::csv_records::RecordTooLong::of(&e).is_some(),
            "{e}"
        );
    }

    #[test]
    fn skipping_resumes_after_what_was_read() {
        let text = b"h1,h2\nx,1\ny,2\nz,3\n";
        let mut w = LineWindow::new(&text[..], true, usize::MAX);
        assert_eq!(w.take_first_line().expect("header"), b"h1,h2\n");
        w.skip_to(10).expect("skip");
        assert_eq!(
            w.position(),
            TextPosition {
                offset: 10,
                lines: 2
            }
        );
        let mut rest = Vec::new();
        w.read_to_end(&mut rest).expect("rest");
        assert_eq!(rest, b"y,2\nz,3\n");
        let mut short = LineWindow::new(&text[..5], false, usize::MAX);
        let err = short.skip_to(10).expect_err("shorter than before");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn newlines_are_counted_exactly() {
        let mut text = Vec::new();
        for i in 0..2000u32 {
            text.push((i * 37 % 251) as u8);
            if i % 7 == 0 || i % 11 == 0 {
                text.push(b'\n');
            }
        }
        for start in 0..20 {
            for end in (start..text.len()).step_by(97).chain([text.len()]) {
                let part = &text[start..end];
                let want = part.iter().filter(|b| **b == b'\n').count() as u64;
                assert_eq!(count_newlines(part), want, "{start}..{end}");
            }
        }
        assert_eq!(count_newlines(&[b'\n'; 600]), 600);
        assert_eq!(count_newlines(&[0x8A; 600]), 0);
    }

    #[test]
    fn lines_longer_than_the_buffer_stay_whole() {
        let mut text = vec![b'x'; CHUNK * 3];
        text.push(b'\n');
        text.extend_from_slice(b"tail");
        let (out, pos, held) = read_all(&text, true, CHUNK + 7);
        assert_eq!(out.len(), CHUNK * 3 + 1);
        assert_eq!(pos.lines, 1);
        assert_eq!(held, 4);
    }
}
