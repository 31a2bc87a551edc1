//! `double11 report`: every built-in report's CSV, cross-checked to the fen against Polars
//! computing the same figures from the same warehouse (`reports/oracle.rs`), plus the
//! hand-known figures of `sample-data/expected.json`, the other formats, and the errors.

use crate::common;
mod oracle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oracle::{clock, money, per, ratio, second_ts, Agg};

const DAY: &str = "2019-11-11";
const BASE: &str = "2018-11-11";

/// The sample logs ingested once for the whole file.
fn warehouse() -> &'static Path {
    static WH: OnceLock<PathBuf> = OnceLock::new();
    WH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("reports-sample-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let wh = dir.join("wh");
        common::ingest(&wh, &[&common::sample_logs()]);
        wh
    })
}

fn wh_str() -> &'static str {
    common::path(warehouse())
}

/// Runs `report <name> … --format csv --out DIR` and returns each query's rows (header first).
fn report_csv(name: &str, extra: &[&str]) -> BTreeMap<String, Vec<Vec<String>>> {
    let out = tempfile::tempdir().expect("tempdir");
    let mut args = vec![
        "report",
        name,
        "--warehouse",
        wh_str(),
        "--format",
        "csv",
        "--out",
        common::path(out.path()),
    ];
    args.extend_from_slice(extra);
    common::ok(&args);
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(out.path()).expect("out dir") {
        let path = entry.expect("entry").path();
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(!file.starts_with('.'), "temporary file left behind: {file}");
        let query = file.strip_suffix(".csv").expect("a .csv file").to_string();
        let text = std::fs::read_to_string(&path).expect("read csv");
        files.insert(query, common::parse_csv(&text));
    }
    files
}

fn row(cells: &[String]) -> Vec<String> {
    cells.to_vec()
}

fn s<T: ToString>(v: T) -> String {
    v.to_string()
}

fn all_reports() -> &'static BTreeMap<String, Vec<Vec<String>>> {
    static ALL: OnceLock<BTreeMap<String, Vec<Vec<String>>>> = OnceLock::new();
    ALL.get_or_init(|| {
        report_csv(
            "all",
            &[
                "--day",
                DAY,
                "--compare",
                BASE,
                "--top",
                "5",
                "--param",
                "gmv_unit=1000",
                "--param",
                "order_unit=100",
            ],
        )
    })
}

fn rows_of(query: &str) -> &'static [Vec<String>] {
    let all = all_reports();
    let rows = all
        .get(query)
        .unwrap_or_else(|| panic!("no {query}.csv among {:?}", all.keys()));
    &rows[1..]
}

fn header_of(query: &str) -> Vec<String> {
    all_reports()[query][0].clone()
}

fn totals(groups: &BTreeMap<Option<String>, Agg>) -> Agg {
    groups.values().fold(Agg::default(), |a, g| Agg {
        orders: a.orders + g.orders,
        fen: a.fen + g.fen,
        amount: a.amount + g.amount,
    })
}

#[test]
fn summary_matches_polars_and_the_reference() {
    let wh = warehouse();
    let paid = totals(&oracle::group(wh, DAY, "paid", "platform"));
    let refunded = totals(&oracle::group(wh, DAY, "refunded", "platform"));
    let want = vec![
        s(DAY),
        s(paid.orders),
        money(paid.fen),
        s(refunded.orders),
        money(refunded.fen),
        money(paid.fen - refunded.fen),
        s(oracle::distinct(wh, DAY, "buyer_id")),
        s(oracle::distinct(wh, DAY, "seller_id")),
        per(paid.fen, i128::from(paid.orders)),
    ];
    assert_eq!(rows_of("summary"), std::slice::from_ref(&want));

    // The hand-known figures of the sample data.
    let exp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("sample-data/expected.json")).expect("read"),
    )
    .expect("json");
    let d = &exp["days"][DAY];
    assert_eq!(want[1], d["orders"].to_string());
    assert_eq!(want[2], d["gmv"].as_str().expect("gmv"));
    assert_eq!(want[4], d["refunds"].as_str().expect("refunds"));
    assert_eq!(want[5], d["net"].as_str().expect("net"));

    let currencies = oracle::group(wh, DAY, "paid", "currency");
    let mut want: Vec<(i128, String, Agg)> = currencies
        .iter()
        .map(|(k, a)| (-a.fen, k.clone().expect("currency"), *a))
        .collect();
    want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|(_, c, a)| {
            vec![
                c.clone(),
                s(a.orders),
                money(a.amount),
                money(a.fen),
                ratio(a.fen, paid.fen),
            ]
        })
        .collect();
    assert_eq!(rows_of("summary.currency"), want);

    let mut rejects: Vec<(i64, String, i64)> = oracle::rejects(wh)
        .into_iter()
        .map(|(k, (n, f))| (-n, k, f))
        .collect();
    rejects.sort();
    let want: Vec<Vec<String>> = rejects
        .iter()
        .map(|(n, k, f)| vec![k.clone(), s(-n), s(f)])
        .collect();
    assert_eq!(rows_of("summary.rejects"), want);
    let total: i64 = rejects.iter().map(|r| -r.0).sum();
    assert_eq!(total, exp["totals"]["rejected"].as_i64().expect("rejected"));
}

