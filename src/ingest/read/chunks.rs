//! Parsing and validating one input on every core; de-duplicating it in input order on one.
//!
//! The decompressed text of an input is cut into chunks of about [`CHUNK_BYTES`] at record
//! boundaries (for CSV, a newline outside quotes: [`super::csv_records::last_record_end`]).
//! Worker threads take the next chunk in turn, parse it, apply the contract's rules to each
//! record, which needs nothing but the record, and build the accepted events' Arrow rows.
//! The calling thread receives the parsed chunks strictly in input order and does the
//! order-dependent part: de-duplication (first wins, in input order), picking each kept row
//! for its day, numbering lines (each chunk says how many lines it holds, so line numbers
//! stay physical ones).
//!
//! Memory is bounded: a chunk's text buffers go back to the workers once the calling thread
//! is done with it, and only [`IN_FLIGHT`] sets of them exist, so reading stops while that
//! many chunks wait to be consumed; its rows live on, as an Arrow batch, until their days are
//! written (the accept stage bounds what it holds that way). Reading happens under a lock by the worker whose turn it
//! is; it reads the input to its end (as a sequential reader does), so the input's position
//! afterwards is the same.
//!
//! Hostile input cannot grow memory either. A record longer than the run's maximum record
//! size (a line of GiBs with no newline, say, inside a compressed file) is never held whole:
//! its first [`RAW_PREFIX_BYTES`] are kept, the rest is read past up to where the record
//! ends (for CSV, a newline outside quotes) and only counted, and it becomes one
//! `record_too_long` reject; the records before and after it are read as usual. An input
//! whose bytes stop being readable (a truncated or damaged gzip or zstd stream) hands on the
//! complete records read before the damage, then ends with [`Ending::Broken`].

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use arrow::array::RecordBatch;

use crate::error::{Error, Result};
use crate::ingest::accept::batches::TransactionsBuilder;
use crate::ingest::read::csv_records::{last_record_end, RecordEndScanner};
use crate::ingest::read::validate::{Event, Reject};
use crate::ingest::read::window::count_newlines;

/// Target size of a chunk; a chunk ends at the last record boundary once this much is read.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Chunks read, being parsed, or waiting to be consumed, at most.
const IN_FLIGHT: usize = 8;
/// Of a record longer than the maximum record size, the bytes kept as its raw text.
pub const RAW_PREFIX_BYTES: usize = 4096;
/// The default maximum record size (`--max-record-bytes`): a transaction event is a few
/// hundred bytes, so a record of a MiB is no event.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;
/// The largest maximum record size that may be asked for: chunks index their text with
/// `u32` and Arrow's string columns with `i32`.
pub const MAX_MAX_RECORD_BYTES: usize = 1 << 30;

/// One record of a chunk, parsed and checked against the contract.
pub struct Parsed {
    /// The 1-based physical line, within the chunk, where the record starts.
    pub line: u64,
    pub outcome: Outcome,
}

pub enum Outcome {
    /// The event is this row of the chunk's accepted rows ([`Chunk::take_rows`]), and this
    /// entry of [`Chunk::keys`].
    Accepted(usize),
    /// `raw`: where the record's verbatim text lies in the chunk's text.
    Rejected { reject: Reject, raw: Range<usize> },
}

/// What the accept stage decides by, of an accepted event: its row holds the rest.
#[derive(Clone, Copy, Debug)]
pub struct RowKey {
    pub id_hash: u128,
    pub event_time_ms: i64,
    /// CST day, days since the epoch.
    pub day: i32,
    /// Bytes of the event's strings (an Arrow string column holds at most 2 GiB).
    pub bytes: u32,
}

