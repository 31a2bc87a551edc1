//! Bad input: one clear message naming the file, a non-zero exit, and the warehouse untouched.

use crate::common;

use std::path::{Path, PathBuf};

fn warehouse_with_sample(dir: &Path) -> PathBuf {
    let wh = dir.join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    wh
}

fn assert_untouched(wh: &Path, before: &[(String, Vec<u8>)]) {
    assert_eq!(common::snapshot(wh), before, "the warehouse changed");
}

#[test]
fn a_missing_file_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = warehouse_with_sample(dir.path());
    let before = common::snapshot(&wh);
    let good = common::sample_logs().join("2019-11-11-a.csv");
    let err = common::fails(
        &[
            "ingest",
            common::path(&good),
            "no/such/file.csv",
            "--warehouse",
            common::path(&wh),
        ],
        66,
    );
    assert!(err.contains("no/such/file.csv"), "{err}");
    assert_untouched(&wh, &before);
    let err = common::fails(
        &["ingest", "nothing-*.csv", "--warehouse", common::path(&wh)],
        66,
    );
    assert!(err.contains("nothing-*.csv"), "{err}");
}

#[test]
fn empty_and_mislabelled_compressed_files() {
    // Damaged and truncated streams keep the records before the damage: tests/hostile_input.rs.
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = warehouse_with_sample(dir.path());
    let before = common::snapshot(&wh);

    // A zero-byte file is an empty log, whatever its name, and not an error.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    for name in ["a.csv", "b.csv.gz", "c.jsonl.zst", "d.ndjson"] {
        std::fs::write(empty.join(name), b"").expect("write");
    }
    let wh_empty = dir.path().join("wh-empty");
    common::ingest(&wh_empty, &[&empty]);
    let totals = common::manifest(&wh_empty)["runs"][0]["totals"].clone();
    assert_eq!(totals["records"], 0, "{totals}");

    // A file that is not what its name says is skipped, named, and not counted as ingested.
    let not_gz = dir.path().join("plain.jsonl.gz");
    std::fs::write(&not_gz, b"{\"event_id\":\"x\"}\n").expect("write");
    let err = common::fails(
        &[
            "ingest",
            common::path(&not_gz),
            "--warehouse",
            common::path(&wh),
        ],
        4,
    );
    assert!(
        err.contains("plain.jsonl.gz") && err.contains("not gzip data"),
        "{err}"
    );
    let m = common::manifest(&wh);
    let runs = m["runs"].as_array().expect("runs");
    let last = &runs[runs.len() - 1]["inputs"][0];
    assert!(
        last["unreadable"]
            .as_str()
            .is_some_and(|r| r.contains("not gzip")),
        "{last}"
    );
    assert!(
        last["blake3"].is_null(),
        "an unread file is not recorded as ingested: {last}"
    );
    assert_ne!(
        common::snapshot(&wh),
        before,
        "the run that skipped it is recorded"
    );
}

#[test]
fn a_warehouse_from_a_newer_double11_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = warehouse_with_sample(dir.path());
    let path = common::latest_version_path(&wh);
    let mut manifest = common::manifest(&wh);
    manifest["format_version"] = 99.into();
    manifest["written_by"] = "9.9.9".into();
    std::fs::write(&path, serde_json::to_vec(&manifest).expect("json")).expect("write");
    let before = common::snapshot(&wh);
    let log = common::sample_logs().join("2019-11-11-a.csv");
    for args in [
        vec![
            "ingest",
            common::path(&log),
            "--warehouse",
            common::path(&wh),
        ],
        vec!["sql", "--warehouse", common::path(&wh), "-c", "SELECT 1"],
    ] {
        let err = common::fails(&args, 65);
        assert!(
            err.contains(&path.display().to_string())
                && err.contains("9.9.9")
                && err.contains("Upgrade"),
            "{err}"
        );
    }
    assert_untouched(&wh, &before);
}

/// How the full-disk tests make the warehouse's writes fail.
#[derive(Clone, Copy)]
enum DiskLimit {
    /// The warehouse lives on a small tmpfs: writes fail with ENOSPC, a real full disk.
    Tmpfs,
    /// The ingest runs under a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) of this many
    /// 512-byte blocks: a write past it fails with EFBIG, which needs no mount and no root.
    FileSize(u64),
}