#[test]
fn revenue_by_dimension_hour_and_minute_matches_polars() {
    let wh = warehouse();
    for dim in ["platform", "category", "province", "device"] {
        let groups = oracle::group(wh, DAY, "paid", dim);
        let t = totals(&groups);
        let mut sorted: Vec<(&Option<String>, &Agg)> = groups.iter().collect();
        // gmv desc, then the key with nulls last
        sorted.sort_by(|a, b| (-a.1.fen, a.0.is_none(), a.0).cmp(&(-b.1.fen, b.0.is_none(), b.0)));
        let want: Vec<Vec<String>> = sorted
            .iter()
            .map(|(k, a)| {
                vec![
                    (*k).clone().unwrap_or_default(),
                    s(a.orders),
                    money(a.fen),
                    ratio(i128::from(a.orders), i128::from(t.orders)),
                    ratio(a.fen, t.fen),
                ]
            })
            .collect();
        assert_eq!(rows_of(&format!("revenue.{dim}")), want, "revenue.{dim}");
    }

    let seconds = oracle::per_second(wh, DAY);
    let t = seconds.values().fold(Agg::default(), |a, g| Agg {
        orders: a.orders + g.orders,
        fen: a.fen + g.fen,
        amount: 0,
    });
    let mut hours = [Agg::default(); 24];
    let mut minutes = vec![Agg::default(); 1440];
    for (sod, a) in &seconds {
        for slot in [
            &mut hours[(sod / 3600) as usize],
            &mut minutes[(sod / 60) as usize],
        ] {
            slot.orders += a.orders;
            slot.fen += a.fen;
        }
    }
    let want: Vec<Vec<String>> = hours
        .iter()
        .enumerate()
        .map(|(h, a)| {
            vec![
                s(h),
                s(a.orders),
                money(a.fen),
                ratio(i128::from(a.orders), i128::from(t.orders)),
                ratio(a.fen, t.fen),
            ]
        })
        .collect();
    assert_eq!(rows_of("revenue.hour"), want);

    let (mut co, mut cf) = (0i64, 0i128);
    let want: Vec<Vec<String>> = minutes
        .iter()
        .enumerate()
        .map(|(m, a)| {
            co += a.orders;
            cf += a.fen;
            vec![
                clock(m as i64 + 1),
                s(a.orders),
                money(a.fen),
                s(co),
                money(cf),
            ]
        })
        .collect();
    assert_eq!(rows_of("revenue.cumulative"), want);
    assert_eq!(
        rows_of("revenue.cumulative").last().expect("24:00")[0],
        "24:00"
    );
}

fn growth_cells(now: Agg, base: Agg) -> [String; 6] {
    [
        s(now.orders),
        s(base.orders),
        ratio(
            i128::from(now.orders - base.orders),
            i128::from(base.orders),
        ),
        money(now.fen),
        money(base.fen),
        ratio(now.fen - base.fen, base.fen),
    ]
}

