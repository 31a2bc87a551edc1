//! Arrow builders for the rows ingest writes: accepted events and rejected lines.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};

use crate::cst::CST_TIMEZONE;
use crate::error::Result;
use crate::ingest::read::chunks::StoredEvent;
use crate::ingest::read::validate::{Event, Reject};
use crate::schema::{
    amount_cny_type, amount_type, DUPLICATES_SCHEMA, REJECTS_SCHEMA, TRANSACTIONS_FILE_SCHEMA,
};

/// Accepted events of one CST day, column by column.
pub struct TransactionsBuilder {
    event_id: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    event_type: StringBuilder,
    order_id: StringBuilder,
    platform: StringBuilder,
    amount: Decimal128Builder,
    currency: StringBuilder,
    amount_cny: Decimal128Builder,
    buyer_id: Int64Builder,
    seller_id: Int64Builder,
    category: StringBuilder,
    province: StringBuilder,
    device: StringBuilder,
    quantity: Int64Builder,
    rows: usize,
}

impl Default for TransactionsBuilder {
    fn default() -> Self {
        TransactionsBuilder {
            event_id: StringBuilder::new(),
            event_time: TimestampMillisecondBuilder::new().with_timezone(CST_TIMEZONE),
            event_type: StringBuilder::new(),
            order_id: StringBuilder::new(),
            platform: StringBuilder::new(),
            amount: Decimal128Builder::new().with_data_type(amount_type()),
            currency: StringBuilder::new(),
            amount_cny: Decimal128Builder::new().with_data_type(amount_cny_type()),
            buyer_id: Int64Builder::new(),
            seller_id: Int64Builder::new(),
            category: StringBuilder::new(),
            province: StringBuilder::new(),
            device: StringBuilder::new(),
            quantity: Int64Builder::new(),
            rows: 0,
        }
    }
}

impl TransactionsBuilder {
    pub fn append(&mut self, e: &Event<'_>) {
        self.event_id.append_value(&e.event_id);
        self.event_time.append_value(e.event_time_ms);
        self.event_type.append_value(e.event_type.as_str());
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
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    /// The rows so far as a batch of the warehouse schema; the builder starts over empty.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.order_id.finish()),
            Arc::new(self.platform.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.amount_cny.finish()),
            Arc::new(self.buyer_id.finish()),
            Arc::new(self.seller_id.finish()),
            Arc::new(self.category.finish()),
            Arc::new(self.province.finish()),
            Arc::new(self.device.finish()),
            Arc::new(self.quantity.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(
            Arc::clone(&TRANSACTIONS_FILE_SCHEMA),
            columns,
        )?)
    }
}

/// The accepted events of one CST day on their way into its [`TransactionsBuilder`], in
/// arrival order, except that the events of one millisecond are held back and appended in
/// `event_id` order. Logs are nearly time-ordered, so a day's rows then usually reach the
/// writer sorted by (`event_time`, `event_id`) already and it has nothing to reorder (it still
/// checks, and sorts whatever is not). Which rows go into which file does not change: that
/// is decided by [`DayRows::len`], which counts the events held back.
#[derive(Default)]
pub struct DayRows {
    rows: TransactionsBuilder,
    /// Events of `tie_time` not appended yet, their strings in `strings`.
    tied: Vec<StoredEvent>,
    tie_time: i64,
    strings: String,
    order: Vec<usize>,
    /// Bytes of the strings of the events pushed since the last [`Self::finish`].
    bytes: usize,
}

impl DayRows {
    #[cfg(test)]
    pub fn push(&mut self, e: &Event<'_>) {
        self.tie(e.event_time_ms);
        let before = self.strings.len();
        self.tied.push(StoredEvent::store(&mut self.strings, e, 0));
        self.bytes += self.strings.len() - before;
    }

    /// Pushes an event stored with `strings` (as [`Self::push`] does its view, but its strings
    /// are copied at once).
    pub fn push_stored(&mut self, e: &StoredEvent, strings: &str) {
        self.tie(e.event_time_ms);
        let before = self.strings.len();
        self.tied.push(e.copy_to(strings, &mut self.strings));
        self.bytes += self.strings.len() - before;
    }

    /// Bytes of the strings held (Arrow's string columns hold at most 2 GiB each).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends the events held back unless they are of `event_time_ms`.
    fn tie(&mut self, event_time_ms: i64) {
        if self.tie_time != event_time_ms {
            self.settle();
            self.tie_time = event_time_ms;
        }
    }

    /// Events pushed since the last [`Self::finish`], appended or held back.
    pub fn len(&self) -> usize {
        self.rows.len() + self.tied.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the events held back, in id order.
    fn settle(&mut self) {
        if let [one] = self.tied.as_slice() {
            self.rows.append(&one.view(&self.strings));
        } else if !self.tied.is_empty() {
            let (tied, strings) = (&self.tied, self.strings.as_str());
            self.order.clear();
            self.order.extend(0..tied.len());
            self.order
                .sort_by(|a, b| tied[*a].event_id(strings).cmp(tied[*b].event_id(strings)));
            for i in &self.order {
                self.rows.append(&tied[*i].view(strings));
            }
        }
        self.tied.clear();
        self.strings.clear();
    }

    /// Every event pushed so far as a batch; the buffer starts over empty.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.settle();
        self.bytes = 0;
        self.rows.finish()
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
    pub fn append(&mut self, run_id: &str, file: &str, line: u64, e: &Event<'_>) {
        self.origin.append(run_id, file, line);
        self.event_id.append_value(&e.event_id);
        self.event_time.append_value(e.event_time_ms);
        self.cst_date.append_value(e.day);
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

    use arrow::array::{Array, StringArray, TimestampMillisecondArray};

    use super::*;
    use crate::ingest::read::validate::EventType;

    fn event(id: &str, ms: i64) -> Event<'_> {
        Event {
            event_id: Cow::Borrowed(id),
            event_time_ms: ms,
            day: 18_211,
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

    fn rows(batch: &RecordBatch) -> Vec<(i64, String)> {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("event_id");
        let times = batch
            .column(1)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .expect("event_time");
        (0..batch.num_rows())
            .map(|i| (times.value(i), ids.value(i).to_string()))
            .collect()
    }

    #[test]
    fn events_of_one_millisecond_are_appended_in_id_order() {
        let mut day = DayRows::default();
        for (id, ms) in [
            ("c", 1),
            ("a", 1),
            ("b", 2),
            ("z", 3),
            ("y", 3),
            ("x", 3),
            ("a", 2),
        ] {
            day.push(&event(id, ms));
        }
        assert_eq!(day.len(), 7, "held-back events count");
        let got = rows(&day.finish().expect("batch"));
        let want = [
            (1, "a"),
            (1, "c"),
            (2, "b"),
            (3, "x"),
            (3, "y"),
            (3, "z"),
            (2, "a"),
        ];
        assert_eq!(got, want.map(|(t, id)| (t, id.to_string())));
        assert!(day.is_empty());
        // Columns other than the key come along with their row.
        day.push(&event("q", 5));
        let batch = day.finish().expect("batch");
        assert_eq!(batch.num_rows(), 1);
        assert!(batch.column(8).is_null(0), "buyer_id");
        assert_eq!(batch.column(9).null_count(), 0, "seller_id");
    }
}
