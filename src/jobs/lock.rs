//! One job run at a time per runs folder.
//!
//! The lock is an OS file lock on `<runs>/.lock`: the OS drops it when the holder dies, however
//! it dies, so a lock can never outlive its process. The file also holds a note (pid, job,
//! start time) so a second run can say who is running, and a run that finds the note of a
//! holder that is gone knows the last run was killed and says so in its run manifest.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const LOCK_FILE: &str = ".lock";

/// Who holds (or last held) the lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockNote {
    pub pid: u32,
    pub job: String,
    pub run_id: String,
    pub started_at: String,
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// The note a killed earlier run left behind, if any.
    pub stale: Option<LockNote>,
}

impl RunLock {
    /// Takes the lock without waiting. A held lock is [`Error::Busy`] naming the holder.
    pub fn acquire(runs_dir: &Path, note: &LockNote) -> Result<RunLock> {
        fs::create_dir_all(runs_dir).map_err(|e| Error::io(runs_dir.display().to_string(), e))?;
        let path = runs_dir.join(LOCK_FILE);
        let shown = path.display().to_string();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&shown, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = read_note(&mut file)
                    .map(|n| {
                        format!(
                            "run {} of job {} (pid {}, started {})",
                            n.run_id, n.job, n.pid, n.started_at
                        )
                    })
                    .unwrap_or_else(|| "another run".into());
                return Err(Error::Busy(format!(
                    "{holder} is still going and holds {shown}; this run did nothing. Try again when it has finished"
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&shown, e)),
        }
        // Locked: a note still in the file was left by a run that never finished.
        let stale = read_note(&mut file);
        if let Some(s) = &stale {
            tracing::warn!(
                "run {} of job {} (pid {}) died without finishing; taking over its lock",
                s.run_id,
                s.job,
                s.pid
            );
        }
        let mut lock = RunLock { file, path, stale };
        lock.write_note(Some(note))?;
        Ok(lock)
    }

    /// Replaces the holder's note (once the run has its id).
    pub fn update_note(&mut self, note: &LockNote) -> Result<()> {
        self.write_note(Some(note))
    }

    fn write_note(&mut self, note: Option<&LockNote>) -> Result<()> {
        let text = match note {
            Some(n) => serde_json::to_vec(n).map_err(|e| Error::Other(e.into()))?,
            None => Vec::new(),
        };
        let shown = self.path.display().to_string();
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| self.file.write_all(&text))
            .and_then(|()| self.file.sync_all())
            .map_err(|e| Error::io(shown, e))
    }

    /// Clears the note (the run finished) and releases the lock.
    pub fn release(mut self) -> Result<()> {
        self.write_note(None)
    }
}

fn read_note(file: &mut File) -> Option<LockNote> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(run: &str) -> LockNote {
        LockNote {
            pid: std::process::id(),
            job: "j".into(),
            run_id: run.into(),
            started_at: "now".into(),
        }
    }

    #[test]
    fn a_second_holder_is_refused_and_a_dead_holders_note_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = RunLock::acquire(dir.path(), &note("a")).expect("first");
        assert_eq!(first.stale, None);
        // Another open file description of the same file cannot lock it while `first` lives.
        let err = RunLock::acquire(dir.path(), &note("b")).expect_err("held");
        assert!(matches!(err, Error::Busy(_)), "{err}");
        assert!(err.to_string().contains("run a of job j"), "{err}");
        // Dropped without release, as a killed run would: the next run takes over.
        drop(first);
        let second = RunLock::acquire(dir.path(), &note("c")).expect("taken over");
        assert_eq!(second.stale.as_ref().map(|n| n.run_id.as_str()), Some("a"));
        second.release().expect("release");
        let third = RunLock::acquire(dir.path(), &note("d")).expect("clean");
        assert_eq!(third.stale, None);
    }
}
