//! Parsing and validating one input on every core; de-duplicating it in input order on one.
//!
//! The decompressed text of an input is cut into chunks of about [`CHUNK_BYTES`] at record
//! boundaries (for CSV, a newline outside quotes: [`super::csv_records::last_record_end`]).
//! Worker threads take the next chunk in turn, parse it and apply the contract's rules to
//! each record, which needs nothing but the record. The calling thread receives the parsed
//! chunks strictly in input order and does the order-dependent part: de-duplication (first
//! wins, in input order), appending rows, numbering lines (each chunk says how many lines
//! it holds, so line numbers stay physical ones).
//!
//! Memory is bounded: a chunk's buffers go back to the workers once the calling thread is
//! done with it, and only [`IN_FLIGHT`] sets of buffers exist, so reading stops while that
//! many chunks wait to be consumed. Reading happens under a lock by the worker whose turn it
//! is; it reads the input to its end (as a sequential reader does), so the input's position
//! afterwards is the same.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::ingest::validate::{Event, EventType, Reject};

/// Target size of a chunk; a chunk ends at the last record boundary once this much is read.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Chunks read, being parsed, or waiting to be consumed, at most.
const IN_FLIGHT: usize = 8;

/// One record of a chunk, parsed and checked against the contract.
pub struct Parsed {
    /// The 1-based physical line, within the chunk, where the record starts.
    pub line: u64,
    pub outcome: Outcome,
}

pub enum Outcome {
    Accepted(StoredEvent),
    /// `raw`: where the record's verbatim text lies in the chunk's text.
    Rejected {
        reject: Reject,
        raw: Range<usize>,
    },
}

/// Where a string lies in [`Chunk::strings`].
type Span = (u32, u32);

/// An accepted event whose strings are kept in its chunk, with the hash of its id.
#[derive(Clone, Copy)]
pub struct StoredEvent {
    pub id_hash: u128,
    pub event_time_ms: i64,
    /// CST day, days since the epoch.
    pub day: i32,
    event_type: EventType,
    amount_fen: i64,
    amount_cny_fen: i64,
    buyer_id: Option<i64>,
    seller_id: Option<i64>,
    quantity: i64,
    event_id: Span,
    order_id: Span,
    platform: Span,
    currency: Span,
    category: Option<Span>,
    province: Option<Span>,
    device: Option<Span>,
}

/// A piece of an input's text and what its records became.
#[derive(Default)]
pub struct Chunk {
    /// The text, from a record boundary to a record boundary (or the end of the input).
    pub text: Vec<u8>,
    /// Newlines in `text`: the lines the chunk advances the line count by.
    pub newlines: u64,
    pub records: Vec<Parsed>,
    /// The strings of the accepted events.
    strings: String,
    /// Buffers a parser may keep from chunk to chunk.
    pub fields: Vec<u8>,
    pub ends: Vec<usize>,
}

impl Chunk {
    fn clear(&mut self) {
        self.text.clear();
        self.newlines = 0;
        self.records.clear();
        self.strings.clear();
    }

    /// Records an accepted event, copying its strings into the chunk.
    pub fn accept(&mut self, line: u64, e: &Event<'_>, id_hash: u128) {
        let stored = StoredEvent::store(&mut self.strings, e, id_hash);
        self.records.push(Parsed {
            line,
            outcome: Outcome::Accepted(stored),
        });
    }

    /// Records a rejected record whose verbatim text is `raw` of the chunk's text.
    pub fn reject(&mut self, line: u64, reject: Reject, raw: Range<usize>) {
        self.records.push(Parsed {
            line,
            outcome: Outcome::Rejected { reject, raw },
        });
    }

    /// The event as the rest of ingest sees it, borrowing the chunk's strings.
    pub fn event(&self, e: &StoredEvent) -> Event<'_> {
        e.view(&self.strings)
    }

    /// The strings of the chunk's accepted events.
    pub fn strings(&self) -> &str {
        &self.strings
    }
}

impl StoredEvent {
    /// Keeps `e`, its strings appended to `strings` (which must stay below 4 GiB: a chunk's
    /// text is about a MiB).
    pub fn store(strings: &mut String, e: &Event<'_>, id_hash: u128) -> StoredEvent {
        let mut keep = |s: &str| -> Span {
            let start = strings.len();
            strings.push_str(s);
            (start as u32, strings.len() as u32)
        };
        StoredEvent {
            id_hash,
            event_time_ms: e.event_time_ms,
            day: e.day,
            event_type: e.event_type,
            amount_fen: e.amount_fen,
            amount_cny_fen: e.amount_cny_fen,
            buyer_id: e.buyer_id,
            seller_id: e.seller_id,
            quantity: e.quantity,
            event_id: keep(&e.event_id),
            order_id: keep(&e.order_id),
            platform: keep(&e.platform),
            currency: keep(&e.currency),
            category: e.category.as_deref().map(&mut keep),
            province: e.province.as_deref().map(&mut keep),
            device: e.device.as_deref().map(&mut keep),
        }
    }

