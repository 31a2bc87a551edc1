//! The `per_hour` table: paid and refunded events per CST hour and value of each
//! descriptive column (category, province, device, currency).
//!
//! [`super::per_second`] answers everything about time and platform; the revenue and growth
//! reports by category, province or device and the summary's currency mix would still scan
//! every transaction of the day (34 s of `report all` at 130 M orders). Ingest sums every
//! `transactions` file it writes into this rollup too, one file per CST day and run, and those
//! reports read a few thousand rows a day instead.
//!
//! It is long rather than wide: one row per (hour, event type, `dimension`, `value`), so the
//! rows grow with the *sum* of the distinct values of the four columns, not their product,
//! and a report filters `dimension = 'category'`. Like `per_second` it is exact and a plain
//! Hive-partitioned listing table (Ballista reads it as it is); a test checks it against the
//! raw rows.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Decimal128Array, Decimal128Builder, Int64Builder, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
};

use crate::cst::CST_TIMEZONE;
use crate::error::{Error, Result};
use crate::schema::{
    amount_cny_type, amount_sum_type, PER_HOUR, PER_HOUR_DIMENSIONS, PER_HOUR_FILE_SCHEMA,
};
use crate::warehouse::coded_text::{Coded, ShortNames, ShortText};
use crate::warehouse::rollups::{
    column, downcast, out_of_range, Rollup, TextColumn, WordHasher, MAX_FEN,
};
use crate::warehouse::tables::{Table, PER_HOUR_TABLE};

const HOUR_MS: i64 = 3_600_000;

/// A sum that does not fit an `i128`, at `at_ms` (epoch ms).
fn overflow(at_ms: i64) -> Error {
    Error::Data(format!(
        "{PER_HOUR}: a sum of amounts on {} (CST) overflows",
        crate::cst::cst_date(at_ms)
    ))
}

/// The `transactions` columns the rollup reads.
pub const SOURCE_COLUMNS: [&str; 8] = [
    "event_time",
    "event_type",
    "amount",
    "amount_cny",
    "category",
    "province",
    "device",
    "currency",
];

/// The index of `currency` in [`PER_HOUR_DIMENSIONS`]: the one dimension whose `amount` (in
/// the log's currency) is summed; across currencies such a sum would mean nothing.
const CURRENCY: usize = crate::schema::position(&PER_HOUR_DIMENSIONS, "currency");

/// Counts and exact sums (fen) of one group.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sums {
    events: i64,
    amount: i128,
    amount_cny: i128,
}

impl Sums {
    /// Adds `other`, or `None` if a sum overflowed (see [`MAX_FEN`]: it cannot).
    fn checked_add(&mut self, other: Sums) -> Option<()> {
        self.events = self.events.checked_add(other.events)?;
        self.amount = self.amount.checked_add(other.amount)?;
        self.amount_cny = self.amount_cny.checked_add(other.amount_cny)?;
        Some(())
    }

    /// Adds `other`, saturating where [`Self::checked_add`] fails; `take_batch` refuses a
    /// saturated sum, as it is beyond `decimal(18, 2)`.
    fn saturating_add(&mut self, other: Sums) {
        self.events = self.events.saturating_add(other.events);
        self.amount = self.amount.saturating_add(other.amount);
        self.amount_cny = self.amount_cny.saturating_add(other.amount_cny);
    }
}

const DIMENSIONS: usize = PER_HOUR_DIMENSIONS.len();

/// The strings of one column of a batch, numbered in the order they first appear.
#[derive(Default)]
struct Numbered<'a> {
    short: ShortNames<usize>,
    long: HashMap<&'a [u8], usize, BuildHasherDefault<WordHasher>>,
    strings: Vec<&'a [u8]>,
}

impl<'a> Numbered<'a> {
    fn number(&mut self, s: &'a [u8]) -> usize {
        let strings = &mut self.strings;
        let new = || {
            strings.push(s);
            strings.len() - 1
        };
        match ShortText::of(s) {
            Some(key) => self.short.get_or_insert_with(key, new),
            None => *self.long.entry(s).or_insert_with(new),
        }
    }

    /// The text numbered `n` (a string column's bytes are UTF-8: nothing is replaced).
    fn text(&self, n: usize) -> String {
        String::from_utf8_lossy(self.strings[n]).into_owned()
    }
}

/// The bytes of a string column's rows, read from its offsets and data directly.
struct Texts<'a> {
    offsets: &'a [i32],
    data: &'a [u8],
}

impl<'a> Texts<'a> {
    fn of(column: &'a StringArray) -> Self {
        Texts {
            offsets: column.value_offsets(),
            data: column.value_data(),
        }
    }