#[test]
fn growth_matches_polars_and_the_reference() {
    let wh = warehouse();
    let now = totals(&oracle::group(wh, DAY, "paid", "platform"));
    let base = totals(&oracle::group(wh, BASE, "paid", "platform"));
    let mut want = vec![s(DAY), s(BASE)];
    want.extend(growth_cells(now, base));
    want.push(String::new());
    assert_eq!(rows_of("growth"), std::slice::from_ref(&want));
    let exp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("sample-data/expected.json")).expect("read"),
    )
    .expect("json");
    let g = &exp["growth_informational"][DAY];
    assert_eq!(want[4], g["orders"].as_str().expect("orders growth"));
    assert_eq!(want[7], g["gmv"].as_str().expect("gmv growth"));

    for dim in ["platform", "category"] {
        let a = oracle::group(wh, DAY, "paid", dim);
        let b = oracle::group(wh, BASE, "paid", dim);
        let mut keys: Vec<&Option<String>> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut rows: Vec<(i128, bool, Option<String>, Vec<String>)> = keys
            .into_iter()
            .map(|k| {
                let (x, y) = (
                    a.get(k).copied().unwrap_or_default(),
                    b.get(k).copied().unwrap_or_default(),
                );
                let mut r = vec![k.clone().unwrap_or_default()];
                r.extend(growth_cells(x, y));
                (-x.fen, k.is_none(), k.clone(), r)
            })
            .collect();
        rows.sort();
        let want: Vec<Vec<String>> = rows.into_iter().map(|r| r.3).collect();
        // the SQL orders columns as orders, base, growth, gmv, base, growth
        assert_eq!(rows_of(&format!("growth.{dim}")), want, "growth.{dim}");
    }

    let per_min = |day: &str| {
        let mut m = vec![Agg::default(); 1440];
        for (sod, a) in oracle::per_second(wh, day) {
            m[(sod / 60) as usize].orders += a.orders;
            m[(sod / 60) as usize].fen += a.fen;
        }
        m
    };
    let (a, b) = (per_min(DAY), per_min(BASE));
    let hour = |m: &[Agg], h: usize| {
        m[h * 60..h * 60 + 60]
            .iter()
            .fold(Agg::default(), |x, y| Agg {
                orders: x.orders + y.orders,
                fen: x.fen + y.fen,
                amount: 0,
            })
    };
    let want: Vec<Vec<String>> = (0..24)
        .map(|h| {
            let mut r = vec![s(h)];
            r.extend(growth_cells(hour(&a, h), hour(&b, h)));
            r
        })
        .collect();
    assert_eq!(rows_of("growth.hour"), want);

    let (mut x, mut y) = (Agg::default(), Agg::default());
    let want: Vec<Vec<String>> = (0..1440)
        .map(|m| {
            x.orders += a[m].orders;
            x.fen += a[m].fen;
            y.orders += b[m].orders;
            y.fen += b[m].fen;
            let mut r = vec![clock(m as i64 + 1)];
            r.extend(growth_cells(x, y));
            r
        })
        .collect();
    assert_eq!(rows_of("growth.clock"), want);
    assert_eq!(
        header_of("growth.clock"),
        [
            "by_cst",
            "cum_orders",
            "base_cum_orders",
            "orders_growth",
            "cum_gmv_cny",
            "base_cum_gmv_cny",
            "gmv_growth"
        ]
    );
}

#[test]
fn growth_against_an_empty_day_is_undefined_with_a_note() {
    let files = report_csv("growth", &["--day", DAY, "--compare", "2017-11-11"]);
    let r = &files["growth"][1];
    assert_eq!(r[3], "0", "{r:?}");
    assert_eq!(r[4], "", "orders growth is null: {r:?}");
    assert_eq!(r[7], "", "gmv growth is null: {r:?}");
    assert!(r[8].contains("undefined"), "{r:?}");
}

#[test]
fn peak_matches_polars_and_the_reference() {
    let wh = warehouse();
    let seconds = oracle::per_second(wh, DAY);
    let mut ranked: Vec<(i64, i64, Agg)> =
        seconds.iter().map(|(s, a)| (-a.orders, *s, *a)).collect();
    ranked.sort_by_key(|r| (r.0, r.1));
    let top: Vec<Vec<String>> = ranked
        .iter()
        .take(5)
        .enumerate()
        .map(|(i, (_, sod, a))| vec![s(i + 1), second_ts(DAY, *sod), s(a.orders), money(a.fen)])
        .collect();
    assert_eq!(rows_of("peak.top"), top);
    assert_eq!(rows_of("peak"), [top[0][1..].to_vec()]);
    let exp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("sample-data/expected.json")).expect("read"),
    )
    .expect("json");
    let p = &exp["days"][DAY]["peak"];
    assert_eq!(
        rows_of("peak")[0][0],
        format!("{}+08:00", p["second"].as_str().expect("second"))
    );
    assert_eq!(rows_of("peak")[0][1], p["orders"].to_string());

    for (query, width, buckets) in [("peak.minute", 60i64, 1440i64), ("peak.hour", 3600, 24)] {
        let want: Vec<Vec<String>> = (0..buckets)
            .map(|b| {
                let inside: Vec<&Agg> = (b * width..(b + 1) * width)
                    .filter_map(|sod| seconds.get(&sod))
                    .collect();
                let counts: Vec<i64> = inside.iter().map(|a| a.orders).collect();
                let n = width as usize;
                let label = if width == 60 {
                    clock(b)
                } else {
                    format!("{b:02}:00")
                };
                vec![
                    label,
                    s(counts.iter().sum::<i64>()),
                    money(inside.iter().map(|a| a.fen).sum()),
                    s(counts.iter().max().copied().unwrap_or(0)),
                    s(oracle::nearest_rank(&counts, n, n.div_ceil(2))),
                    s(oracle::nearest_rank(&counts, n, (n * 99).div_ceil(100))),
                    s(counts.len()),
                ]
            })
            .collect();
        assert_eq!(rows_of(query), want, "{query}");
    }

    let want: Vec<Vec<String>> = (0..600)
        .map(|sod| {
            let a = seconds.get(&sod).copied().unwrap_or_default();
            vec![
                format!("00:{}:{:02}", clock(sod / 60).split_at(3).1, sod % 60),
                s(a.orders),
                money(a.fen),
            ]
        })
        .collect();
    assert_eq!(rows_of("peak.midnight"), want);
}

