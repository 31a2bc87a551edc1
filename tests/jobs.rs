//! `double11 run JOB.toml` and `double11 runs`: scheduled runs that are incremental,
//! idempotent, locked, and that say what they did.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{ok, path, sql};

/// Writes `job.toml` into `dir` and returns its path.
fn write_job(dir: &Path, text: &str) -> PathBuf {
    let job = dir.join("job.toml");
    std::fs::write(&job, text).expect("write job");
    job
}

/// `double11 run JOB --date 2019-11-12`, output whatever the exit status.
fn run_job(job: &Path) -> Output {
    common::double11()
        .args(["-q", "run", path(job), "--date", "2019-11-12"])
        .output()
        .expect("run")
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_manifest(folder: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(folder.join("run.json")).expect("run.json");
    serde_json::from_str(&text).expect("run.json is JSON")
}

fn blake3_of(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).expect("read"))
        .to_hex()
        .to_string()
}

const SAMPLE_JOB: &str = r#"
name = "nightly"
warehouse = "wh"
keep_runs = 2

[inbox]
paths = ["inbox/"]
fx_rates = "RATES"
settle_seconds = 0   # the copied sample files are new, and one ends without a newline
cached_writes = true # the job's files through the page cache: the run's figures are the same

[[report]]
name = "summary"
day = "{yesterday}"
compare = "2018-11-11"

[[report]]
name = "peak"
id = "peak-top5"
day = "2019-11-11"
top = 5
format = "json"

[[export]]
sql = "SELECT * FROM rejects ORDER BY run_id, file, line"
file = "rejects-{run_date}.csv"
publish_to = "published"

[[export]]
sql = "SELECT event_id, event_time, amount_cny FROM transactions WHERE cst_date = $day ORDER BY event_time, event_id"
params = { day = "{yesterday}" }
file = "day.parquet"
"#;

fn sample_job(dir: &Path) -> PathBuf {
    common::copy_tree(&common::sample_logs(), &dir.join("inbox"));
    write_job(
        dir,
        &SAMPLE_JOB.replace("RATES", path(&common::sample_rates())),
    )
}