/// A piece of an input's text and what its records became: the accepted events as Arrow
/// rows built by the worker that parsed it, so that the accept stage only picks rows and
/// the writer copies each string once more, into its file's sorted batch.
#[derive(Default)]
pub struct Chunk {
    /// The text, from a record boundary to a record boundary (or the end of the input).
    pub text: Vec<u8>,
    /// Newlines in `text`: the lines the chunk advances the line count by.
    pub newlines: u64,
    pub records: Vec<Parsed>,
    /// Of each accepted event, in order, what the accept stage needs.
    pub keys: Vec<RowKey>,
    /// The accepted events' columns.
    rows: TransactionsBuilder,
    /// Buffers a parser may keep from chunk to chunk.
    pub fields: Vec<u8>,
    pub ends: Vec<usize>,
    /// The chunk is one record longer than the maximum record size, of this many bytes (its
    /// line end not counted): `text` holds only its first [`RAW_PREFIX_BYTES`].
    oversized: Option<u64>,
}

impl Chunk {
    fn clear(&mut self) {
        self.text.clear();
        self.newlines = 0;
        self.records.clear();
        self.keys.clear();
        self.oversized = None;
    }

    /// Records an accepted event as the next row.
    pub fn accept(&mut self, line: u64, e: &Event<'_>, id_hash: u128) {
        let bytes = self.rows.append(e);
        self.records.push(Parsed {
            line,
            outcome: Outcome::Accepted(self.keys.len()),
        });
        self.keys.push(RowKey {
            id_hash,
            event_time_ms: e.event_time_ms,
            day: e.day,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
        });
    }

    /// Records a rejected record whose verbatim text is `raw` of the chunk's text.
    pub fn reject(&mut self, line: u64, reject: Reject, raw: Range<usize>) {
        self.records.push(Parsed {
            line,
            outcome: Outcome::Rejected { reject, raw },
        });
    }

    /// The accepted events as a batch of the warehouse's file schema, `None` when there are
    /// none; the next chunk's rows start in buffers of this one's size.
    pub fn take_rows(&mut self) -> Result<Option<RecordBatch>> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.rows.finish()?))
    }
}

/// How an input's records end, which says where a chunk may be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Every newline ends a record (NDJSON).
    Lines,
    /// A newline outside quotes ends a record (CSV, RFC 4180).
    Csv,
}

impl Framing {
    /// Just after the last complete record of `text` (which starts at a record boundary), or
    /// `None` when it holds no complete record yet.
    pub fn last_end(self, text: &[u8]) -> Option<usize> {
        match self {
            Framing::Lines => last_line_end(text),
            Framing::Csv => last_record_end(text),
        }
    }
}

/// The end of the last complete line: for formats where every newline ends a record.
pub fn last_line_end(text: &[u8]) -> Option<usize> {
    text.iter().rposition(|b| *b == b'\n').map(|i| i + 1)
}

/// Finds where a record ends in text read piece by piece (the record started at a record
/// boundary before the first piece): what reading past a record too long to hold needs.
enum EndScanner {
    Lines,
    Csv(RecordEndScanner),
}

impl EndScanner {
    fn new(framing: Framing) -> Self {
        match framing {
            Framing::Lines => EndScanner::Lines,
            Framing::Csv => EndScanner::Csv(RecordEndScanner::default()),
        }
    }

    /// Just after the newline in `piece` that ends the record, if the record ends there.
    fn first_end(&mut self, piece: &[u8]) -> Option<usize> {
        match self {
            EndScanner::Lines => piece.iter().position(|b| *b == b'\n').map(|i| i + 1),
            EndScanner::Csv(scanner) => scanner.first_end(piece),
        }
    }
}

/// How reading an input ended.
#[derive(Debug)]
pub enum Ending {
    /// The input was read to its end.
    Complete,
    /// The input's bytes could not be read on from here (a damaged or truncated compressed
    /// stream, an I/O error): every complete record read before was consumed.
    Broken(io::Error),
}

/// The reject of a record of `bytes` bytes, longer than `max_record` allows.
pub fn too_long(bytes: u64, max_record: usize) -> Reject {
    Reject::new(
        crate::ingest::read::validate::RejectKind::RecordTooLong,
        format!(
            "record of {bytes} bytes is longer than the maximum record size of {max_record} bytes (--max-record-bytes); raw keeps its first {} bytes, {} cut",
            (RAW_PREFIX_BYTES as u64).min(bytes),
            bytes.saturating_sub(RAW_PREFIX_BYTES as u64)
        ),
    )
}

