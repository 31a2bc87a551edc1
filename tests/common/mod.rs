//! Helpers shared by the integration tests: run the real binary, read its CSV output.
#![allow(dead_code)]

pub mod cluster;
pub mod polars_oracle;
pub mod s3;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (where `sample-data/` lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_logs() -> PathBuf {
    repo().join("sample-data/logs")
}

pub fn sample_rates() -> PathBuf {
    repo().join("sample-data/fx_rates.csv")
}

/// A `double11` command with no inherited warehouse setting and quiet progress.
pub fn double11() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_double11"));
    cmd.env_remove("DOUBLE11_WAREHOUSE")
        .env_remove("DOUBLE11_FX_RATES")
        .env_remove("DOUBLE11_LOG")
        .env_remove("DOUBLE11_MEMORY_LIMIT")
        .env_remove("DOUBLE11_CACHED_WRITES")
        // The test warehouses are small: with `--cluster`, every plan that reads a file runs
        // on the cluster, not in the client (tests/cluster.rs checks the default).
        .env("DOUBLE11_CLUSTER_LOCAL_BYTES", "0")
        .stdin(Stdio::null());
    cmd
}

/// Runs `double11 <args>` and returns its output, whatever the exit status.
pub fn run(args: &[&str]) -> Output {
    double11()
        .args(args)
        .output()
        .expect("the double11 binary runs")
}

/// Runs `double11 <args>` and insists that it succeeds.
pub fn ok(args: &[&str]) -> String {
    ok_cmd(double11().args(args))
}

/// Runs `cmd` (a [`double11`] command with its arguments, and any environment or folder of
/// its own), insists that it succeeds, and returns its stdout.
pub fn ok_cmd(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the double11 binary runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `double11 <args>`, insists it fails with `code`, and returns stderr.
pub fn fails(args: &[&str], code: i32) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "double11 {args:?}: expected exit {code}, stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "a panic reached the user: {stderr}"
    );
    stderr
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// Ingests `inputs` into `wh` (sample rates) and returns the summary text.
pub fn ingest(wh: &Path, inputs: &[&Path]) -> String {
    let mut args = vec!["-q", "ingest", "--warehouse", path(wh), "--fx-rates"];
    let rates = sample_rates();
    args.push(path(&rates));
    for i in inputs {
        args.push(path(i));
    }
    ok(&args)
}

/// Runs SQL through `double11 sql -c … --format csv` and returns the rows (header first).
pub fn sql(wh: &Path, query: &str) -> Vec<Vec<String>> {
    let out = ok(&[
        "sql",
        "--warehouse",
        path(wh),
        "-c",
        query,
        "--format",
        "csv",
    ]);
    parse_csv(&out)
}

pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("valid CSV").iter().map(str::to_string).collect())
        .collect()
}

/// The arguments of `report all` of 2019-11-11 against 2018-11-11 as CSV over the warehouse at
/// `place` (a path or a URL), at version `as_of` (the latest when `None`).
pub fn report_all_args<'a>(place: &'a str, as_of: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec![
        "report",
        "all",
        "--warehouse",
        place,
        "--day",
        "2019-11-11",
        "--compare",
        "2018-11-11",
        "--format",
        "csv",
    ];
    if let Some(v) = as_of {
        args.extend(["--as-of", v]);
    }
    args
}

/// `report all` of 2019-11-11 against 2018-11-11 as CSV, at warehouse version `as_of` (the
/// latest when `None`).
pub fn report_all(wh: &Path, as_of: Option<u64>) -> String {
    let as_of = as_of.map(|v| v.to_string());
    ok(&report_all_args(path(wh), as_of.as_deref()))
}

/// The file of the warehouse's latest version (`_double11/versions/<N>.json`).
pub fn latest_version_path(wh: &Path) -> PathBuf {
    let dir = wh.join("_double11/versions");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    names.pop().expect("a warehouse version")
}

