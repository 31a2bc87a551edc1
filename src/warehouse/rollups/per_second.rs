//! The `per_second` table: paid and refunded events per CST second and platform.
//!
//! Ingest sums every file of `transactions` it writes into this rollup (per CST day, one file
//! per day and run), so reports about seconds, hours, platforms and growth read ~10^5 rows a
//! day instead of ~10^9. It is an ordinary Hive-partitioned Parquet listing table like the
//! others (no custom provider: Ballista reads it as it is), and it is exact: `events` and
//! `amount_cny` are the count and the fen-exact sum of the same rows of `transactions`, which
//! a test checks against the raw table. A warehouse written before this table existed
//! (manifest format 1) gets it built from its `transactions` files the first time a double11
//! that knows it opens the warehouse with the writer lock ([`upgrade`](crate::warehouse::upgrade)).

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Decimal128Array, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondArray, TimestampMillisecondBuilder,
};

use crate::cst::CST_TIMEZONE;
use crate::error::{Error, Result};
use crate::schema::{amount_cny_type, PER_SECOND, PER_SECOND_FILE_SCHEMA};
use crate::warehouse::rollups::{column, downcast, out_of_range, Rollup, TextColumn, MAX_FEN};
use crate::warehouse::tables::{Table, PER_SECOND_TABLE};

/// Distinct platform × type pairs of one second collected in a list before they go to the
/// map: logs are nearly time-ordered, so a second's rows come together and a short list
/// beats a map lookup per row.
const RUN_LIMIT: usize = 64;

/// The `transactions` columns the rollup reads.
pub const SOURCE_COLUMNS: [&str; 4] = ["event_time", "platform", "event_type", "amount_cny"];

/// Platform × event type pairs, numbered as they first appear: a group's key holds the
/// pair's number, not two strings of its own (a day has ~10^5-10^6 groups and a few pairs).
#[derive(Debug, Default, Clone)]
struct Pairs {
    names: Vec<(String, String)>,
    ids: HashMap<String, HashMap<String, usize>>,
}

impl Pairs {
    fn id(&mut self, platform: &str, kind: &str) -> usize {
        if let Some(id) = self.ids.get(platform).and_then(|kinds| kinds.get(kind)) {
            return *id;
        }
        let id = self.names.len();
        self.names.push((platform.to_string(), kind.to_string()));
        self.ids
            .entry(platform.to_string())
            .or_default()
            .insert(kind.to_string(), id);
        id
    }
}

/// (CST second as epoch ms, platform, event type) -> (events, sum of `amount_cny` in fen).
#[derive(Default, Clone)]
pub struct PerSecond {
    pairs: Pairs,
    /// (second, number of the platform × type pair in `pairs`) -> sums.
    groups: BTreeMap<(i64, usize), (i64, i128)>,
}

impl PartialEq for PerSecond {
    fn eq(&self, other: &Self) -> bool {
        self.named_groups() == other.named_groups()
    }
}

impl Eq for PerSecond {}

impl std::fmt::Debug for PerSecond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.named_groups()).finish()
    }
}

impl PerSecond {
    /// Groups held (rows of the file [`Self::take_batch`] would write).
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Sets a group's sums directly (tests of sums no file could hold).
    #[cfg(test)]
    fn insert_group(&mut self, (second, platform, kind): (i64, &str, &str), sums: (i64, i128)) {
        let pair = self.pairs.id(platform, kind);
        self.groups.insert((second, pair), sums);
    }

    /// The groups by (second, platform, type), in the order a file holds them.
    fn named_groups(&self) -> BTreeMap<(i64, &str, &str), (i64, i128)> {
        self.groups
            .iter()
            .map(|(&(second, pair), &sums)| {
                let (platform, kind) = &self.pairs.names[pair];
                ((second, platform.as_str(), kind.as_str()), sums)
            })
            .collect()
    }

    /// The rollup of a `transactions` batch (columns found by name, so a projection of
    /// `event_time`, `platform`, `event_type` and `amount_cny` is enough).
    #[cfg(test)]
    pub fn of_transactions(batch: &RecordBatch) -> Result<Self> {
        let mut rollup = PerSecond::default();
        rollup.add_transactions(batch)?;
        Ok(rollup)
    }

