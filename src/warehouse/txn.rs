//! The warehouse's one write path: a transaction that names, stages, records and commits
//! files, all or nothing.
//!
//! Ingest and the format upgrade both write through a [`WriteTxn`]: it hands out the staged
//! path of each new file, records each file written there (a [`DataFile`] of the manifest) and
//! the committed files the run replaces, and commits them with the protocol of
//! [`commit`](crate::warehouse::commit) (staging under `_staging/<run>/`, `COMMIT.json` as the
//! commit point, moves, manifest). Nothing outside this file and `commit.rs` knows where
//! staging lives or how a commit is laid out, so the storage behind it can change alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::warehouse::commit::{self, CommitPlan, STAGING_DIR};
use crate::warehouse::manifest::{DataFile, Manifest, RunRecord, FORMAT_VERSION};
use crate::warehouse::tables::Table;

/// The files of one run (or upgrade) between its first write and its commit.
#[derive(Debug)]
pub struct WriteTxn {
    root: PathBuf,
    run_id: String,
    /// (staged path, final path), relative to the root.
    moves: Vec<(String, String)>,
    new_files: Vec<DataFile>,
    /// Committed files this transaction replaces, relative to the root.
    deletes: Vec<String>,
    /// Files named so far per table and CST day, for the next file's number.
    named: HashMap<(&'static str, Option<String>), usize>,
}

/// A file of the transaction, named but not yet recorded: write it at [`Self::path`], then
/// [`WriteTxn::record`] it.
#[derive(Debug)]
pub struct NewFile {
    table: &'static Table,
    rel: String,
    cst_date: Option<String>,
    /// Where to write the file (in staging, invisible to readers).
    pub path: PathBuf,
}

impl WriteTxn {
    /// Opens a transaction for the run `run_id` of the warehouse at `root` (the caller holds
    /// the writer lock).
    pub fn open(root: &Path, run_id: &str) -> Result<Self> {
        let txn = WriteTxn {
            root: root.to_path_buf(),
            run_id: run_id.to_string(),
            moves: Vec::new(),
            new_files: Vec::new(),
            deletes: Vec::new(),
            named: HashMap::new(),
        };
        let staging = txn.staging();
        std::fs::create_dir_all(&staging)
            .map_err(|e| Error::io(staging.display().to_string(), e))?;
        Ok(txn)
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn staging(&self) -> PathBuf {
        self.root.join(STAGING_DIR).join(&self.run_id)
    }

    /// A private folder of the transaction for temporary files (spilled state), removed with
    /// it whether it commits or not.
    pub fn scratch_dir(&self, name: &str) -> PathBuf {
        self.staging().join(name)
    }

    /// Names the transaction's next file of `table` (of the CST day `cst_date`, for a table
    /// partitioned by day).
    pub fn new_file(&mut self, table: &'static Table, cst_date: Option<&str>) -> NewFile {
        let seq = self
            .named
            .entry((table.name, cst_date.map(str::to_string)))
            .or_default();
        let rel = table.file_path(cst_date, &self.run_id, *seq);
        *seq += 1;
        NewFile {
            table,
            path: self.staging().join(&rel),
            rel,
            cst_date: cst_date.map(str::to_string),
        }
    }

    /// Records a file written at its staged path, with its rows and size in bytes.
    pub fn record(&mut self, file: NewFile, rows: u64, bytes: u64) {
        let staged = format!("{STAGING_DIR}/{}/{}", self.run_id, file.rel);
        self.moves.push((staged, file.rel.clone()));
        self.new_files.push(DataFile {
            table: file.table.name.into(),
            path: file.rel,
            cst_date: file.cst_date,
            rows,
            bytes,
            run_id: self.run_id.clone(),
        });
    }

    /// Deletes a committed file when the transaction commits (its rows are replaced).
    pub fn delete(&mut self, file: &DataFile) {
        self.deletes.push(file.path.clone());
    }

    /// Whether any file was recorded.
    pub fn has_new_files(&self) -> bool {
        !self.new_files.is_empty()
    }

    /// Commits every recorded file and delete, all or nothing, over `manifest` (the one the
    /// transaction started from), adding `run` to its runs (and counting it) when given.
    /// Returns the manifest now committed.
    pub fn commit(&mut self, mut manifest: Manifest, run: Option<RunRecord>) -> Result<Manifest> {
        let deletes = std::mem::take(&mut self.deletes);
        manifest.files.retain(|f| !deletes.contains(&f.path));
        manifest.files.append(&mut self.new_files);
        if let Some(run) = run {
            manifest.next_run += 1;
            manifest.runs.push(run);
        }
        manifest.format_version = FORMAT_VERSION;
        manifest.written_by = env!("CARGO_PKG_VERSION").into();
        let plan = CommitPlan {
            moves: std::mem::take(&mut self.moves),
            deletes,
            manifest,
        };
        commit::commit(&self.root, &self.run_id, &plan)?;
        Ok(plan.manifest)
    }

    /// Drops everything staged, unless the commit point was reached (then the commit record
    /// is the truth, and the next open finishes it).
    pub fn discard(&self) {
        commit::discard_uncommitted(&self.staging());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::tables::{PER_SECOND_TABLE, REJECTS_TABLE};

    #[test]
    fn files_are_numbered_per_table_and_day() {
        let dir = std::env::temp_dir().join(format!("d11-txn-{}", std::process::id()));
        let mut txn = WriteTxn::open(&dir, "r000007").unwrap();
        let a = txn.new_file(&PER_SECOND_TABLE, Some("2019-11-11"));
        let b = txn.new_file(&PER_SECOND_TABLE, Some("2019-11-12"));
        let c = txn.new_file(&PER_SECOND_TABLE, Some("2019-11-11"));
        let r = txn.new_file(&REJECTS_TABLE, None);
        assert_eq!(
            a.rel,
            "per_second/cst_date=2019-11-11/per_second-r000007-0000.parquet"
        );
        assert_eq!(
            b.rel,
            "per_second/cst_date=2019-11-12/per_second-r000007-0000.parquet"
        );
        assert_eq!(
            c.rel,
            "per_second/cst_date=2019-11-11/per_second-r000007-0001.parquet"
        );
        assert_eq!(r.rel, "rejects/rejects-r000007-0000.parquet");
        assert_eq!(
            a.path,
            dir.join(
                "_staging/r000007/per_second/cst_date=2019-11-11/per_second-r000007-0000.parquet"
            )
        );
        txn.record(r, 3, 100);
        assert!(txn.has_new_files());
        assert_eq!(
            txn.moves,
            [(
                "_staging/r000007/rejects/rejects-r000007-0000.parquet".to_string(),
                "rejects/rejects-r000007-0000.parquet".to_string()
            )]
        );
        txn.discard();
        assert!(!dir.join("_staging/r000007").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
