//! Arrow builders for the rows ingest writes: accepted events and rejected lines.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Date32Builder, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};

use crate::cst::CST_TIMEZONE;
use crate::error::Result;
use crate::ingest::read::validate::{Event, EventType, Reject};
use crate::schema::{
    amount_cny_type, amount_type, DUPLICATES_SCHEMA, REJECTS_SCHEMA, TRANSACTIONS_CODED_SCHEMA,
};
use crate::warehouse::coded_text::CodedBuilder;
use crate::warehouse::parquet_files::gather_rows;

/// Accepted events of one CST day, column by column.
pub struct TransactionsBuilder {
    event_id: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    event_type: CodedBuilder,
    order_id: StringBuilder,
    platform: CodedBuilder,
    amount: Decimal128Builder,
    currency: CodedBuilder,
    amount_cny: Decimal128Builder,
    buyer_id: Int64Builder,
    seller_id: Int64Builder,
    category: CodedBuilder,
    province: CodedBuilder,
    device: CodedBuilder,
    quantity: Int64Builder,
    rows: usize,
}

impl Default for TransactionsBuilder {
    fn default() -> Self {
        TransactionsBuilder {
            event_id: StringBuilder::new(),
            event_time: TimestampMillisecondBuilder::new().with_timezone(CST_TIMEZONE),
            event_type: event_types(0),
            order_id: StringBuilder::new(),
            platform: CodedBuilder::default(),
            amount: Decimal128Builder::new().with_data_type(amount_type()),
            currency: CodedBuilder::default(),
            amount_cny: Decimal128Builder::new().with_data_type(amount_cny_type()),
            buyer_id: Int64Builder::new(),
            seller_id: Int64Builder::new(),
            category: CodedBuilder::default(),
            province: CodedBuilder::default(),
            device: CodedBuilder::default(),
            quantity: Int64Builder::new(),
            rows: 0,
        }
    }
}

/// A builder of `event_type`: the contract's rule has already told each event's type, so its
/// key is the type's number, with no lookup.
fn event_types(rows: usize) -> CodedBuilder {
    CodedBuilder::with_names(rows, EventType::ALL.map(EventType::as_str))
}

impl TransactionsBuilder {
    /// Appends `e`; returns the bytes of its strings.
    pub fn append(&mut self, e: &Event<'_>) -> usize {
        self.event_id.append_value(&e.event_id);
        self.event_time.append_value(e.event_time_ms);
        self.event_type.append_key(e.event_type as u32);
        self.order_id.append_value(&e.order_id);
        self.platform.append_value(&e.platform);
        self.amount.append_value(i128::from(e.amount_fen));
        self.currency.append_value(&e.currency);
        self.amount_cny.append_value(i128::from(e.amount_cny_fen));
        self.buyer_id.append_option(e.buyer_id);
        self.seller_id.append_option(e.seller_id);
        self.category.append_option(e.category.as_deref());
        self.province.append_option(e.province.as_deref());
        self.device.append_option(e.device.as_deref());
        self.quantity.append_value(e.quantity);
        self.rows += 1;
        [&e.event_id, &e.order_id, &e.platform, &e.currency]
            .into_iter()
            .chain([&e.category, &e.province, &e.device].into_iter().flatten())
            .map(|s| s.len())
            .sum()
    }

    /// A builder whose buffers start an eighth larger than `batch`'s columns, so that chunks of
    /// similar size are built without growing them: one a little larger than the last would
    /// otherwise copy each buffer into one of twice the size (and touch those fresh pages).
    fn sized_like(batch: &RecordBatch) -> Self {
        let rows = batch.num_rows() + batch.num_rows() / 8;
        let coded = || CodedBuilder::with_capacity(rows);
        let text = |i: usize| {
            let bytes = batch
                .column(i)
                .as_string_opt::<i32>()
                .map_or(0, |a| a.values().len());
            StringBuilder::with_capacity(rows, bytes + bytes / 8)
        };
        TransactionsBuilder {
            event_id: text(0),
            event_time: TimestampMillisecondBuilder::with_capacity(rows)
                .with_timezone(CST_TIMEZONE),
            event_type: event_types(rows),
            order_id: text(3),
            platform: coded(),
            amount: Decimal128Builder::with_capacity(rows).with_data_type(amount_type()),
            currency: coded(),
            amount_cny: Decimal128Builder::with_capacity(rows).with_data_type(amount_cny_type()),
            buyer_id: Int64Builder::with_capacity(rows),
            seller_id: Int64Builder::with_capacity(rows),
            category: coded(),
            province: coded(),
            device: coded(),
            quantity: Int64Builder::with_capacity(rows),
            rows: 0,
        }
    }

