//! Atomic commits: a run's files become visible all together, or not at all.
//!
//! A run writes its Parquet files under `_staging/<run>/`, outside every table folder, so no
//! reader sees them. To commit it writes `_staging/<run>/COMMIT.json` (by rename: the commit
//! point), then moves each file into its table folder, deletes replaced files, writes the new
//! `manifest.json` (by rename) and removes the staging folder. Every step is idempotent: after
//! a crash, [`recover`] finishes a run that reached its commit point and deletes one that did
//! not, so the warehouse is always as before the run or as after it.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::faults;
use crate::warehouse::manifest::Manifest;

pub const STAGING_DIR: &str = "_staging";
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

/// Commits a staged run: the commit point, then the moves, then the manifest.
pub fn commit(root: &Path, run_id: &str, plan: &CommitPlan) -> Result<()> {
    let staging = root.join(STAGING_DIR).join(run_id);
    let text = serde_json::to_vec_pretty(plan).map_err(|e| Error::Other(e.into()))?;
    faults::point("commit", 0);
    write_atomic(&staging.join(COMMIT_FILE), &text)?;
    apply(root, &staging, plan)
}

fn apply(root: &Path, staging: &Path, plan: &CommitPlan) -> Result<()> {
    for (done, (from, to)) in plan.moves.iter().enumerate() {
        faults::point("move", done);
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
    faults::point("manifest", 0);
    let manifest = serde_json::to_vec_pretty(&plan.manifest).map_err(|e| Error::Other(e.into()))?;
    write_atomic(&root.join(MANIFEST_FILE), &manifest)?;
    faults::point("cleanup", 0);
    fs::remove_dir_all(staging).map_err(|e| Error::io(staging.display().to_string(), e))?;
    Ok(())
}

/// Removes the staging folder of a run that failed before its commit point. A run that got
/// past it is left for [`recover`] to finish: its commit record is the truth now.
pub fn discard_uncommitted(staging: &Path) {
    if !staging.join(COMMIT_FILE).exists() {
        let _ = fs::remove_dir_all(staging);
    }
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
