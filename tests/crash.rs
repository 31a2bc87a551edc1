//! Crash safety: kill an ingest with SIGKILL at many moments (while it parses and stages its
//! files, and at each step of the commit), then re-run it. Each kill must really interrupt the
//! run (it ends by the signal); right after it the warehouse is "as before" (a kill before the
//! commit leaves no trace) or "as after", and the re-run gives exactly the uninterrupted result.

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

const ROWS: u64 = 300_000;

fn ingest_args<'a>(wh: &'a Path, log: &'a Path, rates: &'a Path) -> Vec<&'a str> {
    vec![
        "-q",
        "ingest",
        common::path(log),
        "--warehouse",
        common::path(wh),
        "--fx-rates",
        common::path(rates),
        "--rows-per-file",
        "40000",
    ]
}

/// The committed data of a warehouse (the manifest holds timestamps, so it is left out).
fn data(wh: &Path) -> Vec<(String, Vec<u8>)> {
    ["transactions", "rejects", "fx_rates"]
        .iter()
        .flat_map(|t| {
            common::snapshot(&wh.join(t))
                .into_iter()
                .map(move |(p, b)| (format!("{t}/{p}"), b))
        })
        .collect()
}

fn all_events(wh: &Path) -> String {
    common::sql(wh, "SELECT count(*) FROM transactions")[1][0].clone()
}

#[test]
fn a_killed_ingest_leaves_before_or_after_and_a_rerun_completes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("big.csv");
    common::write_volume_csv(&log, ROWS, "k-");
    let rates = common::sample_rates();
    let sample = common::sample_logs();

    // Baseline: sample first, then the big log, uninterrupted.
    let base = dir.path().join("base");
    common::ingest(&base, &[&sample]);
    let committed_before = data(&base);
    let events_before = all_events(&base);
    common::ok(&ingest_args(&base, &log, &rates));
    let events_after = all_events(&base);
    let want = data(&base);
    let want_totals = common::day_totals(&base);
    assert_ne!(events_before, events_after);

    // Killed from outside at moments spread over the run: just after it started, then once it
    // has staged 1 to 6 of its 8 transactions files (the last two and the commit still to
    // come, so each kill lands inside the ingest, whatever the machine's speed).
    let mut kills: Vec<(String, Kill)> =
        vec![("killed 50 ms after its start".into(), Kill::AfterStart)];
    for files in 1..=6 {
        kills.push((
            format!("killed once {files} transactions files were staged"),
            Kill::AfterStaged(files),
        ));
    }
    // Killed by its own crash points, between the durable steps of the commit.
    for step in [
        "commit:0",
        "move:0",
        "move:3",
        "delta:0",
        "delta:1",
        "delta:2",
        "pin:0",
        "cleanup:0",
    ] {
        kills.push((format!("crash at {step}"), Kill::CrashAt(step)));
    }
    for (i, (label, kill)) in kills.into_iter().enumerate() {
        let wh = dir.path().join(format!("wh{i}"));
        common::ingest(&wh, &[&sample]);
        let mut cmd = common::double11();
        cmd.args(ingest_args(&wh, &log, &rates));
        if let Kill::CrashAt(step) = kill {
            cmd.env("DOUBLE11_CRASH_AT", step);
        }
        let mut child = cmd.spawn().expect("spawn ingest");
        let mut staged_at_kill = 0;
        match kill {
            Kill::AfterStart => {
                std::thread::sleep(Duration::from_millis(50));
                child.kill().expect("kill the ingest");
            }
            Kill::AfterStaged(files) => {
                let start = Instant::now();
                while staged_transactions(&wh) < files && start.elapsed() < Duration::from_secs(60)
                {
                    if child.try_wait().expect("try_wait").is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                staged_at_kill = staged_transactions(&wh);
                // A process that exited but was not yet waited for ignores the signal: the
                // exit status below tells which happened.
                let _ = child.kill();
            }
            Kill::CrashAt(_) => {}
        }
        let status = child.wait().expect("wait");
        // Really interrupted: ended by SIGKILL, not by finishing first.
        assert_eq!(
            status.signal(),
            Some(9),
            "{label}: the ingest was killed ({status:?}, {staged_at_kill} files staged)"
        );
        let events = all_events(&wh);
        let runs = common::manifest(&wh)["runs"]
            .as_array()
            .expect("runs")
            .len();
        if matches!(kill, Kill::CrashAt(_)) {
            // Right after a crash in the commit: as before or as after, never in between.
            assert!(
                events == events_before || events == events_after,
                "{label}: {events} events, neither {events_before} nor {events_after}"
            );
        } else {
            // Killed before its commit: the warehouse holds no trace of the run.
            assert_eq!(runs, 1, "{label}: no run was committed");
            assert_eq!(events, events_before, "{label}");
            assert_eq!(
                data(&wh),
                committed_before,
                "{label}: the committed files as before"
            );
        }
        // The re-run completes the work exactly once.
        common::ok(&ingest_args(&wh, &log, &rates));
        assert_eq!(all_events(&wh), events_after, "{label}");
        assert_eq!(common::day_totals(&wh), want_totals, "{label}");
        assert_eq!(data(&wh), want, "{label}: the same files, byte for byte");
        assert!(!wh.join("_staging").exists() || common::snapshot(&wh.join("_staging")).is_empty());
    }
}

