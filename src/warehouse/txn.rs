//! The warehouse's one write path: a transaction that names, stages and records files, then
//! commits them to the tables' Delta logs and as the next warehouse version, all or nothing.
//!
//! Ingest, the format upgrade and `optimize` write through a [`WriteTxn`]: it hands out the
//! staged path of each new file (on local disk, outside every table folder: see
//! [`Storage`]), records each file written there (a [`DataFile`] of the manifest) and the
//! committed files the run replaces. [`WriteTxn::commit`] then
//! 1. moves (local) or uploads (S3) the staged files into their table folders (no table lists
//!    them yet: invisible);
//! 2. commits each changed table as one Delta version (`add`s, `remove`s), fixed order,
//!    `transactions` last;
//! 3. puts the next warehouse version, pinning those Delta versions (the commit point, see
//!    [`pins`](crate::warehouse::pins));
//! 4. removes the staging folder.
//!
//! A kill before step 3 leaves the previous version in force; the next writer undoes the
//! table versions and files the run left (see [`crate::warehouse::recover`]), and a re-run
//! writes the same files again. Replaced files stay on disk for time travel until
//! `double11 vacuum`. Nothing outside this file and [`Storage`] knows where staging lives.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::faults;
use crate::warehouse::delta::{self, CommitInfo};
use crate::warehouse::manifest::{DataFile, Manifest, RunRecord, FORMAT_VERSION};
use crate::warehouse::parquet_files;
use crate::warehouse::storage::Storage;
use crate::warehouse::tables::{self, Table};

/// The files of one run (or upgrade, or optimize) between its first write and its commit.
#[derive(Debug)]
pub struct WriteTxn {
    storage: Storage,
    run_id: String,
    /// Where its files are staged.
    staging: PathBuf,
    /// (staged path, final path relative to the warehouse).
    moves: Vec<(PathBuf, String)>,
    /// Whether a table commit was made: a failure after it leaves the run open for recovery.
    committed_tables: bool,
    new_files: Vec<DataFile>,
    /// Committed files this transaction replaces.
    deletes: Vec<DataFile>,
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
    /// Opens a transaction for the run `run_id` of the warehouse in `storage` (the caller
    /// holds the writer lock).
    pub(crate) fn open(storage: &Storage, run_id: &str) -> Result<Self> {
        let staging = storage.begin(run_id)?;
        Ok(WriteTxn {
            storage: storage.clone(),
            run_id: run_id.to_string(),
            staging,
            moves: Vec::new(),
            committed_tables: false,
            new_files: Vec::new(),
            deletes: Vec::new(),
            named: HashMap::new(),
        })
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn staging(&self) -> PathBuf {
        self.staging.clone()
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
        self.moves.push((file.path, file.rel.clone()));
        self.new_files.push(DataFile {
            table: file.table.name.into(),
            path: file.rel,
            cst_date: file.cst_date,
            rows,
            bytes,
            run_id: self.run_id.clone(),
        });
    }

    /// Replaces a committed file when the transaction commits (a `remove` in its table's log).
    pub fn delete(&mut self, file: &DataFile) {
        self.deletes.push(file.clone());
    }

    /// Whether any file was recorded.
    pub fn has_new_files(&self) -> bool {
        !self.new_files.is_empty()
    }

    /// Commits every recorded file and delete, all or nothing, as the warehouse version after
    /// `manifest` (the one the transaction started from), made by `operation`, adding `run` to
    /// its runs (and counting it) when given. Returns the manifest now committed.
    pub fn commit(
        &mut self,
        manifest: Manifest,
        run: Option<RunRecord>,
        operation: &'static str,
    ) -> Result<Manifest> {
        faults::point("commit", 0);
        // Delta's per-file statistics, from the staged files' footers.
        let stats: HashMap<String, String> = self
            .moves
            .iter()
            .zip(&self.new_files)
            .filter_map(|((staged, rel), file)| {
                Some((rel.clone(), parquet_files::delta_stats(staged, file.rows)?))
            })
            .collect();
        self.storage.publish_all(&self.moves)?;
        self.storage.settle();

        let mut next = manifest;
        next.version += 1;
        next.operation = operation.to_string();
        let deletes = std::mem::take(&mut self.deletes);
        let adds = std::mem::take(&mut self.new_files);
        let info = CommitInfo {
            warehouse_version: next.version,
            operation,
            run_id: self.run_id.clone(),
        };
        let mut committed = 0;
        for table in tables::COMMIT_ORDER {
            let of = |files: &[DataFile]| -> Vec<DataFile> {
                files
                    .iter()
                    .filter(|f| f.table == table.name)
                    .cloned()
                    .collect()
            };
            let (table_adds, table_removes) = (of(&adds), of(&deletes));
            if table_adds.is_empty() && table_removes.is_empty() {
                continue;
            }
            faults::point("delta", committed);
            committed += 1;
            let url = self.storage.table_url(table)?;
            let from = next.tables.get(table.name).copied().ok_or_else(|| {
                Error::Data(format!(
                    "{}: the warehouse version pins no {} table; restore it from a copy",
                    self.storage.place(),
                    table.name
                ))
            })?;
            self.committed_tables = true;
            let version = delta::block_on(delta::commit(
                &url,
                table,
                from,
                &table_adds,
                &table_removes,
                &info,
                &stats,
            ))?;
            next.tables.insert(table.name.to_string(), version);
        }
        next.files
            .retain(|f| !deletes.iter().any(|d| d.path == f.path));
        next.files.extend(adds);
        // A transaction named by the next run id (an ingest's, an optimize's) uses it up.
        if self.run_id == Manifest::run_id(next.next_run) {
            next.next_run += 1;
        }
        if let Some(run) = run {
            next.runs.push(run);
        }
        next.format_version = FORMAT_VERSION;
        next.written_by = env!("CARGO_PKG_VERSION").into();
        next.committed_at = now_rfc3339();
        faults::point("pin", 0);
        let pins = self.storage.pins()?;
        delta::block_on(pins.put(&next))?;
        faults::point("cleanup", 0);
        self.committed_tables = false;
        self.discard();
        Ok(next)
    }

    /// Drops everything staged and closes the run (its staging marker is what tells the next
    /// open to look for an interrupted run). A run that failed after committing a table
    /// version but before its warehouse version stays open, for the next writer to undo.
    pub fn discard(&self) {
        if self.committed_tables {
            return;
        }
        self.storage.end(&self.run_id);
    }
}

/// Now, as the manifests record times.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::tables::{PER_SECOND_TABLE, REJECTS_TABLE};

    #[test]
    fn files_are_numbered_per_table_and_day() {
        let dir = std::env::temp_dir().join(format!("d11-txn-{}", std::process::id()));
        let mut txn = WriteTxn::open(&Storage::Local(dir.clone()), "r000007").unwrap();
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
                dir.join("_staging/r000007/rejects/rejects-r000007-0000.parquet"),
                "rejects/rejects-r000007-0000.parquet".to_string()
            )]
        );
        txn.discard();
        assert!(!dir.join("_staging/r000007").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