    fn get(&self, i: usize) -> &'a [u8] {
        // Arrow's offsets are non-negative and ascending.
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// A text column of the batch, each row's value numbered by a [`Numbered`]: a coded column's
/// names are numbered once, up front, and its rows map their keys.
enum Values<'a> {
    Plain(&'a StringArray, Texts<'a>),
    Coded(&'a Coded, Vec<usize>),
}

impl<'a> Values<'a> {
    fn of(column: TextColumn<'a>, numbered: &mut Numbered<'a>) -> Self {
        match column {
            TextColumn::Plain(plain) => Values::Plain(plain, Texts::of(plain)),
            TextColumn::Coded(coded, names) => {
                let texts = Texts::of(names);
                let numbers = (0..names.len())
                    .map(|k| numbered.number(texts.get(k)))
                    .collect();
                Values::Coded(coded, numbers)
            }
        }
    }

    /// The number of row `i`'s value, or `None` when it is null.
    fn number(&self, i: usize, numbered: &mut Numbered<'a>) -> Option<usize> {
        match self {
            Values::Plain(plain, texts) => plain.is_valid(i).then(|| numbered.number(texts.get(i))),
            Values::Coded(coded, numbers) => {
                let keys = coded.keys();
                // A valid key is below its names' length (Arrow checks when a column is built).
                keys.is_valid(i).then(|| numbers[keys.values()[i] as usize])
            }
        }
    }
}

/// The sums of the hour being read: `sums[kind * DIMENSIONS + dimension][value]`, where
/// `kind` numbers the event type and `value` is 0 for null, else the value's number + 1.
#[derive(Default)]
struct OpenHour<'a> {
    kinds: Numbered<'a>,
    values: [Numbered<'a>; DIMENSIONS],
    sums: Vec<Vec<Sums>>,
}

impl OpenHour<'_> {
    fn sums(&mut self, slot: usize, value: usize) -> &mut Sums {
        if self.sums.len() <= slot {
            self.sums.resize_with(slot + 1, Vec::new);
        }
        let row = &mut self.sums[slot];
        if row.len() <= value {
            row.resize(value + 1, Sums::default());
        }
        &mut row[value]
    }
}

/// (CST hour as epoch ms, event type, dimension index, value) -> sums.
type Key = (i64, String, usize, Option<String>);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PerHour {
    groups: BTreeMap<Key, Sums>,
}

impl PerHour {
    /// Groups held (rows of the file [`Self::take_batch`] would write).
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// The rollup of a `transactions` batch (columns found by name: a projection of
    /// [`SOURCE_COLUMNS`] is enough).
    #[cfg(test)]
    pub fn of_transactions(batch: &RecordBatch) -> Result<Self> {
        let mut rollup = PerHour::default();
        rollup.add_transactions(batch)?;
        Ok(rollup)
    }

    /// Adds the rows of a `transactions` batch.
    pub fn add_transactions(&mut self, batch: &RecordBatch) -> Result<()> {
        let times = column::<TimestampMillisecondArray>(batch, "event_time")?;
        let amounts = column::<Decimal128Array>(batch, "amount")?;
        let amounts_cny = column::<Decimal128Array>(batch, "amount_cny")?;
        // Rows are sorted by time, so an hour's rows come together: they are summed in
        // vectors indexed by the numbers of their strings (numbered as they first appear in
        // the batch), then moved into the ordered groups when the hour ends.
        let types = TextColumn::of(batch, "event_type")?;
        if times.null_count() + types.null_count() + amounts.null_count() + amounts_cny.null_count()
            > 0
        {
            return Err(Error::Data(
                "per_hour: transactions has nulls in a required column".into(),
            ));
        }
        let mut open = OpenHour::default();
        let types = Values::of(types, &mut open.kinds);
        let mut values = Vec::with_capacity(PER_HOUR_DIMENSIONS.len());
        for (d, name) in PER_HOUR_DIMENSIONS.into_iter().enumerate() {
            values.push(Values::of(
                TextColumn::of(batch, name)?,
                &mut open.values[d],
            ));
        }
        let (times, amounts, amounts_cny) =
            (times.values(), amounts.values(), amounts_cny.values());
        out_of_range(PER_HOUR, "amount", times, amounts)?;
        out_of_range(PER_HOUR, "amount_cny", times, amounts_cny)?;
        let mut hour = i64::MIN;
        for i in 0..batch.num_rows() {
            // CST is a whole number of hours from UTC: the UTC hour boundary is the CST one.
            let h = times[i].div_euclid(HOUR_MS) * HOUR_MS;
            if h != hour {
                self.absorb(hour, &mut open)?;
                hour = h;
            }
            let kind = types.number(i, &mut open.kinds).unwrap_or_default();
            for (d, column) in values.iter().enumerate() {
                let value = column.number(i, &mut open.values[d]).map_or(0, |n| n + 1);
                let sums = open.sums(kind * DIMENSIONS + d, value);
                let one = Sums {
                    events: 1,
                    amount: if d == CURRENCY { amounts[i] } else { 0 },
                    amount_cny: amounts_cny[i],
                };
                sums.checked_add(one).ok_or_else(|| overflow(h))?;
            }
        }
        self.absorb(hour, &mut open)
    }