/// Reads `reader` to its end in chunks cut at record ends of `framing`, has `parse` fill in
/// each chunk's records (and `newlines`) on worker threads, and calls `consume` with every
/// chunk, in input order, on the calling thread. `parse` gets the chunk's sequence number (0
/// for the first). A record longer than `max_record` bytes that no chunk of ordinary size
/// could hold reaches `consume` as a chunk of its own, rejected by [`too_long`] without
/// `parse` seeing it (`parse` must reject shorter ones that are still too long). `workers`
/// threads parse (at most half the chunks in flight).
///
/// A read error ends reading with [`Ending::Broken`] once the chunks before it are consumed;
/// an error of `consume` ends it at once. Either way the workers stop and are joined before
/// this returns.
pub fn parse_in_order<R, P, C>(
    reader: R,
    name: &str,
    framing: Framing,
    max_record: usize,
    workers: usize,
    parse: P,
    mut consume: C,
) -> Result<Ending>
where
    R: BufRead + Send,
    P: Fn(&mut Chunk, u64) + Sync,
    C: FnMut(&mut Chunk) -> Result<()>,
{
    let workers = workers.clamp(1, IN_FLIGHT / 2);
    let (free_tx, free_rx) = sync_channel::<Chunk>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        // Cannot fail: the channel has room for all of them and its receiver is here.
        let _ = free_tx.send(Chunk::default());
    }
    let free_rx = Mutex::new(free_rx);
    let source = Mutex::new(Source {
        reader,
        framing,
        max_record: max_record.max(1),
        carry: Vec::new(),
        next_seq: 0,
        done: false,
        error: None,
    });
    let (done_tx, done_rx) = sync_channel::<(u64, io::Result<Chunk>)>(IN_FLIGHT);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (free_rx, source, parse) = (&free_rx, &source, &parse);
            scope.spawn(move || work(free_rx, source, parse, done_tx));
        }
        drop(done_tx);
        let result = deliver(&done_rx, &free_tx, name, &mut consume);
        // Dropping both ends the workers: none waits for buffers or room that never come.
        drop(free_tx);
        drop(done_rx);
        result
    })
}

/// The calling thread's part: chunks in sequence order to `consume`, buffers back.
fn deliver<C>(
    done_rx: &Receiver<(u64, io::Result<Chunk>)>,
    free_tx: &SyncSender<Chunk>,
    name: &str,
    consume: &mut C,
) -> Result<Ending>
where
    C: FnMut(&mut Chunk) -> Result<()>,
{
    let mut waiting: BTreeMap<u64, io::Result<Chunk>> = BTreeMap::new();
    let mut next = 0;
    for (seq, chunk) in done_rx {
        waiting.insert(seq, chunk);
        while let Some(chunk) = waiting.remove(&next) {
            next += 1;
            let mut chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => return Ok(Ending::Broken(e)),
            };
            consume(&mut chunk)?;
            // Fails only when every worker has ended: the buffers are no longer needed.
            let _ = free_tx.send(chunk);
        }
    }
    if waiting.is_empty() {
        Ok(Ending::Complete)
    } else {
        // Only if a worker died (it panicked, which the scope reports when it joins).
        Err(Error::Other(anyhow::anyhow!(
            "{name}: a parser thread stopped before chunk {next}"
        )))
    }
}