    /// Adds the rows of a `transactions` batch.
    pub fn add_transactions(&mut self, batch: &RecordBatch) -> Result<()> {
        let times = column::<TimestampMillisecondArray>(batch, "event_time")?;
        let platforms = TextColumn::of(batch, "platform")?;
        let types = TextColumn::of(batch, "event_type")?;
        let amounts = column::<Decimal128Array>(batch, "amount_cny")?;
        if times.null_count() + platforms.null_count() + types.null_count() + amounts.null_count()
            > 0
        {
            return Err(Error::Data(
                "per_second: transactions has nulls in a required column".into(),
            ));
        }
        let times = times.values();
        let amounts = amounts.values();
        out_of_range(PER_SECOND, "amount_cny", times, amounts)?;
        let mut second = i64::MIN;
        let mut run: Vec<(&str, &str, i64, i128)> = Vec::new();
        for i in 0..batch.num_rows() {
            // Milliseconds truncated to the second; CST is a whole number of seconds from UTC.
            let s = times[i].div_euclid(1000) * 1000;
            if s != second || run.len() >= RUN_LIMIT {
                self.absorb(second, &mut run)?;
                second = s;
            }
            let (platform, kind, fen) = (platforms.value(i), types.value(i), amounts[i]);
            match run
                .iter_mut()
                .find(|r| same_text(r.0, platform) && same_text(r.1, kind))
            {
                Some(r) => {
                    r.2 += 1;
                    r.3 = r.3.checked_add(fen).ok_or_else(|| overflow(s))?;
                }
                None => run.push((platform, kind, 1, fen)),
            }
        }
        self.absorb(second, &mut run)
    }

    fn absorb(&mut self, second: i64, run: &mut Vec<(&str, &str, i64, i128)>) -> Result<()> {
        for (platform, kind, events, fen) in run.drain(..) {
            let pair = self.pairs.id(platform, kind);
            let group = self.groups.entry((second, pair)).or_default();
            group.0 += events;
            group.1 = group.1.checked_add(fen).ok_or_else(|| overflow(second))?;
        }
        Ok(())
    }

    /// Adds another rollup's groups (of the same day) to these.
    pub fn merge(&mut self, other: PerSecond) {
        if self.groups.is_empty() && self.pairs.names.is_empty() {
            *self = other;
            return;
        }
        let ids: Vec<usize> = other
            .pairs
            .names
            .iter()
            .map(|(platform, kind)| self.pairs.id(platform, kind))
            .collect();
        for ((second, pair), (events, fen)) in other.groups {
            let group = self.groups.entry((second, ids[pair])).or_default();
            group.0 += events;
            // Cannot saturate (see MAX_FEN); if it did, take_batch would refuse the sum.
            group.1 = group.1.saturating_add(fen);
        }
    }

    /// The groups as a batch of [`PER_SECOND_FILE_SCHEMA`], sorted by second, platform and
    /// type; the rollup starts over empty.
    pub fn take_batch(&mut self) -> Result<RecordBatch> {
        let PerSecond { pairs, groups } = std::mem::take(self);
        // The pairs' places in (platform, type) order, to order each second's groups by.
        let mut by_name: Vec<usize> = (0..pairs.names.len()).collect();
        by_name.sort_unstable_by(|a, b| pairs.names[*a].cmp(&pairs.names[*b]));
        let mut rank = vec![0; by_name.len()];
        for (place, pair) in by_name.into_iter().enumerate() {
            rank[pair] = place;
        }
        let mut rows: Vec<(i64, usize, usize, (i64, i128))> = groups
            .into_iter()
            .map(|((second, pair), sums)| (second, rank[pair], pair, sums))
            .collect();
        // The map is in (second, pair number) order: only each second's few groups move.
        for second in rows.chunk_by_mut(|a, b| a.0 == b.0) {
            second.sort_unstable_by_key(|&(_, place, _, _)| place);
        }
        let mut second =
            TimestampMillisecondBuilder::with_capacity(rows.len()).with_timezone(CST_TIMEZONE);
        let mut platform = StringBuilder::new();
        let mut kind = StringBuilder::new();
        let mut events = Int64Builder::with_capacity(rows.len());
        let mut amount =
            Decimal128Builder::with_capacity(rows.len()).with_data_type(amount_cny_type());
        for (s, _, pair, (n, fen)) in rows {
            let (p, k) = &pairs.names[pair];
            if fen.abs() > MAX_FEN {
                return Err(Error::Data(format!(
                    "per_second: on {} (CST), the sum of {p} {k} events in one second exceeds \
                     decimal(18, 2); check that day's rates and amounts",
                    crate::cst::cst_date(s)
                )));
            }
            second.append_value(s);
            platform.append_value(p);
            kind.append_value(k);
            events.append_value(n);
            amount.append_value(fen);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(second.finish()),
            Arc::new(platform.finish()),
            Arc::new(kind.finish()),
            Arc::new(events.finish()),
            Arc::new(amount.finish()),
        ];
        Ok(RecordBatch::try_new(
            Arc::clone(&PER_SECOND_FILE_SCHEMA),
            columns,
        )?)
    }
}

