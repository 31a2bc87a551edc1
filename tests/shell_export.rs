//! The SQL shell's non-interactive modes, output formats, read-only guard, pruning, and
//! exports: Parquet output is read back with Polars and compared row by row with the CSV
//! output, and an id of 2^53 + 1 goes from a log to every output format without rounding.

use crate::common;

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
    // Its content: the rows of the same query's CSV output, value for value.
    let q = "SELECT event_id, buyer_id, amount_cny, category FROM transactions ORDER BY event_id";
    let out = common::run(&[
        "sql",
        "--warehouse",
        common::path(&wh),
        "-c",
        q,
        "--format",
        "parquet",
    ]);
    assert!(out.status.success());
    let file = dir.path().join("piped.parquet");
    std::fs::write(&file, &out.stdout).expect("write");
    let csv = common::sql(&wh, q);
    assert!(csv.len() > 1000, "the sample's rows");
    assert_eq!(parquet_rows(&file), csv);
}

/// A Parquet file read back by Polars: its column names, then every row with each value
/// written as the CSV output writes it (decimals with their scale, NULL as empty).
fn parquet_rows(path: &Path) -> Vec<Vec<String>> {
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    let df = LazyFrame::scan_parquet(PlRefPath::new(common::path(path)), args)
        .expect("scan")
        .collect()
        .expect("polars reads the export");
    let mut rows = vec![df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()];
    for i in 0..df.height() {
        rows.push(
            df.columns()
                .iter()
                .map(|c| cell(c.get(i).expect("a row")))
                .collect(),
        );
    }
    rows
}

fn cell(v: AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Int64(n) => n.to_string(),
        AnyValue::Int32(n) => n.to_string(),
        AnyValue::UInt64(n) => n.to_string(),
        AnyValue::Decimal(x, _, scale) => {
            let scale = scale as u32;
            let div = 10i128.pow(scale);
            let sign = if x < 0 { "-" } else { "" };
            let (int, frac) = (x.abs() / div, x.abs() % div);
            if scale == 0 {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac:0width$}", width = scale as usize)
            }
        }
        other => panic!("a value of an unexpected type: {other:?}"),
    }
}

/// Rows without their header, sorted (exports carry no order).
fn sorted_body(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.remove(0);
    rows.sort();
    rows
}