    /// The rows so far as a batch of the warehouse schema; the builder starts over empty,
    /// its buffers sized for as many rows again.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.event_type.finish()?),
            Arc::new(self.order_id.finish()),
            Arc::new(self.platform.finish()?),
            Arc::new(self.amount.finish()),
            Arc::new(self.currency.finish()?),
            Arc::new(self.amount_cny.finish()),
            Arc::new(self.buyer_id.finish()),
            Arc::new(self.seller_id.finish()),
            Arc::new(self.category.finish()?),
            Arc::new(self.province.finish()?),
            Arc::new(self.device.finish()?),
            Arc::new(self.quantity.finish()),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&TRANSACTIONS_CODED_SCHEMA), columns)?;
        *self = Self::sized_like(&batch);
        Ok(batch)
    }
}

/// The accepted events of one CST day not written yet: rows of the chunks' batches that
/// hold them, in arrival order. The writer sorts them and copies them into its file's batch
/// ([`crate::warehouse::parquet_files::take_sorted`]) in one pass.
#[derive(Default)]
pub struct DayRows {
    /// The batches the rows are in, with their number in [`HeldBatches`].
    batches: Vec<(u64, RecordBatch)>,
    /// (index in `batches`, row) of each event.
    rows: Vec<(usize, usize)>,
    /// Bytes of the events' strings.
    bytes: usize,
}

impl DayRows {
    /// Adds row `row` of `batch`, number `id` in `held`, whose strings have `bytes` bytes.
    pub fn push(
        &mut self,
        held: &mut HeldBatches,
        id: u64,
        batch: &RecordBatch,
        row: usize,
        bytes: usize,
    ) {
        if self.batches.last().map(|(last, _)| *last) != Some(id) {
            held.refer(id);
            self.batches.push((id, batch.clone()));
        }
        self.rows.push((self.batches.len() - 1, row));
        self.bytes += bytes;
    }

    /// Bytes of the strings held (Arrow's string columns hold at most 2 GiB each).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows held, as (batch, row) of the batches returned; the buffer starts over empty
    /// and lets go of its batches in `held`.
    pub fn take(&mut self, held: &mut HeldBatches) -> (Vec<RecordBatch>, Vec<(usize, usize)>) {
        self.bytes = 0;
        let batches = std::mem::take(&mut self.batches)
            .into_iter()
            .map(|(id, batch)| {
                held.release(id);
                batch
            })
            .collect();
        (batches, std::mem::take(&mut self.rows))
    }

    /// Whether the rows are a small part of the chunks' batches they keep alive: fewer than
    /// one in `SPARSE` of their rows (a day that gets a few events of every chunk).
    pub fn is_sparse(&self) -> bool {
        const SPARSE: usize = 8;
        let held: usize = self.batches.iter().map(|(_, b)| b.num_rows()).sum();
        !self.rows.is_empty() && self.rows.len().saturating_mul(SPARSE) < held
    }

    /// Copies the rows into a batch of their own, so that the chunks' batches they were
    /// part of can be freed: `id` is that batch's number in `held`.
    pub fn compact(&mut self, held: &mut HeldBatches, id: u64) -> Result<()> {
        if self.rows.is_empty() || (self.batches.len() == 1 && held.is_own(self.batches[0].0)) {
            return Ok(());
        }
        let bytes = self.bytes;
        let (batches, rows) = self.take(held);
        let own = gather_rows(batches, &rows, false)?;
        held.add(id, &own, true);
        self.rows = (0..own.num_rows()).map(|row| (0, row)).collect();
        self.batches = vec![(id, own)];
        self.bytes = bytes;
        Ok(())
    }
}

/// The chunks' batches that days still hold rows of, and their memory: a chunk's batch
/// lives until every day with rows in it is written, so a day that gets a few rows of many
/// chunks (events just before midnight, in a log of the next day) would keep them all; past
/// a limit the days' rows are copied into batches of their own ([`DayRows::compact`]).
#[derive(Default)]
pub struct HeldBatches {
    /// Memory and references, by number; `own`: the batch is one day's copy.
    batches: std::collections::HashMap<u64, Held>,
    bytes: usize,
}

struct Held {
    bytes: usize,
    refs: usize,
    own: bool,
}

impl HeldBatches {
    /// Starts holding `batch` as number `id`, with one reference: the caller's, to
    /// [`Self::release`] when done.
    pub fn add(&mut self, id: u64, batch: &RecordBatch, own: bool) {
        let bytes = batch.get_array_memory_size();
        self.bytes += bytes;
        self.batches.insert(
            id,
            Held {
                bytes,
                refs: 1,
                own,
            },
        );
    }