#[test]
fn a_run_ingests_reports_and_exports_and_an_idle_rerun_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = sample_job(dir.path());
    let wh = dir.path().join("wh");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("sample-data/expected.json"))
            .expect("expected"),
    )
    .expect("expected.json");

    // First run: everything is new; the sample has rejected lines, so exit 3 ("partial").
    let first = run_job(&job);
    assert_eq!(code(&first), Some(3), "{}", stderr(&first));
    let line = stdout(&first);
    assert_eq!(line.lines().count(), 1, "one summary line: {line}");
    assert!(
        line.starts_with("run ") && line.contains(" partial: "),
        "{line}"
    );
    assert!(
        line.contains("9316 accepted, 174 duplicates, 153 rejected"),
        "{line}"
    );
    let folders = common::run_folders(&wh.join("runs"));
    assert_eq!(folders.len(), 1);
    let m1 = run_manifest(&folders[0]);
    assert_eq!(m1["status"], "partial");
    assert_eq!(m1["exit_code"], 3);
    assert_eq!(m1["run_date"], "2019-11-12");
    assert_eq!(m1["double11_version"], env!("CARGO_PKG_VERSION"));
    for k in ["records", "accepted", "duplicates", "rejected"] {
        assert_eq!(m1["ingest"]["totals"][k], expected["totals"][k], "{k}");
    }
    assert_eq!(m1["ingest"]["warehouse_run"], "r000001");
    // Every listed output exists with the recorded size and checksum; CSV row counts agree.
    let mut report_files = Vec::new();
    for r in m1["reports"].as_array().expect("reports") {
        for f in r["files"].as_array().expect("files") {
            let file = folders[0].join(f["file"].as_str().expect("file"));
            assert_eq!(f["blake3"], blake3_of(&file), "{}", file.display());
            assert_eq!(f["bytes"], std::fs::metadata(&file).expect("meta").len());
            if file.extension().is_some_and(|e| e == "csv") {
                let text = std::fs::read_to_string(&file).expect("csv");
                assert_eq!(
                    f["rows"].as_u64(),
                    Some(common::parse_csv(&text).len() as u64 - 1),
                    "{}",
                    file.display()
                );
            }
            report_files.push((
                f["file"].as_str().expect("file").to_string(),
                f["blake3"].clone(),
            ));
        }
    }
    assert!(report_files
        .iter()
        .any(|(f, _)| f == "reports/summary/summary.csv"));
    assert!(report_files
        .iter()
        .any(|(f, _)| f == "reports/peak-top5/peak.top.json"));
    // {yesterday} of --date 2019-11-12 is Singles' Day: the job's summary is the CLI's summary.
    let direct = dir.path().join("direct");
    ok(&[
        "report",
        "summary",
        "--warehouse",
        path(&wh),
        "--day",
        "2019-11-11",
        "--compare",
        "2018-11-11",
        "--format",
        "csv",
        "--out",
        path(&direct),
    ]);
    assert_eq!(
        std::fs::read(direct.join("summary.csv")).expect("direct"),
        std::fs::read(folders[0].join("reports/summary/summary.csv")).expect("job's")
    );
    // Exports: the rejects (all 153, also published) and the day's rows.
    let exports = m1["exports"].as_array().expect("exports");
    assert_eq!(exports[0]["file"], "exports/rejects-2019-11-12.csv");
    assert_eq!(exports[0]["rows"], 153);
    let published = dir.path().join("published/rejects-2019-11-12.csv");
    assert_eq!(
        std::fs::read(&published).expect("published"),
        std::fs::read(folders[0].join("exports/rejects-2019-11-12.csv")).expect("export")
    );
    let day_rows = &sql(
        &wh,
        "SELECT count(*) FROM transactions WHERE cst_date = DATE '2019-11-11'",
    )[1][0];
    assert_eq!(exports[1]["rows"].to_string(), *day_rows);

    // An idle re-run: nothing new, so no warehouse run, and byte-identical reports.
    let manifest_before = common::manifest(&wh);
    let second = run_job(&job);
    assert_eq!(code(&second), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains(" ok: 0 input(s) with new lines"),
        "{}",
        stdout(&second)
    );
    assert_eq!(
        common::manifest(&wh),
        manifest_before,
        "no new warehouse version"
    );
    let folders = common::run_folders(&wh.join("runs"));
    assert_eq!(folders.len(), 2);
    let m2 = run_manifest(&folders[1]);
    assert_eq!(m2["status"], "ok");
    assert!(m2["ingest"]["warehouse_run"].is_null());
    let inputs = m2["ingest"]["inputs"].as_array().expect("inputs");
    assert!(!inputs.is_empty());
    assert!(inputs
        .iter()
        .all(|i| i["skipped_as_ingested_by"] == "r000001"));
    let again: Vec<(String, serde_json::Value)> = m2["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .flat_map(|r| r["files"].as_array().expect("files").clone())
        .map(|f| {
            (
                f["file"].as_str().expect("file").to_string(),
                f["blake3"].clone(),
            )
        })
        .collect();
    assert_eq!(
        again, report_files,
        "a re-run with no new input writes the same bytes"
    );

    // History, and keep_runs = 2 prunes the oldest run.
    let table = ok(&["runs", "--warehouse", path(&wh)]);
    for f in &folders {
        let id = f.file_name().expect("name").to_string_lossy().into_owned();
        assert!(table.contains(&id), "{table}");
    }
    assert!(
        table.contains("partial") && table.contains("9316"),
        "{table}"
    );
    let third = run_job(&job);
    assert_eq!(code(&third), Some(0), "{}", stderr(&third));
    let kept = common::run_folders(&wh.join("runs"));
    assert_eq!(kept.len(), 2, "keep_runs = 2");
    assert_eq!(kept[0], folders[1]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["runs", "--job", path(&job), "--format", "json"]))
            .expect("json");
    let statuses: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["ok", "ok"]);
}

/// A clean CSV line of the test logs.
fn csv_line(id: &str, second: u32, fen: u32) -> String {
    format!(
        "{id},2019-11-11T10:00:{second:02}.250+08:00,paid,o-{id},tmall,{}.{:02},CNY\n",
        fen / 100,
        fen % 100
    )
}