#[test]
fn an_id_of_2_pow_53_plus_1_is_exact_from_log_to_every_export() {
    // 2^53 + 1 is the first integer a double cannot hold: any float on the way rounds it to
    // its neighbour 2^53, which is in the log too.
    const ID: &str = "9007199254740993";
    const NEIGHBOUR: &str = "9007199254740992";
    let dir = tempfile::tempdir().expect("tempdir");
    let csv_log = dir.path().join("ids.csv");
    std::fs::write(
        &csv_log,
        format!(
            "event_id,event_time,event_type,order_id,platform,amount,currency,buyer_id,seller_id\n\
             {ID},2019-11-11T00:00:01+08:00,paid,o1,tmall,10.00,CNY,{ID},{ID}\n\
             {NEIGHBOUR},2019-11-11T00:00:02+08:00,paid,o2,tmall,10.00,CNY,{NEIGHBOUR},{NEIGHBOUR}\n"
        ),
    )
    .expect("write");
    let json_log = dir.path().join("ids.ndjson");
    std::fs::write(
        &json_log,
        format!(
            "{{\"event_id\":\"n{ID}\",\"event_time\":\"2019-11-11T00:00:03+08:00\",\"event_type\":\"paid\",\
             \"order_id\":\"o3\",\"platform\":\"taobao\",\"amount\":1.5,\"buyer_id\":{ID},\"seller_id\":\"{ID}\"}}\n"
        ),
    )
    .expect("write");
    let wh = dir.path().join("wh");
    common::ingest(&wh, &[&csv_log, &json_log]);
    let w = common::path(&wh);

    let q = format!(
        "SELECT event_id, buyer_id, seller_id FROM transactions WHERE buyer_id = {ID} ORDER BY event_id"
    );
    let want = vec![
        vec![
            "event_id".to_string(),
            "buyer_id".into(),
            "seller_id".into(),
        ],
        vec![ID.to_string(), ID.into(), ID.into()],
        vec![format!("n{ID}"), ID.into(), ID.into()],
    ];
    assert_eq!(common::sql(&wh, &q), want, "SQL's CSV output");
    let distinct = common::sql(
        &wh,
        "SELECT count(DISTINCT buyer_id), count(DISTINCT seller_id), count(DISTINCT event_id) FROM transactions",
    );
    assert_eq!(distinct[1], ["2", "2", "3"], "2^53 and 2^53 + 1 stay apart");

    // JSON and NDJSON: integers, digit for digit (serde_json reads them as exact i64).
    let json_rows = |text: &str| -> Vec<Vec<String>> {
        let v: serde_json::Value = serde_json::from_str(text).expect("JSON");
        v.as_array()
            .expect("an array")
            .iter()
            .map(json_row)
            .collect()
    };
    assert_eq!(json_rows(&sql_out(&wh, &q, "json")), want[1..]);
    let ndjson: Vec<Vec<String>> = sql_out(&wh, &q, "ndjson")
        .lines()
        .map(|l| json_row(&serde_json::from_str(l).expect("NDJSON line")))
        .collect();
    assert_eq!(ndjson, want[1..]);

    // Parquet to a pipe and to files, and the CSV and JSON exports.
    let out = common::run(&["sql", "--warehouse", w, "-c", &q, "--format", "parquet"]);
    assert!(out.status.success());
    let piped = dir.path().join("piped.parquet");
    std::fs::write(&piped, &out.stdout).expect("write");
    assert_eq!(parquet_rows(&piped), want);
    for name in ["ids.parquet", "ids.csv", "ids.json"] {
        let to = dir.path().join("out").join(name);
        common::ok(&[
            "export",
            "--warehouse",
            w,
            "--sql",
            &q,
            "--to",
            common::path(&to),
        ]);
        let got = match name {
            "ids.parquet" => parquet_rows(&to),
            "ids.csv" => common::parse_csv(&std::fs::read_to_string(&to).expect("read")),
            _ => {
                let mut rows = vec![want[0].clone()];
                rows.extend(
                    std::fs::read_to_string(&to)
                        .expect("read")
                        .lines()
                        .map(|l| json_row(&serde_json::from_str(l).expect("NDJSON line"))),
                );
                rows
            }
        };
        assert_eq!(sorted_body(got), sorted_body(want.clone()), "{name}");
    }
}

