//! The rollups that ingest writes beside `transactions`, `per_second` and `per_hour`: for every
//! CST day, second, platform and event type (`per_second`), and every CST day, hour, event type
//! and value of category, currency, device and province (`per_hour`), `events` and the sums
//! equal `count(*)` and `sum(…)` of the raw rows, to the fen, however the rows arrived (several
//! files per day, several runs adding to one day, re-deliveries across runs). A warehouse
//! written before a rollup existed gets it on first open, with the same figures.

use crate::common;

use std::path::{Path, PathBuf};

/// The rollup and the raw table grouped the same way; rows only one side has.
const DIFFERENCE: &str = "
WITH rollup AS (
    SELECT cst_date, second_cst, platform, event_type,
           sum(events) AS events, sum(amount_cny) AS amount_cny
    FROM per_second GROUP BY 1, 2, 3, 4
),
raw AS (
    SELECT cst_date, date_trunc('second', event_time) AS second_cst, platform, event_type,
           count(*) AS events, sum(amount_cny) AS amount_cny
    FROM transactions GROUP BY 1, 2, 3, 4
)
SELECT 'only in per_second' AS side, * FROM (SELECT * FROM rollup EXCEPT SELECT * FROM raw)
UNION ALL
SELECT 'only in transactions' AS side, * FROM (SELECT * FROM raw EXCEPT SELECT * FROM rollup)
ORDER BY 1, 2, 3, 4, 5";

/// `per_hour` and the raw table grouped the same way, for each dimension; rows only one side
/// has. `amount` (in the log's currency) is summed for currencies only.
const PER_HOUR_DIFFERENCE: &str = "
WITH rollup AS (
    SELECT cst_date, hour_cst, event_type, dimension, value, sum(events) AS events,
           CAST(sum(amount) AS DECIMAL(28, 2)) AS amount, sum(amount_cny) AS amount_cny
    FROM per_hour GROUP BY 1, 2, 3, 4, 5
),
raw AS (
    SELECT cst_date, date_trunc('hour', event_time) AS hour_cst, event_type,
           'category' AS dimension, category AS value, count(*) AS events,
           CAST(NULL AS DECIMAL(28, 2)) AS amount, sum(amount_cny) AS amount_cny
    FROM transactions GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT cst_date, date_trunc('hour', event_time), event_type, 'province', province,
           count(*), CAST(NULL AS DECIMAL(28, 2)), sum(amount_cny)
    FROM transactions GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT cst_date, date_trunc('hour', event_time), event_type, 'device', device,
           count(*), CAST(NULL AS DECIMAL(28, 2)), sum(amount_cny)
    FROM transactions GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT cst_date, date_trunc('hour', event_time), event_type, 'currency', currency,
           count(*), CAST(sum(amount) AS DECIMAL(28, 2)), sum(amount_cny)
    FROM transactions GROUP BY 1, 2, 3, 4, 5
)
SELECT 'only in per_hour' AS side, * FROM (SELECT * FROM rollup EXCEPT SELECT * FROM raw)
UNION ALL
SELECT 'only in transactions' AS side, * FROM (SELECT * FROM raw EXCEPT SELECT * FROM rollup)
ORDER BY 1, 2, 3, 4, 5, 6";

const TOTALS: &str = "
SELECT cst_date, event_type, sum(events) AS events, sum(amount_cny) AS amount_cny
FROM per_second GROUP BY 1, 2 ORDER BY 1, 2";

const RAW_TOTALS: &str = "
SELECT cst_date, event_type, count(*) AS events, sum(amount_cny) AS amount_cny
FROM transactions GROUP BY 1, 2 ORDER BY 1, 2";