    fn refer(&mut self, id: u64) {
        if let Some(held) = self.batches.get_mut(&id) {
            held.refs += 1;
        }
    }

    /// One reference to `id` less; with none left, it is no longer held.
    pub fn release(&mut self, id: u64) {
        if let Some(held) = self.batches.get_mut(&id) {
            held.refs = held.refs.saturating_sub(1);
            if held.refs == 0 {
                self.bytes -= held.bytes;
                self.batches.remove(&id);
            }
        }
    }

    fn is_own(&self, id: u64) -> bool {
        self.batches.get(&id).is_some_and(|h| h.own)
    }

    /// Memory of the batches held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Where a line came from: the first columns of `rejects` and `duplicates`.
#[derive(Default)]
struct LineOrigin {
    run_id: StringBuilder,
    file: StringBuilder,
    line: Int64Builder,
    rows: usize,
}

impl LineOrigin {
    fn append(&mut self, run_id: &str, file: &str, line: u64) {
        self.run_id.append_value(run_id);
        self.file.append_value(file);
        self.line
            .append_value(i64::try_from(line).unwrap_or(i64::MAX));
        self.rows += 1;
    }

    /// The three columns; the row count starts over.
    fn finish(&mut self) -> [ArrayRef; 3] {
        self.rows = 0;
        [
            Arc::new(self.run_id.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.line.finish()),
        ]
    }
}

/// Rejected lines with their origin.
#[derive(Default)]
pub struct RejectsBuilder {
    origin: LineOrigin,
    kind: StringBuilder,
    reason: StringBuilder,
    raw: StringBuilder,
}

impl RejectsBuilder {
    pub fn append(&mut self, run_id: &str, file: &str, line: u64, reject: &Reject, raw: &[u8]) {
        self.origin.append(run_id, file, line);
        self.kind.append_value(reject.kind.as_str());
        self.reason.append_value(&reject.reason);
        self.raw.append_value(String::from_utf8_lossy(raw));
    }

    /// Bytes of the reasons and raw texts held (Arrow's string columns hold at most 2 GiB
    /// each).
    pub fn bytes(&self) -> usize {
        self.reason.values_slice().len() + self.raw.values_slice().len()
    }

    pub fn len(&self) -> usize {
        self.origin.rows
    }

    pub fn is_empty(&self) -> bool {
        self.origin.rows == 0
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = self.origin.finish().to_vec();
        columns.push(Arc::new(self.kind.finish()));
        columns.push(Arc::new(self.reason.finish()));
        columns.push(Arc::new(self.raw.finish()));
        Ok(RecordBatch::try_new(Arc::clone(&REJECTS_SCHEMA), columns)?)
    }
}

/// Re-delivered lines that lost to an earlier delivery.
pub struct DuplicatesBuilder {
    origin: LineOrigin,
    event_id: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    cst_date: Date32Builder,
}

impl Default for DuplicatesBuilder {
    fn default() -> Self {
        DuplicatesBuilder {
            origin: LineOrigin::default(),
            event_id: StringBuilder::new(),
            event_time: TimestampMillisecondBuilder::new().with_timezone(CST_TIMEZONE),
            cst_date: Date32Builder::new(),
        }
    }
}

impl DuplicatesBuilder {
    /// Adds line `line` of `file`, a re-delivery of `event_id` at `event_time_ms` (CST `day`).
    pub fn append(
        &mut self,
        origin: (&str, &str, u64),
        event_id: &str,
        event_time_ms: i64,
        day: i32,
    ) {
        let (run_id, file, line) = origin;
        self.origin.append(run_id, file, line);
        self.event_id.append_value(event_id);
        self.event_time.append_value(event_time_ms);
        self.cst_date.append_value(day);
    }

    pub fn len(&self) -> usize {
        self.origin.rows
    }

