//! A timestamp literal with an explicit UTC offset means that instant wherever SQL runs:
//! `TIMESTAMP '…Z'` counts the same rows as the plain string `'…Z'`, as every other spelling
//! of the same instant, and as Polars counting the Parquet files by epoch milliseconds.

use crate::common;

use std::path::{Path, PathBuf};

use polars::prelude::*;

use common::path;

/// 2019-11-11 10:00:00 CST, in the middle of the sample's busy day.
const INSTANT_MS: i64 = 1_573_437_600_000;

/// The same instant in four spellings, and 02:00 CST: what the bug read `…Z` as.
const SPELLINGS: [&str; 5] = [
    "2019-11-11T02:00:00Z",
    "2019-11-11T10:00:00+08:00",
    "2019-11-10T21:00:00-05:00",
    "2019-11-11T07:30:00+0530",
    "2019-11-11 02:00:00.000Z",
];

fn sample_warehouse(dir: &Path) -> PathBuf {
    let wh = dir.join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    wh
}

/// Rows of `transactions` before `ms` (epoch), counted by Polars from the Parquet files.
fn polars_count_before(wh: &Path, ms: i64) -> i64 {
    let df = common::polars_oracle::scan(wh)
        .filter((col("event_time").cast(DataType::Int64)).lt(lit(ms)))
        .select([len().alias("n")])
        .collect()
        .expect("polars counts");
    df.column("n")
        .expect("n")
        .get(0)
        .expect("a row")
        .extract::<i64>()
        .expect("an integer")
}

fn count(wh: &Path, predicate: &str) -> i64 {
    let rows = common::sql(
        wh,
        &format!("SELECT count(*) AS n FROM transactions WHERE {predicate}"),
    );
    rows[1][0].parse().expect("a count")
}

#[test]
fn an_explicit_offset_means_that_instant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let expected = polars_count_before(&wh, INSTANT_MS);
    let total = polars_count_before(&wh, i64::MAX);
    // The filter bites, and reading the instant eight hours off would change the count.
    assert!(0 < expected && expected < total, "{expected} of {total}");
    let eight_hours_early = polars_count_before(&wh, INSTANT_MS - 8 * 3_600_000);
    assert_ne!(
        expected, eight_hours_early,
        "the test could not see the bug"
    );

    for text in SPELLINGS {
        assert_eq!(
            count(&wh, &format!("event_time < TIMESTAMP '{text}'")),
            expected,
            "TIMESTAMP '{text}'"
        );
        assert_eq!(
            count(&wh, &format!("event_time < '{text}'")),
            expected,
            "'{text}'"
        );
        assert_eq!(
            count(&wh, &format!("event_time < CAST('{text}' AS TIMESTAMP)")),
            expected,
            "CAST('{text}' AS TIMESTAMP)"
        );
        // Also as the left side, in a subquery, and with a millisecond precision.
        assert_eq!(
            count(
                &wh,
                &format!(
                    "CAST('{text}' AS TIMESTAMP(3)) > event_time AND event_id IN \
                     (SELECT event_id FROM transactions WHERE event_time < TIMESTAMP '{text}')"
                )
            ),
            expected,
            "CAST('{text}' AS TIMESTAMP(3)) and a subquery"
        );
    }
    // Without an offset a literal is wall-clock time, read as CST next to event_time.
    assert_eq!(
        count(&wh, "event_time < TIMESTAMP '2019-11-11 10:00:00'"),
        expected
    );
    assert_eq!(
        count(&wh, "event_time < TIMESTAMP '2019-11-11 02:00:00'"),
        eight_hours_early
    );
}

#[test]
fn the_instant_holds_in_files_stdin_and_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let expected = polars_count_before(&wh, INSTANT_MS).to_string();
    let query = "SELECT count(*) AS n FROM transactions \
                 WHERE event_time < TIMESTAMP '2019-11-10T21:00:00-05:00';\n";

    // -f
    let file = dir.path().join("q.sql");
    std::fs::write(&file, query).expect("write");
    let out = common::ok(&[
        "sql",
        "--warehouse",
        path(&wh),
        "-f",
        path(&file),
        "--format",
        "csv",
    ]);
    assert_eq!(common::parse_csv(&out)[1][0], expected, "-f");

    // standard input
    let mut child = common::double11()
        .args(["sql", "--warehouse", path(&wh), "--format", "csv"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), query.as_bytes())
        .expect("pipe");
    let piped = child.wait_with_output().expect("wait");
    assert!(piped.status.success(), "stdin");
    assert_eq!(
        common::parse_csv(&String::from_utf8_lossy(&piped.stdout))[1][0],
        expected,
        "stdin"
    );

    // export
    let csv = dir.path().join("n.csv");
    common::ok(&[
        "export",
        "--warehouse",
        path(&wh),
        "--sql",
        query.trim().trim_end_matches(';'),
        "--to",
        path(&csv),
        "--format",
        "csv",
    ]);
    let exported = std::fs::read_to_string(&csv).expect("exported CSV");
    assert_eq!(common::parse_csv(&exported)[1][0], expected, "export");
}
