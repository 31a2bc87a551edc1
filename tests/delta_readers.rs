//! The warehouse's tables are Delta Lake tables that a reader no one here wrote reads right:
//! Polars' `scan_delta` and the Python `deltalake` package (from the CI venv, see
//! bench/requirements.txt) see exactly the rows and the GMV that double11 reports, at the
//! Delta versions each warehouse version pins, after one ingest and after a second; and
//! double11's own `--as-of` returns the earlier figures, as `history` lists the versions.

use crate::common;

use std::path::{Path, PathBuf};

/// Python with Polars and deltalake: `$DOUBLE11_VENV/bin/python`, else the CI venv's.
pub(crate) fn python(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("DOUBLE11_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/double11-venv")))?;
    let python = venv.join("bin/python");
    let works = std::process::Command::new(&python)
        .args(["-c", "import deltalake, polars"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        common::cannot_run_here(
            test,
            &format!("{} cannot import deltalake and polars", python.display()),
            "pip install -r bench/requirements.txt into $DOUBLE11_VENV (.ci/run does)",
        );
        return None;
    }
    Some(python)
}

/// What the Python readers see of each table at the versions `pins` (table -> Delta version).
const READ: &str = r#"
import json, os, sys
import polars as pl
from deltalake import DeltaTable
wh, pins = sys.argv[1], json.loads(sys.argv[2])
# An S3 warehouse: the AWS_* settings this process was given.
so = {k: v for k, v in os.environ.items() if k.startswith("AWS_")} if wh.startswith("s3://") else None
out = {}
for table, version in sorted(pins.items()):
    path = f"{wh}/{table}"
    dt = DeltaTable(path, version=version, storage_options=so)
    files = len(dt.file_uris())
    rows = pl.scan_delta(path, version=version, storage_options=so).select(pl.len()).collect().item()
    out[table] = [rows, files]
tx = pl.scan_delta(f"{wh}/transactions", version=pins["transactions"], storage_options=so)
orders = tx.filter(pl.col("event_type") == "paid")
by_day = (orders.group_by("cst_date").agg(pl.len().alias("orders"), pl.col("amount_cny").sum().alias("gmv"))
          .sort("cst_date").collect())
out["gmv_by_day"] = [[str(d), n, str(g)] for d, n, g in by_day.iter_rows()]
print(json.dumps(out, sort_keys=True))
"#;

pub(crate) fn python_view(
    python: &Path,
    wh: &Path,
    manifest: &serde_json::Value,
) -> serde_json::Value {
    python_json(python, READ, common::path(wh), &manifest["tables"], &[])
}

/// [`python_view`] of the warehouse at `place` (a folder or an `s3://` URL), the Python
/// process given `env` (the `AWS_*` settings of an S3 warehouse).
pub(crate) fn python_view_at(
    python: &Path,
    place: &str,
    manifest: &serde_json::Value,
    env: &[(&str, &str)],
) -> serde_json::Value {
    python_json(python, READ, place, &manifest["tables"], env)
}