fn assert_rollup_is_exact(wh: &Path) {
    let diff = common::sql(wh, DIFFERENCE);
    assert_eq!(
        diff.len(),
        1,
        "per_second differs from transactions:\n{diff:?}"
    );
    let diff = common::sql(wh, PER_HOUR_DIFFERENCE);
    assert_eq!(
        diff.len(),
        1,
        "per_hour differs from transactions:\n{diff:?}"
    );
    // Every dimension of every row is there: each holds the day's rows once.
    let per_dimension = common::sql(
        wh,
        "SELECT count(DISTINCT n) AS totals FROM (SELECT dimension, sum(events) AS n FROM per_hour GROUP BY 1)",
    );
    assert_eq!(per_dimension[1], ["1"], "{per_dimension:?}");
    let totals = common::sql(wh, TOTALS);
    assert_eq!(totals, common::sql(wh, RAW_TOTALS));
    assert!(
        totals.len() >= 3,
        "a day with paid and refunded events at least: {totals:?}"
    );
}

fn ingest(wh: &Path, inputs: &[PathBuf], rates: &Path, rows_per_file: &str) {
    let mut args = vec![
        "-q",
        "ingest",
        "--warehouse",
        common::path(wh),
        "--fx-rates",
        common::path(rates),
        "--rows-per-file",
        rows_per_file,
    ];
    args.extend(inputs.iter().map(|p| common::path(p)));
    common::ok(&args);
}

#[test]
fn per_second_equals_the_raw_transactions_over_files_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    common::ok(&[
        "-q",
        "generate",
        "--day",
        "2019-11-11",
        "--year-over-year",
        "2018-11-11",
        "--scale",
        "0.00005",
        "--dirty",
        "0.03",
        "--files",
        "3",
        "--out",
        common::path(&logs),
    ]);
    let rates = logs.join("_fx_rates.csv");
    let mut files: Vec<_> = std::fs::read_dir(&logs)
        .expect("logs")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        })
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let (first, rest) = files.split_at(files.len() / 2);

    // In two runs, many small files a day: the same day is summed by both runs.
    let wh = dir.path().join("wh");
    ingest(&wh, first, &rates, "5000");
    assert_rollup_is_exact(&wh);
    ingest(&wh, rest, &rates, "5000");
    assert_rollup_is_exact(&wh);
    let manifest = common::manifest(&wh);
    let files_of = |table: &str| {
        manifest["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter(|f| f["table"] == table)
            .count()
    };
    assert!(
        files_of("transactions") > files_of("per_second"),
        "several transactions files a day"
    );
    assert!(files_of("per_second") >= 3, "a file per day and run");

    // The reports read per_second; in one run with one file a day they say the same.
    let once = dir.path().join("once");
    ingest(&once, &files, &rates, "1000000");
    assert_rollup_is_exact(&once);
    assert_eq!(
        common::report_all(&wh, None),
        common::report_all(&once, None)
    );
}

/// Turns the sample warehouse at `wh` into what double11 wrote at manifest format `format`
/// (1: before `per_second`, 2: before `per_hour`), opens it again, and checks that the
/// reports and the rollups are what they were.
fn assert_upgrade_from(format: u32, dropped: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    let before = common::report_all(&wh, None);
    let seconds = "SELECT * FROM per_second ORDER BY 1, 2, 3, 6";
    let hours = "SELECT * FROM per_hour ORDER BY 1, 2, 3, 4, 8";
    let (seconds_before, hours_before) = (common::sql(&wh, seconds), common::sql(&wh, hours));

    common::make_old_format(&wh, format, dropped);

    assert_eq!(
        common::report_all(&wh, None),
        before,
        "reports after the upgrade"
    );
    assert_eq!(common::sql(&wh, seconds), seconds_before);
    assert_eq!(common::sql(&wh, hours), hours_before);
    let manifest = common::manifest(&wh);
    assert_eq!(manifest["format_version"], 4);
    assert_eq!(manifest["operation"], "upgrade");
    assert_eq!(manifest["version"], 2, "1: the conversion, 2: the rollups");
    assert_rollup_is_exact(&wh);
}

#[test]
fn a_warehouse_from_before_per_second_gets_both_rollups_on_first_open() {
    assert_upgrade_from(1, &["per_second", "per_hour"]);
}

#[test]
fn a_warehouse_from_before_per_hour_gets_it_on_first_open() {
    assert_upgrade_from(2, &["per_hour"]);
}
