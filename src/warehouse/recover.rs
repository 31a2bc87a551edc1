//! After a crash: undoing what a run that never reached its warehouse version left behind.
//!
//! A run killed before its warehouse version was put (see [`txn`](crate::warehouse::txn))
//! leaves its staging folder (every writer works inside `_staging/` until its version is put),
//! and can leave files moved into table folders, and Delta versions of some
//! tables beyond those the latest warehouse version pins. None of it is visible to double11's
//! readers, which read the pinned versions; a Delta-native reader of a table's latest version
//! would see it, so the next writer (ingest, a job, or any open that can take the writer lock)
//! undoes it at once: each such table is restored to its pinned version with Delta's
//! `restore` (one more Delta version, equal to the pinned one), the run's files are deleted,
//! and a `recover` warehouse version pins the restored tables. The crashed run's id is not
//! consumed, so its re-run writes the very same files. Every step can be repeated after
//! another kill.

use crate::error::{Error, Result};
use crate::warehouse::delta;
use crate::warehouse::manifest::Manifest;
use crate::warehouse::pins::Pins;
use crate::warehouse::storage::Storage;
use crate::warehouse::tables;
use crate::warehouse::txn::now_rfc3339;
use crate::warehouse::upgrade::{mark_format, UPGRADE_ID};

/// Undoes whatever an interrupted run left in the warehouse in `storage`, whose latest
/// version is `latest`; returns the warehouse version now in force. Needs the writer lock.
pub(crate) fn recover(storage: &Storage, pins: &Pins, latest: Manifest) -> Result<Manifest> {
    // Every writer works inside `_staging/` until its warehouse version is put and removes it
    // after: without it, nothing was interrupted (and opening stays cheap).
    if !storage.interrupted()? {
        mark_format(storage)?;
        return Ok(latest);
    }
    let mut manifest = latest;
    let mut restored = Vec::new();
    for table in tables::ALL {
        let url = storage.table_url(table)?;
        let pinned = manifest.tables.get(table.name).copied().ok_or_else(|| {
            Error::Data(format!(
                "{}: warehouse version {} pins no {} table; restore the warehouse from a copy",
                storage.place(),
                manifest.version,
                table.name
            ))
        })?;
        let latest = delta::block_on(delta::latest_version(&url))?.ok_or_else(|| {
            Error::Data(format!(
                "{url}: the {} table's Delta log is missing; restore the warehouse from a copy",
                table.name
            ))
        })?;
        if latest > pinned {
            let version = delta::block_on(delta::restore(&url, pinned))?;
            manifest.tables.insert(table.name.to_string(), version);
            restored.push(table.name);
        }
        remove_orphans(storage, table, &manifest)?;
    }
    if !restored.is_empty() {
        tracing::warn!(
            "undid the table versions of an interrupted run ({})",
            restored.join(", ")
        );
        manifest.version += 1;
        manifest.operation = "recover".into();
        manifest.committed_at = now_rfc3339();
        delta::block_on(pins.put(&manifest))?;
    }
    // Last, so that a kill during the recovery leaves it to do again.
    storage.clear_staging()?;
    tracing::info!("discarded an interrupted run's staged files");
    mark_format(storage)?;
    Ok(manifest)
}

/// Deletes the files in `table`'s folders that a run which never committed wrote: the next
/// run's (it reuses the id) and an interrupted upgrade's. Files a version removed stay (for
/// time travel) until `double11 vacuum`.
fn remove_orphans(storage: &Storage, table: &tables::Table, manifest: &Manifest) -> Result<()> {
    let crashed = Manifest::run_id(manifest.next_run);
    for rel in storage.table_files(table)? {
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        if !(table.written_by(name, &crashed) || table.written_by(name, UPGRADE_ID)) {
            continue;
        }
        if manifest.files.iter().any(|f| f.path == rel) {
            continue;
        }
        storage.delete(&rel)?;
    }
    Ok(())
}
