//! `double11 vacuum`: deleting the data files no warehouse version needs any more, once they
//! are older than a retention period.
//!
//! Files leave a table's latest version when `optimize` compacts them or a run replaces the
//! rates; they stay on disk so that `--as-of` can read earlier versions, until vacuum deletes
//! those removed longer ago than `--older-than` (Delta's own `VACUUM`, in its lite mode: only
//! files a commit removed; files of crashed runs are deleted when the next writer opens the
//! warehouse). Vacuum's own Delta commits are pinned by a `vacuum` warehouse version. Earlier
//! versions whose files are gone can no longer be read with `--as-of`: double11 says so, naming
//! the vacuum.

use std::path::Path;

use crate::error::{Error, Result};
use crate::warehouse::delta;
use crate::warehouse::tables;
use crate::warehouse::txn::now_rfc3339;
use crate::warehouse::Warehouse;

/// What a vacuum did (or, dry, would do).
#[derive(Debug, Clone)]
pub struct VacuumReport {
    /// Files deleted (or that would be), relative to the warehouse root.
    pub files: Vec<String>,
    /// The warehouse version it committed (none for a dry run or when nothing changed).
    pub version: Option<u64>,
}

/// Deletes the files of the warehouse at `root` that its latest version no longer lists and
/// that were removed more than `older_than` ago; with `dry_run`, only lists them.
pub fn vacuum(root: &Path, older_than: std::time::Duration, dry_run: bool) -> Result<VacuumReport> {
    let (wh, manifest) = Warehouse::open_existing_for_writing(root)?;
    let retention = chrono::Duration::from_std(older_than)
        .map_err(|_| Error::Usage(format!("--older-than {older_than:?} is too long")))?;
    // Vacuum commits to the tables' Delta logs before its warehouse version: working inside
    // `_staging/` tells the next open to undo them if it is killed before that.
    let storage = wh.storage();
    storage.begin("vacuum")?;
    let mut files = Vec::new();
    let mut next = manifest.clone();
    for table in tables::ALL {
        let url = storage.table_url(table)?;
        let (deleted, version) = delta::block_on(delta::vacuum(&url, retention, dry_run))?;
        files.extend(deleted.into_iter().map(|f| format!("{}/{f}", table.name)));
        if let Some(v) = version {
            next.tables.insert(table.name.to_string(), v);
        }
    }
    files.sort();
    let version = if dry_run || next.tables == manifest.tables {
        None
    } else {
        next.version += 1;
        next.operation = "vacuum".into();
        next.committed_at = now_rfc3339();
        delta::block_on(wh.pins()?.put(&next))?;
        Some(next.version)
    };
    storage.end("vacuum");
    Ok(VacuumReport { files, version })
}
