//! Bringing a warehouse written by an older double11 up to the current format, in place.
//!
//! Each format added a rollup that ingest now writes beside `transactions` (2: `per_second`,
//! 3: `per_hour`). An older warehouse gets the rollups it lacks summed from its committed
//! `transactions` files the first time a double11 that knows them opens it with the writer
//! lock, and that is committed like an ingest run (staged, commit record, moves, manifest), so
//! a kill during the upgrade leaves the old warehouse, and the next open upgrades again.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;

use crate::error::{Error, Result};
use crate::schema::TRANSACTIONS;
use crate::warehouse::manifest::{Manifest, FORMAT_VERSION};
use crate::warehouse::parquet_files::{read_columns, write_sorted_file};
use crate::warehouse::per_hour;
use crate::warehouse::per_second;
use crate::warehouse::rollups::Rollups;
use crate::warehouse::tables::{Table, PER_HOUR_TABLE, PER_SECOND_TABLE};
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
    let needs_per_second = manifest.format_version < 2;
    tracing::info!(
        "adding {} to a warehouse written by double11 {}",
        if needs_per_second {
            "the per_second and per_hour tables"
        } else {
            "the per_hour table"
        },
        manifest.written_by
    );
    let mut columns: Vec<&str> = per_hour::SOURCE_COLUMNS.to_vec();
    if needs_per_second {
        for c in per_second::SOURCE_COLUMNS {
            if !columns.contains(&c) {
                columns.push(c);
            }
        }
    }
    let mut days: BTreeMap<String, Rollups> = BTreeMap::new();
    for file in manifest.files_of(TRANSACTIONS) {
        let Some(date) = &file.cst_date else { continue };
        let day = days.entry(date.clone()).or_default();
        read_columns(&root.join(&file.path), &columns, |batch| {
            if needs_per_second {
                day.per_second.add_transactions(batch)?;
            }
            day.per_hour.add_transactions(batch)
        })?;
    }

    let mut txn = WriteTxn::open(root, UPGRADE_ID)?;
    for (date, mut day) in days {
        if needs_per_second {
            let batch = day.per_second.take_batch()?;
            stage(&mut txn, &PER_SECOND_TABLE, &date, batch)?;
        }
        let batch = day.per_hour.take_batch()?;
        stage(&mut txn, &PER_HOUR_TABLE, &date, batch)?;
    }
    for table in [&PER_SECOND_TABLE, &PER_HOUR_TABLE] {
        let dir = root.join(table.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    }
    txn.commit(manifest, None)
}

/// Writes a day's rollup (already in its table's order) into the transaction.
fn stage(txn: &mut WriteTxn, table: &'static Table, date: &str, batch: RecordBatch) -> Result<()> {
    let file = txn.new_file(table, Some(date));
    let bytes = write_sorted_file(&file.path, table.schema(), &batch, &table.sort_columns()?)?;
    txn.record(file, batch.num_rows() as u64, bytes);
    Ok(())
}