fn json_line(id: &str, second: u32, fen: u32) -> String {
    format!(
        "{{\"event_id\":\"{id}\",\"event_time\":\"2019-11-11T11:00:{second:02}+08:00\",\"event_type\":\"paid\",\"order_id\":\"j-{id}\",\"platform\":\"taobao\",\"amount\":\"{}.{:02}\",\"currency\":\"CNY\"}}\n",
        fen / 100,
        fen % 100
    )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("gzip");
    enc.finish().expect("gzip")
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open");
    f.write_all(bytes).expect("append");
}

/// Rows of a query, sorted, for comparing two warehouses.
fn rows(wh: &Path, query: &str) -> Vec<Vec<String>> {
    let mut r = sql(wh, query);
    r.remove(0);
    r.sort();
    r
}

#[test]
fn a_log_that_grows_is_read_on_from_where_the_last_run_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let job = write_job(
        dir.path(),
        "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/*\"]\nsettle_seconds = 3600\n",
    );
    let wh = dir.path().join("wh");
    let csv = inbox.join("app.csv");
    let gz = inbox.join("app.jsonl.gz");
    let zst = inbox.join("web.ndjson.zst");
    // Lines 1-6; line 5 is broken; line 7 is still being written (no newline yet).
    let mut text =
        String::from("event_id,event_time,event_type,order_id,platform,amount,currency\n");
    for i in 0..3 {
        text += &csv_line(&format!("c{i}"), i, 1000 + i);
    }
    text += "c-bad,2019-11-11T10:00:09+08:00,paid,o-bad,tmall,12.345,CNY\n";
    text += &csv_line("c3", 3, 1003);
    let unfinished = "c4,2019-11-11T10:00:04.250+08:00,paid,o-c4,tmall,10";
    text += unfinished;
    std::fs::write(&csv, &text).expect("csv");
    std::fs::write(
        &gz,
        gzip(&(json_line("j0", 0, 500) + &json_line("j1", 1, 501))),
    )
    .expect("gz");
    std::fs::write(
        &zst,
        zstd::encode_all(json_line("z0", 0, 700).as_bytes(), 3).expect("zst"),
    )
    .expect("zst");

    let first = run_job(&job);
    assert_eq!(code(&first), Some(3), "{}", stderr(&first));
    let m = run_manifest(&common::run_folders(&wh.join("runs"))[0]);
    let inputs = m["ingest"]["inputs"].as_array().expect("inputs");
    let csv_input = inputs
        .iter()
        .find(|i| i["name"].as_str().is_some_and(|n| n.ends_with("app.csv")))
        .expect("csv input");
    assert_eq!(csv_input["records"], 5, "the unfinished line 7 waits");
    assert_eq!(
        csv_input["held_back"].as_u64(),
        Some(unfinished.len() as u64)
    );
    assert_eq!(csv_input["read_to"]["lines"], 6);

    // The writers go on: the CSV line is finished and more follow (a re-delivery of c0 and a
    // broken line among them); the gzip and zstd logs get another member / frame.
    append(&csv, b"0.50,CNY\n");
    append(&csv, csv_line("c0", 0, 1000).as_bytes());
    append(&csv, csv_line("c5", 5, 1005).as_bytes());
    append(&csv, b"c6,not-a-time,paid,o-c6,tmall,1.00,CNY\n");
    append(
        &gz,
        &gzip(&(json_line("j1", 1, 501) + &json_line("j2", 2, 502))),
    );
    append(
        &zst,
        &zstd::encode_all(json_line("z1", 1, 701).as_bytes(), 3).expect("zst"),
    );
    let second = run_job(&job);
    assert_eq!(code(&second), Some(3), "{}", stderr(&second));
    let m = run_manifest(&common::run_folders(&wh.join("runs"))[1]);
    let by_name = |suffix: &str| {
        m["ingest"]["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .find(|i| i["name"].as_str().is_some_and(|n| n.ends_with(suffix)))
            .cloned()
            .expect("input")
    };
    let c = by_name("app.csv");
    assert_eq!(c["resumed_from"]["lines"], 6);
    assert_eq!(
        (
            c["records"].as_u64(),
            c["accepted"].as_u64(),
            c["duplicates"].as_u64(),
            c["rejected"].as_u64()
        ),
        (Some(4), Some(2), Some(1), Some(1))
    );
    let g = by_name("app.jsonl.gz");
    assert_eq!(
        (
            g["records"].as_u64(),
            g["accepted"].as_u64(),
            g["duplicates"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let z = by_name("web.ndjson.zst");
    assert_eq!(
        (z["records"].as_u64(), z["accepted"].as_u64()),
        (Some(1), Some(1))
    );

    // Read in two steps = read at once: the same rows, rejects (with their line numbers) and
    // duplicates as a plain ingest of the final files.
    let once = dir.path().join("once");
    let (a, b, cz) = (
        path(&csv).to_string(),
        path(&gz).to_string(),
        path(&zst).to_string(),
    );
    ok(&["-q", "ingest", "--warehouse", path(&once), &a, &b, &cz]);
    let q_rows = "SELECT event_id, CAST(event_time AS VARCHAR), CAST(amount_cny AS VARCHAR) FROM transactions";
    assert_eq!(rows(&wh, q_rows), rows(&once, q_rows));
    assert_eq!(rows(&wh, q_rows).len(), 11, "c0-c5, j0-j2, z0-z1");
    let q_rejects = "SELECT file, CAST(line AS VARCHAR), kind FROM rejects";
    assert_eq!(rows(&wh, q_rejects), rows(&once, q_rejects));
    let lines: Vec<String> = rows(&wh, q_rejects)
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(
        lines,
        ["10", "5"],
        "rejects keep their physical line numbers"
    );
    let q_dups = "SELECT file, CAST(line AS VARCHAR), event_id FROM duplicates";
    assert_eq!(rows(&wh, q_dups), rows(&once, q_dups));
}

#[test]
fn a_replaced_file_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let job = write_job(
        dir.path(),
        "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\n",
    );
    let csv = inbox.join("a.csv");
    let header = "event_id,event_time,event_type,order_id,platform,amount,currency\n";
    std::fs::write(
        &csv,
        format!(
            "{header}{}{}",
            csv_line("a0", 0, 100),
            csv_line("a1", 1, 101)
        ),
    )
    .expect("csv");
    assert_eq!(code(&run_job(&job)), Some(0));
    // Rewritten, not appended: the first line differs, so nothing is skipped by offset.
    std::fs::write(
        &csv,
        format!(
            "{header}{}{}{}",
            csv_line("b0", 0, 100),
            csv_line("a1", 1, 101),
            csv_line("a2", 2, 102)
        ),
    )
    .expect("csv");
    assert_eq!(code(&run_job(&job)), Some(0));
    let m = run_manifest(&common::run_folders(&dir.path().join("wh/runs"))[1]);
    let input = &m["ingest"]["inputs"][0];
    assert!(input["resumed_from"].is_null());
    assert_eq!(
        (
            input["records"].as_u64(),
            input["accepted"].as_u64(),
            input["duplicates"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
}

/// A small log in the contract's form and the same events with other names and time formats.
fn mapped_logs(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let mut contract_csv =
        String::from("event_id,event_time,event_type,order_id,platform,amount,currency,device\n");
    let mut mapped_csv = String::from("ts,id,kind,device,order,amt,ccy,platform,note\n");
    let mut contract_json = String::new();
    let mut mapped_json = String::new();
    for i in 0..400u32 {
        let (h, m, s, ms) = (i % 24, i % 60, (i * 7) % 60, (i * 37) % 1000);
        let fen = 100 + i * 13;
        let kind = if i % 9 == 0 { "refunded" } else { "paid" };
        let time = if i % 50 == 7 {
            // Broken in both files: a date the contract and the time format both refuse.
            (
                "2019-13-11T00:00:00+08:00".to_string(),
                "2019-13-11 00:00:00.000".to_string(),
            )
        } else {
            (
                format!("2019-11-11T{h:02}:{m:02}:{s:02}.{ms:03}9+08:00"),
                format!("2019-11-11 {h:02}:{m:02}:{s:02}.{ms:03}9"),
            )
        };
        let id = if i % 40 == 3 {
            format!("e{}", i - 1)
        } else {
            format!("e{i}")
        };
        contract_csv += &format!(
            "{id},{},{kind},o{i},tmall,{}.{:02},CNY,mobile\n",
            time.0,
            fen / 100,
            fen % 100
        );
        mapped_csv += &format!(
            "{},{id},{kind},mobile,o{i},{}.{:02},CNY,tmall,x\n",
            time.1,
            fen / 100,
            fen % 100
        );
        // JSON: times as epoch milliseconds in the mapped log.
        let epoch_ms = 1_573_401_600_000u64 + u64::from(i) * 61_001;
        let rfc = chrono::DateTime::from_timestamp_millis(epoch_ms as i64)
            .expect("time")
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("cst"))
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string();
        contract_json += &format!("{{\"event_id\":\"j{i}\",\"event_time\":\"{rfc}\",\"event_type\":\"paid\",\"order_id\":\"jo{i}\",\"platform\":\"taobao\",\"amount\":\"{}.{:02}\",\"currency\":\"CNY\"}}\n", fen / 100, fen % 100);
        mapped_json += &format!("{{\"id\":\"j{i}\",\"ts\":{epoch_ms},\"kind\":\"paid\",\"order\":\"jo{i}\",\"platform\":\"taobao\",\"amt\":\"{}.{:02}\",\"ccy\":\"CNY\"}}\n", fen / 100, fen % 100);
    }
    let paths = (
        dir.join("contract/a.csv"),
        dir.join("mapped-csv/a.csv"),
        dir.join("contract-json/a.jsonl"),
        dir.join("mapped-json/a.jsonl"),
    );
    for (p, text) in [
        (&paths.0, contract_csv),
        (&paths.1, mapped_csv),
        (&paths.2, contract_json),
        (&paths.3, mapped_json),
    ] {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    paths
}

#[test]
fn renamed_columns_and_other_time_formats_read_like_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (contract, _, contract_json, _) = mapped_logs(dir.path());
    let common_mapping = "event_id = \"id\"\nevent_type = \"kind\"\norder_id = \"order\"\namount = \"amt\"\ncurrency = \"ccy\"\nevent_time = \"ts\"\n";
    let csv_job = write_job(
        dir.path(),
        &format!("warehouse = \"wh-csv\"\n[inbox]\npaths = [\"mapped-csv/\"]\n[mapping]\n{common_mapping}time_format = \"%Y-%m-%d %H:%M:%S%.f\"\ntime_zone = \"+08:00\"\n"),
    );
    let out = run_job(&csv_job);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let json_job = dir.path().join("json.toml");
    std::fs::write(
        &json_job,
        format!("warehouse = \"wh-json\"\n[inbox]\npaths = [\"mapped-json/\"]\n[mapping]\n{common_mapping}time_format = \"epoch_millis\"\n"),
    )
    .expect("job");
    let out = run_job(&json_job);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));

    let q = "SELECT event_id, CAST(event_time AS VARCHAR), event_type, order_id, platform, CAST(amount_cny AS VARCHAR), device, CAST(cst_date AS VARCHAR) FROM transactions";
    for (job_wh, original) in [("wh-csv", &contract), ("wh-json", &contract_json)] {
        let plain = dir.path().join(format!("{job_wh}-plain"));
        common::ingest(&plain, &[original.as_path()]);
        let mapped_rows = rows(&dir.path().join(job_wh), q);
        assert_eq!(mapped_rows, rows(&plain, q), "{job_wh}");
        assert!(mapped_rows.len() >= 380, "{job_wh}: {}", mapped_rows.len());
        let kinds = "SELECT kind, CAST(count(*) AS VARCHAR) FROM rejects GROUP BY kind";
        assert_eq!(
            rows(&dir.path().join(job_wh), kinds),
            rows(&plain, kinds),
            "{job_wh}"
        );
    }
    // Truncation to milliseconds survives the time format: .xxx9 is not rounded up.
    let t = sql(
        &dir.path().join("wh-csv"),
        "SELECT CAST(event_time AS VARCHAR) FROM transactions WHERE event_id = 'e1'",
    );
    assert_eq!(t[1][0], "2019-11-11T01:01:07.037+08:00");

    // A mapping to a column the log does not have fails before anything is written.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "warehouse = \"wh-bad\"\n[inbox]\npaths = [\"mapped-csv/\"]\n[mapping]\nevent_id = \"id\"\namount = \"price\"\n",
    )
    .expect("job");
    let out = run_job(&bad);
    assert_eq!(code(&out), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("bad.toml line 6 (mapping.amount)"), "{err}");
    assert!(err.contains("\"price\"") && err.contains("a.csv"), "{err}");
    let wh_bad = dir.path().join("wh-bad");
    assert!(
        !wh_bad.join("manifest.json").exists(),
        "no warehouse was written"
    );
    assert!(!wh_bad.join("transactions").exists());
}

#[test]
fn an_invalid_job_file_names_the_line_and_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("inbox")).expect("inbox");
    let cases = [
        ("warehouse = \"wh\"\ninbx = 1\n[inbox]\npaths = [\"inbox/\"]\n", "line 2", "inbx"),
        ("warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\n[mapping]\namout = \"x\"\n", "line 5", "mapping.amout"),
        ("warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\n[mapping]\nevent_time = \"ts\"\ntime_format = \"%Y-%m-%d\"\ntime_zone = \"CST\"\n", "line 7", "mapping.time_zone"),
        ("warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\n\n[[report]]\nname = \"sumary\"\n", "line 6", "report[0].name"),
        ("warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\n[[report]]\nname = \"summary\"\nday = \"{tomorrow}\"\n", "line 6", "report[0].day"),
        ("warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\n[[export]]\ntable = \"rejects\"\nsql = \"SELECT 1\"\nfile = \"x.csv\"\n", "line 7", "export[0].sql"),
        ("warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\n[[export]]\ntable = \"rejects\"\nfile = \"../x.csv\"\n", "line 6", "export[0].file"),
        ("warehouse = \"wh\"\n[inbox]\npaths = \"inbox/\"\n", "line 3", "paths"),
        ("warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\nsettle_seconds = -1\n", "line 4", "settle_seconds"),
        ("warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\ncached_writes = \"yes\"\n", "line 4", "cached_writes"),
        ("warehouse = \"wh\"\n[settings]\nmemory_limit = \"lots\"\n[inbox]\npaths = [\"inbox/\"]\n", "line 3", "settings.memory_limit"),
        ("warehouse = \"wh\"\n[settings]\nthreads = 0\n[inbox]\npaths = [\"inbox/\"]\n", "line 3", "settings.threads"),
        ("warehouse = \"wh\"\n[settings]\nrows = 5\n[inbox]\npaths = [\"inbox/\"]\n", "line 3", "rows"),
    ];
    for (text, line, key) in cases {
        let job = write_job(dir.path(), text);
        let out = run_job(&job);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(78), "{text}\n{err}");
        assert!(
            err.contains("job.toml") && err.contains(line) && err.contains(key),
            "{text}\nwants {line} and {key}:\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!dir.path().join("wh").exists(), "{text}: nothing written");
    }
    let out = run_job(&dir.path().join("missing.toml"));
    assert_eq!(code(&out), Some(66), "{}", stderr(&out));
}

