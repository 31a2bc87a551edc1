//! Crash safety: kill an ingest at many moments (by the clock, and at each step of the
//! commit), then re-run it. The warehouse must be "as before" or "as after" right after the
//! kill, and exactly the uninterrupted result after the re-run.

mod common;

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
    let events_before = all_events(&base);
    let started = Instant::now();
    common::ok(&ingest_args(&base, &log, &rates));
    let duration = started.elapsed();
    let events_after = all_events(&base);
    let want = data(&base);
    let want_totals = common::day_totals(&base);
    assert_ne!(events_before, events_after);

    let mut kills: Vec<(String, Option<Duration>, Option<&str>)> = (1..=8)
        .map(|k| {
            (
                format!("after {k}/9 of the run"),
                Some(duration * k / 9),
                None,
            )
        })
        .collect();
    for step in ["commit:0", "move:0", "move:3", "manifest:0", "cleanup:0"] {
        kills.push((format!("crash at {step}"), None, Some(step)));
    }
    for (i, (label, delay, crash_at)) in kills.into_iter().enumerate() {
        let wh = dir.path().join(format!("wh{i}"));
        common::ingest(&wh, &[&sample]);
        let mut cmd = common::double11();
        cmd.args(ingest_args(&wh, &log, &rates));
        if let Some(step) = crash_at {
            cmd.env("DOUBLE11_CRASH_AT", step);
        }
        let mut child = cmd.spawn().expect("spawn ingest");
        if let Some(delay) = delay {
            std::thread::sleep(delay);
            let _ = child.kill();
        }
        let status = child.wait().expect("wait");
        if crash_at.is_some() {
            assert!(!status.success(), "{label}: the injected crash happened");
        }
        // Right after the kill: as before or as after, never in between.
        let events = all_events(&wh);
        assert!(
            events == events_before || events == events_after,
            "{label}: {events} events, neither {events_before} nor {events_after}"
        );
        // The re-run completes the work exactly once.
        common::ok(&ingest_args(&wh, &log, &rates));
        assert_eq!(all_events(&wh), events_after, "{label}");
        assert_eq!(common::day_totals(&wh), want_totals, "{label}");
        assert_eq!(data(&wh), want, "{label}: the same files, byte for byte");
        assert!(!wh.join("_staging").exists() || common::snapshot(&wh.join("_staging")).is_empty());
    }
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