#[test]
fn milestones_match_polars() {
    let seconds = oracle::per_second(warehouse(), DAY);
    let first = |threshold: i128, gmv: bool| {
        let mut cum = 0i128;
        for (sod, a) in &seconds {
            cum += if gmv { a.fen } else { i128::from(a.orders) };
            if cum >= threshold {
                return (second_ts(DAY, *sod), cum);
            }
        }
        (String::new(), 0)
    };
    let want: Vec<Vec<String>> = [1000i128, 10_000, 100_000]
        .iter()
        .map(|t| {
            let (at, cum) = first(t * 100, true);
            let cum = if at.is_empty() {
                String::new()
            } else {
                money(cum)
            };
            vec![money(t * 100), at, cum]
        })
        .collect();
    assert_eq!(rows_of("milestones"), want);
    let want: Vec<Vec<String>> = [100i128, 1000, 10_000]
        .iter()
        .map(|t| {
            let (at, cum) = first(*t, false);
            let cum = if at.is_empty() { String::new() } else { s(cum) };
            vec![s(t), at, cum]
        })
        .collect();
    assert_eq!(rows_of("milestones.orders"), want);
}

#[test]
fn every_format_gives_the_same_numbers() {
    let csv = report_csv("summary", &["--day", DAY]);
    let csv_row = &csv["summary"];
    let json = common::ok(&[
        "report",
        "summary",
        "--warehouse",
        wh_str(),
        "--day",
        DAY,
        "--format",
        "json",
    ]);
    // Valid JSON, and (read as text, so no float touches the decimals) the same figures.
    let _: serde_json::Value = serde_json::from_str(&json).expect("json");
    let line = json
        .lines()
        .find(|l| l.starts_with("\"summary\":"))
        .expect("the summary query");
    for (i, name) in csv_row[0].iter().enumerate() {
        let v = &csv_row[1][i];
        assert!(
            line.contains(&format!("\"{name}\":{v},"))
                || line.contains(&format!("\"{name}\":\"{v}\""))
                || line.contains(&format!("\"{name}\":{v}}}")),
            "{name} = {v} in {line}"
        );
    }

    let out = tempfile::tempdir().expect("tempdir");
    common::ok(&[
        "report",
        "peak",
        "--warehouse",
        wh_str(),
        "--day",
        DAY,
        "--format",
        "html",
        "--out",
        common::path(out.path()),
    ]);
    let page = std::fs::read_to_string(out.path().join("peak.html")).expect("html page");
    let peak = report_csv("peak", &["--day", DAY]);
    for cell in &peak["peak"][1] {
        assert!(page.contains(cell.as_str()), "the page shows {cell}");
    }
    assert!(
        !page.contains("<script") && !page.contains("src=\"http") && !page.contains("href=\"http"),
        "the page is self-contained"
    );

    let out2 = tempfile::tempdir().expect("tempdir");
    common::ok(&[
        "report",
        "growth",
        "--warehouse",
        wh_str(),
        "--day",
        DAY,
        "--format",
        "parquet",
        "--out",
        common::path(out2.path()),
    ]);
    assert!(out2.path().join("growth.clock.parquet").is_file());
}