/// A worker: takes free buffers, reads the next chunk into them, parses it, hands it on.
fn work<R, P>(
    free_rx: &Mutex<Receiver<Chunk>>,
    source: &Mutex<Source<R>>,
    parse: &P,
    done_tx: SyncSender<(u64, io::Result<Chunk>)>,
) where
    R: BufRead,
    P: Fn(&mut Chunk, u64),
{
    loop {
        let chunk = match free_rx.lock() {
            Ok(free) => free.recv(),
            Err(_) => return, // another worker panicked
        };
        let Ok(mut chunk) = chunk else {
            return; // the consumer stopped
        };
        chunk.clear();
        let (seq, read) = match source.lock() {
            Ok(mut source) => {
                if source.done {
                    return;
                }
                let seq = source.next_seq;
                source.next_seq += 1;
                let read = source.read_chunk(&mut chunk);
                source.done = !matches!(read, Ok(true));
                (seq, read.map(|more| (more, source.max_record)))
            }
            Err(_) => return,
        };
        let message = match read {
            Ok((false, _)) => return, // the end: nothing read
            Ok((true, max_record)) => {
                match chunk.oversized {
                    Some(bytes) => {
                        let raw = 0..chunk.text.len();
                        chunk.reject(1, too_long(bytes, max_record), raw);
                    }
                    None => parse(&mut chunk, seq),
                }
                (seq, Ok(chunk))
            }
            Err(e) => (seq, Err(e)),
        };
        if done_tx.send(message).is_err() {
            return;
        }
    }
}

/// The input, cut into chunks as it is read.
struct Source<R> {
    reader: R,
    framing: Framing,
    /// The longest record held whole, in bytes.
    max_record: usize,
    /// Bytes read past the end of the last chunk: the start of the next.
    carry: Vec<u8>,
    next_seq: u64,
    done: bool,
    /// A read error met while the records before it were handed on: the next read's result.
    error: Option<io::Error>,
}