    /// A copy of the event with its strings, which are stored one after the other in `from`,
    /// copied to the end of `to` at once.
    pub fn copy_to(&self, from: &str, to: &mut String) -> StoredEvent {
        let (start, end) = (self.event_id.0, self.strings_end());
        let base = to.len() as u32;
        to.push_str(&from[start as usize..end as usize]);
        let moved = |(a, b): Span| (a - start + base, b - start + base);
        StoredEvent {
            event_id: moved(self.event_id),
            order_id: moved(self.order_id),
            platform: moved(self.platform),
            currency: moved(self.currency),
            category: self.category.map(moved),
            province: self.province.map(moved),
            device: self.device.map(moved),
            ..*self
        }
    }

    /// Where the last of the event's strings ends ([`StoredEvent::store`] keeps them in this
    /// order, one after the other).
    fn strings_end(&self) -> u32 {
        [self.device, self.province, self.category]
            .into_iter()
            .flatten()
            .next()
            .unwrap_or(self.currency)
            .1
    }

    /// The event id, in the `strings` the event was stored with.
    pub fn event_id<'s>(&self, strings: &'s str) -> &'s str {
        &strings[self.event_id.0 as usize..self.event_id.1 as usize]
    }

    /// The event, borrowing the `strings` it was stored with.
    pub fn view<'s>(&self, strings: &'s str) -> Event<'s> {
        let e = self;
        let s = |(start, end): Span| Cow::Borrowed(&strings[start as usize..end as usize]);
        Event {
            event_id: s(e.event_id),
            event_time_ms: e.event_time_ms,
            day: e.day,
            event_type: e.event_type,
            order_id: s(e.order_id),
            platform: s(e.platform),
            amount_fen: e.amount_fen,
            currency: s(e.currency),
            amount_cny_fen: e.amount_cny_fen,
            buyer_id: e.buyer_id,
            seller_id: e.seller_id,
            category: e.category.map(s),
            province: e.province.map(s),
            device: e.device.map(s),
            quantity: e.quantity,
        }
    }
}

/// Where a chunk's text may end: just after the last complete record of `text` (which
/// starts at a record boundary), or `None` when it holds no complete record yet.
pub type Cut = fn(&[u8]) -> Option<usize>;

/// The end of the last complete line: for formats where every newline ends a record.
pub fn last_line_end(text: &[u8]) -> Option<usize> {
    text.iter().rposition(|b| *b == b'\n').map(|i| i + 1)
}