/// `event_id`, `buyer_id`, `seller_id` of a JSON row; ids must be JSON integers.
fn json_row(r: &serde_json::Value) -> Vec<String> {
    let id = |k: &str| -> String {
        let v = &r[k];
        assert!(v.is_i64(), "{k} is a JSON integer: {r}");
        v.to_string()
    };
    vec![
        r["event_id"].as_str().expect("event_id").to_string(),
        id("buyer_id"),
        id("seller_id"),
    ]
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
    // By content: the rows the query gives, value for value.
    let want_rows = common::sql(&wh, q);
    assert_eq!(parquet_rows(&pq)[0], want_rows[0], "the columns");
    assert_eq!(
        sorted_body(parquet_rows(&pq)),
        sorted_body(want_rows.clone())
    );

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
    // By content: each part's rows, with the platform its folder names, are the query's rows.
    let mut parted = vec![want_rows[0].clone()];
    for p in &parts {
        let platform = p.strip_prefix("platform=").expect("a platform folder");
        for f in std::fs::read_dir(folder.join(p)).expect("part") {
            let rows = parquet_rows(&f.expect("e").path());
            let platform_column = rows[0].iter().position(|c| c == "platform");
            for row in &rows[1..] {
                let mut row = row.clone();
                match platform_column {
                    Some(i) => assert_eq!(row[i], platform, "a row in its platform's folder"),
                    None => row.insert(1, platform.to_string()),
                }
                parted.push(row);
            }
        }
    }
    assert_eq!(sorted_body(parted), sorted_body(want_rows));
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

/// "Top buyers by rank()" runs as a top K per partition (double11's rule, see
/// src/sql/rank_top.rs) and keeps every buyer tied at the boundary: ranks computed here from
/// every buyer's figures agree, by GMV (few ties) and by orders (many), and the tied buyers
/// come in the order asked for (DataFusion 55 alone returns them unordered: src/sql/orderings.rs).
#[test]
fn top_buyers_by_rank_keep_the_ties_of_the_full_ranking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let filter = "cst_date = DATE '2019-11-11' AND event_type = 'paid' AND buyer_id IS NOT NULL";
    let all = common::sql(
        &wh,
        &format!(
            "SELECT buyer_id, count(*), sum(amount_cny) FROM transactions WHERE {filter} \
             GROUP BY buyer_id"
        ),
    );
    let fen = |s: &str| -> i128 {
        let (units, cents) = s.split_once('.').expect("two decimals");
        assert_eq!(cents.len(), 2, "{s}");
        format!("{units}{cents}").parse().expect("amount")
    };
    let buyers: Vec<(i64, i128, i128)> = all[1..]
        .iter()
        .map(|r| {
            let orders = r[1].parse().expect("count");
            (r[0].parse().expect("buyer"), orders, fen(&r[2]))
        })
        .collect();
    assert!(buyers.len() > 100, "{} buyers", buyers.len());
    for (key, by) in [("sum(amount_cny)", 2usize), ("count(*)", 1)] {
        let value = |b: &(i64, i128, i128)| if by == 2 { b.2 } else { b.1 };
        let k = 3;
        let query = format!(
            "SELECT rank, buyer_id FROM (SELECT buyer_id, rank() OVER (ORDER BY {key} DESC) \
             AS rank FROM transactions WHERE {filter} GROUP BY buyer_id) AS ranked \
             WHERE rank <= {k} ORDER BY rank, buyer_id"
        );
        let plan = sql_out(&wh, &format!("EXPLAIN {query}"), "csv");
        assert!(plan.contains("PartitionedTopKExec"), "{plan}");
        let mut want: Vec<(usize, i64)> = buyers
            .iter()
            .map(|b| {
                (
                    1 + buyers.iter().filter(|o| value(o) > value(b)).count(),
                    b.0,
                )
            })
            .filter(|(rank, _)| *rank <= k)
            .collect();
        want.sort();
        let got: Vec<(usize, i64)> = common::sql(&wh, &query)[1..]
            .iter()
            .map(|r| (r[0].parse().expect("rank"), r[1].parse().expect("buyer")))
            .collect();
        assert_eq!(got, want, "by {key}");
        if by == 1 {
            assert!(got.len() > k, "ties at the boundary: {got:?}");
        }
    }
}

/// "Refund share by category" builds its join's hash table from the few refunded orders, not
/// from the day's paid events (src/sql/event_shares.rs), and its figures are those of the same
/// question asked without a join.
#[test]
fn the_refund_join_builds_from_the_refunded_orders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let day = "p.cst_date = DATE '2019-11-11' AND p.event_type = 'paid'";
    let join = format!(
        "WITH refunded AS (SELECT DISTINCT order_id FROM transactions WHERE event_type = \
         'refunded') SELECT p.category, count(*) AS orders, count(r.order_id) AS refunded, \
         sum(p.amount_cny) FILTER (WHERE r.order_id IS NOT NULL) AS refunded_gmv \
         FROM transactions AS p LEFT JOIN refunded AS r ON r.order_id = p.order_id \
         WHERE {day} GROUP BY p.category ORDER BY p.category"
    );
    let plan = sql_out(&wh, &format!("EXPLAIN {join}"), "csv");
    let join_line = plan
        .lines()
        .find(|l| l.contains("HashJoinExec"))
        .unwrap_or_else(|| panic!("a hash join: {plan}"));
    assert!(join_line.contains("join_type=Right"), "{plan}");
    // The same figures from two queries without a join: all paid orders, then those refunded.
    let all = common::sql(
        &wh,
        &format!(
            "SELECT p.category, count(*) FROM transactions AS p WHERE {day} GROUP BY \
             p.category ORDER BY p.category"
        ),
    );
    let refunded = common::sql(
        &wh,
        &format!(
            "SELECT p.category, count(*), sum(p.amount_cny) FROM transactions AS p WHERE {day} \
             AND p.order_id IN (SELECT order_id FROM transactions WHERE event_type = \
             'refunded') GROUP BY p.category"
        ),
    );
    let got = common::sql(&wh, &join);
    let mut want = vec![got[0].clone()];
    for row in &all[1..] {
        let r = refunded[1..].iter().find(|r| r[0] == row[0]);
        want.push(vec![
            row[0].clone(),
            row[1].clone(),
            r.map_or("0".to_string(), |r| r[1].clone()),
            r.map_or(String::new(), |r| r[2].clone()),
        ]);
    }
    assert!(got.len() > 3, "{got:?}");
    assert!(
        got[1..].iter().any(|r| r[2] != "0"),
        "some refunds: {got:?}"
    );
    assert_eq!(got, want);
}