impl<R: BufRead> Source<R> {
    /// Fills `chunk.text` with the next chunk: whole records, about [`CHUNK_BYTES`] of them
    /// (more when one record is longer), or everything left at the end of the input; or, for
    /// a record longer than `max_record`, the start of it (`chunk.oversized`). `false` when
    /// nothing was left.
    fn read_chunk(&mut self, chunk: &mut Chunk) -> io::Result<bool> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let text = &mut chunk.text;
        text.clear();
        text.append(&mut self.carry);
        let mut want = CHUNK_BYTES;
        loop {
            while text.len() < want {
                let available = match self.reader.fill_buf() {
                    Ok(buf) => buf,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // Hand on the complete records read before the damage first.
                        return match self.framing.last_end(text) {
                            Some(end) => {
                                text.truncate(end);
                                self.error = Some(e);
                                Ok(true)
                            }
                            None => Err(e),
                        };
                    }
                };
                if available.is_empty() {
                    if text.len() > self.max_record {
                        break; // the last record, too long
                    }
                    return Ok(!text.is_empty()); // the end: the rest is the last chunk
                }
                let n = available.len().min(want - text.len());
                text.extend_from_slice(&available[..n]);
                self.reader.consume(n);
            }
            if let Some(end) = self.framing.last_end(text) {
                self.carry.extend_from_slice(&text[end..]);
                text.truncate(end);
                return Ok(true);
            }
            if text.len() > self.max_record {
                self.read_past_oversized(chunk);
                return Ok(true);
            }
            // No record ends in all of that (a huge quoted field): read as much again, up to
            // just past the longest record allowed.
            want = (text.len() * 2).min(self.max_record + 1);
        }
    }

    /// `chunk.text` starts a record longer than `max_record` (no record ends in it): keeps
    /// its first [`RAW_PREFIX_BYTES`] and reads past the rest up to where it ends, counting
    /// its bytes and newlines. A read error on the way ends the record; it comes next.
    fn read_past_oversized(&mut self, chunk: &mut Chunk) {
        let mut scanner = EndScanner::new(self.framing);
        // No record ends in the text (else it would have been cut): this only takes the
        // scanner's state (inside quotes or not) to the text's end.
        let _ = scanner.first_end(&chunk.text);
        let mut bytes = chunk.text.len() as u64;
        let mut newlines = count_newlines(&chunk.text);
        chunk.text.truncate(RAW_PREFIX_BYTES);
        loop {
            let available = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            };
            if available.is_empty() {
                break;
            }
            let (n, ended) = match scanner.first_end(available) {
                Some(end) => (end, true),
                None => (available.len(), false),
            };
            newlines += count_newlines(&available[..n]);
            bytes += n as u64;
            self.reader.consume(n);
            if ended {
                bytes -= 1; // its newline
                break;
            }
        }
        chunk.newlines = newlines;
        chunk.oversized = Some(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse threads in these tests: more than one, so that chunks finish out of order.
    const WORKERS: usize = 3;

    /// Every chunk's text, in order, with its sequence number, for texts read in small pieces.
    fn chunks_of(text: &[u8], framing: Framing) -> Vec<(u64, Vec<u8>)> {
        let reader = io::BufReader::with_capacity(7, text);
        let mut got = Vec::new();
        let parse = |chunk: &mut Chunk, seq: u64| {
            chunk.newlines = seq; // smuggle the sequence number to the consumer
        };
        let max = DEFAULT_MAX_RECORD_BYTES;
        parse_in_order(reader, "test", framing, max, WORKERS, parse, |chunk| {
            got.push((chunk.newlines, chunk.text.clone()));
            Ok(())
        })
        .expect("in-memory read");
        got
    }

    #[test]
    fn chunks_come_in_order_and_cover_the_input() {
        let mut text = Vec::new();
        for i in 0..300_000 {
            text.extend_from_slice(format!("line {i},with some text\n").as_bytes());
        }
        text.extend_from_slice(b"last line without newline");
        let got = chunks_of(&text, Framing::Lines);
        assert!(got.len() > 4, "{} chunks", got.len());
        for (i, (seq, chunk)) in got.iter().enumerate() {
            assert_eq!(*seq, i as u64);
            if i + 1 < got.len() {
                assert_eq!(chunk.last(), Some(&b'\n'));
            }
        }
        let joined: Vec<u8> = got.into_iter().flat_map(|(_, c)| c).collect();
        assert_eq!(joined, text);
        assert!(chunks_of(b"", Framing::Lines).is_empty());
    }

    #[test]
    fn a_consumer_error_stops_the_workers() {
        let text = vec![b'\n'; 20 * CHUNK_BYTES];
        let mut seen = 0;
        let result = parse_in_order(
            &text[..],
            "test",
            Framing::Lines,
            DEFAULT_MAX_RECORD_BYTES,
            WORKERS,
            |_, _| {},
            |_| {
                seen += 1;
                if seen == 3 {
                    Err(Error::Data("stop".into()))
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(result, Err(Error::Data(_))));
        assert_eq!(seen, 3);
    }

    #[test]
    fn a_read_error_comes_after_the_chunks_before_it() {
        struct Failing(usize);
        impl io::Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "broken"));
                }
                let n = out.len().min(self.0);
                out[..n].fill(b'\n');
                self.0 -= n;
                Ok(n)
            }
        }
        let reader = io::BufReader::new(Failing(3 * CHUNK_BYTES + 10));
        let mut consumed = 0;
        let result = parse_in_order(
            reader,
            "broken.csv",
            Framing::Lines,
            DEFAULT_MAX_RECORD_BYTES,
            WORKERS,
            |_, _| {},
            |c| {
                consumed += c.text.len();
                Ok(())
            },
        );
        assert!(
            matches!(&result, Ok(Ending::Broken(e)) if e.kind() == io::ErrorKind::InvalidData),
            "{result:?}"
        );
        assert_eq!(consumed, 3 * CHUNK_BYTES + 10);
    }

    /// What `parse_in_order` hands on for `text` with `max` as the maximum record size: per
    /// chunk, its text, newlines and, for an oversized record, its reject's reason.
    fn pieces(text: &[u8], framing: Framing, max: usize) -> (Vec<(Vec<u8>, u64, String)>, Ending) {
        let reader = io::BufReader::with_capacity(1000, text);
        let parse = |chunk: &mut Chunk, _: u64| chunk.newlines = count_newlines(&chunk.text);
        let mut got = Vec::new();
        let ending = parse_in_order(reader, "test", framing, max, WORKERS, parse, |chunk| {
            let reason = match chunk.records.as_slice() {
                [Parsed {
                    line: 1,
                    outcome: Outcome::Rejected { reject, raw },
                }] => {
                    assert_eq!(raw.clone(), 0..chunk.text.len());
                    reject.reason.clone()
                }
                _ => String::new(),
            };
            got.push((chunk.text.clone(), chunk.newlines, reason));
            Ok(())
        })
        .expect("in-memory read");
        (got, ending)
    }

    #[test]
    fn a_record_too_long_is_read_past_and_rejected_with_its_start() {
        let long = 5 * CHUNK_BYTES + 17;
        for framing in [Framing::Lines, Framing::Csv] {
            let mut text = b"first\n".to_vec();
            text.extend(std::iter::repeat_n(b'x', long));
            text.extend_from_slice(b"\nafter\n");
            let (got, ending) = pieces(&text, framing, 4000);
            assert!(matches!(ending, Ending::Complete));
            let texts: Vec<&[u8]> = got.iter().map(|(t, _, _)| t.as_slice()).collect();
            assert_eq!(texts[0], b"first\n");
            assert_eq!(texts[1], &[b'x'; RAW_PREFIX_BYTES][..]);
            assert_eq!(texts[2], b"after\n");
            assert_eq!(got[1].1, 1, "its newline is counted");
            assert!(
                got[1].2.contains(&format!("record of {long} bytes")),
                "{}",
                got[1].2
            );
            assert!(got[1]
                .2
                .contains(&format!("{} cut", long - RAW_PREFIX_BYTES)));
        }
        // A quoted CSV field with newlines: the record ends at the newline after its quote.
        let mut text = b"a,\"".to_vec();
        for _ in 0..400_000 {
            text.extend_from_slice(b"y\n\"\"");
        }
        let record_len = text.len() + 1;
        text.extend_from_slice(b"\"\nb,c\n");
        let (got, _) = pieces(&text, Framing::Csv, 10_000);
        assert_eq!(
            got.len(),
            2,
            "{:?}",
            got.iter().map(|g| g.0.len()).collect::<Vec<_>>()
        );
        assert_eq!(
            got[0].1, 400_001,
            "the field's newlines and the record's own"
        );
        assert!(
            got[0].2.contains(&format!("record of {record_len} bytes")),
            "{}",
            got[0].2
        );
        assert_eq!(got[1].0, b"b,c\n");
        // Read as lines, the same text is many short records.
        let (got, _) = pieces(&text, Framing::Lines, 10_000);
        assert!(got.iter().all(|g| g.2.is_empty()));
        // Without a newline at the end of the input.
        let mut text = b"ok\n".to_vec();
        text.extend(std::iter::repeat_n(b'z', 3 * CHUNK_BYTES));
        let (got, _) = pieces(&text, Framing::Lines, 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, 0);
        assert!(got[1]
            .2
            .contains(&format!("record of {} bytes", 3 * CHUNK_BYTES)));
    }

    #[test]
    fn a_read_error_inside_a_record_too_long_ends_it() {
        struct Failing(usize);
        impl io::Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"));
                }
                let n = out.len().min(self.0);
                out[..n].fill(b'q');
                self.0 -= n;
                Ok(n)
            }
        }
        let reader = io::BufReader::new(Failing(4 * CHUNK_BYTES));
        let mut reasons = Vec::new();
        let ending = parse_in_order(
            reader,
            "t",
            Framing::Lines,
            1000,
            WORKERS,
            |_, _| {},
            |c| {
                reasons.push(c.records.len());
                Ok(())
            },
        )
        .expect("in memory");
        assert_eq!(reasons, [1]);
        assert!(matches!(ending, Ending::Broken(e) if e.kind() == io::ErrorKind::UnexpectedEof));
    }
}