impl Rollup for PerSecond {
    fn table(&self) -> &'static Table {
        &PER_SECOND_TABLE
    }
    fn since_format(&self) -> u32 {
        2
    }
    fn source_columns(&self) -> &'static [&'static str] {
        &SOURCE_COLUMNS
    }
    fn len(&self) -> usize {
        PerSecond::len(self)
    }
    fn add_transactions(&mut self, batch: &RecordBatch) -> Result<()> {
        PerSecond::add_transactions(self, batch)
    }
    fn merge(&mut self, other: Box<dyn Rollup>) {
        if let Some(other) = downcast::<PerSecond>(other) {
            PerSecond::merge(self, other);
        }
    }
    fn take_batch(&mut self) -> Result<RecordBatch> {
        PerSecond::take_batch(self)
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// `a == b`, without comparing bytes when both are the same slice: names read through a coded
/// column's keys are slices of its dictionary, so a row's name is usually the very slice a
/// previous row of the same name gave (a `memcmp` per row and pair was 0.6 % of ingest's CPU).
fn same_text(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// A sum that does not fit an `i128`, at `at_ms` (epoch ms).
fn overflow(at_ms: i64) -> Error {
    Error::Data(format!(
        "{PER_SECOND}: a sum of amount_cny on {} (CST) overflows",
        crate::cst::cst_date(at_ms)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    fn batch(rows: &[(i64, &str, &str, i128)]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+08:00".into())),
                false,
            ),
            Field::new("platform", DataType::Utf8, false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("amount_cny", amount_cny_type(), false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.0))
                    .with_timezone("+08:00"),
            ),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(
                Decimal128Array::from_iter_values(rows.iter().map(|r| r.3))
                    .with_data_type(amount_cny_type()),
            ),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).expect("batch")
    }

    /// A hand-counted case: milliseconds truncate (…999 stays in its second, also before
    /// 1970), platforms and types are kept apart, out-of-order rows meet their group, and
    /// splitting the rows over two batches changes nothing.
    #[test]
    fn groups_by_second_platform_and_type() {
        let rows = [
            (1_000, "tmall", "paid", 100),
            (1_999, "tmall", "paid", 250),
            (1_500, "taobao", "paid", 7),
            (1_600, "tmall", "refunded", 100),
            (2_000, "tmall", "paid", 1),
            (-1, "kaola", "paid", 5),
            (-1_000, "kaola", "paid", 6),
            (1_001, "tmall", "paid", 1_000_000_000),
        ];
        let mut whole = PerSecond::of_transactions(&batch(&rows)).expect("rollup");
        let coded = PerSecond::of_transactions(&crate::warehouse::coded_text::coded(&batch(&rows)));
        assert_eq!(
            coded.expect("coded"),
            whole,
            "coded columns sum as their text"
        );
        let mut halves = PerSecond::of_transactions(&batch(&rows[..3])).expect("rollup");
        halves.merge(PerSecond::of_transactions(&batch(&rows[3..])).expect("rollup"));
        assert_eq!(whole, halves);
        let got: Vec<_> = whole
            .named_groups()
            .into_iter()
            .map(|((s, p, k), v)| (s, p, k, v))
            .collect();
        assert_eq!(
            got,
            [
                (-1_000, "kaola", "paid", (2, 11)),
                (1_000, "taobao", "paid", (1, 7)),
                (1_000, "tmall", "paid", (3, 1_000_000_350)),
                (1_000, "tmall", "refunded", (1, 100)),
                (2_000, "tmall", "paid", (1, 1)),
            ]
        );
        let b = whole.take_batch().expect("batch");
        assert_eq!(b.num_rows(), 5);
        // The file's order is by name within a second, not the order pairs first appeared in.
        let text = |name: &str| -> Vec<String> {
            let column = b.column_by_name(name).expect("column");
            let strings = column
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("strings");
            strings
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect()
        };
        assert_eq!(
            text("platform"),
            ["kaola", "taobao", "tmall", "tmall", "tmall"]
        );
        assert_eq!(
            text("event_type"),
            ["paid", "paid", "paid", "refunded", "paid"]
        );
        assert!(whole.is_empty());
        assert_eq!(b.schema(), *PER_SECOND_FILE_SCHEMA);
    }

    #[test]
    fn a_sum_beyond_decimal_18_2_is_an_error() {
        let mut r = PerSecond::default();
        r.insert_group((0, "p", "paid"), (1, MAX_FEN + 1));
        let err = r.take_batch().expect_err("overflow");
        assert!(err.to_string().contains("decimal(18, 2)"), "{err}");
    }
    /// 2019-11-11 00:00:00 CST in epoch ms.
    const NOV_11: i64 = 1_573_401_600_000;

    #[test]
    fn rows_summing_past_decimal_18_2_are_an_error_naming_table_and_day() {
        // The largest amount_cny twice in one second: the sum is 2 × (10^18 - 1) fen.
        let edge = [(NOV_11, "tmall", "paid", MAX_FEN)];
        let mut one = PerSecond::of_transactions(&batch(&edge)).expect("one row");
        assert_eq!(one.take_batch().expect("fits").num_rows(), 1);
        let rows = [edge[0], (NOV_11 + 1, "tmall", "paid", 1)];
        let mut r = PerSecond::of_transactions(&batch(&rows)).expect("summed in i128");
        let err = r
            .take_batch()
            .expect_err("beyond decimal(18, 2)")
            .to_string();
        assert!(
            err.starts_with("per_second: on 2019-11-11 (CST)") && err.contains("tmall paid"),
            "{err}"
        );
        // The same over two batches (merged as ingest merges its files' rollups).
        let mut merged = PerSecond::of_transactions(&batch(&rows[..1])).expect("rollup");
        merged.merge(PerSecond::of_transactions(&batch(&rows[1..])).expect("rollup"));
        assert!(merged.take_batch().is_err());
    }

    #[test]
    fn a_row_beyond_decimal_18_2_is_refused_before_it_is_summed() {
        for fen in [MAX_FEN + 1, -MAX_FEN - 1, i128::MAX, i128::MIN] {
            let err = PerSecond::of_transactions(&batch(&[
                (NOV_11, "tmall", "paid", 5),
                (NOV_11 - 1, "tmall", "paid", fen),
            ]))
            .expect_err("out of range")
            .to_string();
            assert!(
                err.starts_with(
                    "per_second: a transactions row of 2019-11-10 (CST) has amount_cny"
                ) && err.contains("damaged"),
                "{err}"
            );
        }
    }

    #[test]
    fn sums_never_wrap() {
        // Sums a file could not hold, put straight into the groups: adding to them saturates
        // or fails, and what is left is refused, never a wrapped (small or negative) figure.
        let key = (NOV_11, "tmall", "paid");
        let mut a = PerSecond::default();
        a.insert_group(key, (1, i128::MAX - 1));
        let mut b = PerSecond::default();
        b.insert_group(key, (1, 5));
        a.merge(b);
        assert_eq!(a.named_groups()[&key], (2, i128::MAX));
        assert!(a.take_batch().is_err());
        let mut c = PerSecond::default();
        c.insert_group(key, (1, i128::MAX - 1));
        let err = c
            .add_transactions(&batch(&[(NOV_11, "tmall", "paid", MAX_FEN)]))
            .expect_err("i128 overflow")
            .to_string();
        assert!(
            err.starts_with("per_second: a sum of amount_cny on 2019-11-11 (CST) overflows"),
            "{err}"
        );
    }
}
