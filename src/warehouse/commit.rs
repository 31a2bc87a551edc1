//! Durable local writes ([`write_atomic`], [`sync_dir`]), and finishing the commit of a run
//! that a double11 older than format 4 was killed in.
//!
//! Up to format 3 a run committed by writing `_staging/<run>/COMMIT.json` (the commit point),
//! moving its files into the table folders and rewriting `manifest.json`. A warehouse of that
//! format may have been left mid-commit: [`recover`] finishes such a run (or discards one that
//! had not reached its commit point) before the warehouse is upgraded to Delta Lake tables.
//! Runs of format 4 commit through [`crate::warehouse::txn`].

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::warehouse::manifest::Manifest;

pub const STAGING_DIR: &str = "_staging";
/// The manifest of formats 1 to 3; in format 4, a marker that an older double11 refuses.
pub const MANIFEST_FILE: &str = "manifest.json";
const COMMIT_FILE: &str = "COMMIT.json";

/// What a commit does, written before it does it.
#[derive(Debug, Serialize, Deserialize)]
pub struct CommitPlan {
    /// (staged path, final path), both relative to the warehouse root.
    pub moves: Vec<(String, String)>,
    /// Committed files this run replaces, relative to the root.
    pub deletes: Vec<String>,
    pub manifest: Manifest,
}

/// Writes `bytes` to `path` atomically: a hidden temporary sibling, fsync, rename. A reader
/// never sees half a file, and a failed write leaves no temporary behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = fs::File::create(&tmp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path.display().to_string(), e));
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Makes a rename durable. Best effort: not every file system lets a folder be synced.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn apply(root: &Path, staging: &Path, plan: &CommitPlan) -> Result<()> {
    for (from, to) in &plan.moves {
        let (from, to) = (root.join(from), root.join(to));
        if from.exists() {
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| Error::io(parent.display().to_string(), e))?;
            }
            fs::rename(&from, &to).map_err(|e| Error::io(to.display().to_string(), e))?;
        } else if !to.exists() {
            return Err(Error::Data(format!(
                "{}: staged file missing and not committed; the warehouse needs repair",
                from.display()
            )));
        }
    }
    for rel in &plan.deletes {
        let path = root.join(rel);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path.display().to_string(), e)),
        }
    }
    let manifest = serde_json::to_vec_pretty(&plan.manifest).map_err(|e| Error::Other(e.into()))?;
    write_atomic(&root.join(MANIFEST_FILE), &manifest)?;
    fs::remove_dir_all(staging).map_err(|e| Error::io(staging.display().to_string(), e))?;
    Ok(())
}

/// Finishes or discards whatever a crashed run left in `_staging/`. Returns whether there was
/// anything to do.
pub fn recover(root: &Path) -> Result<bool> {
    let staging_root = root.join(STAGING_DIR);
    let Ok(entries) = fs::read_dir(&staging_root) else {
        return Ok(false);
    };
    let mut dirs: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    dirs.sort();
    let mut any = false;
    for dir in dirs {
        any = true;
        let commit_file = dir.join(COMMIT_FILE);
        match fs::read(&commit_file) {
            Ok(text) => {
                let plan: CommitPlan = serde_json::from_slice(&text).map_err(|e| {
                    Error::Data(format!(
                        "{}: damaged commit record ({e})",
                        commit_file.display()
                    ))
                })?;
                tracing::warn!(
                    "finishing the commit of an interrupted run ({})",
                    dir.display()
                );
                apply(root, &dir, &plan)?;
            }
            Err(_) => {
                tracing::warn!(
                    "discarding an interrupted, uncommitted run ({})",
                    dir.display()
                );
                fs::remove_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
            }
        }
    }
    Ok(any)
}