/// Turns the warehouse at `wh` into what a double11 of manifest format `format` (1 to 3) wrote:
/// one `manifest.json`, no warehouse versions, no Delta logs, and none of the `dropped`
/// tables (the rollups that format lacked).
pub fn make_old_format(wh: &Path, format: u32, dropped: &[&str]) {
    let mut manifest = manifest(wh);
    let object = manifest.as_object_mut().expect("an object");
    for key in ["version", "operation", "committed_at", "tables"] {
        object.remove(key);
    }
    manifest["format_version"] = format.into();
    let files = manifest["files"].as_array_mut().expect("files");
    files.retain(|f| !dropped.iter().any(|t| f["table"] == *t));
    std::fs::remove_dir_all(wh.join("_double11")).expect("remove the versions");
    for entry in std::fs::read_dir(wh).expect("list") {
        let log = entry.expect("entry").path().join("_delta_log");
        if log.exists() {
            std::fs::remove_dir_all(&log).expect("remove a Delta log");
        }
    }
    std::fs::write(
        wh.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("write manifest");
    for table in dropped {
        std::fs::remove_dir_all(wh.join(table)).expect("remove a rollup");
    }
}

/// The latest warehouse version's manifest, as JSON.
pub fn manifest(wh: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(latest_version_path(wh)).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

/// Every file under `dir` with its bytes, sorted, for before/after comparisons; not the
/// tables' Delta logs, whose commits carry times (a warehouse that changes gets a new
/// warehouse version under `_double11/versions/`, which is compared).
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != "_delta_log")
    {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).expect("prefix");
            out.push((
                rel.display().to_string(),
                std::fs::read(entry.path()).expect("read"),
            ));
        }
    }
    out
}

/// Generates the dirty day 2019-11-11 at `scale` into `out`: 2 % of lines re-deliveries
/// (across chunks and files) or bad lines.
pub fn generate_dirty_day(out: &Path, scale: &str) {
    ok(&[
        "-q",
        "generate",
        "--day",
        "2019-11-11",
        "--scale",
        scale,
        "--dirty",
        "0.02",
        "--out",
        path(out),
    ]);
}

/// Runs `double11 -q --warehouse WH ARGS` with the variables `env` set, asserts that it
/// succeeds, and returns the warehouse's Parquet files with their bytes, in path order.
pub fn parquet_files_after(
    wh: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Vec<(String, Vec<u8>)> {
    ok_cmd(
        double11()
            .args(["-q", "--warehouse", path(wh)])
            .args(args)
            .envs(env.iter().copied()),
    );
    snapshot(wh)
        .into_iter()
        .filter(|(name, _)| name.ends_with(".parquet"))
        .collect()
}

/// Writes a clean CSV log of `rows` paid/refunded events on 2019-11-11 CST, deterministic,
/// for tests that need volume rather than dirt. Returns (orders, gmv fen) it contains.
pub fn write_volume_csv(path: &Path, rows: u64, id_prefix: &str) -> (u64, i128) {
    use std::io::Write;
    let file = std::fs::File::create(path).expect("create log");
    let mut w = std::io::BufWriter::new(file);
    writeln!(
        w,
        "event_id,event_time,event_type,order_id,platform,amount,currency,quantity"
    )
    .expect("write");
    let platforms = ["taobao", "tmall", "tmall_global", "aliexpress", "kaola"];
    let (mut orders, mut gmv) = (0u64, 0i128);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let fen = 1 + (x % 500_000) as i128;
        let ms = (i * 86_399_999) / rows.max(1);
        let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        let paid = !x.is_multiple_of(50);
        if paid {
            orders += 1;
            gmv += fen;
        }
        writeln!(
            w,
            "{id_prefix}{i},2019-11-11T{h:02}:{m:02}:{s:02}.{milli:03}+08:00,{},o{i},{},{}.{:02},CNY,1",
            if paid { "paid" } else { "refunded" },
            platforms[(x % 5) as usize],
            fen / 100,
            fen % 100
        )
        .expect("write");
    }
    w.flush().expect("flush");
    (orders, gmv)
}

/// orders and GMV (as text) of 2019-11-11 through SQL.
pub fn day_totals(wh: &Path) -> (String, String) {
    let rows = sql(
        wh,
        "SELECT count(*) FILTER (WHERE event_type = 'paid'), \
         coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), 0) \
         FROM transactions WHERE cst_date = DATE '2019-11-11'",
    );
    (rows[1][0].clone(), rows[1][1].clone())
}

pub fn fen_text(fen: i128) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Copies a folder tree (files and folders) to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let dest = to.join(entry.path().strip_prefix(from).expect("prefix"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// The committed run folders of a job's runs folder, oldest first (hidden ones are unfinished).
pub fn run_folders(runs: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .expect("runs folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    dirs.sort();
    dirs
}

/// Whether the tests run under CI (`CI` set, and not to `false` or `0`). There, a test that
/// cannot run its real part fails instead of skipping: see [`cannot_run_here`].
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A test whose real part cannot run on this machine because `missing`: outside CI it says
/// so and the caller returns (a visible skip); under CI it fails, saying what to install or
/// set (`remedy`), so a missing tool never passes silently.
pub fn cannot_run_here(test: &str, missing: &str, remedy: &str) {
    assert!(
        !in_ci(),
        "{test}: {missing}. Under CI this test must really run: {remedy}"
    );
    eprintln!("SKIPPED {test}: {missing} ({remedy}; with CI=true this fails instead)");
}