    /// Moves the open hour's sums into the groups and zeroes them.
    fn absorb(&mut self, hour: i64, open: &mut OpenHour<'_>) -> Result<()> {
        for (slot, row) in open.sums.iter_mut().enumerate() {
            let (kind, d) = (open.kinds.text(slot / DIMENSIONS), slot % DIMENSIONS);
            for (value, sums) in row.iter_mut().enumerate() {
                if sums.events == 0 {
                    continue;
                }
                let value = value.checked_sub(1).map(|v| open.values[d].text(v));
                self.groups
                    .entry((hour, kind.clone(), d, value))
                    .or_default()
                    .checked_add(std::mem::take(sums))
                    .ok_or_else(|| overflow(hour))?;
            }
        }
        Ok(())
    }

    /// Adds another rollup's groups (of the same day) to these.
    pub fn merge(&mut self, other: PerHour) {
        if self.groups.is_empty() {
            self.groups = other.groups;
            return;
        }
        for (key, sums) in other.groups {
            // Cannot saturate (see MAX_FEN); if it did, take_batch would refuse the sum.
            self.groups.entry(key).or_default().saturating_add(sums);
        }
    }

    /// The groups as a batch of [`PER_HOUR_FILE_SCHEMA`], sorted by hour, event type,
    /// dimension (the dimensions are listed in name order) and value; the rollup starts over
    /// empty.
    pub fn take_batch(&mut self) -> Result<RecordBatch> {
        let groups = std::mem::take(&mut self.groups);
        let n = groups.len();
        let mut hour = TimestampMillisecondBuilder::with_capacity(n).with_timezone(CST_TIMEZONE);
        let mut kind = StringBuilder::new();
        let mut dimension = StringBuilder::new();
        let mut value = StringBuilder::new();
        let mut events = Int64Builder::with_capacity(n);
        let mut amount = Decimal128Builder::with_capacity(n).with_data_type(amount_sum_type());
        let mut amount_cny = Decimal128Builder::with_capacity(n).with_data_type(amount_cny_type());
        for ((h, k, d, v), sums) in groups {
            if sums.amount_cny.abs() > MAX_FEN || sums.amount.abs() > MAX_FEN {
                return Err(Error::Data(format!(
                    "per_hour: on {} (CST), the sum of {k} events of one hour with {} {v:?} \
                     exceeds decimal(18, 2); check that day's rates and amounts",
                    crate::cst::cst_date(h),
                    PER_HOUR_DIMENSIONS[d]
                )));
            }
            hour.append_value(h);
            kind.append_value(k);
            dimension.append_value(PER_HOUR_DIMENSIONS[d]);
            value.append_option(v);
            events.append_value(sums.events);
            if d == CURRENCY {
                amount.append_value(sums.amount);
            } else {
                amount.append_null();
            }
            amount_cny.append_value(sums.amount_cny);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(hour.finish()),
            Arc::new(kind.finish()),
            Arc::new(dimension.finish()),
            Arc::new(value.finish()),
            Arc::new(events.finish()),
            Arc::new(amount.finish()),
            Arc::new(amount_cny.finish()),
        ];
        Ok(RecordBatch::try_new(
            Arc::clone(&PER_HOUR_FILE_SCHEMA),
            columns,
        )?)
    }
}

