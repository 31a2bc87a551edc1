//! A job run killed with SIGKILL at any of 27 points spread over its ingest, reports, exports,
//! publishing and pruning, then run again, ends exactly as a run that was never killed: the
//! same warehouse files, report bytes, exports and published copies; no duplicate, no loss.

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use common::{path, snapshot};

/// Every point (see `src/faults.rs`) in the order a run reaches them.
const KILL_POINTS: [&str; 27] = [
    "job:0",            // lock taken
    "job:1",            // earlier leftovers cleaned
    "input:0",          // before the first input
    "input:2",          // mid-ingest: two inputs read, staged files on disk
    "input:4",          // before the grown file
    "commit:0",         // staging complete, before the first move into a table folder
    "move:0",           // before the first move
    "move:2",           // some files moved, others not
    "delta:0",          // every file moved, before the first table's Delta commit
    "delta:1",          // one table committed to Delta, the others not
    "delta:2",          // two tables committed
    "pin:0",            // every table committed, before the warehouse version
    "cleanup:0",        // warehouse version written, staging not yet removed
    "report:0",         // ingest committed, before the first report
    "report-written:0", // first report written
    "report:1",
    "report-written:1",
    "report:2", // last report
    "export:0",
    "export-written:0",
    "publish:0", // before the published copy is renamed into place
    "export:1",
    "export-written:1",
    "job:2",   // run.json written, run folder not yet renamed
    "job:3",   // run folder committed, before pruning
    "prune:0", // an old run renamed away but not yet deleted
    "job:4",   // pruned, before the lock note is cleared
];

const JOB: &str = r#"
name = "crashy"
warehouse = "wh"
keep_runs = 2

[inbox]
paths = ["inbox/"]
fx_rates = "RATES"
settle_seconds = 0

[[report]]
name = "summary"
day = "2019-11-11"
compare = "2018-11-11"

[[report]]
name = "peak"
day = "2019-11-11"
top = 5

[[report]]
name = "growth"
day = "2019-11-11"
compare = "2018-11-11"
format = "json"

[[export]]
sql = "SELECT * FROM rejects ORDER BY run_id, file, line"
file = "rejects.csv"
publish_to = "published"

[[export]]
sql = "SELECT * FROM transactions WHERE cst_date = DATE '2019-11-11' ORDER BY event_time, event_id"
file = "day.parquet"
"#;

