//! Bringing a warehouse written by an older double11 up to the current format, in place, and
//! creating a new one.
//!
//! Format 4 made every table a Delta Lake table and the manifest a series of warehouse
//! versions (see [`pins`](crate::warehouse::pins)). An older warehouse (its `manifest.json`
//! of format 1 to 3) is converted the first time a double11 that knows Delta opens it with the
//! writer lock: a run an older double11 was killed in is finished first; then each table gets
//! a Delta log whose first version adds the files the old manifest lists, where they are (no
//! data file is copied or rewritten); warehouse version 1 pins them, with the old runs, and
//! `manifest.json` becomes a marker that an older double11 refuses ("written by a newer
//! double11"). Until version 1 is written nothing refers to the new logs, so a kill during the
//! conversion leaves the old warehouse, and the next open converts again.
//!
//! Formats 1 and 2 also lack rollups that ingest now writes beside `transactions` (2:
//! `per_second`, 3: `per_hour`): they are summed from the committed `transactions` files and
//! committed through the one write path as warehouse version 2.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::schema::TRANSACTIONS;
use crate::warehouse::commit::{self, write_atomic, MANIFEST_FILE};
use crate::warehouse::delta;
use crate::warehouse::manifest::{Manifest, FORMAT, FORMAT_VERSION};
use crate::warehouse::parquet_files::{read_columns, write_sorted_file};
use crate::warehouse::pins::Pins;
use crate::warehouse::rollups::{self, Rollup};
use crate::warehouse::storage::Storage;
use crate::warehouse::tables;
use crate::warehouse::txn::{now_rfc3339, WriteTxn};

/// The run id the upgrade's files carry.
pub(crate) const UPGRADE_ID: &str = "upgrade";

/// Converts the older warehouse at `root` (it has a `manifest.json` of format 1 to 3 and no
/// warehouse version) and returns its latest version. Needs the writer lock.
pub(crate) fn upgrade(root: &Path, pins: &Pins) -> Result<Manifest> {
    commit::recover(root)?;
    let path = root.join(MANIFEST_FILE);
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&name, e))?;
    let old = Manifest::parse(&text, &name)?;
    let old_format = old.format_version;
    tracing::info!(
        "converting a warehouse written by double11 {} (format {old_format}) to Delta Lake tables",
        old.written_by
    );
    let storage = Storage::Local(root.to_path_buf());
    let manifest = to_delta(&storage, pins, old, "upgrade")?;
    add_rollups(&storage, manifest, old_format)
}

/// Creates a new, empty warehouse in `storage` (the writer lock held): its tables, and
/// warehouse version 1.
pub(crate) fn create(storage: &Storage, pins: &Pins) -> Result<Manifest> {
    to_delta(storage, pins, Manifest::empty(), "create")
}

/// Gives every table a Delta log whose first version holds its files in `manifest`, then
/// commits warehouse version 1 over them, then marks `manifest.json`.
fn to_delta(
    storage: &Storage,
    pins: &Pins,
    mut manifest: Manifest,
    operation: &str,
) -> Result<Manifest> {
    manifest.tables.clear();
    for table in tables::ALL {
        if let Storage::Local(root) = storage {
            let dir = root.join(table.name);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        }
        // A log that no warehouse version refers to yet: a conversion that was killed.
        storage.delete_all(&format!("{}/_delta_log", table.name))?;
        let files: Vec<_> = manifest.files_of(table.name).cloned().collect();
        let url = storage.table_url(table)?;
        let version = delta::block_on(delta::create(&url, table, &files))?;
        manifest.tables.insert(table.name.to_string(), version);
    }
    manifest.format = FORMAT.into();
    manifest.format_version = FORMAT_VERSION;
    manifest.written_by = env!("CARGO_PKG_VERSION").into();
    manifest.version = 1;
    manifest.operation = operation.into();
    manifest.committed_at = now_rfc3339();
    crate::faults::point("first-version", 0);
    delta::block_on(pins.put(&manifest))?;
    mark_format(storage)?;
    Ok(manifest)
}

/// Makes `manifest.json` say that the warehouse is of format 4, so that an older double11
/// refuses it rather than write its own manifest beside the Delta tables.
pub(crate) fn mark_format(storage: &Storage) -> Result<()> {
    // An S3 warehouse was never of an older format: there is nothing to mark.
    let Storage::Local(root) = storage else {
        return Ok(());
    };
    let path = root.join(MANIFEST_FILE);
    let current = std::fs::read_to_string(&path).ok().and_then(|text| {
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["format_version"].as_u64())
    });
    if current == Some(u64::from(FORMAT_VERSION)) {
        return Ok(());
    }
    let marker = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": env!("CARGO_PKG_VERSION"),
        "note": "The tables are Delta Lake tables; the warehouse versions (what is committed) \
                 are in _double11/versions/. Read them with double11 0.1 or later, or any \
                 Delta Lake reader at the versions the latest warehouse version pins.",
    });
    let text = serde_json::to_vec_pretty(&marker).map_err(|e| Error::Other(e.into()))?;
    write_atomic(&path, &text)
}

/// Adds the rollups a warehouse of `old_format` lacks, summed from its `transactions` files,
/// as the warehouse version after `manifest`.
fn add_rollups(storage: &Storage, manifest: Manifest, old_format: u32) -> Result<Manifest> {
    let missing = || -> Vec<Box<dyn Rollup>> {
        rollups::all()
            .into_iter()
            .filter(|r| old_format < r.since_format())
            .collect()
    };
    let names: Vec<&str> = missing().iter().map(|r| r.table().name).collect();
    if names.is_empty() {
        return Ok(manifest);
    }
    tracing::info!(
        "adding {} to a warehouse written by double11 {}",
        the_tables(&names),
        manifest.written_by
    );
    let mut columns: Vec<&str> = Vec::new();
    for rollup in missing() {
        for c in rollup.source_columns() {
            if !columns.contains(c) {
                columns.push(c);
            }
        }
    }
    let mut days: BTreeMap<String, Vec<Box<dyn Rollup>>> = BTreeMap::new();
    for file in manifest.files_of(TRANSACTIONS) {
        let Some(date) = &file.cst_date else { continue };
        let day = days.entry(date.clone()).or_insert_with(missing);
        read_columns(&storage.source(&file.path), &columns, |batch| {
            day.iter_mut().try_for_each(|r| r.add_transactions(batch))
        })?;
    }

    let mut txn = WriteTxn::open(storage, UPGRADE_ID)?;
    for (date, day) in days {
        for mut rollup in day {
            // A day's rollup is already in its table's order.
            let table = rollup.table();
            let batch = rollup.take_batch()?;
            let file = txn.new_file(table, Some(&date));
            let bytes = write_sorted_file(
                &file.path,
                table.schema(),
                &batch,
                &table.sort_columns()?,
                crate::settings::available_cores(),
            )?;
            txn.record(file, batch.num_rows() as u64, bytes);
        }
    }
    if !txn.has_new_files() {
        txn.discard();
        return Ok(manifest);
    }
    txn.commit(manifest, None, "upgrade")
}

/// "the per_hour table", "the per_second and per_hour tables".
fn the_tables(names: &[&str]) -> String {
    match names {
        [] => "no table".into(),
        [one] => format!("the {one} table"),
        [init @ .., last] => format!("the {} and {last} tables", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_names_the_tables_added() {
        assert_eq!(the_tables(&["per_hour"]), "the per_hour table");
        assert_eq!(
            the_tables(&["per_second", "per_hour"]),
            "the per_second and per_hour tables"
        );
    }
}
