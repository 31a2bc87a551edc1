//! A warehouse written on S3 (a real SeaweedFS server, [`common::s3`]): ingest, a re-run,
//! `optimize`, `vacuum` and a job write it exactly as they write a local one (the same data
//! files byte for byte, the same reports); kill -9 at every step of an ingest's and an
//! optimize's commit leaves it as before or as after, and the re-run gives the same files; the
//! writer lease keeps a second writer out and is taken over from a writer that died.

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

const DAY: &str = "2019-11-11";

fn ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("double11 runs");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The data files of the tables (not their Delta logs), with their bytes, names relative to
/// the warehouse.
fn local_data(wh: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = common::snapshot(wh)
        .into_iter()
        .filter(|(name, _)| is_data(name))
        .collect();
    out.sort();
    out
}

fn s3_data(s3: &common::s3::S3, prefix: &str) -> Vec<(String, Vec<u8>)> {
    s3.download(prefix)
        .into_iter()
        .filter(|(name, _)| is_data(name))
        .collect()
}

fn is_data(name: &str) -> bool {
    name.ends_with(".parquet") && !name.contains("_delta_log") && !name.starts_with("_staging")
}

fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
    files.iter().map(|(n, _)| n.as_str()).collect()
}

fn report(s3: &common::s3::S3, place: &str, out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut report = vec!["-q"];
    report.extend(common::report_all_args(place, None));
    report.extend(["--out", common::path(out)]);
    ok(s3.double11().args(report));
    common::snapshot(out)
}

fn figures(s3: &common::s3::S3, place: &str) -> String {
    ok(s3.double11().args([
        "-q",
        "sql",
        "--warehouse",
        place,
        "--format",
        "csv",
        "-c",
        "SELECT cst_date, count(*), sum(amount_cny) FROM transactions GROUP BY 1 ORDER BY 1",
    ]))
}