#[test]
fn display_currency_is_exact_and_keeps_cny() {
    let files = report_csv(
        "summary",
        &["--day", DAY, "--currency", "KRW", "--rate", "166.26"],
    );
    let rows = &files["summary"];
    let col = |n: &str| {
        rows[0]
            .iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let gmv = &rows[1][col("gmv_cny")];
    let (i, f) = gmv.split_once('.').expect("decimal");
    let fen: i128 = format!("{i}{f}").parse().expect("fen");
    let krw = (fen * 16626 + 50) / 100; // × 166.26, to 0.01, half up (positive)
    assert_eq!(rows[1][col("gmv_krw")], money(krw));
    assert_eq!(gmv, &rows_of("summary")[0][2]);
}

fn queries_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).expect("write sql");
    }
    dir
}

#[test]
fn a_users_report_binds_params_safely() {
    let q = queries_dir(&[(
        "my_report.sql",
        "SELECT province, count(*) AS orders, sum(amount_cny) AS gmv_cny FROM transactions \
         WHERE cst_date = $day AND event_type = 'paid' AND province = $region GROUP BY province",
    )]);
    let qd = common::path(q.path());
    let out = common::ok(&[
        "report",
        "my_report",
        "--warehouse",
        wh_str(),
        "--queries",
        qd,
        "--day",
        DAY,
        "--param",
        "region=Zhejiang",
        "--format",
        "csv",
    ]);
    let want = oracle::group(warehouse(), DAY, "paid", "province")[&Some("Zhejiang".into())];
    assert_eq!(
        common::parse_csv(&out),
        [
            row(&[s("province"), s("orders"), s("gmv_cny")]),
            vec![s("Zhejiang"), s(want.orders), money(want.fen)]
        ]
    );
    // A value is a value, never SQL.
    let out = common::ok(&[
        "report",
        "my_report",
        "--warehouse",
        wh_str(),
        "--queries",
        qd,
        "--day",
        DAY,
        "--param",
        "region=x' OR '1'='1",
        "--format",
        "csv",
    ]);
    assert_eq!(common::parse_csv(&out).len(), 1, "header only: {out}");
    let err = common::fails(
        &[
            "report",
            "my_report",
            "--warehouse",
            wh_str(),
            "--queries",
            qd,
            "--day",
            DAY,
        ],
        2,
    );
    assert!(
        err.contains("$region") && err.contains("--param region="),
        "{err}"
    );
}