/// When a crash test kills the ingest.
#[derive(Clone, Copy)]
enum Kill {
    AfterStart,
    /// Once this many transactions files are in the run's staging folder.
    AfterStaged(usize),
    /// At this crash point (`DOUBLE11_CRASH_AT`).
    CrashAt(&'static str),
}

/// Transactions files staged by a running ingest.
fn staged_transactions(wh: &Path) -> usize {
    walkdir::WalkDir::new(wh.join("_staging"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.path().extension().is_some_and(|x| x == "parquet")
                && e.path()
                    .components()
                    .any(|c| c.as_os_str() == "transactions")
        })
        .count()
}

#[test]
fn one_writer_at_a_time_and_readers_leave_a_running_ingest_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("slow.csv");
    let (orders, _) = common::write_volume_csv(&log, 1_500_000, "w-");
    let rates = common::sample_rates();
    let wh = dir.path().join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    let before = all_events(&wh);
    let mut child = common::double11()
        .args(ingest_args(&wh, &log, &rates))
        .spawn()
        .expect("spawn ingest");
    let staging = wh.join("_staging/r000002");
    let start = Instant::now();
    // Wait until the ingest has staged its first Parquet file.
    let staged_files = || {
        walkdir::WalkDir::new(&staging)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
            .count()
    };
    while staged_files() == 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(staged_files() > 0, "the ingest started writing");
    // A reader while the ingest runs: sees the committed state and does not "recover" the
    // running ingest's staging folder away.
    let seen = all_events(&wh);
    let second = common::run(&ingest_args(
        &wh,
        &common::sample_logs().join("2019-11-11-a.csv"),
        &rates,
    ));
    let still_running = child.try_wait().expect("try_wait").is_none();
    if still_running {
        assert_eq!(seen, before, "a reader sees the committed state");
        assert_eq!(
            second.status.code(),
            Some(75),
            "a second writer is turned away"
        );
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(stderr.contains("another double11 ingest"), "{stderr}");
    }
    assert!(
        child.wait().expect("wait").success(),
        "the first ingest completes"
    );
    let orders_after = common::sql(
        &wh,
        "SELECT count(*) FROM transactions WHERE event_id LIKE 'w-%' AND event_type = 'paid'",
    );
    assert_eq!(orders_after[1][0], orders.to_string());
    assert!(
        still_running,
        "the ingest outlived the reader and the second writer (make the log bigger)"
    );
}