#[test]
fn an_s3_warehouse_is_written_exactly_like_a_local_one() {
    let test = "an_s3_warehouse_is_written_exactly_like_a_local_one";
    let Some(s3) = common::s3::server(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = common::sample_logs();
    let first = sample.join("generated");
    let local_wh = dir.path().join("wh");
    let local = common::path(&local_wh).to_string();
    let remote = s3.url("write/wh");
    // Two runs each: the second de-duplicates against the first's committed files.
    for place in [&local, &remote] {
        for input in [&first, &sample] {
            ok(s3
                .double11()
                .args(["-q", "ingest", common::path(input), "--warehouse", place]));
        }
    }
    let want = local_data(&local_wh);
    assert!(want.len() >= 10, "{:?}", names(&want));
    let got = s3_data(s3, "write/wh");
    assert_eq!(names(&got), names(&want));
    assert!(got == want, "the same data files, byte for byte");
    let local_reports = report(s3, &local, &dir.path().join("local"));
    assert!(local_reports.len() > 20);
    assert!(report(s3, &remote, &dir.path().join("remote")) == local_reports);
    assert!(figures(s3, &remote).contains(DAY));

    // A re-run reads nothing new: no new data file, the same figures.
    let versions = |prefix: &str| {
        s3.download(prefix)
            .into_iter()
            .filter(|(n, _)| n.starts_with("_double11/versions/"))
            .count()
    };
    assert_eq!(versions("write/wh"), 3, "create and two ingests");
    let figures_before = figures(s3, &remote);
    let rerun = ok(s3
        .double11()
        .args(["ingest", common::path(&sample), "--warehouse", &remote]));
    assert!(rerun.contains("records read 0 "), "{rerun}");
    assert!(s3_data(s3, "write/wh") == got);
    assert_eq!(figures(s3, &remote), figures_before);
    // (The same re-run locally, so that both warehouses have used the same run ids.)
    ok(s3
        .double11()
        .args(["-q", "ingest", common::path(&sample), "--warehouse", &local]));
    let history = ok(s3
        .double11()
        .args(["history", "--warehouse", &remote, "--format", "json"]));
    assert!(
        history.contains("\"create\"") && history.contains("r000002"),
        "{history}"
    );

    // optimize and vacuum on S3: the same files as on local disk, the same reports.
    for place in [&local, &remote] {
        ok(s3
            .double11()
            .args(["-q", "optimize", "--warehouse", place, "--day", DAY]));
        ok(s3
            .double11()
            .args(["-q", "vacuum", "--warehouse", place, "--older-than", "0s"]));
    }
    let want = local_data(&local_wh);
    let got = s3_data(s3, "write/wh");
    assert_eq!(names(&got), names(&want));
    assert!(got == want, "the same data files after optimize and vacuum");
    assert!(report(s3, &remote, &dir.path().join("remote-optimized")) == local_reports);
    // The version before the vacuum names files that are gone.
    let out = s3
        .double11()
        .args([
            "--as-of",
            "2",
            "sql",
            "--warehouse",
            &remote,
            "-c",
            "SELECT 1",
        ])
        .output()
        .expect("double11 runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("vacuum"), "{err}");
    // A Delta reader no one here wrote (Python deltalake, Polars scan_delta) reads the S3
    // tables at the pinned versions: the rows, files and GMV double11 reports.
    if let Some(python) = crate::delta_readers::python(test) {
        let latest = s3
            .download("write/wh")
            .into_iter()
            .rfind(|(n, _)| n.starts_with("_double11/versions/"))
            .expect("a version");
        let manifest: serde_json::Value = serde_json::from_slice(&latest.1).expect("JSON");
        let env = [
            ("AWS_ACCESS_KEY_ID", s3.access_key),
            ("AWS_SECRET_ACCESS_KEY", s3.secret_key),
            ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_REGION", "us-east-1"),
        ];
        let theirs = crate::delta_readers::python_view_at(&python, &remote, &manifest, &env);
        let ours =
            crate::delta_readers::double11_view_at(&remote, &manifest, None, &|| s3.double11());
        assert_eq!(theirs, ours, "Python deltalake and Polars on S3");
        assert_eq!(
            ours,
            crate::delta_readers::double11_view(&local_wh, &common::manifest(&local_wh), None),
            "the same figures as the local warehouse"
        );
    }
    // Nothing is left of the runs' staging.
    assert!(s3
        .download("write/wh")
        .iter()
        .all(|(n, _)| !n.starts_with("_staging") && n != "_double11/writer.lease"));
}

#[test]
fn the_writer_lease_keeps_a_second_writer_out_and_is_taken_from_a_dead_one() {
    let test = "the_writer_lease_keeps_a_second_writer_out_and_is_taken_from_a_dead_one";
    let Some(s3) = common::s3::server(test) else {
        return;
    };
    let sample = common::sample_logs();
    let remote = s3.url("lease/wh");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string();
    let in_a_minute = chrono::Utc::now().timestamp_millis() + 60_000;
    let lease = |host: &str, pid: u32, expires_at: i64| {
        s3.put(
            "lease/wh/_double11/writer.lease",
            serde_json::json!({"owner": "test", "host": host, "pid": pid, "expires_at": expires_at})
                .to_string()
                .into_bytes(),
        )
    };
    // Held by a live process (this test's) on this machine: refused, naming it.
    lease(&host, std::process::id(), in_a_minute);
    let out = s3
        .double11()
        .args([
            "-q",
            "ingest",
            common::path(&sample),
            "--warehouse",
            &remote,
        ])
        .output()
        .expect("double11 runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(
        err.contains(&format!("process {}", std::process::id())) && err.contains(&host),
        "{err}"
    );
    // Held by another machine's writer, not expired: refused too.
    lease("elsewhere", 1, in_a_minute);
    let out = s3
        .double11()
        .args([
            "-q",
            "ingest",
            common::path(&sample),
            "--warehouse",
            &remote,
        ])
        .output()
        .expect("double11 runs");
    assert_eq!(out.status.code(), Some(75));
    // Expired: taken over.
    lease("elsewhere", 1, in_a_minute - 120_000);
    ok(s3.double11().args([
        "-q",
        "ingest",
        common::path(&sample),
        "--warehouse",
        &remote,
    ]));
    // Left by a process of this machine that is gone: taken over at once.
    let mut gone = std::process::Command::new("true").spawn().expect("spawn");
    let gone_pid = gone.id();
    gone.wait().expect("wait");
    lease(&host, gone_pid, in_a_minute);
    ok(s3
        .double11()
        .args(["-q", "optimize", "--warehouse", &remote]));
    // Released after each writer.
    assert!(s3
        .download("lease/wh")
        .iter()
        .all(|(n, _)| n != "_double11/writer.lease"));
}

/// One kill -9 sweep: for each crash point, a fresh copy of `setup`'s warehouse on S3, the
/// command killed there, then checked as before or as after, then re-run to the same files.
fn sweep(
    s3: &common::s3::S3,
    name: &str,
    setup: &dyn Fn(&str),
    command: &dyn Fn(&str) -> Vec<String>,
    points: &[&str],
) {
    let base = format!("{name}/base");
    setup(&s3.url(&base));
    let before = figures(s3, &s3.url(&base));
    let before_files = s3_data(s3, &base);
    ok(s3.double11().args(command(&s3.url(&base))));
    let after = figures(s3, &s3.url(&base));
    let want = s3_data(s3, &base);
    assert_ne!(
        names(&want),
        names(&before_files),
        "{name}: the command writes"
    );
    for (i, point) in points.iter().enumerate() {
        let prefix = format!("{name}/k{i}");
        let place = s3.url(&prefix);
        setup(&place);
        let status = s3
            .double11()
            .args(command(&place))
            .env("DOUBLE11_CRASH_AT", point)
            .status()
            .expect("double11 runs");
        assert_eq!(status.signal(), Some(9), "{name}: killed at {point}");
        let now = figures(s3, &place);
        assert!(
            now == before || now == after,
            "{name}, killed at {point}: neither before nor after:\n{now}"
        );
        ok(s3.double11().args(command(&place)));
        assert_eq!(figures(s3, &place), after, "{name}, killed at {point}");
        let got = s3_data(s3, &prefix);
        assert_eq!(names(&got), names(&want), "{name}, killed at {point}");
        assert!(got == want, "{name}, killed at {point}: the same files");
        assert!(
            s3.download(&prefix)
                .iter()
                .all(|(n, _)| !n.starts_with("_staging")),
            "{name}, killed at {point}: the interrupted run was cleaned up"
        );
    }
}

#[test]
fn a_killed_ingest_or_optimize_on_s3_leaves_before_or_after() {
    let test = "a_killed_ingest_or_optimize_on_s3_leaves_before_or_after";
    let Some(s3) = common::s3::server(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("big.csv");
    common::write_volume_csv(&log, 60_000, "s3k-");
    let sample = common::sample_logs();
    let rates = common::sample_rates();
    let ingest = |place: &str, input: &Path| -> Vec<String> {
        [
            "-q",
            "ingest",
            common::path(input),
            "--warehouse",
            place,
            "--fx-rates",
            common::path(&rates),
            "--rows-per-file",
            "10000",
        ]
        .map(String::from)
        .to_vec()
    };
    let setup = |place: &str| {
        ok(s3.double11().args(ingest(place, &sample)));
    };
    sweep(
        s3,
        "crash-ingest",
        &setup,
        &|place| ingest(place, &log),
        &[
            "commit:0",
            "move:0",
            "move:3",
            "delta:0",
            "delta:1",
            "delta:2",
            "pin:0",
            "cleanup:0",
        ],
    );
    let setup_twice = |place: &str| {
        ok(s3.double11().args(ingest(place, &sample.join("generated"))));
        ok(s3.double11().args(ingest(place, &sample)));
    };
    sweep(
        s3,
        "crash-optimize",
        &setup_twice,
        &|place| {
            ["-q", "optimize", "--warehouse", place]
                .map(String::from)
                .to_vec()
        },
        &[
            "commit:0",
            "move:0",
            "delta:0",
            "delta:1",
            "pin:0",
            "cleanup:0",
        ],
    );
}

/// Ingest reads logs from an S3 prefix (names them by their `s3://` URL, fetches each ahead),
/// and a scheduled job runs with its inbox and its warehouse on S3 and its run folders local:
/// the same figures and outputs as the same job on local disk; an idle re-run reads nothing.
#[test]
fn a_job_with_its_inbox_and_warehouse_on_s3_equals_the_local_job() {
    let test = "a_job_with_its_inbox_and_warehouse_on_s3_equals_the_local_job";
    let Some(s3) = common::s3::server(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = common::sample_logs();
    s3.upload(&sample, "inbox/logs");
    // Plain ingest from a prefix: the figures of the local logs; rejects name the objects.
    let local_wh = dir.path().join("plain-local");
    common::ingest(&local_wh, &[&sample]);
    let from_s3 = dir.path().join("plain-s3");
    ok(s3.double11().args([
        "-q",
        "ingest",
        &s3.url("inbox/logs/"),
        "--warehouse",
        common::path(&from_s3),
    ]));
    assert_eq!(common::day_totals(&from_s3), common::day_totals(&local_wh));
    let files = common::sql(&from_s3, "SELECT DISTINCT file FROM rejects ORDER BY 1");
    assert_eq!(files.len(), 11, "{files:?}");
    assert!(
        files[1..]
            .iter()
            .all(|r| r[0].starts_with(&s3.url("inbox/logs/"))),
        "{files:?}"
    );
    let again = ok(s3.double11().args([
        "ingest",
        &s3.url("inbox/logs/"),
        "--warehouse",
        common::path(&from_s3),
    ]));
    assert!(again.contains("records read 0 "), "{again}");

    let job = |inbox: &str, warehouse: &str, runs: &Path| {
        format!(
            "warehouse = \"{warehouse}\"\nruns_dir = \"{}\"\n[inbox]\npaths = [\"{inbox}\"]\n\
             fx_rates = \"{}\"\nsettle_seconds = 0\n[[report]]\nname = \"summary\"\n\
             day = \"2019-11-11\"\ncompare = \"2018-11-11\"\n[[report]]\nname = \"peak\"\n\
             day = \"2019-11-11\"\ntop = 5\nformat = \"json\"\n[[export]]\n\
             sql = \"SELECT event_id, event_time, amount_cny FROM transactions ORDER BY event_time, event_id\"\n\
             file = \"all.parquet\"\n",
            common::path(runs),
            common::path(&common::sample_rates())
        )
    };
    let run = |name: &str, text: String| -> std::path::PathBuf {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, text).expect("job file");
        let out = s3
            .double11()
            .args(["-q", "run", common::path(&file), "--date", "2019-11-12"])
            .output()
            .expect("double11 runs");
        assert_eq!(
            out.status.code(),
            Some(3),
            "{name}: partial (the sample has rejects): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let folders = common::run_folders(&dir.path().join(format!("runs-{name}")));
        folders.last().expect("a run folder").clone()
    };
    let local_folder = run(
        "local",
        job(
            common::path(&sample),
            common::path(&dir.path().join("job-wh")),
            &dir.path().join("runs-local"),
        ),
    );
    let s3_folder = run(
        "s3",
        job(
            &s3.url("inbox/logs/"),
            &s3.url("job/wh"),
            &dir.path().join("runs-s3"),
        ),
    );
    let outputs = |folder: &Path| -> Vec<(String, Vec<u8>)> {
        common::snapshot(folder)
            .into_iter()
            // (summary.duplicates names the input files: paths here, URLs there.)
            .filter(|(n, _)| {
                (!n.ends_with(".json") || n.contains("peak")) && !n.contains("duplicates")
            })
            .collect()
    };
    let (want, got) = (outputs(&local_folder), outputs(&s3_folder));
    assert!(want.len() >= 3, "{:?}", names(&want));
    assert_eq!(names(&got), names(&want));
    let differ: Vec<&str> = want
        .iter()
        .zip(&got)
        .filter(|(w, g)| w != g)
        .map(|(w, _)| w.0.as_str())
        .collect();
    assert!(
        differ.is_empty(),
        "differ between the local and the S3 job: {differ:?}"
    );
    assert_eq!(
        figures(s3, &s3.url("job/wh")),
        figures(s3, common::path(&dir.path().join("job-wh")))
    );
    let duplicates = |place: &str| {
        ok(s3.double11().args([
            "-q",
            "sql",
            "--warehouse",
            place,
            "-c",
            "SELECT count(*), count(DISTINCT event_id) FROM duplicates",
        ]))
    };
    assert_eq!(
        duplicates(&s3.url("job/wh")),
        duplicates(common::path(&dir.path().join("job-wh")))
    );
}
