//! A warehouse read from S3: a real S3-compatible server (SeaweedFS, [`common::s3`]) on
//! 127.0.0.1 holds a copy of the sample warehouse; every report, a query and an export over it
//! give byte for byte what the local warehouse gives; wrong credentials name the bucket and
//! what to check and never the secret. Writing one on S3: `s3_write.rs`.

use crate::common;

use std::path::Path;

const DAY: &str = "2019-11-11";
const BASE: &str = "2018-11-11";

/// Every file under `dir` with its bytes, names relative to `dir`.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    common::snapshot(dir)
}

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

#[test]
fn reports_queries_and_exports_on_s3_equal_the_local_ones() {
    let test = "reports_queries_and_exports_on_s3_equal_the_local_ones";
    let Some(s3) = common::s3::server(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    s3.upload(&wh, "reports/wh");
    let remote = s3.url("reports/wh");
    let local = common::path(&wh).to_string();
    for (name, place) in [("local", &local), ("remote", &remote)] {
        let out = dir.path().join(format!("out-{name}"));
        let mut report = common::report_all_args(place, None);
        report.extend(["--out", common::path(&out)]);
        ok(s3.double11().args(report));
        ok(s3.double11().args([
            "-q",
            "export",
            "--warehouse",
            place,
            "--table",
            "transactions",
            "--to",
            common::path(&out.join("transactions.csv")),
        ]));
    }
    let (local_out, remote_out) = (
        files(&dir.path().join("out-local")),
        files(&dir.path().join("out-remote")),
    );
    assert!(local_out.len() > 20, "{} files", local_out.len());
    for ((ln, lb), (rn, rb)) in local_out.iter().zip(&remote_out) {
        assert_eq!(ln, rn);
        assert!(
            lb == rb,
            "{ln} differs between the local and the S3 warehouse"
        );
    }
    assert_eq!(local_out.len(), remote_out.len());

    let query =
        "SELECT cst_date, count(*), sum(amount_cny) FROM transactions GROUP BY 1 ORDER BY 1";
    let figures = |place: &str| {
        ok(s3
            .double11()
            .args(["sql", "--warehouse", place, "--format", "csv", "-c", query]))
    };
    let here = figures(&local);
    assert!(here.contains(DAY) && here.contains(BASE), "{here}");
    assert_eq!(figures(&remote), here);
}

#[test]
fn wrong_credentials_name_the_bucket_and_never_the_secret() {
    let test = "wrong_credentials_name_the_bucket_and_never_the_secret";
    let Some(s3) = common::s3::server(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    s3.upload(&wh, "credentials/wh");
    let wrong = "wrong-secret-0f1e2d";
    let out = s3
        .double11_with_secret(wrong)
        .args([
            "sql",
            "--warehouse",
            &s3.url("credentials/wh"),
            "-c",
            "SELECT 1",
        ])
        .output()
        .expect("double11 runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains(s3.bucket) && err.contains("AWS_SECRET_ACCESS_KEY"),
        "names the bucket and what to check: {err}"
    );
    assert!(
        !err.contains(wrong) && !err.contains(s3.secret_key),
        "no secret: {err}"
    );

    // Writing with them: the same, and nothing is written.
    let out = s3
        .double11_with_secret(wrong)
        .args(["-q", "ingest", common::path(&common::sample_logs())])
        .args(["--warehouse", &s3.url("credentials/new")])
        .output()
        .expect("double11 runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains(s3.bucket) && err.contains("AWS_SECRET_ACCESS_KEY") && !err.contains(wrong),
        "{err}"
    );
    assert!(s3.download("credentials/new").is_empty());

    // A prefix with no warehouse says so.
    let out = s3
        .double11()
        .args([
            "sql",
            "--warehouse",
            &s3.url("nothing/here"),
            "-c",
            "SELECT 1",
        ])
        .output()
        .expect("double11 runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no warehouse here"), "{err}");
}

/// A job whose warehouse is on S3 keeps its run folders on local disk: without `runs_dir` it
/// stops before it writes, saying so at the line of `warehouse`, and creates nothing.
#[test]
fn a_job_with_an_s3_warehouse_must_name_a_local_runs_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        "warehouse = \"s3://double11-test/w\"\n[inbox]\npaths = [\"inbox/\"]\n",
    )
    .expect("job file");
    let out = common::double11()
        .current_dir(dir.path())
        .args(["run", common::path(&job)])
        .output()
        .expect("double11 runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("line 1") && err.contains("runs_dir"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("job.toml")]);
}
