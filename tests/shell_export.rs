//! The SQL shell's non-interactive modes, output formats, read-only guard, pruning, and
//! exports.

mod common;

use std::path::{Path, PathBuf};

use polars::prelude::*;

fn sample_warehouse(dir: &Path) -> PathBuf {
    let wh = dir.join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    wh
}

fn sql_out(wh: &Path, query: &str, format: &str) -> String {
    common::ok(&[
        "sql",
        "--warehouse",
        common::path(wh),
        "-c",
        query,
        "--format",
        format,
    ])
}

#[test]
fn every_format_shows_the_same_exact_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let q = "SELECT platform, count(*) AS n, sum(amount_cny) AS gmv, max(buyer_id) AS top_buyer \
             FROM transactions WHERE cst_date = DATE '2019-11-11' GROUP BY platform ORDER BY platform";
    let csv = common::parse_csv(&sql_out(&wh, q, "csv"));
    assert_eq!(csv[0], ["platform", "n", "gmv", "top_buyer"]);
    let json: serde_json::Value =
        serde_json::from_str(&sql_out(&wh, q, "json")).expect("strict JSON");
    let ndjson = sql_out(&wh, q, "ndjson");
    let table = sql_out(&wh, q, "table");
    let rows = json.as_array().expect("array");
    assert_eq!(rows.len(), csv.len() - 1);
    for (i, line) in ndjson.lines().enumerate() {
        let obj: serde_json::Value = serde_json::from_str(line).expect("NDJSON line");
        assert_eq!(obj, rows[i]);
        let r = &csv[i + 1];
        assert_eq!(obj["platform"], r[0].as_str());
        assert_eq!(obj["n"].to_string(), r[1]);
        // Decimals keep every digit: no float rounding on the way out.
        let gmv = match &obj["gmv"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(gmv, r[2]);
        assert!(table.contains(&r[2]), "table shows {}", r[2]);
    }
    // Ids beyond 2^53 survive JSON exactly (serde_json keeps u64/i64 integers exact).
    let big = sql_out(&wh, "SELECT max(buyer_id) AS b FROM transactions", "json");
    let v: serde_json::Value = serde_json::from_str(&big).expect("json");
    let b = v[0]["b"].as_i64().expect("an integer");
    assert!(b > 1 << 53, "sample has ids above 2^53: {b}");
    let csv_b = common::sql(&wh, "SELECT max(buyer_id) FROM transactions");
    assert_eq!(csv_b[1][0], b.to_string());
}

#[test]
fn parquet_output_goes_to_a_pipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let out = common::run(&[
        "sql",
        "--warehouse",
        common::path(&wh),
        "-c",
        "SELECT event_id, amount_cny FROM transactions",
        "--format",
        "parquet",
    ]);
    assert!(out.status.success());
    assert!(out.stdout.starts_with(b"PAR1") && out.stdout.ends_with(b"PAR1"));
}

#[test]
fn files_commands_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let good = dir.path().join("q.sql");
    std::fs::write(
        &good,
        "CREATE VIEW paid AS SELECT * FROM transactions WHERE event_type = 'paid';\n\
         SELECT count(*) AS orders FROM paid WHERE cst_date = DATE '2019-11-11';\n",
    )
    .expect("write");
    let out = common::ok(&[
        "sql",
        "--warehouse",
        common::path(&wh),
        "-f",
        common::path(&good),
        "--format",
        "csv",
    ]);
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("sample-data/expected.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(
        out.trim(),
        format!("orders\n{}", expected["days"]["2019-11-11"]["orders"])
    );

    let broken = dir.path().join("broken.sql");
    std::fs::write(&broken, "SELEC nonsense FROM;").expect("write");
    let err = common::fails(
        &[
            "sql",
            "--warehouse",
            common::path(&wh),
            "-f",
            common::path(&broken),
        ],
        2,
    );
    assert!(err.contains("broken.sql"), "{err}");
    let err = common::fails(
        &[
            "sql",
            "--warehouse",
            common::path(&wh),
            "-c",
            "SELECT nope FROM transactions",
        ],
        2,
    );
    assert!(err.contains("nope"), "{err}");

    let tables = sql_out(&wh, "\\dt", "csv");
    for t in ["transactions", "rejects", "fx_rates"] {
        assert!(tables.contains(t), "{tables}");
    }
    let described = sql_out(&wh, "\\d transactions", "csv");
    assert!(
        described.contains("amount_cny") && described.contains("Decimal128(18, 2)"),
        "{described}"
    );
    assert!(described.contains("cst_date"), "{described}");
    let err = common::fails(
        &["sql", "--warehouse", common::path(&wh), "-c", "\\d nosuch"],
        2,
    );
    assert!(err.contains("nosuch"), "{err}");
}

#[test]
fn the_shell_is_read_only_unless_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let before = common::snapshot(&wh);
    let target = dir.path().join("copy.csv");
    let copy = format!(
        "COPY (SELECT 1 AS x) TO '{}' STORED AS CSV",
        target.display()
    );
    let insert = "INSERT INTO transactions SELECT * FROM transactions";
    for statement in [copy.as_str(), insert] {
        let err = common::fails(
            &["sql", "--warehouse", common::path(&wh), "-c", statement],
            2,
        );
        assert!(err.contains("read-only"), "{err}");
    }
    assert!(!target.exists());
    assert_eq!(common::snapshot(&wh), before);
    common::ok(&[
        "sql",
        "--warehouse",
        common::path(&wh),
        "--writable",
        "-c",
        &copy,
    ]);
    assert!(target.exists());
}