#[test]
fn a_second_run_is_refused_while_one_holds_the_lock_and_a_dead_runs_lock_is_taken_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = sample_job(dir.path());
    let runs_dir = dir.path().join("wh/runs");
    std::fs::create_dir_all(&runs_dir).expect("runs");
    let note = r#"{"pid":4242,"job":"nightly","run_id":"20191111T000000Z","started_at":"2019-11-11T00:00:00Z"}"#;
    std::fs::write(runs_dir.join(".lock"), note).expect("note");
    {
        // This test process plays the running job.
        let held = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(runs_dir.join(".lock"))
            .expect("open lock");
        held.lock().expect("lock");
        let out = run_job(&job);
        assert_eq!(code(&out), Some(75), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("pid 4242") && err.contains("20191111T000000Z"),
            "{err}"
        );
        assert!(
            common::run_folders(&runs_dir).is_empty(),
            "the refused run wrote nothing"
        );
        assert!(!dir.path().join("wh/manifest.json").exists());
    }
    // The holder is gone but its note is still there, as after a kill -9.
    let out = run_job(&job);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let m = run_manifest(&common::run_folders(&runs_dir)[0]);
    assert!(
        m["took_over_from"]
            .as_str()
            .is_some_and(|s| s.contains("20191111T000000Z") && s.contains("4242")),
        "{m}"
    );
    // A finished run clears its note: the next run takes over nothing.
    let out = run_job(&job);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(run_manifest(&common::run_folders(&runs_dir)[1])["took_over_from"].is_null());
}

