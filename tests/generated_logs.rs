//! `double11 generate` logs, ingested by the real binary, checked against the generator's
//! own truth (`truth.json`), DataFusion SQL, the Polars oracle over the warehouse, and an
//! independent Polars read of the raw CSV files.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::polars_oracle;
use polars::prelude::*;
use serde_json::Value;

const DAY_SECS: i64 = 86_400;
const CST_SECS: i64 = 8 * 3600;

fn fen(text: &str) -> i128 {
    let (int, frac) = text.split_once('.').unwrap_or((text, "00"));
    let sign = if int.starts_with('-') { -1 } else { 1 };
    let int: i128 = int.trim_start_matches('-').parse().expect("integer part");
    assert!(
        frac.len() <= 2,
        "money has at most two fraction digits: {text}"
    );
    let frac: i128 = format!("{frac:0<2}").parse().expect("fraction");
    sign * (int * 100 + frac)
}

/// Runs `double11 generate <args>` (progress quiet) and insists that it succeeds.
fn generate(args: &[&str]) {
    let mut all = vec!["-q", "generate"];
    all.extend_from_slice(args);
    common::ok(&all);
}

fn read_truth(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("truth.json");
    serde_json::from_str(&text).expect("truth.json is JSON")
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// `double11 -q ingest DIR --warehouse WH --fx-rates DIR/_fx_rates.csv`.
fn ingest_dir(dir: &Path, wh: &Path) {
    let rates = dir.join("_fx_rates.csv");
    common::ok(&[
        "-q",
        "ingest",
        common::path(dir),
        "--warehouse",
        common::path(wh),
        "--fx-rates",
        common::path(&rates),
    ]);
}

/// Figures of one CST day, as the truth file and the SQL both state them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Day {
    orders: u64,
    gmv_fen: i128,
    refund_events: u64,
    refunds_fen: i128,
    /// `YYYY-MM-DDTHH:MM:SS` CST, or `None` when the day has no orders.
    peak_second: Option<String>,
    peak_orders: u64,
}

fn truth_days(truth: &Value) -> BTreeMap<String, Day> {
    truth["days"]
        .as_object()
        .expect("days")
        .iter()
        .map(|(date, d)| {
            let gmv_fen = i128::from(d["gmv_fen"].as_i64().expect("gmv_fen"));
            let refunds_fen = i128::from(d["refunds_fen"].as_i64().expect("refunds_fen"));
            // The yuan text says the same as the fen.
            assert_eq!(fen(d["gmv"].as_str().expect("gmv")), gmv_fen, "{date}");
            assert_eq!(fen(d["refunds"].as_str().expect("refunds")), refunds_fen);
            (
                date.clone(),
                Day {
                    orders: u(d, "orders"),
                    gmv_fen,
                    refund_events: u(d, "refund_events"),
                    refunds_fen,
                    peak_second: d["peak_second"].as_str().map(str::to_string),
                    peak_orders: u(d, "peak_orders"),
                },
            )
        })
        .collect()
}

/// Every CST day of the warehouse through DataFusion SQL.
fn sql_days(wh: &Path) -> BTreeMap<String, Day> {
    let rows = common::sql(
        wh,
        "SELECT cst_date,
                count(*) FILTER (WHERE event_type = 'paid') AS orders,
                coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), 0) AS gmv,
                count(*) FILTER (WHERE event_type = 'refunded') AS refund_events,
                coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), 0) AS refunds
         FROM transactions GROUP BY cst_date ORDER BY cst_date",
    );
    let peaks = common::sql(
        wh,
        "SELECT cst_date, sec, n FROM (
            SELECT cst_date, date_trunc('second', event_time) AS sec, count(*) AS n,
                   row_number() OVER (PARTITION BY cst_date
                                      ORDER BY count(*) DESC, date_trunc('second', event_time)) AS rk
            FROM transactions WHERE event_type = 'paid'
            GROUP BY cst_date, date_trunc('second', event_time))
         WHERE rk = 1 ORDER BY cst_date",
    );
    let peaks: BTreeMap<String, (String, u64)> = peaks[1..]
        .iter()
        .map(|r| {
            assert!(r[1].len() >= 19, "a timestamp: {r:?}");
            (
                r[0].clone(),
                (r[1][..19].to_string(), r[2].parse().expect("n")),
            )
        })
        .collect();
    rows[1..]
        .iter()
        .map(|r| {
            let peak = peaks.get(&r[0]);
            (
                r[0].clone(),
                Day {
                    orders: r[1].parse().expect("orders"),
                    gmv_fen: fen(&r[2]),
                    refund_events: r[3].parse().expect("refund events"),
                    refunds_fen: fen(&r[4]),
                    peak_second: peak.map(|p| p.0.clone()),
                    peak_orders: peak.map_or(0, |p| p.1),
                },
            )
        })
        .collect()
}

