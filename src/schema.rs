//! The warehouse schema: the one source of truth for every table's columns.
//!
//! Ingest writes these schemas, the SQL layer registers them, exports and reports read them.
//! Change a column here and everything follows; nothing else spells out a column type.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::cst::CST_TIMEZONE;
use crate::money::{
    AMOUNT_CNY_PRECISION, AMOUNT_PRECISION, AMOUNT_SCALE, RATE_PRECISION, RATE_SCALE,
};

/// Table names as the SQL shell sees them.
pub(crate) const TRANSACTIONS: &str = "transactions";
pub(crate) const REJECTS: &str = "rejects";
pub(crate) const FX_RATES: &str = "fx_rates";
pub(crate) const DUPLICATES: &str = "duplicates";
/// Paid and refunded events per CST second and platform, summed during ingest so that the
/// per-second, hourly, platform and year-over-year reports read a few hundred thousand rows
/// a day instead of every transaction. Derived from `transactions` only.
pub(crate) const PER_SECOND: &str = "per_second";
/// Paid and refunded events per CST hour and value of each of [`PER_HOUR_DIMENSIONS`], summed
/// during ingest so that revenue and growth by category, province or device and the currency
/// mix need not scan every transaction. Derived from `transactions` only.
pub(crate) const PER_HOUR: &str = "per_hour";
/// The `transactions` columns `per_hour` sums by (its `dimension` column), in name order.
pub(crate) const PER_HOUR_DIMENSIONS: [&str; 4] = ["category", "currency", "device", "province"];

/// The Hive partition column of `transactions`: the CST calendar day of `event_time`.
pub(crate) const PARTITION_COLUMN: &str = "cst_date";

/// The input fields of the contract, in the order the warehouse stores them.
pub const INPUT_FIELDS: [&str; 13] = [
    "event_id",
    "event_time",
    "event_type",
    "order_id",
    "platform",
    "amount",
    "currency",
    "buyer_id",
    "seller_id",
    "category",
    "province",
    "device",
    "quantity",
];

/// The position of `name` in `names`, worked out at compile time: a constant defined so
/// follows the list it indexes, and a name not in the list fails the build.
pub(crate) const fn position(names: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < names.len() {
        if same(names[i].as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("a name looked up in a list that does not hold it")
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `event_time`: milliseconds, shown and truncated in China Standard Time.
pub(crate) fn event_time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(CST_TIMEZONE.into()))
}

/// Amount in the log's currency.
pub(crate) fn amount_type() -> DataType {
    DataType::Decimal128(AMOUNT_PRECISION, AMOUNT_SCALE)
}

/// Amount converted to CNY, rounded to the fen.
pub(crate) fn amount_cny_type() -> DataType {
    DataType::Decimal128(AMOUNT_CNY_PRECISION, AMOUNT_SCALE)
}

/// A sum of amounts in the log's currency (`per_hour`): `amount`'s scale, `amount_cny`'s width.
pub(crate) fn amount_sum_type() -> DataType {
    DataType::Decimal128(AMOUNT_CNY_PRECISION, AMOUNT_SCALE)
}

/// The columns of random ids: an equality on one keeps a few rows, and no page's statistics
/// can skip it, so SQL filters such a scan's rows while decoding them (`sql::row_filters`).
pub(crate) const ID_COLUMNS: [&str; 4] = ["event_id", "order_id", "buyer_id", "seller_id"];

/// The text columns of `transactions` with a few values each (a dictionary per page): no
/// statistics are written for them (see `warehouse::parquet_files`), and SQL reads them as
/// `Utf8View`, which points into the page's dictionary instead of copying each row's text
/// (`dictionary_text` of `transactions` in `warehouse::tables`).
pub(crate) const LOW_CARDINALITY_TEXT_COLUMNS: [&str; 6] = [
    "event_type",
    "platform",
    "currency",
    "category",
    "province",
    "device",
];

/// Columns stored in each Parquet file of `transactions` (the partition column is in the path).
pub(crate) static TRANSACTIONS_FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("event_time", event_time_type(), false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("order_id", DataType::Utf8, false),
        Field::new("platform", DataType::Utf8, false),
        Field::new("amount", amount_type(), false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("amount_cny", amount_cny_type(), false),
        Field::new("buyer_id", DataType::Int64, true),
        Field::new("seller_id", DataType::Int64, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("province", DataType::Utf8, true),
        Field::new("device", DataType::Utf8, true),
        Field::new("quantity", DataType::Int64, false),
    ]))
});

/// How ingest holds the few-valued text columns ([`LOW_CARDINALITY_TEXT_COLUMNS`]) in memory:
/// a dictionary of names and a key per row (`warehouse::coded_text`). Files store them as
/// `Utf8`, with the same bytes.
pub(crate) fn coded_text_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8))
}

/// [`TRANSACTIONS_FILE_SCHEMA`] as ingest holds rows in memory: the few-valued text columns
/// coded ([`coded_text_type`]).
pub(crate) static TRANSACTIONS_CODED_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<Field> = TRANSACTIONS_FILE_SCHEMA
        .fields()
        .iter()
        .map(|f| {
            if LOW_CARDINALITY_TEXT_COLUMNS.contains(&f.name().as_str()) {
                Field::new(f.name(), coded_text_type(), f.is_nullable())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
});

/// Columns stored in each Parquet file of `per_second` (`cst_date` is in the path): one row
/// per (CST second, platform, event type) that has events. `events` and `amount_cny` are the
/// count and the exact sum of those events' `transactions` rows, so `sum(events)` is
/// `count(*)` and `sum(amount_cny)` is `sum(amount_cny)` of the raw table, to the fen.
pub(crate) static PER_SECOND_FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("second_cst", event_time_type(), false),
        Field::new("platform", DataType::Utf8, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("events", DataType::Int64, false),
        Field::new("amount_cny", amount_cny_type(), false),
    ]))
});

/// Columns stored in each Parquet file of `per_hour` (`cst_date` is in the path): one row per
/// (CST hour, event type, dimension, value) that has events, where `dimension` names one of
/// [`PER_HOUR_DIMENSIONS`] and `value` is that column's value (null for a missing one).
/// `events` and `amount_cny` are the count and exact sum of those `transactions` rows; `amount`
/// is their sum in the log's currency for `dimension = 'currency'` and null otherwise.
pub(crate) static PER_HOUR_FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("hour_cst", event_time_type(), false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("dimension", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("events", DataType::Int64, false),
        Field::new("amount", amount_sum_type(), true),
        Field::new("amount_cny", amount_cny_type(), false),
    ]))
});

/// Every rejected line, verbatim, with where it came from and why.
pub(crate) static REJECTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
    ]))
});

/// Exchange rates used to convert amounts: CNY per one unit of `currency` on a CST `date`.
pub(crate) static FX_RATES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("currency", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new(
            "cny_per_unit",
            DataType::Decimal128(RATE_PRECISION, RATE_SCALE),
            false,
        ),
    ]))
});

/// Every re-delivered line that lost to an earlier delivery of its `event_id`: where it came
/// from, and the event's time and CST day (equal to the kept delivery's, by the contract).
pub(crate) static DUPLICATES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("event_time", event_time_type(), false),
        Field::new(PARTITION_COLUMN, DataType::Date32, false),
    ]))
});