    pub fn is_empty(&self) -> bool {
        self.origin.rows == 0
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = self.origin.finish().to_vec();
        columns.push(Arc::new(self.event_id.finish()));
        columns.push(Arc::new(self.event_time.finish()));
        columns.push(Arc::new(self.cst_date.finish()));
        Ok(RecordBatch::try_new(
            Arc::clone(&DUPLICATES_SCHEMA),
            columns,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use arrow::array::{Array, AsArray};

    use super::*;
    use crate::ingest::read::validate::EventType;

    fn event(id: &str, day: i32) -> Event<'_> {
        Event {
            event_id: Cow::Borrowed(id),
            event_time_ms: i64::from(day) * 86_400_000,
            day,
            event_type: EventType::Paid,
            order_id: Cow::Borrowed("o"),
            platform: Cow::Borrowed("tmall"),
            amount_fen: 100,
            currency: Cow::Borrowed("CNY"),
            amount_cny_fen: 100,
            buyer_id: None,
            seller_id: Some(7),
            category: None,
            province: Some(Cow::Borrowed("Zhejiang")),
            device: None,
            quantity: 1,
        }
    }

    /// A chunk's batch of events `ids`, all of `day`.
    fn chunk(ids: &[&str], day: i32) -> RecordBatch {
        let mut rows = TransactionsBuilder::default();
        for id in ids {
            let bytes = rows.append(&event(id, day));
            assert_eq!(bytes, id.len() + "otmallCNYZhejiang".len(), "string bytes");
        }
        rows.finish().expect("batch")
    }

    fn ids(batches: &[RecordBatch], rows: &[(usize, usize)]) -> Vec<String> {
        rows.iter()
            .map(|(b, r)| {
                batches[*b]
                    .column(0)
                    .as_string::<i32>()
                    .value(*r)
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn days_hold_chunk_rows_until_written_or_compacted() {
        let mut held = HeldBatches::default();
        let (one, two) = (chunk(&["a", "b", "c"], 1), chunk(&["d", "e"], 2));
        held.add(1, &one, false);
        held.add(2, &two, false);
        let (mut day1, mut day2) = (DayRows::default(), DayRows::default());
        // Chunk 1 gives day 1 two rows and day 2 one; chunk 2 gives day 2 both of its rows.
        day1.push(&mut held, 1, &one, 0, 1);
        day2.push(&mut held, 1, &one, 1, 1);
        day1.push(&mut held, 1, &one, 2, 1);
        day2.push(&mut held, 2, &two, 0, 1);
        day2.push(&mut held, 2, &two, 1, 1);
        held.release(1); // the chunks are read
        held.release(2);
        assert_eq!((day1.len(), day2.len(), day2.bytes()), (2, 3, 3));
        let both = held.bytes();
        assert!(both >= one.get_array_memory_size() + two.get_array_memory_size());

        // Day 1 copied out: chunk 1 is still held, by day 2.
        day1.compact(&mut held, 3).expect("compact");
        assert_eq!(day1.len(), 2);
        assert!(held.bytes() > both, "day 1's copy is held too");
        // Day 2 written: both chunks are freed; only day 1's own copy is left.
        let (batches, rows) = day2.take(&mut held);
        assert_eq!(ids(&batches, &rows), ["b", "d", "e"]);
        assert!(day2.is_empty());
        let (copy, _) = (&day1.batches[0].1, ());
        assert_eq!(held.bytes(), copy.get_array_memory_size());
        assert_eq!(copy.num_rows(), 2);
        // Compacting again copies nothing; the rows come out the same.
        day1.compact(&mut held, 4).expect("compact");
        assert_eq!(day1.batches[0].0, 3);
        let (batches, rows) = day1.take(&mut held);
        assert_eq!(ids(&batches, &rows), ["a", "c"]);
        assert_eq!(batches[0].column(9).null_count(), 0, "seller_id");
        assert!(batches[0].column(8).is_null(0), "buyer_id");
        assert_eq!(held.bytes(), 0);
    }

    #[test]
    fn a_day_with_a_few_rows_of_many_chunks_is_sparse_until_compacted() {
        let mut held = HeldBatches::default();
        let names: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (mut main, mut edge) = (DayRows::default(), DayRows::default());
        assert!(!edge.is_sparse(), "no rows");
        for id in 0..10u64 {
            let batch = chunk(&names, 11);
            held.add(id, &batch, false);
            // Nine rows for the busy day, one for the day across midnight.
            for row in 0..9 {
                main.push(&mut held, id, &batch, row, 1);
            }
            edge.push(&mut held, id, &batch, 9, 1);
            held.release(id);
        }
        assert!(!main.is_sparse(), "9 of every 10 rows");
        assert!(edge.is_sparse(), "1 of every 10 rows");
        let all = held.bytes();
        let _ = main.take(&mut held);
        assert_eq!(held.bytes(), all, "the edge day still holds every chunk");
        edge.compact(&mut held, 10).expect("compact");
        assert!(!edge.is_sparse(), "its own copy");
        assert!(held.bytes() * 5 < all, "the chunks are freed");
        let (batches, rows) = edge.take(&mut held);
        assert_eq!(ids(&batches, &rows), ["e9"; 10]);
    }
}