#[test]
fn a_failed_step_is_recorded_with_its_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::copy_tree(&common::sample_logs(), &dir.path().join("inbox"));
    // The day has no data: the report fails (66), after the ingest was committed.
    let job = write_job(
        dir.path(),
        "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox/\"]\n[[report]]\nname = \"summary\"\nday = \"2019-12-25\"\n",
    );
    let out = run_job(&job);
    assert_eq!(code(&out), Some(66), "{}", stderr(&out));
    assert!(stdout(&out).contains(" failed: "), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no transactions on 2019-12-25"),
        "{}",
        stderr(&out)
    );
    let m = run_manifest(&common::run_folders(&dir.path().join("wh/runs"))[0]);
    assert_eq!(m["status"], "failed");
    assert_eq!(m["exit_code"], 66);
    assert!(m["error"]
        .as_str()
        .is_some_and(|e| e.contains("2019-12-25")));
    assert_eq!(m["ingest"]["warehouse_run"], "r000001");
}

/// A job file's `[settings]` give its query memory limit and threads; a flag or environment
/// variable wins over them. The threads show in the partitions DataFusion plans with (16 per
/// thread), read back from an export of the job.
#[test]
fn a_jobs_settings_apply_unless_a_flag_or_variable_gives_them() {
    let job_text = format!(
        "warehouse = \"wh\"\n\
         [settings]\nmemory_limit = \"1K\"\nthreads = 1\n\
         [inbox]\npaths = [\"inbox/\"]\nfx_rates = \"{}\"\nsettle_seconds = 0\n\
         [[report]]\nname = \"summary\"\nday = \"2019-11-11\"\n\
         [[export]]\nsql = \"SELECT value FROM information_schema.df_settings \
         WHERE name = 'datafusion.execution.target_partitions'\"\nfile = \"partitions.csv\"\n",
        path(&common::sample_rates())
    );
    let run = |flags: &[&str], env: Option<(&str, &str)>| {
        let dir = tempfile::tempdir().expect("tempdir");
        common::copy_tree(&common::sample_logs(), &dir.path().join("inbox"));
        let job = write_job(dir.path(), &job_text);
        let mut cmd = common::double11();
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd
            .arg("-q")
            .args(flags)
            .args(["run", path(&job), "--date", "2019-11-12"])
            .output()
            .expect("run");
        let partitions = common::run_folders(&dir.path().join("wh/runs"))
            .first()
            .and_then(|f| std::fs::read_to_string(f.join("exports/partitions.csv")).ok());
        (out, partitions)
    };
    // The job's 1K limit: the summary cannot run, and the advice names the job file's key.
    let (out, _) = run(&[], None);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Resources exhausted") && stderr(&out).contains("[settings]"),
        "{}",
        stderr(&out)
    );
    // A flag lifts the limit; the job's one thread gives 16 partitions.
    let (out, partitions) = run(&["--memory-limit", "64M"], None);
    assert_eq!(code(&out), Some(3), "sample rejects: {}", stderr(&out));
    assert_eq!(partitions.as_deref(), Some("value\n16\n"));
    // The variables win over the job file too.
    let (out, partitions) = run(&["--threads", "2"], Some(("DOUBLE11_MEMORY_LIMIT", "64M")));
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert_eq!(partitions.as_deref(), Some("value\n32\n"));
    let (out, partitions) = run(&["--memory-limit", "64M"], Some(("DOUBLE11_THREADS", "3")));
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert_eq!(partitions.as_deref(), Some("value\n48\n"));
}