/// A query that needs more memory than the pool allows (a `count(DISTINCT …)` cannot spill)
/// fails with advice, naming the query file; a limit that is not a size is refused.
#[test]
fn a_query_beyond_the_memory_limit_says_how_to_raise_it() {
    let run = |limit: &str| {
        common::double11()
            .env("DOUBLE11_MEMORY_LIMIT", limit)
            .args(["report", "summary", "--warehouse", wh_str(), "--day", DAY])
            .output()
            .expect("the double11 binary runs")
    };
    for (limit, says) in [("1K", "=8G"), ("lots", "expected a size")] {
        let out = run(limit);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{limit}: {err}");
        assert!(
            err.contains("DOUBLE11_MEMORY_LIMIT") && err.contains(says),
            "{limit}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(run("1K").stderr.windows(11).any(|w| w == b"summary.sql"));
    assert!(run("64M").status.success());
}

/// `--memory-limit` sets the same limit as `DOUBLE11_MEMORY_LIMIT` and wins over it; a value
/// that is not a size names the flag and exits 2.
#[test]
fn the_memory_limit_flag_takes_effect_and_names_itself() {
    let run = |limit: &str, env: Option<&str>| {
        let mut cmd = common::double11();
        if let Some(env) = env {
            cmd.env("DOUBLE11_MEMORY_LIMIT", env);
        }
        cmd.args(["report", "summary", "--warehouse", wh_str(), "--day", DAY])
            .args(["--memory-limit", limit])
            .output()
            .expect("the double11 binary runs")
    };
    let out = run("1K", Some("64M"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Resources exhausted"), "{err}");
    let out = run("lots", None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--memory-limit \"lots\"") && err.contains("expected a size"),
        "{err}"
    );
    assert!(run("64M", Some("1K")).status.success());
}

/// The summary's distinct buyers and sellers stay exact under a memory limit far below what
/// holding every id at once needs: each is a GROUP BY, which DataFusion spills to disk, where
/// `count(DISTINCT buyer_id), count(DISTINCT seller_id)` in one SELECT fails for lack of
/// memory. (At the seed day's ~400 M buyers that is the difference between a figure and an
/// error.) Checked against Polars' count of the raw rows.
#[test]
fn summary_counts_distinct_buyers_within_a_small_memory_limit() {
    // On 2 cores (as in CI) 16 MiB: the summary needs 12, the single SELECT more than 24 for
    // this day's 1.2 M buyers. Both grow with the number of cores (partitions).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let limit = format!("{}M", 8 * cores);
    let dir = tempfile::tempdir().expect("tempdir");
    let (logs, wh) = (dir.path().join("logs"), dir.path().join("wh"));
    common::ok(&[
        "-q",
        "generate",
        "--day",
        DAY,
        "--scale",
        "0.003",
        "--out",
        common::path(&logs),
    ]);
    common::ok(&[
        "-q",
        "ingest",
        common::path(&logs),
        "--fx-rates",
        common::path(&logs.join("_fx_rates.csv")),
        "--warehouse",
        common::path(&wh),
    ]);
    let limited = |args: &[&str]| {
        common::double11()
            .env("DOUBLE11_MEMORY_LIMIT", &limit)
            .args(args)
            .output()
            .expect("the double11 binary runs")
    };
    let all_at_once = limited(&[
        "sql",
        "--warehouse",
        common::path(&wh),
        "-c",
        "SELECT count(DISTINCT buyer_id), count(DISTINCT seller_id) FROM transactions \
         WHERE cst_date = DATE '2019-11-11' AND event_type = 'paid'",
    ]);
    let err = String::from_utf8_lossy(&all_at_once.stderr);
    assert_eq!(all_at_once.status.code(), Some(2), "{err}");
    assert!(err.contains("DOUBLE11_MEMORY_LIMIT"), "{err}");

    let out = limited(&[
        "report",
        "summary",
        "--warehouse",
        common::path(&wh),
        "--day",
        DAY,
        "--format",
        "csv",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The first section, "# summary" and its table.
    let section = text.split("\n\n").next().unwrap_or_default();
    let table: Vec<&str> = section.lines().skip(1).collect();
    let rows = common::parse_csv(&table.join("\n"));
    let column = |name: &str| -> i64 {
        let i = rows[0]
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{name} in {rows:?}"));
        rows[1][i].parse().expect("a count")
    };
    let buyers = oracle::distinct(&wh, DAY, "buyer_id");
    assert!(
        buyers > 1_000_000,
        "enough buyers to need the memory: {buyers}"
    );
    assert_eq!(column("buyers"), buyers);
    assert_eq!(column("sellers"), oracle::distinct(&wh, DAY, "seller_id"));
}

#[test]
fn errors_say_what_to_do() {
    let err = common::fails(
        &["report", "nope", "--warehouse", wh_str(), "--day", DAY],
        2,
    );
    for name in ["summary", "revenue", "growth", "peak", "milestones", "all"] {
        assert!(err.contains(name), "lists {name}: {err}");
    }
    let err = common::fails(&["report", "summary", "--warehouse", wh_str()], 2);
    assert!(err.contains("$day") && err.contains("--day"), "{err}");
    let err = common::fails(
        &[
            "report",
            "summary",
            "--warehouse",
            wh_str(),
            "--day",
            "2019-11-13",
        ],
        66,
    );
    assert!(
        err.contains("no transactions on 2019-11-13") && err.contains(DAY),
        "{err}"
    );

    let q = queries_dir(&[(
        "broken.sql",
        "SELECT count(* FROM transactions WHERE cst_date = $day",
    )]);
    let err = common::fails(
        &[
            "report",
            "broken",
            "--warehouse",
            wh_str(),
            "--queries",
            common::path(q.path()),
            "--day",
            DAY,
        ],
        2,
    );
    assert!(err.contains("broken.sql"), "{err}");
    let q = queries_dir(&[(
        "unknown.sql",
        "SELECT no_such_column FROM transactions WHERE cst_date = $day",
    )]);
    let err = common::fails(
        &[
            "report",
            "unknown",
            "--warehouse",
            wh_str(),
            "--queries",
            common::path(q.path()),
            "--day",
            DAY,
        ],
        2,
    );
    assert!(
        err.contains("unknown.sql") && err.contains("no_such_column"),
        "{err}"
    );
}

#[test]
fn built_in_reports_run_where_there_is_no_queries_folder() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let args = [
        "report",
        "summary",
        "--warehouse",
        wh_str(),
        "--day",
        DAY,
        "--format",
        "csv",
    ];
    let here = common::ok(&args);
    let there = common::ok_cmd(common::double11().args(args).current_dir(elsewhere.path()));
    assert_eq!(there, here);
}