/// Scans decode rows selectively only for a filter on an id (src/sql/row_filters.rs), the
/// text of a few values is read as views into each page's dictionary and handed to SQL as
/// `Utf8` (src/sql/mod.rs, `register`), and neither changes an answer: each query gives the
/// same rows with every scan filtering while decoding (DataFusion's session switch).
#[test]
fn filters_run_where_they_pay_and_change_no_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let buyer = &common::sql(
        &wh,
        "SELECT buyer_id FROM transactions WHERE buyer_id IS NOT NULL \
         GROUP BY buyer_id ORDER BY count(*) DESC, buyer_id LIMIT 1",
    )[1][0];
    let province = &common::sql(
        &wh,
        "SELECT province FROM transactions WHERE province IS NOT NULL \
         ORDER BY event_time, event_id LIMIT 1",
    )[1][0];
    let lookup = format!(
        "SELECT event_id, event_type, category, amount_cny FROM transactions \
         WHERE buyer_id = {buyer} ORDER BY event_time, event_id"
    );
    let grouped = format!(
        "SELECT category, arrow_typeof(category) AS t, count(*) AS n, sum(amount_cny) AS gmv \
         FROM transactions WHERE event_type = 'paid' AND province = '{province}' \
         GROUP BY category ORDER BY category NULLS LAST"
    );
    let scan_line = |query: &str| {
        let plan = sql_out(&wh, &format!("EXPLAIN {query}"), "csv");
        let physical = plan
            .split("physical_plan")
            .nth(1)
            .unwrap_or_else(|| panic!("a physical plan: {plan}"))
            .to_string();
        let scan = physical
            .lines()
            .find(|l| l.contains("DataSourceExec"))
            .unwrap_or_else(|| panic!("a scan: {plan}"))
            .to_string();
        (physical, scan)
    };
    // The buyer's rows are picked in the scan: no filter is left above it.
    let (physical, scan) = scan_line(&lookup);
    assert!(!physical.contains("FilterExec"), "{physical}");
    assert!(scan.contains(&format!("buyer_id@8 = {buyer}")), "{scan}");
    // An event type and a province keep many rows: filtered after decoding, on views.
    let (physical, scan) = scan_line(&grouped);
    assert!(physical.contains("FilterExec"), "{physical}");
    assert!(physical.contains("CAST(category@"), "{physical}");
    assert!(scan.contains("predicate=event_type@2 = paid"), "{scan}");

    let everywhere = |query: &str| {
        common::sql(
            &wh,
            &format!("SET datafusion.execution.parquet.pushdown_filters = true; {query}"),
        )
    };
    for query in [&lookup, &grouped] {
        let got = common::sql(&wh, query);
        assert!(got.len() > 2, "{query}: {got:?}");
        assert_eq!(got, everywhere(query), "{query}");
    }
    let grouped = common::sql(&wh, &grouped);
    assert!(grouped[1..].iter().all(|r| r[1] == "Utf8"), "{grouped:?}");
    let described = common::sql(&wh, "DESCRIBE transactions");
    for column in [
        "event_type",
        "platform",
        "currency",
        "category",
        "province",
        "device",
    ] {
        let row = described
            .iter()
            .find(|r| r[0] == column)
            .unwrap_or_else(|| panic!("{column} in {described:?}"));
        assert_eq!(row[1], "Utf8", "{row:?}");
    }
}
