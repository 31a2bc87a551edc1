//! A damaged Parquet file in the warehouse (overwritten with garbage, truncated, or stray)
//! stops `sql`, `report` and `export` with exit 65 and a message naming the file and what to
//! do, never with a panic, exit 1 or a silently smaller figure.

use crate::common;

use std::path::{Path, PathBuf};

use common::path;

const DATA: i32 = 65;

/// A warehouse of the sample logs, ingested once per test binary run and copied per case.
fn sample_warehouse(dir: &Path) -> PathBuf {
    let wh = dir.join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    wh
}

/// The committed `transactions` file of 2019-11-11 (the first, when there are several).
fn transactions_file(wh: &Path) -> PathBuf {
    let manifest = common::manifest(wh);
    let rel = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["table"] == "transactions" && f["cst_date"] == "2019-11-11")
        .and_then(|f| f["path"].as_str())
        .expect("a transactions file of 2019-11-11");
    wh.join(rel)
}

/// `sql -c`, `report` and `export` each fail with exit 65 naming `file` and saying what to do.
fn every_reader_names(wh: &Path, file: &Path, what: &str) {
    let out = wh.parent().expect("parent").join("out.csv");
    let name = std::fs::canonicalize(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    for args in [
        vec![
            "sql",
            "--warehouse",
            path(wh),
            "-c",
            "SELECT count(*), sum(amount_cny) FROM transactions",
        ],
        vec![
            "report",
            "summary",
            "--warehouse",
            path(wh),
            "--day",
            "2019-11-11",
        ],
        vec![
            "export",
            "--warehouse",
            path(wh),
            "--table",
            "transactions",
            "--to",
            path(&out),
            "--format",
            "csv",
        ],
    ] {
        let stderr = common::fails(&args, DATA);
        assert!(
            stderr.contains(&name) && stderr.contains(what),
            "{args:?} should name {name} ({what}):\n{stderr}"
        );
        assert!(
            stderr.contains("restore it from a backup"),
            "{args:?} should say what to do:\n{stderr}"
        );
    }
    assert!(!out.exists(), "a failed export leaves no output");
}

#[test]
fn a_file_overwritten_with_garbage_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let file = transactions_file(&wh);
    let size = std::fs::metadata(&file).expect("size").len() as usize;
    // Same size, so only the content can tell.
    let garbage: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&file, garbage).expect("overwrite");
    every_reader_names(&wh, &file, "not a readable Parquet file");
}

#[test]
fn a_truncated_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let file = transactions_file(&wh);
    let bytes = std::fs::read(&file).expect("read");
    std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncate");
    every_reader_names(&wh, &file, "truncated or overwritten");
}

#[test]
fn a_stray_file_in_a_table_folder_is_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let query = "SELECT count(*), sum(amount_cny) FROM transactions";
    let before = common::sql(&wh, query);
    let day = transactions_file(&wh)
        .parent()
        .expect("partition folder")
        .to_path_buf();
    // Garbage, and a real data file copied by hand: no warehouse version lists either.
    std::fs::write(
        day.join("copied-by-hand.parquet"),
        b"PAR1 this is not parquet",
    )
    .expect("write");
    std::fs::copy(transactions_file(&wh), day.join("copy.parquet")).expect("copy");
    assert_eq!(common::sql(&wh, query), before);
}

#[test]
fn a_damaged_page_behind_an_intact_footer_is_exit_65() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = sample_warehouse(dir.path());
    let file = transactions_file(&wh);
    let mut bytes = std::fs::read(&file).expect("read");
    // Garbage over the first column chunk's pages (after the 4-byte magic), footer intact.
    let end = (bytes.len() / 3).max(64);
    for (i, b) in bytes[4..end].iter_mut().enumerate() {
        *b = (i * 31 + 17) as u8;
    }
    std::fs::write(&file, &bytes).expect("damage");
    let stderr = common::fails(
        &[
            "sql",
            "--warehouse",
            path(&wh),
            "-c",
            "SELECT sum(amount_cny), count(DISTINCT event_id) FROM transactions",
        ],
        DATA,
    );
    assert!(stderr.contains("damaged"), "{stderr}");
}