/// Mounts a 400 KiB tmpfs on `at`; false where this machine does not allow it (not root, or
/// a container without CAP_SYS_ADMIN).
fn mount_small_tmpfs(at: &Path) -> bool {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=400k", "tmpfs", common::path(at)])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Unmount<'a>(&'a Path);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0).status();
    }
}

/// A warehouse with a small committed run on `home`, then an ingest of 200,000 rows that
/// cannot be written: it must fail with exit 74, name the path, say what to do, and leave the
/// warehouse exactly as it was (the earlier commit readable, no staging left). Returns the
/// error message.
fn a_write_failure_leaves_the_warehouse_as_it_was(home: &Path, limit: DiskLimit) -> String {
    let wh = home.join("wh");
    common::ingest(&wh, &[&common::sample_logs().join("2018-11-11-a.csv")]);
    let before = common::snapshot(&wh);
    let count = "SELECT count(*), sum(amount_cny) FROM transactions";
    let committed = common::sql(&wh, count);
    let runs = common::manifest(&wh)["runs"]
        .as_array()
        .expect("runs")
        .len();
    let big = home.parent().expect("a parent").join("big.csv");
    common::write_volume_csv(&big, 200_000, "full-");
    let args = [
        "ingest",
        common::path(&big),
        "--warehouse",
        common::path(&wh),
        "--rows-per-file",
        "50000",
    ];
    let out = match limit {
        DiskLimit::Tmpfs => common::run(&args),
        DiskLimit::FileSize(blocks) => {
            // The shell ignores SIGXFSZ (inherited across exec) and sets the limit (POSIX
            // `ulimit -f` counts 512-byte blocks) for double11 alone.
            let script = format!("trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\"");
            std::process::Command::new("sh")
                .args(["-c", &script, env!("CARGO_BIN_EXE_double11")])
                .args(args)
                .env_remove("DOUBLE11_WAREHOUSE")
                .env_remove("DOUBLE11_FX_RATES")
                .env_remove("DOUBLE11_LOG")
                .env_remove("DOUBLE11_MEMORY_LIMIT")
                .stdin(std::process::Stdio::null())
                .output()
                .expect("sh runs double11")
        }
    };
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(74), "exit 74 (I/O), stderr:\n{err}");
    assert!(!err.contains("panicked"), "a panic reached the user: {err}");
    assert!(
        err.contains(common::path(&wh)),
        "the message names the path it could not write: {err}"
    );
    match limit {
        DiskLimit::Tmpfs => assert!(err.contains("No space left"), "{err}"),
        DiskLimit::FileSize(_) => assert!(err.contains("File too large"), "{err}"),
    }
    assert_untouched(&wh, &before);
    assert!(
        !wh.join("_staging").exists() || common::snapshot(&wh.join("_staging")).is_empty(),
        "no staging left behind"
    );
    assert_eq!(
        common::sql(&wh, count),
        committed,
        "the earlier commit reads as before"
    );
    assert_eq!(
        common::manifest(&wh)["runs"]
            .as_array()
            .expect("runs")
            .len(),
        runs,
        "no run was committed"
    );
    // What to do: free space, or (a file size limit, EFBIG) raise the limit.
    assert!(
        err.contains("free some space") || err.contains("ulimit"),
        "the message says what to do: {err}"
    );
    err
}

#[test]
fn a_full_disk_is_reported_and_leaves_the_warehouse_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mount = dir.path().join("small");
    std::fs::create_dir_all(&mount).expect("mkdir");
    if mount_small_tmpfs(&mount) {
        let _guard = Unmount(&mount);
        a_write_failure_leaves_the_warehouse_as_it_was(&mount, DiskLimit::Tmpfs);
    } else {
        // No mount here (not root, or a container without CAP_SYS_ADMIN): the same run
        // under a file size limit, so the test still runs for real.
        eprintln!("no tmpfs mount allowed here: a file size limit stands in for the full disk");
        a_write_failure_leaves_the_warehouse_as_it_was(&mount, DiskLimit::FileSize(800));
    }
}

