//! A warehouse written by double11 before Delta Lake (manifest format 3, committed in
//! `tests/fixtures/format3-warehouse`, made by the double11 of commit d687d51 from the six
//! hand-made sample logs: `cd sample-data/logs && double11 ingest <the six> --fx-rates
//! ../fx_rates.csv --warehouse …`) is converted in place the first time it is opened: the same reports
//! as a warehouse ingested from scratch, no data file copied or changed, the ingest ledger kept
//! (the same logs are not ingested twice), Delta tables any reader can open, and a
//! `manifest.json` that tells an older double11 to upgrade.

use crate::common;

use std::path::{Path, PathBuf};

const LOGS: [&str; 6] = [
    "2018-11-11-a.csv",
    "2018-11-11-b.jsonl.gz",
    "2019-11-11-a.csv",
    "2019-11-11-b.csv.gz",
    "2019-11-11-c.jsonl",
    "2019-11-11-d.ndjson.zst",
];

fn fixture() -> PathBuf {
    common::repo().join("tests/fixtures/format3-warehouse")
}

#[test]
fn a_format_3_warehouse_is_converted_on_first_open_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old");
    common::copy_tree(&fixture(), &old);
    let data_before: Vec<(String, Vec<u8>)> = common::snapshot(&old)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .collect();
    let old_manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(old.join("manifest.json")).expect("the fixture's manifest"),
    )
    .expect("JSON");
    assert_eq!(
        old_manifest["format_version"], 3,
        "the fixture is of format 3"
    );

    let logs: Vec<PathBuf> = LOGS.iter().map(|f| common::sample_logs().join(f)).collect();
    let logs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    // As the fixture was made: in the logs' folder, named relatively (rejects and duplicates
    // record the names as given).
    let fresh = dir.path().join("fresh");
    let status = common::double11()
        .current_dir(common::sample_logs())
        .args([
            "-q",
            "ingest",
            "--warehouse",
            common::path(&fresh),
            "--fx-rates",
        ])
        .arg(common::sample_rates())
        .args(LOGS)
        .status()
        .expect("ingest");
    assert!(status.success());

    assert_eq!(
        common::report_all(&old, None),
        common::report_all(&fresh, None),
        "the same reports"
    );
    let converted = common::manifest(&old);
    assert_eq!(converted["format_version"], 4);
    assert_eq!(converted["version"], 1);
    assert_eq!(converted["operation"], "upgrade");
    assert_eq!(
        converted["runs"], old_manifest["runs"],
        "the ledger is kept"
    );
    assert_eq!(
        converted["files"], old_manifest["files"],
        "every file is kept"
    );
    let marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(old.join("manifest.json")).expect("marker"))
            .expect("JSON");
    assert_eq!(
        marker["format_version"], 4,
        "an older double11 refuses it now"
    );
    for table in [
        "transactions",
        "rejects",
        "duplicates",
        "fx_rates",
        "per_second",
        "per_hour",
    ] {
        assert!(
            old.join(table)
                .join("_delta_log/00000000000000000000.json")
                .is_file(),
            "{table} is a Delta table"
        );
        let count = format!("SELECT count(*) FROM {table}");
        assert_eq!(
            common::sql(&old, &count),
            common::sql(&fresh, &count),
            "{table}"
        );
    }
    let data_after: Vec<(String, Vec<u8>)> = common::snapshot(&old)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .collect();
    assert_eq!(data_after, data_before, "no data file copied or changed");

    // Exactly once across the conversion: the same logs again add nothing.
    let figures = common::report_all(&old, None);
    common::ingest(&old, &logs);
    assert_eq!(common::report_all(&old, None), figures);
    let runs = common::manifest(&old)["runs"]
        .as_array()
        .expect("runs")
        .len();
    assert_eq!(
        runs,
        old_manifest["runs"].as_array().expect("runs").len() + 1
    );
}