fn run_job(job: &Path, crash_at: Option<&str>) -> std::process::ExitStatus {
    let mut cmd = common::double11();
    cmd.args(["-q", "run", path(job), "--date", "2019-11-12"]);
    if let Some(point) = crash_at {
        cmd.env("DOUBLE11_CRASH_AT", point);
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run")
}

/// Phase one (two finished runs over part of the sample), then phase two's new input: the
/// rest of the sample logs and more lines appended to a log read in phase one.
fn prepare(root: &Path) -> PathBuf {
    let inbox = root.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let logs = common::sample_logs();
    for f in [
        "2018-11-11-a.csv",
        "2018-11-11-b.jsonl.gz",
        "2019-11-11-c.jsonl",
    ] {
        std::fs::copy(logs.join(f), inbox.join(f)).expect("copy");
    }
    let grown = inbox.join("2019-11-11-a.csv");
    let text = std::fs::read(logs.join("2019-11-11-a.csv")).expect("read");
    let half = text.len() / 2;
    let cut = half
        + text[half..]
            .iter()
            .position(|b| *b == b'\n')
            .expect("newline")
        + 1;
    std::fs::write(&grown, &text[..cut]).expect("first half");
    let job = root.join("job.toml");
    std::fs::write(&job, JOB.replace("RATES", path(&common::sample_rates()))).expect("job");
    for _ in 0..2 {
        let status = run_job(&job, None);
        assert!(
            matches!(status.code(), Some(0 | 3)),
            "phase one: {status:?}"
        );
    }
    // Phase two: the rest of the grown log, and new files.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&grown)
        .expect("open");
    std::io::Write::write_all(&mut f, &text[cut..]).expect("append");
    for f in ["2019-11-11-b.csv.gz", "2019-11-11-d.ndjson.zst"] {
        std::fs::copy(logs.join(f), inbox.join(f)).expect("copy");
    }
    job
}

/// What must be identical: the warehouse's data files, the newest run's reports and exports,
/// the published copies, and which run folders exist besides the newest (by count).
fn outcome(root: &Path) -> Vec<(String, Vec<u8>)> {
    let wh = root.join("wh");
    let mut out = Vec::new();
    for table in ["transactions", "rejects", "duplicates", "fx_rates"] {
        for (name, bytes) in snapshot(&wh.join(table)) {
            out.push((format!("{table}/{name}"), bytes));
        }
    }
    let folders = common::run_folders(&wh.join("runs"));
    out.push(("run folders".into(), folders.len().to_string().into_bytes()));
    let newest = folders.last().expect("a run");
    for sub in ["reports", "exports"] {
        for (name, bytes) in snapshot(&newest.join(sub)) {
            out.push((format!("newest run/{sub}/{name}"), bytes));
        }
    }
    for (name, bytes) in snapshot(&root.join("published")) {
        out.push((format!("published/{name}"), bytes));
    }
    out
}

fn hidden_leftovers(runs: &Path) -> Vec<String> {
    std::fs::read_dir(runs)
        .expect("runs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n != ".lock")
        .collect()
}

#[test]
fn a_run_killed_at_any_point_then_run_again_ends_as_if_never_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Warehouse manifests record absolute input paths (to resume grown files), so every
    // scenario runs in the same folder, restored from a template before each.
    let work = dir.path().join("work");
    let template = dir.path().join("template");
    let job = prepare(&work);
    common::copy_tree(&work, &template);

    let status = run_job(&job, None);
    assert!(matches!(status.code(), Some(0 | 3)), "{status:?}");
    let want = outcome(&work);
    let accepted = common::sql(
        &work.join("wh"),
        "SELECT count(*), count(DISTINCT event_id) FROM transactions",
    );
    assert_eq!(accepted[1][0], accepted[1][1], "no event twice");
    assert!(want
        .iter()
        .any(|(n, _)| n.starts_with("newest run/reports/")));
    assert!(want.iter().any(|(n, _)| n == "published/rejects.csv"));

    for point in KILL_POINTS {
        std::fs::remove_dir_all(&work).expect("reset");
        common::copy_tree(&template, &work);
        let status = run_job(&job, Some(point));
        assert_eq!(
            status.signal(),
            Some(9),
            "{point}: the run was killed there ({status:?})"
        );
        let rerun = run_job(&job, None);
        assert!(
            matches!(rerun.code(), Some(0 | 3)),
            "{point}: re-run {rerun:?}"
        );
        let got = outcome(&work);
        let names = |o: &[(String, Vec<u8>)]| o.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&got), names(&want), "{point}: the same files");
        for ((name, a), (_, b)) in got.iter().zip(&want) {
            assert!(a == b, "{point}: {name} differs from the uninterrupted run");
        }
        assert!(
            hidden_leftovers(&work.join("wh/runs")).is_empty(),
            "{point}: leftovers {:?}",
            hidden_leftovers(&work.join("wh/runs"))
        );
        assert!(
            !work.join("wh/_staging").exists() || snapshot(&work.join("wh/_staging")).is_empty(),
            "{point}: staging left behind"
        );
        // The re-run saw the killed run's lock note and says so.
        let newest = common::run_folders(&work.join("wh/runs"))
            .pop()
            .expect("a run");
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(newest.join("run.json")).expect("run.json"),
        )
        .expect("json");
        assert!(
            m["took_over_from"].is_string(),
            "{point}: the re-run noticed the killed run: {m}"
        );
    }
}