/// Every CST day of the warehouse through the Polars oracle (Parquet read directly).
fn polars_days(wh: &Path) -> BTreeMap<String, Day> {
    polars_oracle::day_figures(wh)
        .into_iter()
        .map(|(date, p)| {
            (
                date,
                Day {
                    orders: p.orders as u64,
                    gmv_fen: p.gmv_fen,
                    refund_events: p.refund_events as u64,
                    refunds_fen: p.refunds_fen,
                    peak_second: (p.peak_orders > 0).then_some(p.peak_second),
                    peak_orders: p.peak_orders as u64,
                },
            )
        })
        .collect()
}

fn assert_days_eq(got: &BTreeMap<String, Day>, want: &BTreeMap<String, Day>, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: the same CST days"
    );
    for (date, w) in want {
        assert_eq!(&got[date], w, "{what}: {date}");
    }
}

/// Generates a dirty two-day log in `format` / `compress`, ingests it, and checks every
/// figure of the truth against the manifest, the rejects table, SQL and Polars.
fn dirty_day_reproduces_the_truth(format: &str, compress: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("logs");
    let wh = tmp.path().join("wh");
    generate(&[
        "--day",
        "2019-11-11",
        "--year-over-year",
        "2018-11-11",
        "--scale",
        "0.00005",
        "--dirty",
        "0.03",
        "--out",
        common::path(&dir),
        "--files",
        "3",
        "--format",
        format,
        "--compress",
        compress,
        "--seed",
        "7",
    ]);
    let truth = read_truth(&dir.join("truth.json"));
    let ext = match format {
        "csv" => "csv",
        _ => "jsonl",
    };
    let files = truth["files"].as_array().expect("files");
    assert_eq!(files.len(), 6, "3 files for each of the two days");
    for f in files {
        let name = f.as_str().expect("file name");
        assert!(name.ends_with(&format!(".{ext}.{compress}")), "{name}");
        assert!(dir.join(name).is_file(), "{name} was written");
    }
    // The run is dirty: every kind of line the contract describes is in the log.
    assert!(u(&truth, "duplicates") > 0, "re-deliveries: {truth}");
    assert!(u(&truth, "rejected") > 0, "bad lines: {truth}");
    assert!(
        truth["days"].as_object().expect("days").len() > 2,
        "events just outside the two days: {truth}"
    );

    ingest_dir(&dir, &wh);

    // Totals: the manifest's last run against the truth.
    let manifest = common::manifest(&wh);
    let runs = manifest["runs"].as_array().expect("runs");
    let totals = &runs.last().expect("a run")["totals"];
    let [records, accepted, duplicates, rejected] =
        ["records", "accepted", "duplicates", "rejected"].map(|k| u(totals, k));
    assert_eq!(
        [records, accepted, duplicates, rejected],
        ["records", "accepted", "duplicates", "rejected"].map(|k| u(&truth, k)),
        "records, accepted, duplicates, rejected ({format}/{compress})"
    );
    assert_eq!(records, accepted + duplicates + rejected);

    // Rejects by kind, from the rejects table.
    let rows = common::sql(&wh, "SELECT kind, count(*) FROM rejects GROUP BY kind");
    let got: BTreeMap<String, u64> = rows[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].parse().expect("count")))
        .collect();
    let want: BTreeMap<String, u64> = truth["rejects_by_kind"]
        .as_object()
        .expect("rejects_by_kind")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
        .collect();
    assert_eq!(got, want, "rejects by kind ({format}/{compress})");
    assert_eq!(got.values().sum::<u64>(), rejected);
    assert!(got.len() >= 5, "several reject kinds: {got:?}");

    // Every day's figures: SQL and Polars against the truth.
    let want = truth_days(&truth);
    assert_days_eq(&sql_days(&wh), &want, &format!("SQL {format}/{compress}"));
    assert_days_eq(
        &polars_days(&wh),
        &want,
        &format!("Polars {format}/{compress}"),
    );
    let (rows, ids) = polars_oracle::rows_and_distinct_ids(&wh);
    assert_eq!(rows, ids, "no event_id twice in the warehouse");
    assert_eq!(rows as u64, accepted);
}