impl Rollup for PerHour {
    fn table(&self) -> &'static Table {
        &PER_HOUR_TABLE
    }
    fn since_format(&self) -> u32 {
        3
    }
    fn source_columns(&self) -> &'static [&'static str] {
        &SOURCE_COLUMNS
    }
    fn len(&self) -> usize {
        PerHour::len(self)
    }
    fn add_transactions(&mut self, batch: &RecordBatch) -> Result<()> {
        PerHour::add_transactions(self, batch)
    }
    fn merge(&mut self, other: Box<dyn Rollup>) {
        if let Some(other) = downcast::<PerHour>(other) {
            PerHour::merge(self, other);
        }
    }
    fn take_batch(&mut self) -> Result<RecordBatch> {
        PerHour::take_batch(self)
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::amount_type;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    #[test]
    fn strings_of_every_length_get_their_own_number() {
        // Runs of one byte (equal words at different lengths), zero bytes (padding), a byte
        // changed at every position (overlapping words), and long texts.
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for len in 0..40 {
            texts.push(vec![b'a'; len]);
            if len > 0 {
                texts.push(vec![0; len]);
            }
            for at in 0..len {
                let mut t = vec![b'a'; len];
                t[at] = b'b';
                texts.push(t);
            }
        }
        let mut numbered = Numbered::default();
        let numbers: Vec<usize> = texts.iter().map(|t| numbered.number(t)).collect();
        assert_eq!(numbers, (0..texts.len()).collect::<Vec<_>>());
        let again: Vec<usize> = texts.iter().map(|t| numbered.number(t)).collect();
        assert_eq!(again, numbers);
        for (n, t) in texts.iter().enumerate() {
            assert_eq!(numbered.text(n).as_bytes(), &t[..]);
        }
    }

    /// (time ms, type, amount fen, amount_cny fen, category, province, device, currency)
    type Row = (
        i64,
        &'static str,
        i128,
        i128,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );

    fn batch(rows: &[Row]) -> RecordBatch {
        let text = |f: fn(&Row) -> Option<&'static str>| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let schema = Schema::new(vec![
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+08:00".into())),
                false,
            ),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("amount", amount_type(), false),
            Field::new("amount_cny", amount_cny_type(), false),
            Field::new("category", DataType::Utf8, true),
            Field::new("province", DataType::Utf8, true),
            Field::new("device", DataType::Utf8, true),
            Field::new("currency", DataType::Utf8, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.0))
                    .with_timezone("+08:00"),
            ),
            text(|r| Some(r.1)),
            Arc::new(
                Decimal128Array::from_iter_values(rows.iter().map(|r| r.2))
                    .with_data_type(amount_type()),
            ),
            Arc::new(
                Decimal128Array::from_iter_values(rows.iter().map(|r| r.3))
                    .with_data_type(amount_cny_type()),
            ),
            text(|r| r.4),
            text(|r| r.5),
            text(|r| r.6),
            text(|r| Some(r.7)),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).expect("batch")
    }

    /// A hand-counted case: an hour holds …59:59.999 and starts at :00:00.000 (also before
    /// 1970), each dimension counts every row once, nulls are a value of their own, only the
    /// currency dimension sums `amount`, and splitting the rows over two batches changes
    /// nothing.
    #[test]
    fn groups_by_hour_type_and_each_dimension() {
        let h = HOUR_MS;
        let rows: [Row; 5] = [
            (
                0,
                "paid",
                100,
                100,
                Some("toys"),
                Some("Zhejiang"),
                Some("pc"),
                "CNY",
            ),
            (h - 1, "paid", 10, 70, Some("toys"), None, Some("pc"), "USD"),
            (
                h,
                "paid",
                5,
                5,
                Some("books"),
                Some("Zhejiang"),
                None,
                "CNY",
            ),
            (
                1_000,
                "refunded",
                3,
                3,
                Some("toys"),
                Some("Zhejiang"),
                Some("pc"),
                "CNY",
            ),
            (-1, "paid", 20, 140, None, None, Some("mobile"), "USD"),
        ];
        let whole = PerHour::of_transactions(&batch(&rows)).expect("rollup");
        let coded = PerHour::of_transactions(&crate::warehouse::coded_text::coded(&batch(&rows)));
        assert_eq!(
            coded.expect("coded"),
            whole,
            "coded columns sum as their text"
        );
        let mut halves = PerHour::of_transactions(&batch(&rows[..2])).expect("rollup");
        halves.merge(PerHour::of_transactions(&batch(&rows[2..])).expect("rollup"));
        assert_eq!(whole, halves);

        let mut whole = whole;
        let b = whole.take_batch().expect("batch");
        assert!(whole.is_empty());
        assert_eq!(b.schema(), *PER_HOUR_FILE_SCHEMA);
        let s = |i: usize| {
            b.column(i)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone()
        };
        let n = |i: usize| {
            b.column(i)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .clone()
        };
        let hours = b
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        let events = b
            .column(4)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        let (kinds, dims, values, amount, cny) = (s(1), s(2), s(3), n(5), n(6));
        let or_dash = |valid: bool, text: &dyn Fn() -> String| {
            if valid {
                text()
            } else {
                "-".to_string()
            }
        };
        let got: Vec<String> = (0..b.num_rows())
            .map(|i| {
                format!(
                    "{} {} {} {} {} {} {}",
                    hours.value(i) / h,
                    kinds.value(i),
                    dims.value(i),
                    or_dash(values.is_valid(i), &|| values.value(i).to_string()),
                    events.value(i),
                    or_dash(amount.is_valid(i), &|| amount.value(i).to_string()),
                    cny.value(i)
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // the hour before 1970: -1 ms
                "-1 paid category - 1 - 140",
                "-1 paid currency USD 1 20 140",
                "-1 paid device mobile 1 - 140",
                "-1 paid province - 1 - 140",
                // hour 0: two paid rows (0 and h - 1), one refund
                "0 paid category toys 2 - 170",
                "0 paid currency CNY 1 100 100",
                "0 paid currency USD 1 10 70",
                "0 paid device pc 2 - 170",
                "0 paid province - 1 - 70",
                "0 paid province Zhejiang 1 - 100",
                "0 refunded category toys 1 - 3",
                "0 refunded currency CNY 1 3 3",
                "0 refunded device pc 1 - 3",
                "0 refunded province Zhejiang 1 - 3",
                // hour 1
                "1 paid category books 1 - 5",
                "1 paid currency CNY 1 5 5",
                "1 paid device - 1 - 5",
                "1 paid province Zhejiang 1 - 5",
            ]
        );
    }

    #[test]
    fn a_sum_beyond_decimal_18_2_is_an_error() {
        let mut r = PerHour::default();
        r.groups.insert(
            (0, "paid".into(), 0, Some("toys".into())),
            Sums {
                events: 1,
                amount: 0,
                amount_cny: MAX_FEN + 1,
            },
        );
        let err = r.take_batch().expect_err("overflow");
        assert!(err.to_string().contains("decimal(18, 2)"), "{err}");
    }
    /// 2019-11-11 00:00:00 CST in epoch ms.
    const NOV_11: i64 = 1_573_401_600_000;

    fn row(time: i64, amount: i128, amount_cny: i128) -> Row {
        (
            time,
            "paid",
            amount,
            amount_cny,
            Some("toys"),
            None,
            None,
            "XAU",
        )
    }

    #[test]
    fn rows_summing_past_decimal_18_2_are_an_error_naming_table_and_day() {
        let mut one = PerHour::of_transactions(&batch(&[row(NOV_11, 1, MAX_FEN)])).expect("one");
        assert!(one.take_batch().is_ok(), "the largest amount_cny fits");
        let rows = [row(NOV_11, 1, MAX_FEN), row(NOV_11 + 1, 1, 1)];
        let mut r = PerHour::of_transactions(&batch(&rows)).expect("summed in i128");
        let err = r
            .take_batch()
            .expect_err("beyond decimal(18, 2)")
            .to_string();
        assert!(err.starts_with("per_hour: on 2019-11-11 (CST)"), "{err}");
        let mut merged = PerHour::of_transactions(&batch(&rows[..1])).expect("rollup");
        merged.merge(PerHour::of_transactions(&batch(&rows[1..])).expect("rollup"));
        assert!(merged.take_batch().is_err());
    }

    #[test]
    fn a_row_beyond_decimal_18_2_is_refused_before_it_is_summed() {
        for (amount, cny, column) in [
            (1, MAX_FEN + 1, "amount_cny"),
            (1, i128::MIN, "amount_cny"),
            (i128::MAX, 1, "amount"),
        ] {
            let err = PerHour::of_transactions(&batch(&[row(NOV_11, amount, cny)]))
                .expect_err("out of range")
                .to_string();
            assert!(
                err.starts_with(&format!(
                    "per_hour: a transactions row of 2019-11-11 (CST) has {column} "
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn sums_never_wrap() {
        let key = (NOV_11, "paid".to_string(), 0, Some("toys".to_string()));
        let huge = Sums {
            events: 1,
            amount: 0,
            amount_cny: i128::MAX - 1,
        };
        let mut a = PerHour::default();
        a.groups.insert(key.clone(), huge);
        let mut b = PerHour::default();
        b.groups.insert(
            key.clone(),
            Sums {
                events: 1,
                amount: 0,
                amount_cny: 5,
            },
        );
        a.merge(b);
        assert_eq!(a.groups[&key].amount_cny, i128::MAX);
        assert!(a.take_batch().is_err());
        let mut c = PerHour::default();
        c.groups.insert(key, huge);
        let err = c
            .add_transactions(&batch(&[row(NOV_11, 1, MAX_FEN)]))
            .expect_err("i128 overflow")
            .to_string();
        assert!(
            err.starts_with("per_hour: a sum of amounts on 2019-11-11 (CST) overflows"),
            "{err}"
        );
    }
}