#[test]
fn a_file_size_limit_is_reported_and_leaves_the_warehouse_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    // 400 KiB: the small first run fits, a staged file of 50,000 rows does not.
    a_write_failure_leaves_the_warehouse_as_it_was(&home, DiskLimit::FileSize(800));
}

#[test]
fn a_path_that_is_not_a_warehouse_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = common::fails(
        &[
            "sql",
            "--warehouse",
            common::path(&dir.path().join("nowhere")),
            "-c",
            "SELECT 1",
        ],
        2,
    );
    assert!(
        err.contains("no warehouse here") && err.contains("double11 ingest"),
        "{err}"
    );
    let occupied = dir.path().join("occupied");
    std::fs::create_dir_all(&occupied).expect("mkdir");
    std::fs::write(occupied.join("notes.txt"), "mine").expect("write");
    let log = common::sample_logs().join("2019-11-11-a.csv");
    let err = common::fails(
        &[
            "ingest",
            common::path(&log),
            "--warehouse",
            common::path(&occupied),
        ],
        2,
    );
    assert!(err.contains("files but no warehouse"), "{err}");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let err = common::fails(
        &[
            "ingest",
            common::path(&log),
            "--warehouse",
            common::path(&file),
        ],
        74,
    );
    assert!(err.contains("a-file"), "{err}");
}

#[test]
fn bad_lines_never_stop_a_run_nor_drop_a_good_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let log = dir.path().join("mixed.csv");
    std::fs::write(
        &log,
        "event_id,event_time,event_type,order_id,platform,amount\n\
         g1,2019-11-11T00:00:01+08:00,paid,o1,tmall,10.00\n\
         b1,2019-11-11T00:00:01+08:00,paid,o2,tmall\n\
         b2,2019-11-11 00:00:01,paid,o3,tmall,1\n\
         b3,2019-11-11T00:00:01Z,PAID,o4,tmall,1\n\
         b4,2019-11-11T00:00:01Z,paid,o5,tmall,1.001\n\
         g2,2019-11-11T00:00:02+08:00,paid,o6,taobao,0.01\n\
         g1,2019-11-10T16:00:01Z,paid,o1,taobao,99.00\n\
         g3,2019-11-11T00:00:03+08:00,refunded,o1,tmall,10\n",
    )
    .expect("write");
    common::ingest(&wh, &[&log]);
    let totals = common::manifest(&wh)["runs"][0]["totals"].clone();
    assert_eq!(totals["records"], 8);
    assert_eq!(totals["accepted"], 3);
    assert_eq!(totals["duplicates"], 1);
    assert_eq!(totals["rejected"], 4);
    let rejects = common::sql(&wh, "SELECT line, kind FROM rejects ORDER BY line");
    let got: Vec<(String, String)> = rejects[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("3", "csv_field_count"),
        ("4", "bad_time"),
        ("5", "bad_event_type"),
        ("6", "bad_amount"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    // The first delivery of g1 won: tmall, 10.00.
    let g1 = common::sql(
        &wh,
        "SELECT platform, amount_cny FROM transactions WHERE event_id = 'g1'",
    );
    assert_eq!(g1[1], vec!["tmall".to_string(), "10.00".to_string()]);
    assert_eq!(
        common::day_totals(&wh),
        ("2".to_string(), "10.01".to_string())
    );
}

#[test]
fn a_changed_rate_for_a_converted_day_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = warehouse_with_sample(dir.path());
    let before = common::snapshot(&wh);
    let rates = std::fs::read_to_string(common::sample_rates()).expect("rates");
    let changed: String = rates
        .lines()
        .map(|l| {
            if l.starts_with("USD,2019-11-11,") {
                "USD,2019-11-11,9.999".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("changed.csv");
    std::fs::write(&path, changed).expect("write");
    let log = dir.path().join("new.csv");
    common::write_volume_csv(&log, 10, "fx-");
    let err = common::fails(
        &[
            "ingest",
            common::path(&log),
            "--warehouse",
            common::path(&wh),
            "--fx-rates",
            common::path(&path),
        ],
        65,
    );
    assert!(
        err.contains("USD on 2019-11-11") && err.contains("9.999000"),
        "{err}"
    );
    assert_untouched(&wh, &before);
}
