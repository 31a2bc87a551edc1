//! Bringing a warehouse written by an older double11 up to the current format, in place.
//!
//! Each format added a rollup that ingest now writes beside `transactions` (2: `per_second`,
//! 3: `per_hour`). An older warehouse gets the rollups it lacks summed from its committed
//! `transactions` files the first time a double11 that knows them opens it with the writer
//! lock, and that is committed like an ingest run (through the same write transaction), so
//! a kill during the upgrade leaves the old warehouse, and the next open upgrades again.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::schema::TRANSACTIONS;
use crate::warehouse::manifest::{Manifest, FORMAT_VERSION};
use crate::warehouse::parquet_files::{read_columns, write_sorted_file};
use crate::warehouse::rollups::{self, Rollup};
use crate::warehouse::txn::WriteTxn;

/// The run id the upgrade's files carry.
const UPGRADE_ID: &str = "upgrade";

/// Upgrades the warehouse at `root`, whose manifest is `manifest`, to [`FORMAT_VERSION`] and
/// returns the manifest it then has (the same one when there was nothing to do). Needs the
/// writer lock.
pub fn upgrade(root: &Path, manifest: Manifest) -> Result<Manifest> {
    if manifest.format_version >= FORMAT_VERSION {
        return Ok(manifest);
    }
    let missing = |version: u32| -> Vec<Box<dyn Rollup>> {
        rollups::all()
            .into_iter()
            .filter(|r| version < r.since_format())
            .collect()
    };
    let names: Vec<&str> = missing(manifest.format_version)
        .iter()
        .map(|r| r.table().name)
        .collect();
    tracing::info!(
        "adding {} to a warehouse written by double11 {}",
        the_tables(&names),
        manifest.written_by
    );
    let mut columns: Vec<&str> = Vec::new();
    for rollup in missing(manifest.format_version) {
        for c in rollup.source_columns() {
            if !columns.contains(c) {
                columns.push(c);
            }
        }
    }
    let mut days: BTreeMap<String, Vec<Box<dyn Rollup>>> = BTreeMap::new();
    for file in manifest.files_of(TRANSACTIONS) {
        let Some(date) = &file.cst_date else { continue };
        let day = days
            .entry(date.clone())
            .or_insert_with(|| missing(manifest.format_version));
        read_columns(&root.join(&file.path), &columns, |batch| {
            day.iter_mut().try_for_each(|r| r.add_transactions(batch))
        })?;
    }

    let mut txn = WriteTxn::open(root, UPGRADE_ID)?;
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
    for rollup in rollups::all() {
        let dir = root.join(rollup.table().name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    }
    txn.commit(manifest, None)
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