/// Reads `reader` to its end in chunks cut by `cut`, has `parse` fill in each chunk's records
/// (and `newlines`) on worker threads, and calls `consume` with every chunk, in input order,
/// on the calling thread. `parse` gets the chunk's sequence number (0 for the first).
///
/// A read error ends the run with `Error::corrupt(name, ..)` once the chunks before it are
/// consumed; an error of `consume` ends it at once. Either way the workers stop and are
/// joined before this returns.
pub fn parse_in_order<R, P, C>(
    reader: R,
    name: &str,
    cut: Cut,
    parse: P,
    mut consume: C,
) -> Result<()>
where
    R: BufRead + Send,
    P: Fn(&mut Chunk, u64) + Sync,
    C: FnMut(&Chunk) -> Result<()>,
{
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, IN_FLIGHT / 2);
    let (free_tx, free_rx) = sync_channel::<Chunk>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        // Cannot fail: the channel has room for all of them and its receiver is here.
        let _ = free_tx.send(Chunk::default());
    }
    let free_rx = Mutex::new(free_rx);
    let source = Mutex::new(Source {
        reader,
        cut,
        carry: Vec::new(),
        next_seq: 0,
        done: false,
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
) -> Result<()>
where
    C: FnMut(&Chunk) -> Result<()>,
{
    let mut waiting: BTreeMap<u64, io::Result<Chunk>> = BTreeMap::new();
    let mut next = 0;
    for (seq, chunk) in done_rx {
        waiting.insert(seq, chunk);
        while let Some(chunk) = waiting.remove(&next) {
            next += 1;
            let chunk = chunk.map_err(|e| Error::corrupt(name, e))?;
            consume(&chunk)?;
            // Fails only when every worker has ended: the buffers are no longer needed.
            let _ = free_tx.send(chunk);
        }
    }
    if waiting.is_empty() {
        Ok(())
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
                let read = source.read_chunk(&mut chunk.text);
                source.done = !matches!(read, Ok(true));
                (seq, read)
            }
            Err(_) => return,
        };
        let message = match read {
            Ok(false) => return, // the end: nothing read
            Ok(true) => {
                parse(&mut chunk, seq);
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
    cut: Cut,
    /// Bytes read past the end of the last chunk: the start of the next.
    carry: Vec<u8>,
    next_seq: u64,
    done: bool,
}

impl<R: BufRead> Source<R> {
    /// Fills `text` with the next chunk: whole records, about [`CHUNK_BYTES`] of them (more
    /// when one record is longer), or everything left at the end of the input. `false` when
    /// nothing was left.
    fn read_chunk(&mut self, text: &mut Vec<u8>) -> io::Result<bool> {
        text.clear();
        text.append(&mut self.carry);
        let mut want = CHUNK_BYTES;
        loop {
            while text.len() < want {
                let available = match self.reader.fill_buf() {
                    Ok(buf) => buf,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if available.is_empty() {
                    return Ok(!text.is_empty()); // the end: the rest is the last chunk
                }
                let n = available.len().min(want - text.len());
                text.extend_from_slice(&available[..n]);
                self.reader.consume(n);
            }
            if let Some(end) = (self.cut)(text) {
                self.carry.extend_from_slice(&text[end..]);
                text.truncate(end);
                return Ok(true);
            }
            // No record ends in all of that (a huge quoted field): read as much again.
            want = text.len() * 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chunk's text, in order, with its sequence number, for texts read in small pieces.
    fn chunks_of(text: &[u8], cut: Cut) -> Vec<(u64, Vec<u8>)> {
        let reader = io::BufReader::with_capacity(7, text);
        let mut got = Vec::new();
        let parse = |chunk: &mut Chunk, seq: u64| {
            chunk.newlines = seq; // smuggle the sequence number to the consumer
        };
        parse_in_order(reader, "test", cut, parse, |chunk| {
            got.push((chunk.newlines, chunk.text.clone()));
            Ok(())
        })
        .expect("in-memory read");
        got
    }

    #[test]
    fn stored_events_copy_with_their_strings() {
        use crate::ingest::validate::EventType;
        let opt = |s: &'static str| (!s.is_empty()).then_some(Cow::Borrowed(s));
        let mut from = String::from("something stored before");
        let mut to = String::from("xyz");
        for (category, province, device) in [
            ("Beauty", "Zhejiang", "mobile"),
            ("", "Jiangsu", ""),
            ("家电", "", ""),
            ("", "", ""),
            ("", "", "pc"),
        ] {
            let e = Event {
                event_id: Cow::Borrowed("e-1"),
                event_time_ms: 1_573_401_600_000,
                day: 18_211,
                event_type: EventType::Refunded,
                order_id: Cow::Borrowed("o-9"),
                platform: Cow::Borrowed("kaola"),
                amount_fen: 1,
                currency: Cow::Borrowed("USD"),
                amount_cny_fen: 7,
                buyer_id: Some(3),
                seller_id: None,
                category: opt(category),
                province: opt(province),
                device: opt(device),
                quantity: 2,
            };
            let stored = StoredEvent::store(&mut from, &e, 42);
            from.push_str("and more after");
            let copy = stored.copy_to(&from, &mut to);
            assert_eq!(copy.view(&to), e);
            assert_eq!(copy.id_hash, 42);
        }
    }

    #[test]
    fn chunks_come_in_order_and_cover_the_input() {
        let mut text = Vec::new();
        for i in 0..300_000 {
            text.extend_from_slice(format!("line {i},with some text\n").as_bytes());
        }
        text.extend_from_slice(b"last line without newline");
        let got = chunks_of(&text, last_line_end);
        assert!(got.len() > 4, "{} chunks", got.len());
        for (i, (seq, chunk)) in got.iter().enumerate() {
            assert_eq!(*seq, i as u64);
            if i + 1 < got.len() {
                assert_eq!(chunk.last(), Some(&b'\n'));
            }
        }
        let joined: Vec<u8> = got.into_iter().flat_map(|(_, c)| c).collect();
        assert_eq!(joined, text);
        assert!(chunks_of(b"", last_line_end).is_empty());
    }

    #[test]
    fn a_consumer_error_stops_the_workers() {
        let text = vec![b'\n'; 20 * CHUNK_BYTES];
        let mut seen = 0;
        let result = parse_in_order(
            &text[..],
            "test",
            last_line_end,
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
            last_line_end,
            |_, _| {},
            |c| {
                consumed += c.text.len();
                Ok(())
            },
        );
        assert!(matches!(result, Err(Error::Corrupt { .. })), "{result:?}");
        assert_eq!(consumed, 3 * CHUNK_BYTES);
    }
}