/// Runs the Python `script` with the warehouse `wh` and `pins` (JSON) as arguments; what it
/// prints, as JSON.
fn python_json(
    python: &Path,
    script: &str,
    wh: &str,
    pins: &serde_json::Value,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let out = std::process::Command::new(python)
        .args(["-c", script, wh, &pins.to_string()])
        .envs(env.iter().copied())
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "the Python Delta reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The same figures from double11 (at warehouse version `as_of`, or the latest).
pub(crate) fn double11_view(
    wh: &Path,
    manifest: &serde_json::Value,
    as_of: Option<u64>,
) -> serde_json::Value {
    double11_view_at(common::path(wh), manifest, as_of, &common::double11)
}

/// [`double11_view`] of the warehouse at `place`, run by the commands `double11` makes.
pub(crate) fn double11_view_at(
    place: &str,
    manifest: &serde_json::Value,
    as_of: Option<u64>,
    double11: &dyn Fn() -> std::process::Command,
) -> serde_json::Value {
    let as_of = as_of.map(|v| v.to_string());
    let sql = |query: &str| {
        let mut args = vec!["sql", "--warehouse", place, "--format", "csv", "-c", query];
        if let Some(v) = &as_of {
            args.extend(["--as-of", v.as_str()]);
        }
        let out = double11().args(&args).output().expect("double11 runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        common::parse_csv(&String::from_utf8_lossy(&out.stdout)).split_off(1)
    };
    let mut out = serde_json::Map::new();
    for table in manifest["tables"].as_object().expect("tables").keys() {
        let rows = sql(&format!("SELECT count(*) FROM {table}"))[0][0]
            .parse::<u64>()
            .expect("n");
        let files = manifest["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter(|f| f["table"] == table.as_str())
            .count();
        out.insert(table.clone(), serde_json::json!([rows, files]));
    }
    let days = sql(
        "SELECT cst_date, count(*), sum(amount_cny) FROM transactions \
         WHERE event_type = 'paid' GROUP BY cst_date ORDER BY cst_date",
    );
    let days: Vec<serde_json::Value> = days
        .into_iter()
        .map(|r| serde_json::json!([r[0], r[1].parse::<u64>().expect("n"), r[2]]))
        .collect();
    out.insert("gmv_by_day".into(), days.into());
    serde_json::Value::Object(out)
}

#[test]
fn polars_and_deltalake_see_what_double11_reports_at_every_version() {
    let test = "polars_and_deltalake_see_what_double11_reports_at_every_version";
    let Some(python) = python(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let logs = common::sample_logs();
    let first: Vec<PathBuf> = ["2018-11-11-a.csv", "2019-11-11-a.csv"]
        .iter()
        .map(|f| logs.join(f))
        .collect();
    let first: Vec<&Path> = first.iter().map(PathBuf::as_path).collect();
    common::ingest(&wh, &first);
    let v1 = common::manifest(&wh);
    let at_v1 = double11_view(&wh, &v1, None);
    assert_eq!(
        python_view(&python, &wh, &v1),
        at_v1,
        "after the first ingest"
    );
    let days = at_v1["gmv_by_day"].to_string();
    assert!(
        days.contains("2019-11-11") && days.contains("2018-11-11"),
        "{at_v1}"
    );

    common::ingest(&wh, &[&logs]);
    let v2 = common::manifest(&wh);
    let at_v2 = double11_view(&wh, &v2, None);
    assert_ne!(at_v1, at_v2, "the second ingest added rows");
    assert_eq!(
        python_view(&python, &wh, &v2),
        at_v2,
        "after the second ingest"
    );
    // Every table at its latest Delta version is the pinned one (nothing beyond a pin).
    let latest = python_json(
        &python,
        "import json,sys\nfrom deltalake import DeltaTable\n\
         print(json.dumps({t: DeltaTable(f'{sys.argv[1]}/{t}').version() for t in json.loads(sys.argv[2])}))",
        common::path(&wh),
        &v2["tables"],
        &[],
    );
    assert_eq!(latest, v2["tables"]);
    // Each transactions file's event_time range is in its Delta statistics (engines skip files
    // by it): their union is the table's range.
    let ranges = python_json(
        &python,
        "import json,sys\nimport polars as pl\nfrom deltalake import DeltaTable\n\
         t = pl.DataFrame(DeltaTable(f'{sys.argv[1]}/transactions').get_add_actions(flatten=True))\n\
         print(json.dumps([t.height, t['min.event_time'].count(), \
         str(t['min.event_time'].min()), str(t['max.event_time'].max())]))",
        common::path(&wh),
        &v2["tables"],
        &[],
    );
    let files = ranges[0].as_u64().expect("files");
    assert!(files >= 2, "{ranges}");
    assert_eq!(
        ranges[1].as_u64(),
        Some(files),
        "every file has a range: {ranges}"
    );
    let ours = common::sql(
        &wh,
        "SELECT to_char(min(event_time) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S'), \
         to_char(max(event_time) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') FROM transactions",
    );
    for (i, theirs) in [&ranges[2], &ranges[3]].iter().enumerate() {
        let theirs = theirs.as_str().expect("text");
        assert!(
            theirs.starts_with(&ours[1][i]),
            "Delta statistics {theirs} vs double11 {:?}",
            ours[1]
        );
    }

    // Time travel: double11 --as-of the first version gives the first figures.
    let version = v1["version"].as_u64().expect("version");
    assert_eq!(
        double11_view(&wh, &v1, Some(version)),
        at_v1,
        "--as-of {version}"
    );
    let history = common::ok(&[
        "history",
        "--warehouse",
        common::path(&wh),
        "--format",
        "json",
    ]);
    let history: serde_json::Value = serde_json::from_str(&history).expect("JSON");
    let listed: Vec<u64> = history
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(
        listed.first(),
        v2["version"].as_u64().as_ref(),
        "newest first"
    );
    assert!(listed.contains(&version));
    assert_eq!(history[0]["operation"], "ingest");
}
