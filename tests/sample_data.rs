//! The bundled sample logs, ingested by the real binary, checked three ways: against the
//! independent Python reference (`sample-data/expected.json`, computed from the raw files),
//! against Polars reading the warehouse, and DataFusion SQL against both.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::polars_oracle;
use serde_json::Value;

fn expected() -> Value {
    let text = std::fs::read_to_string(common::repo().join("sample-data/expected.json"))
        .expect("sample-data/expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

fn fen(text: &str) -> i128 {
    let (int, frac) = text.split_once('.').unwrap_or((text, "00"));
    let sign = if int.starts_with('-') { -1 } else { 1 };
    let int: i128 = int.trim_start_matches('-').parse().expect("integer part");
    let frac: i128 = format!("{frac:0<2}").parse().expect("fraction");
    sign * (int * 100 + frac)
}

fn base(name: &str) -> String {
    Path::new(name)
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

fn ingested_sample() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let summary = common::ok(&[
        "ingest",
        common::path(&common::sample_logs()),
        "--warehouse",
        common::path(&wh),
        "--fx-rates",
        common::path(&common::sample_rates()),
    ]);
    (dir, wh, summary)
}

#[test]
fn per_file_counts_match_the_reference() {
    let (_dir, wh, summary) = ingested_sample();
    let exp = expected();
    let t = &exp["totals"];
    assert!(
        summary.contains(&format!(
            "records read {} = accepted {} + duplicates {} + rejected {}",
            t["records"], t["accepted"], t["duplicates"], t["rejected"]
        )),
        "summary:\n{summary}"
    );
    let manifest = common::manifest(&wh);
    let run = &manifest["runs"][0];
    let got: BTreeMap<String, [u64; 4]> = run["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| {
            let n = |k: &str| i[k].as_u64().expect(k);
            (
                base(i["name"].as_str().expect("name")),
                [n("records"), n("accepted"), n("duplicates"), n("rejected")],
            )
        })
        .collect();
    let want: BTreeMap<String, [u64; 4]> = exp["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let n = |k: &str| f[k].as_u64().expect(k);
            (
                base(f["file"].as_str().expect("file")),
                [n("records"), n("accepted"), n("duplicates"), n("rejected")],
            )
        })
        .collect();
    assert_eq!(got, want);
    // Every duplicate line is kept too, with its file: per-file counts match the reference.
    let dups = common::sql(&wh, "SELECT file, count(*) FROM duplicates GROUP BY file");
    let got: BTreeMap<String, u64> = dups[1..]
        .iter()
        .map(|r| (base(&r[0]), r[1].parse().expect("count")))
        .collect();
    let want: BTreeMap<String, u64> = want
        .iter()
        .filter(|(_, c)| c[2] > 0)
        .map(|(f, c)| (f.clone(), c[2]))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn every_reject_is_kept_with_file_line_and_kind() {
    let (_dir, wh, _) = ingested_sample();
    let rows = common::sql(&wh, "SELECT file, line, kind, reason, raw FROM rejects");
    let got: BTreeSet<(String, u64, String)> = rows[1..]
        .iter()
        .map(|r| (base(&r[0]), r[1].parse().expect("line"), r[2].clone()))
        .collect();
    let want: BTreeSet<(String, u64, String)> = expected()["rejects"]
        .as_array()
        .expect("rejects")
        .iter()
        .map(|r| {
            (
                base(r[0].as_str().expect("file")),
                r[1].as_u64().expect("line"),
                r[2].as_str().expect("kind").to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(rows.len() - 1, got.len(), "one row per rejected record");
    for r in &rows[1..] {
        assert!(!r[3].is_empty(), "a reason: {r:?}");
    }
    // The raw text is the log's record, verbatim: the bytes from the start of its line up to
    // (not including) the line terminator that ends the record.
    let mut logs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in &rows[1..] {
        let (file, line, raw) = (&r[0], r[1].parse::<usize>().expect("line"), &r[4]);
        let bytes = logs
            .entry(file.clone())
            .or_insert_with(|| decompressed(Path::new(file)));
        let start = if line == 1 {
            0
        } else {
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .nth(line - 2)
                .map(|(i, _)| i + 1)
                .unwrap_or_else(|| panic!("{file} has no line {line}"))
        };
        let rest = &bytes[start..];
        // Lines of the sample are UTF-8 (the rejects table stores text).
        let rest = std::str::from_utf8(rest).expect("UTF-8 sample");
        let line_text = rest.split('\n').next().expect("a line");
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        if raw.contains('\n') {
            assert!(rest.starts_with(raw.as_str()), "{file}:{line}: {raw:?}");
            assert!(
                matches!(rest.as_bytes().get(raw.len()), None | Some(b'\n' | b'\r')),
                "{file}:{line}: the record ends where its raw text does: {raw:?}"
            );
        } else {
            assert_eq!(raw, line_text, "{file}:{line}: raw is the line, verbatim");
        }
    }
}

/// The bytes of a sample log, decompressed by its name.
fn decompressed(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let name = path.to_string_lossy();
    if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(file)
            .read_to_end(&mut out)
            .expect("gunzip");
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(file)
            .expect("zstd")
            .read_to_end(&mut out)
            .expect("unzstd");
    } else {
        std::io::BufReader::new(file)
            .read_to_end(&mut out)
            .expect("read");
    }
    out
}

#[test]
fn day_figures_agree_between_reference_polars_and_sql() {
    let (_dir, wh, _) = ingested_sample();
    let exp = expected();
    let days = exp["days"].as_object().expect("days");
    let polars = polars_oracle::day_figures(&wh);
    assert_eq!(
        polars.keys().collect::<Vec<_>>(),
        days.keys().collect::<Vec<_>>(),
        "the same CST days"
    );
    let sql = common::sql(
        &wh,
        "SELECT cst_date,
                count(*) FILTER (WHERE event_type = 'paid') AS orders,
                coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), 0) AS gmv,
                count(*) FILTER (WHERE event_type = 'refunded') AS refund_events,
                coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), 0) AS refunds
         FROM transactions GROUP BY cst_date ORDER BY cst_date",
    );
    let peaks = common::sql(
        &wh,
        "SELECT cst_date, sec, n FROM (
            SELECT cst_date, date_trunc('second', event_time) AS sec, count(*) AS n,
                   row_number() OVER (PARTITION BY cst_date
                                      ORDER BY count(*) DESC, date_trunc('second', event_time)) AS rk
            FROM transactions WHERE event_type = 'paid'
            GROUP BY cst_date, date_trunc('second', event_time))
         WHERE rk = 1 ORDER BY cst_date",
    );
    assert_eq!(sql.len() - 1, days.len());
    for (i, (day, want)) in days.iter().enumerate() {
        let p = &polars[day];
        let orders = want["orders"].as_i64().expect("orders");
        let gmv = fen(want["gmv"].as_str().expect("gmv"));
        let refunds = fen(want["refunds"].as_str().expect("refunds"));
        let peak_second = want["peak"]["second"].as_str().expect("peak second");
        let peak_orders = want["peak"]["orders"].as_i64().expect("peak orders");
        // Polars vs the Python reference.
        assert_eq!(p.orders, orders, "{day} orders (polars)");
        assert_eq!(p.gmv_fen, gmv, "{day} GMV (polars)");
        assert_eq!(p.refunds_fen, refunds, "{day} refunds (polars)");
        assert_eq!(
            p.refund_events,
            want["refund_events"].as_i64().expect("refund events")
        );
        assert_eq!(
            (p.peak_second.as_str(), p.peak_orders),
            (peak_second, peak_orders),
            "{day} peak (polars)"
        );
        for (platform, w) in want["platforms"].as_object().expect("platforms") {
            let w_orders = w["orders"].as_i64().expect("orders");
            if w_orders > 0 {
                assert_eq!(
                    p.platforms.get(platform),
                    Some(&(w_orders, fen(w["gmv"].as_str().expect("gmv")))),
                    "{day} {platform}"
                );
            }
        }
        // DataFusion SQL vs the same figures.
        let row = &sql[i + 1];
        assert_eq!(row[0], *day);
        assert_eq!(
            row[1].parse::<i64>().expect("orders"),
            orders,
            "{day} orders (sql)"
        );
        assert_eq!(fen(&row[2]), gmv, "{day} GMV (sql)");
        assert_eq!(fen(&row[4]), refunds, "{day} refunds (sql)");
        let peak = &peaks[i + 1];
        assert_eq!(&peak[1][..19], peak_second, "{day} peak second (sql)");
        assert_eq!(peak[2].parse::<i64>().expect("n"), peak_orders);
    }
    let (rows, ids) = polars_oracle::rows_and_distinct_ids(&wh);
    assert_eq!(rows, ids, "no event_id twice in the warehouse");
    assert_eq!(
        rows as u64,
        exp["totals"]["accepted"].as_u64().expect("accepted")
    );
}
