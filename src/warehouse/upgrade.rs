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
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::schema::{
    PER_HOUR, PER_HOUR_FILE_SCHEMA, PER_SECOND, PER_SECOND_FILE_SCHEMA, TRANSACTIONS,
};
use crate::warehouse::commit::{self, CommitPlan, STAGING_DIR};
use crate::warehouse::manifest::{DataFile, Manifest, FORMAT_VERSION};
use crate::warehouse::parquet_files::{read_columns, write_sorted_file};
use crate::warehouse::per_hour;
use crate::warehouse::per_second;
use crate::warehouse::rollups::Rollups;

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

    let staging = root.join(STAGING_DIR).join(UPGRADE_ID);
    let mut plan = CommitPlan {
        moves: Vec::new(),
        deletes: Vec::new(),
        manifest,
    };
    // Writes a day's rollup (already sorted by its first three columns) into staging and
    // adds it to the plan.
    let mut stage =
        |table: &str, schema: &SchemaRef, date: &str, rel: String, batch: RecordBatch| {
            let bytes = write_sorted_file(&staging.join(&rel), schema, &batch, &[0, 1, 2])?;
            plan.moves
                .push((format!("{STAGING_DIR}/{UPGRADE_ID}/{rel}"), rel.clone()));
            plan.manifest.files.push(DataFile {
                table: table.into(),
                path: rel,
                cst_date: Some(date.to_string()),
                rows: batch.num_rows() as u64,
                bytes,
                run_id: UPGRADE_ID.into(),
            });
            Ok::<(), Error>(())
        };
    for (date, mut day) in days {
        if needs_per_second {
            let rel = per_second::file_path(&date, UPGRADE_ID, 0);
            let batch = day.per_second.take_batch()?;
            stage(PER_SECOND, &PER_SECOND_FILE_SCHEMA, &date, rel, batch)?;
        }
        let rel = per_hour::file_path(&date, UPGRADE_ID, 0);
        let batch = day.per_hour.take_batch()?;
        stage(PER_HOUR, &PER_HOUR_FILE_SCHEMA, &date, rel, batch)?;
    }
    for dir in [staging, root.join(PER_SECOND), root.join(PER_HOUR)] {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    }
    plan.manifest.format_version = FORMAT_VERSION;
    plan.manifest.written_by = env!("CARGO_PKG_VERSION").into();
    commit::commit(root, UPGRADE_ID, &plan)?;
    Ok(plan.manifest)
}
