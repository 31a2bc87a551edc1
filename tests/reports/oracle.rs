//! The reports computed independently: Polars reads the warehouse's Parquet files (not
//! DataFusion, not double11 code) and groups; plain Rust integers finish windows, ranks,
//! percentiles and rounding. Every figure is formatted like the report CSV.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

const DAY_MS: i64 = 86_400_000;

/// One group: orders (rows), GMV in fen, amount in the log's currency (fen).
#[derive(Debug, Clone, Copy, Default)]
pub struct Agg {
    pub orders: i64,
    pub fen: i128,
    pub amount: i128,
}

pub fn day_number(day: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("day");
    d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch"))
        .num_days()
}

/// The shared warehouse scan (CST day and second columns), narrowed to one day and type.
fn scan(wh: &Path, day: &str, event_type: &str) -> LazyFrame {
    crate::common::polars_oracle::scan(wh)
        .with_columns([(col("cst_ms") % lit(DAY_MS))
            .floor_div(lit(1000i64))
            .alias("sod")])
        .filter(
            col("day")
                .eq(lit(day_number(day)))
                .and(col("event_type").eq(lit(event_type.to_string()))),
        )
}

use crate::common::polars_oracle::fen;

fn key(v: AnyValue<'_>) -> Option<String> {
    match v {
        AnyValue::Null => None,
        AnyValue::String(s) => Some(s.to_string()),
        AnyValue::StringOwned(s) => Some(s.to_string()),
        other => Some(other.to_string()),
    }
}

/// Paid (or refunded) events of `day` grouped by `column`: key → Agg.
pub fn group(
    wh: &Path,
    day: &str,
    event_type: &str,
    column: &str,
) -> BTreeMap<Option<String>, Agg> {
    let df = scan(wh, day, event_type)
        .group_by([col(column)])
        .agg([
            len().alias("n"),
            col("amount_cny").sum().alias("gmv"),
            col("amount").sum().alias("amount"),
        ])
        .collect()
        .expect("polars group");
    let mut out = BTreeMap::new();
    for i in 0..df.height() {
        let get = |name: &str| df.column(name).expect(name).get(i).expect("row");
        out.insert(
            key(get(column)),
            Agg {
                orders: get("n").extract::<i64>().expect("count"),
                fen: fen(get("gmv")),
                amount: fen(get("amount")),
            },
        );
    }
    out
}

/// Paid events of `day` per second of the CST day (0..86399).
pub fn per_second(wh: &Path, day: &str) -> BTreeMap<i64, Agg> {
    group(wh, day, "paid", "sod")
        .into_iter()
        .map(|(k, v)| (k.expect("second").parse().expect("int"), v))
        .collect()
}

/// Distinct non-null values of `column` among the day's paid events.
pub fn distinct(wh: &Path, day: &str, column: &str) -> i64 {
    let df = scan(wh, day, "paid")
        .select([col(column).drop_nulls().n_unique().alias("n")])
        .collect()
        .expect("polars distinct");
    df.column("n")
        .expect("n")
        .get(0)
        .expect("row")
        .extract::<i64>()
        .expect("int")
}

/// Rejected lines by kind (all runs): kind → (lines, files).
pub fn rejects(wh: &Path) -> BTreeMap<String, (i64, i64)> {
    let pattern = format!("{}/rejects/**/*.parquet", wh.display());
    let df = LazyFrame::scan_parquet(PlRefPath::new(pattern), Default::default())
        .expect("scan rejects")
        .group_by([col("kind")])
        .agg([len().alias("n"), col("file").n_unique().alias("files")])
        .collect()
        .expect("polars rejects");
    let mut out = BTreeMap::new();
    for i in 0..df.height() {
        let get = |name: &str| df.column(name).expect(name).get(i).expect("row");
        out.insert(
            key(get("kind")).expect("kind"),
            (
                get("n").extract::<i64>().expect("n"),
                get("files").extract::<i64>().expect("files"),
            ),
        );
    }
    out
}

// ---- exact formatting, like the report CSV ----

pub fn money(fen: i128) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn round_div(num: i128, den: i128) -> i128 {
    let (n, d) = if den < 0 { (-num, -den) } else { (num, den) };
    if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        -((2 * -n + d) / (2 * d))
    }
}

/// num / den to 6 decimals, half away from zero; empty (null) when den is 0.
pub fn ratio(num: i128, den: i128) -> String {
    if den == 0 {
        return String::new();
    }
    let q = round_div(num * 1_000_000, den);
    let sign = if q < 0 { "-" } else { "" };
    let a = q.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

/// num fen / den to the fen, half away from zero.
pub fn per(num_fen: i128, den: i128) -> String {
    if den == 0 {
        return String::new();
    }
    money(round_div(num_fen, den))
}

pub fn clock(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

pub fn second_ts(day: &str, sod: i64) -> String {
    format!(
        "{day}T{:02}:{:02}:{:02}+08:00",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Nearest-rank percentile over `n` seconds, the silent ones counting as 0.
pub fn nearest_rank(counts: &[i64], n: usize, rank: usize) -> i64 {
    let mut all = counts.to_vec();
    all.resize(n, 0);
    all.sort_unstable();
    all[rank - 1]
}