#[test]
fn a_date_filter_prunes_partitions_and_a_time_filter_prunes_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let plan = sql_out(
        &wh,
        "EXPLAIN SELECT sum(amount_cny) FROM transactions WHERE cst_date = DATE '2019-11-11'",
        "csv",
    );
    assert!(plan.contains("cst_date=2019-11-11"), "{plan}");
    for other in ["2018-11-11", "2019-11-10", "2019-11-12"] {
        assert!(
            !plan.contains(&format!("cst_date={other}")),
            "{other} not scanned: {plan}"
        );
    }

    let log = dir.path().join("volume.csv");
    common::write_volume_csv(&log, 600_000, "p-");
    let wh2 = dir.path().join("wh2");
    common::ingest(&wh2, &[&log]);
    let analyzed = sql_out(
        &wh2,
        "EXPLAIN ANALYZE SELECT sum(amount_cny) FROM transactions \
         WHERE event_time >= TIMESTAMP '2019-11-11T20:00:00+08:00' \
           AND event_time < TIMESTAMP '2019-11-11T20:05:00+08:00'",
        "csv",
    );
    let pruned = |metric: &str| -> u64 {
        analyzed
            .split(&format!("{metric}="))
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {metric} in {analyzed}"))
    };
    assert!(pruned("row_groups_pruned_statistics") >= 1, "{analyzed}");
    assert!(pruned("page_index_rows_pruned") > 0, "{analyzed}");
}

fn polars_sum(path: &Path) -> (usize, String) {
    let df = LazyFrame::scan_parquet(PlRefPath::new(common::path(path)), Default::default())
        .expect("scan")
        .select([len().alias("n"), col("amount_cny").sum().alias("s")])
        .collect()
        .expect("collect");
    let n = df
        .column("n")
        .expect("n")
        .get(0)
        .expect("row")
        .extract::<usize>()
        .expect("n");
    let s = df.column("s").expect("s").get(0).expect("row").to_string();
    (n, s)
}

#[test]
fn exports_write_files_and_folders_and_refuse_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let w = common::path(&wh);
    let q = "SELECT event_id, platform, amount_cny FROM transactions WHERE cst_date = DATE '2019-11-11'";
    let want = common::sql(
        &wh,
        "SELECT count(*), sum(amount_cny) FROM transactions WHERE cst_date = DATE '2019-11-11'",
    );

    let pq = dir.path().join("out/day.parquet");
    common::ok(&[
        "export",
        "--warehouse",
        w,
        "--sql",
        q,
        "--to",
        common::path(&pq),
    ]);
    let (n, s) = polars_sum(&pq);
    assert_eq!(n.to_string(), want[1][0]);
    assert_eq!(s, want[1][1]);

    let csv_path = dir.path().join("day.csv");
    common::ok(&[
        "export",
        "--warehouse",
        w,
        "--sql",
        q,
        "--to",
        common::path(&csv_path),
    ]);
    let rows = common::parse_csv(&std::fs::read_to_string(&csv_path).expect("read"));
    assert_eq!((rows.len() - 1).to_string(), want[1][0]);

    let json_path = dir.path().join("rejects.json");
    common::ok(&[
        "export",
        "--warehouse",
        w,
        "--table",
        "rejects",
        "--to",
        common::path(&json_path),
    ]);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&json_path)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    let n_rejects = common::sql(&wh, "SELECT count(*) FROM rejects")[1][0].clone();
    assert_eq!(lines.len().to_string(), n_rejects);
    assert!(lines
        .iter()
        .all(|l| l["raw"].is_string() && l["line"].is_u64()));

    let err = common::fails(
        &[
            "export",
            "--warehouse",
            w,
            "--sql",
            q,
            "--to",
            common::path(&pq),
        ],
        73,
    );
    assert!(err.contains("--force"), "{err}");
    common::ok(&[
        "export",
        "--warehouse",
        w,
        "--table",
        "fx_rates",
        "--to",
        common::path(&pq),
        "--force",
    ]);
    assert_ne!(polars_sum_rows(&pq), n);

    let folder = dir.path().join("by_platform");
    common::ok(&[
        "export",
        "--warehouse",
        w,
        "--sql",
        q,
        "--to",
        common::path(&folder),
        "--partition-by",
        "platform",
        "--format",
        "parquet",
    ]);
    let parts: Vec<_> = std::fs::read_dir(&folder)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(parts.iter().any(|p| p == "platform=tmall"), "{parts:?}");
    let total: usize = parts
        .iter()
        .flat_map(|p| {
            std::fs::read_dir(folder.join(p))
                .expect("part")
                .map(|e| e.expect("e").path())
        })
        .map(|f| polars_sum_rows(&f))
        .sum();
    assert_eq!(total.to_string(), want[1][0]);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn polars_sum_rows(path: &Path) -> usize {
    let df = LazyFrame::scan_parquet(PlRefPath::new(common::path(path)), Default::default())
        .expect("scan")
        .select([len().alias("n")])
        .collect()
        .expect("collect");
    df.column("n")
        .expect("n")
        .get(0)
        .expect("row")
        .extract::<usize>()
        .expect("n")
}