#[test]
fn a_dirty_day_reproduces_the_truth_exactly() {
    dirty_day_reproduces_the_truth("csv", "zst");
}

#[test]
fn a_dirty_ndjson_gz_day_reproduces_the_truth_exactly() {
    dirty_day_reproduces_the_truth("ndjson", "gz");
}

/// (orders, GMV fen) per CST day through SQL.
fn orders_and_gmv(wh: &Path) -> BTreeMap<String, (u64, i128)> {
    sql_days(wh)
        .into_iter()
        .map(|(d, f)| (d, (f.orders, f.gmv_fen)))
        .collect()
}

#[test]
fn a_piped_day_equals_the_same_day_from_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("logs");
    let wh_files = tmp.path().join("wh-files");
    let wh_pipe = tmp.path().join("wh-pipe");
    let pipe_truth = tmp.path().join("pipe-truth.json");
    let common_args = [
        "--day",
        "2019-11-11",
        "--year-over-year",
        "2018-11-11",
        "--scale",
        "0.00005",
        "--dirty",
        "0.03",
        "--format",
        "ndjson",
        "--seed",
        "21",
    ];
    let mut file_args = common_args.to_vec();
    file_args.extend(["--out", common::path(&dir), "--files", "2"]);
    generate(&file_args);
    ingest_dir(&dir, &wh_files);

    let mut producer = common::double11()
        .args([
            "-q",
            "generate",
            "--stdout",
            "--truth",
            common::path(&pipe_truth),
        ])
        .args(common_args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn generate");
    let rates = dir.join("_fx_rates.csv");
    let consumer = common::double11()
        .args([
            "-q",
            "ingest",
            "-",
            "--warehouse",
            common::path(&wh_pipe),
            "--fx-rates",
            common::path(&rates),
        ])
        .stdin(Stdio::from(
            producer.stdout.take().expect("generate stdout"),
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ingest");
    let ingested = consumer.wait_with_output().expect("ingest runs");
    let generated = producer.wait().expect("generate runs");
    assert!(generated.success(), "generate --stdout: {generated:?}");
    assert!(
        ingested.status.success(),
        "ingest -: {}",
        String::from_utf8_lossy(&ingested.stderr)
    );

    let by_files = orders_and_gmv(&wh_files);
    let by_pipe = orders_and_gmv(&wh_pipe);
    assert!(by_files.len() >= 2, "both days: {by_files:?}");
    assert_eq!(by_pipe, by_files, "per-day orders and GMV, pipe vs files");

    // Both agree with their truths, and the accepted events are the same ones.
    let want: BTreeMap<String, (u64, i128)> = truth_days(&read_truth(&dir.join("truth.json")))
        .into_iter()
        .map(|(d, f)| (d, (f.orders, f.gmv_fen)))
        .collect();
    assert_eq!(by_files, want, "files vs truth");
    let pipe_truth = read_truth(&pipe_truth);
    let totals = common::manifest(&wh_pipe)["runs"][0]["totals"].clone();
    for k in ["records", "accepted", "duplicates", "rejected"] {
        assert_eq!(u(&totals, k), u(&pipe_truth, k), "piped {k}");
    }
    assert_eq!(
        common::manifest(&wh_files)["runs"][0]["totals"]["accepted"],
        totals["accepted"]
    );
}

/// Reads the raw CSV log files (all columns as text) with Polars, in file order.
fn raw_csv(files: &[PathBuf]) -> LazyFrame {
    let frames: Vec<LazyFrame> = files
        .iter()
        .map(|f| {
            LazyCsvReader::new(PlRefPath::new(common::path(f)))
                .with_has_header(true)
                .with_infer_schema_length(Some(0))
                .finish()
                .expect("polars reads the CSV")
                .select([
                    col("event_id"),
                    col("event_time"),
                    col("event_type"),
                    col("amount"),
                    col("currency"),
                ])
        })
        .collect();
    concat(
        frames,
        UnionArgs {
            maintain_order: true,
            ..Default::default()
        },
    )
    .expect("concat")
}

fn two_digits(e: Expr, offset: i64) -> Expr {
    e.str()
        .slice(lit(offset), lit(2u64))
        .strict_cast(DataType::Int64)
}

/// Orders and GMV (fen) per CST day (days since the epoch) computed by Polars from the
/// raw CSV files and the rates file, with no double11 code involved.
fn polars_raw_figures(files: &[PathBuf], rates: &Path) -> (usize, usize, DataFrame) {
    let raw = raw_csv(files).with_row_index("row", None);
    let rows = raw
        .clone()
        .select([len().alias("n")])
        .collect()
        .expect("count")
        .column("n")
        .expect("n")
        .get(0)
        .expect("row")
        .extract::<usize>()
        .expect("n");
    // At least once: the first occurrence of an event_id in file order wins.
    let events = raw.unique_stable_generic(Some(vec![col("event_id")]), UniqueKeepStrategy::First);

    // The CST day from the RFC 3339 text: local date and time, minus the offset, plus 8 h.
    let t = col("event_time");
    let date_days = t
        .clone()
        .str()
        .slice(lit(0i64), lit(10u64))
        .str()
        .to_date(StrptimeOptions {
            format: Some("%Y-%m-%d".into()),
            strict: true,
            exact: true,
            cache: true,
        })
        .cast(DataType::Int64);
    let local_secs = date_days * lit(DAY_SECS)
        + two_digits(t.clone(), 11) * lit(3600i64)
        + two_digits(t.clone(), 14) * lit(60i64)
        + two_digits(t.clone(), 17);
    let off_sign = t.clone().str().extract(lit(r"([+-])\d\d:\d\d$"), 1);
    let off_h = t
        .clone()
        .str()
        .extract(lit(r"[+-](\d\d):\d\d$"), 1)
        .strict_cast(DataType::Int64);
    let off_m = t
        .clone()
        .str()
        .extract(lit(r"[+-]\d\d:(\d\d)$"), 1)
        .strict_cast(DataType::Int64);
    let off_min = off_h * lit(60i64) + off_m;
    let offset_secs = when(t.clone().str().ends_with(lit("Z")))
        .then(lit(0i64))
        .when(off_sign.clone().eq(lit("-")))
        .then(-(off_min.clone() * lit(60i64)))
        .when(off_sign.eq(lit("+")))
        .then(off_min * lit(60i64))
        .otherwise(lit(NULL).cast(DataType::Int64));
    let cst_day = (local_secs - offset_secs + lit(CST_SECS)).floor_div(lit(DAY_SECS));

    // Amount text -> exact decimal -> integer fen; the currency defaults to CNY.
    let amount_fen = (col("amount").strict_cast(DataType::Decimal(18, 2)) * lit(100i64))
        .strict_cast(DataType::Int64);
    let currency = when(col("currency").is_null().or(col("currency").eq(lit(""))))
        .then(lit("CNY"))
        .otherwise(col("currency"));

    let rates = LazyCsvReader::new(PlRefPath::new(common::path(rates)))
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .finish()
        .expect("polars reads the rates")
        .select([
            col("currency"),
            col("date")
                .str()
                .to_date(StrptimeOptions {
                    format: Some("%Y-%m-%d".into()),
                    strict: true,
                    exact: true,
                    cache: true,
                })
                .cast(DataType::Int64)
                .alias("cst_day"),
            (col("cny_per_unit").strict_cast(DataType::Decimal(18, 6)) * lit(1_000_000i64))
                .strict_cast(DataType::Int64)
                .alias("rate_micro"),
        ]);

    let paid = col("event_type").eq(lit("paid"));
    let converted = events
        .with_columns([
            cst_day.alias("cst_day"),
            amount_fen.alias("fen"),
            currency.alias("currency"),
        ])
        .join(
            rates,
            [col("currency"), col("cst_day")],
            [col("currency"), col("cst_day")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([when(col("currency").eq(lit("CNY")))
            .then(col("fen"))
            .otherwise(
                (col("fen") * col("rate_micro") + lit(500_000i64)).floor_div(lit(1_000_000i64)),
            )
            .alias("amount_cny")]);
    let checks = converted
        .clone()
        .select([
            len().alias("n"),
            col("cst_day").null_count().alias("bad_time"),
            col("amount_cny").null_count().alias("bad_money"),
            col("event_type")
                .is_in(
                    lit(Series::new("types".into(), ["paid", "refunded"])),
                    false,
                )
                .not()
                .cast(DataType::Int64)
                .sum()
                .alias("bad_type"),
            col("currency")
                .neq(lit("CNY"))
                .cast(DataType::Int64)
                .sum()
                .alias("foreign"),
        ])
        .collect()
        .expect("polars checks");
    let get = |name: &str| {
        checks
            .column(name)
            .expect(name)
            .get(0)
            .expect("row")
            .extract::<usize>()
            .expect(name)
    };
    assert_eq!(get("bad_time"), 0, "every event_time understood");
    assert_eq!(
        get("bad_money"),
        0,
        "every amount converted (a rate for each)"
    );
    assert_eq!(get("bad_type"), 0, "only paid and refunded");
    assert!(get("foreign") > 0, "some events in another currency");
    let distinct = get("n");

    let per_day = converted
        .group_by([col("cst_day")])
        .agg([
            paid.clone().cast(DataType::Int64).sum().alias("orders"),
            col("amount_cny").filter(paid).sum().alias("gmv_fen"),
        ])
        .sort(["cst_day"], Default::default())
        .collect()
        .expect("polars per day");
    (rows, distinct, per_day)
}

#[test]
fn an_independent_polars_read_of_the_raw_csv_agrees() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("logs");
    let wh = tmp.path().join("wh");
    generate(&[
        "--day",
        "2019-11-11",
        "--year-over-year",
        "2018-11-11",
        "--scale",
        "0.00005",
        "--dirty",
        "0",
        "--out",
        common::path(&dir),
        "--files",
        "2",
        "--format",
        "csv",
        "--seed",
        "3",
    ]);
    let truth = read_truth(&dir.join("truth.json"));
    let files: Vec<PathBuf> = truth["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| dir.join(f.as_str().expect("name")))
        .collect();
    assert_eq!(files.len(), 4);
    assert!(files.iter().all(|f| f.extension() == Some("csv".as_ref())));
    ingest_dir(&dir, &wh);

    let (rows, distinct, per_day) = polars_raw_figures(&files, &dir.join("_fx_rates.csv"));
    assert_eq!(rows as u64, u(&truth, "records"), "CSV data rows");
    assert_eq!(u(&truth, "rejected"), 0, "a clean log");
    assert_eq!(distinct as u64, u(&truth, "accepted"), "distinct events");
    assert_eq!((rows - distinct) as u64, u(&truth, "duplicates"));

    let days = per_day.column("cst_day").expect("cst_day");
    let orders = per_day.column("orders").expect("orders");
    let gmv = per_day.column("gmv_fen").expect("gmv_fen");
    let mut from_polars: BTreeMap<String, (u64, i128)> = BTreeMap::new();
    for i in 0..per_day.height() {
        let day = days.get(i).expect("row").extract::<i64>().expect("day");
        let date = chrono::DateTime::from_timestamp(day * DAY_SECS, 0)
            .expect("a date")
            .format("%Y-%m-%d")
            .to_string();
        let o = orders.get(i).expect("row").extract::<u64>().unwrap_or(0);
        let g = gmv.get(i).expect("row").extract::<i64>().unwrap_or(0);
        from_polars.insert(date, (o, i128::from(g)));
    }
    // A day with refunds only has no orders and no GMV; the figures below cover days with
    // any accepted event, which is what both SQL and the truth list.
    assert_eq!(orders_and_gmv(&wh), from_polars, "SQL vs Polars on raw CSV");
    let want: BTreeMap<String, (u64, i128)> = truth_days(&truth)
        .into_iter()
        .map(|(d, f)| (d, (f.orders, f.gmv_fen)))
        .collect();
    assert_eq!(from_polars, want, "Polars on raw CSV vs truth");
}

#[test]
fn same_seed_same_bytes_and_targets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (format, compress) in [("csv", "zst"), ("ndjson", "gz")] {
        let run = |name: &str, seed: &str| {
            let dir = tmp.path().join(format!("{name}-{format}"));
            generate(&[
                "--day",
                "2019-11-11",
                "--year-over-year",
                "2018-11-11",
                "--scale",
                "0.00002",
                "--dirty",
                "0.03",
                "--out",
                common::path(&dir),
                "--files",
                "2",
                "--format",
                format,
                "--compress",
                compress,
                "--seed",
                seed,
            ]);
            common::snapshot(&dir)
        };
        let a = run("a", "99");
        let b = run("b", "99");
        let other = run("c", "100");
        let names = |s: &[(String, Vec<u8>)]| s.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b));
        assert_eq!(a.len(), 6, "4 logs, rates and truth: {:?}", names(&a));
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(
                x == y,
                "{format}/{compress}: {name} differs between two runs"
            );
        }
        // The seed matters: another seed writes other logs.
        for ((name, x), (_, y)) in a.iter().zip(&other) {
            if name.contains(&format!(".{compress}")) {
                assert!(x != y, "{name}: seeds 99 and 100 gave the same bytes");
            }
        }
    }

    // Calibration at --scale 0.0001 against the seed figures.
    let dir = tmp.path().join("scale");
    generate(&[
        "--day",
        "2019-11-11",
        "--year-over-year",
        "2018-11-11",
        "--scale",
        "0.0001",
        "--out",
        common::path(&dir),
        "--seed",
        "11",
    ]);
    let days = truth_days(&read_truth(&dir.join("truth.json")));
    let d2019 = &days["2019-11-11"];
    let d2018 = &days["2018-11-11"];
    assert_eq!(d2019.orders, 130_000, "round(1.3e9 x 0.0001) orders");
    let target_fen = 268.4e9 * 0.0001 * 100.0;
    let gmv = d2019.gmv_fen as f64;
    assert!(
        (gmv - target_fen).abs() <= 0.01 * target_fen,
        "2019 GMV {gmv} fen vs {target_fen} fen"
    );
    let growth = d2019.gmv_fen as f64 / d2018.gmv_fen as f64 - 1.0;
    assert!(
        (growth - 0.257).abs() <= 0.005,
        "GMV growth {:.4} % vs 25.7 %",
        growth * 100.0
    );
}
