//! `double11 optimize` compacts a day's files (one per run) into one sorted file per table and
//! changes no figure; `--as-of` still reads the version before it; a re-run after a kill
//! anywhere in it writes the same files; `vacuum` then deletes exactly the replaced files, and
//! the version before the optimize can no longer be read, with an error that says why.

use crate::common;
use crate::delta_readers::{double11_view, python, python_view};

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

const DAY: &str = "2019-11-11";

/// The sample, ingested one log file per run: several files a day in every table.
fn many_runs(wh: &Path) {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(common::sample_logs())
        .expect("sample logs")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    logs.sort();
    for log in &logs {
        common::ingest(wh, &[log]);
    }
}

/// Committed files per table on `day`.
fn files_on(manifest: &serde_json::Value, table: &str, day: &str) -> usize {
    manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["table"] == table && f["cst_date"] == day)
        .count()
}

/// The data files of the compacted tables (not the Delta logs), with their bytes.
fn data(wh: &Path) -> Vec<(String, Vec<u8>)> {
    let manifest = common::manifest(wh);
    let mut out: Vec<(String, Vec<u8>)> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .map(|p| {
            let bytes = std::fs::read(wh.join(&p)).expect("committed file");
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn optimize_compacts_each_day_and_changes_no_figure_then_vacuum_removes_the_old_files() {
    let test = "optimize_compacts_each_day_and_changes_no_figure_then_vacuum_removes_the_old_files";
    let python = python(test);
    // A Delta reader no one here wrote sees what double11 reports, at the pinned versions.
    let agree = |wh: &Path, when: &str| {
        if let Some(python) = &python {
            let m = common::manifest(wh);
            assert_eq!(
                python_view(python, wh, &m),
                double11_view(wh, &m, None),
                "Python deltalake / Polars scan_delta {when}"
            );
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    many_runs(&wh);
    let before = common::manifest(&wh);
    let before_version = before["version"].as_u64().expect("version");
    for table in ["transactions", "per_second", "per_hour"] {
        assert!(files_on(&before, table, DAY) > 1, "{table}: several files");
    }
    let figures = common::report_all(&wh, None);
    agree(&wh, "after the ingests");

    let out = common::ok(&["optimize", "--warehouse", common::path(&wh), "--day", DAY]);
    assert!(out.contains("transactions 2019-11-11:"), "{out}");
    let after = common::manifest(&wh);
    assert_eq!(after["operation"], "optimize");
    assert_eq!(after["version"].as_u64(), Some(before_version + 1));
    for table in ["transactions", "per_second", "per_hour"] {
        assert_eq!(
            files_on(&after, table, DAY),
            1,
            "{table}: one file for the day"
        );
        assert_eq!(
            files_on(&after, table, "2018-11-11"),
            files_on(&before, table, "2018-11-11"),
            "{table}: another day untouched"
        );
    }
    assert_eq!(
        common::report_all(&wh, None),
        figures,
        "the same figures after optimize"
    );
    assert_eq!(
        common::report_all(&wh, Some(before_version)),
        figures,
        "--as-of before it"
    );
    assert_eq!(
        after["runs"], before["runs"],
        "the ingest ledger is unchanged"
    );
    // The day's transactions are one file in time order.
    let times = common::sql(
        &wh,
        "SELECT count(*) FROM (SELECT event_time < lag(event_time) OVER () AS back \
         FROM transactions WHERE cst_date = DATE '2019-11-11') WHERE back",
    );
    assert_eq!(times[1][0], "0", "sorted by event time");

    // Nothing more to do: no new version.
    let again = common::ok(&["optimize", "--warehouse", common::path(&wh), "--day", DAY]);
    assert!(again.contains("nothing to compact"), "{again}");
    assert_eq!(common::manifest(&wh)["version"], after["version"]);

    // Vacuum: a dry run lists, a real one deletes, exactly the replaced files.
    let replaced: Vec<String> = before["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| !after["files"].as_array().expect("files").contains(f))
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect();
    assert!(!replaced.is_empty());
    let dry = common::ok(&[
        "vacuum",
        "--warehouse",
        common::path(&wh),
        "--older-than",
        "0s",
        "--dry-run",
    ]);
    assert!(
        dry.contains(&format!("would delete {} file(s)", replaced.len())),
        "{dry}"
    );
    assert!(
        replaced.iter().all(|p| wh.join(p).exists()),
        "a dry run deletes nothing"
    );
    let done = common::ok(&[
        "vacuum",
        "--warehouse",
        common::path(&wh),
        "--older-than",
        "0s",
    ]);
    assert!(
        done.contains(&format!("deleted {} file(s)", replaced.len())),
        "{done}"
    );
    assert!(replaced.iter().all(|p| !wh.join(p).exists()), "{done}");
    assert_eq!(common::manifest(&wh)["operation"], "vacuum");
    assert_eq!(
        common::report_all(&wh, None),
        figures,
        "the same figures after vacuum"
    );
    let v = before_version.to_string();
    let err = common::fails(
        &[
            "sql",
            "--warehouse",
            common::path(&wh),
            "--as-of",
            &v,
            "-c",
            "SELECT 1",
        ],
        2,
    );
    assert!(err.contains("vacuum") && err.contains(&v), "{err}");
}

#[test]
fn an_optimize_killed_anywhere_leaves_before_or_after_and_its_rerun_writes_the_same_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base");
    many_runs(&base);
    let figures = common::report_all(&base, None);
    let pristine = dir.path().join("pristine");
    common::copy_tree(&base, &pristine);
    common::ok(&["optimize", "--warehouse", common::path(&base), "--day", DAY]);
    let want = data(&base);
    for point in [
        "commit:0",
        "move:1",
        "delta:0",
        "delta:1",
        "delta:2",
        "pin:0",
        "cleanup:0",
    ] {
        let wh = dir.path().join(format!("wh-{}", point.replace(':', "-")));
        common::copy_tree(&pristine, &wh);
        let status = common::double11()
            .args([
                "-q",
                "optimize",
                "--warehouse",
                common::path(&wh),
                "--day",
                DAY,
            ])
            .env("DOUBLE11_CRASH_AT", point)
            .status()
            .expect("optimize");
        assert_eq!(status.signal(), Some(9), "{point}: killed ({status:?})");
        assert_eq!(
            common::report_all(&wh, None),
            figures,
            "{point}: the figures right after the kill"
        );
        common::ok(&["optimize", "--warehouse", common::path(&wh), "--day", DAY]);
        assert_eq!(
            data(&wh),
            want,
            "{point}: the same files as an optimize never killed"
        );
        assert_eq!(common::report_all(&wh, None), figures, "{point}");
    }
}
