//! An independent computation of the headline figures with Polars, reading the warehouse's
//! Parquet files directly (not through DataFusion or any double11 code).

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

const CST_MS: i64 = 8 * 3600 * 1000;
const DAY_MS: i64 = 86_400_000;

/// Figures of one CST day, money in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub orders: i64,
    pub gmv_fen: i128,
    pub refund_events: i64,
    pub refunds_fen: i128,
    /// `YYYY-MM-DDTHH:MM:SS` CST, ties to the earliest.
    pub peak_second: String,
    pub peak_orders: i64,
    /// platform -> (orders, gmv fen)
    pub platforms: BTreeMap<String, (i64, i128)>,
}

/// Every row of `transactions`, read by Polars, with `cst_ms` (event time shifted to CST),
/// `day` (days since the epoch) and `second` (seconds since the epoch, CST).
pub fn scan(wh: &Path) -> LazyFrame {
    let pattern = format!("{}/transactions/**/*.parquet", wh.display());
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    LazyFrame::scan_parquet(PlRefPath::new(pattern), args)
        .expect("polars scans the warehouse")
        .with_columns([(col("event_time").cast(DataType::Int64) + lit(CST_MS)).alias("cst_ms")])
        .with_columns([
            col("cst_ms").floor_div(lit(DAY_MS)).alias("day"),
            col("cst_ms").floor_div(lit(1000i64)).alias("second"),
        ])
}

/// A Polars decimal sum (scale 2) as integer fen; no rows sum to 0.
pub fn fen(v: AnyValue<'_>) -> i128 {
    match v {
        AnyValue::Decimal(x, _, scale) => {
            assert_eq!(scale, 2, "money has two fraction digits");
            x
        }
        AnyValue::Null => 0,
        other => panic!("expected a decimal sum, got {other:?}"),
    }
}

fn int(v: AnyValue<'_>) -> i64 {
    v.extract::<i64>().expect("an integer")
}

fn day_string(day: i64) -> String {
    let d = chrono::DateTime::from_timestamp_millis(day * DAY_MS).expect("valid day");
    d.format("%Y-%m-%d").to_string()
}

fn second_string(second: i64) -> String {
    let d = chrono::DateTime::from_timestamp_millis(second * 1000).expect("valid second");
    d.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Orders, GMV, refunds, the peak second and per-platform figures for every CST day.
pub fn day_figures(wh: &Path) -> BTreeMap<String, DayFigures> {
    let paid = col("event_type").eq(lit("paid"));
    let refunded = col("event_type").eq(lit("refunded"));
    let totals = scan(wh)
        .group_by([col("day")])
        .agg([
            paid.clone().cast(DataType::Int64).sum().alias("orders"),
            col("amount_cny").filter(paid.clone()).sum().alias("gmv"),
            refunded
                .clone()
                .cast(DataType::Int64)
                .sum()
                .alias("refund_events"),
            col("amount_cny").filter(refunded).sum().alias("refunds"),
        ])
        .sort(["day"], Default::default())
        .collect()
        .expect("polars totals");
    let mut out: BTreeMap<String, DayFigures> = BTreeMap::new();
    for i in 0..totals.height() {
        let get = |name: &str| totals.column(name).expect(name).get(i).expect("row");
        let day = day_string(int(get("day")));
        out.insert(
            day,
            DayFigures {
                orders: int(get("orders")),
                gmv_fen: fen(get("gmv")),
                refund_events: int(get("refund_events")),
                refunds_fen: fen(get("refunds")),
                ..Default::default()
            },
        );
    }

    // Peak: the second with most paid events, earliest on a tie.
    let per_second = scan(wh)
        .filter(paid.clone())
        .group_by([col("day"), col("second")])
        .agg([len().alias("n")])
        .sort_by_exprs(
            [col("day"), col("n"), col("second")],
            SortMultipleOptions::default().with_order_descending_multi([false, true, false]),
        )
        .group_by_stable([col("day")])
        .agg([col("second").first(), col("n").first()])
        .collect()
        .expect("polars peak");
    for i in 0..per_second.height() {
        let get = |name: &str| per_second.column(name).expect(name).get(i).expect("row");
        let day = day_string(int(get("day")));
        let entry = out.entry(day).or_default();
        entry.peak_second = second_string(int(get("second")));
        entry.peak_orders = int(get("n"));
    }

    let platforms = scan(wh)
        .filter(paid)
        .group_by([col("day"), col("platform")])
        .agg([len().alias("orders"), col("amount_cny").sum().alias("gmv")])
        .collect()
        .expect("polars platforms");
    for i in 0..platforms.height() {
        let get = |name: &str| platforms.column(name).expect(name).get(i).expect("row");
        let day = day_string(int(get("day")));
        let platform = get("platform").str_value().to_string();
        let orders = int(get("orders"));
        let gmv = fen(get("gmv"));
        out.entry(day)
            .or_default()
            .platforms
            .insert(platform, (orders, gmv));
    }
    out
}

/// Number of rows and distinct event ids in the warehouse (they must be equal).
pub fn rows_and_distinct_ids(wh: &Path) -> (i64, i64) {
    let df = scan(wh)
        .select([len().alias("rows"), col("event_id").n_unique().alias("ids")])
        .collect()
        .expect("polars ids");
    let get = |name: &str| int(df.column(name).expect(name).get(0).expect("row"));
    (get("rows"), get("ids"))
}
