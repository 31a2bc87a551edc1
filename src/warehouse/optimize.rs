//! `double11 optimize`: compacting a day's small files into a few large, sorted ones, in one
//! warehouse version.
//!
//! Scheduled runs every ten minutes leave 144 files a day in each of `transactions`,
//! `per_second` and `per_hour`, each sorted within itself only. For every day (or the one
//! given) where a table has more than one file, optimize sorts all of that day's rows by the
//! table's order (then by every other column, so that equal keys cannot come out in another
//! order: a re-run writes the same bytes) with DataFusion (it spills to disk past the memory
//! limit), writes files of up to `rows_per_file` rows with double11's own writer (statistics,
//! page index, sorting columns), and commits them through the one write path: per table one
//! Delta version of `remove`s and `add`s with `dataChange: false` (Delta's `OPTIMIZE`), then
//! the warehouse version. The rows, and so every figure, are unchanged; the replaced files stay
//! for `--as-of` until `double11 vacuum`. Not delta-rs' own optimize: it bin-packs without
//! sorting.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{col, ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::warehouse::manifest::{DataFile, Manifest};
use crate::warehouse::parquet_files::write_sorted_file;
use crate::warehouse::storage::Storage;
use crate::warehouse::tables::{Table, PER_HOUR_TABLE, PER_SECOND_TABLE, TRANSACTIONS_TABLE};
use crate::warehouse::txn::WriteTxn;
use crate::warehouse::Warehouse;

/// The tables optimize compacts: those with a file per day and run.
const COMPACTED: [&Table; 3] = [&TRANSACTIONS_TABLE, &PER_SECOND_TABLE, &PER_HOUR_TABLE];

/// One table's day, before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    pub table: &'static str,
    pub day: String,
    pub files_before: usize,
    pub files_after: usize,
    pub rows: u64,
}

/// What an optimize did.
#[derive(Debug, Clone)]
pub struct OptimizeReport {
    pub compacted: Vec<Compacted>,
    /// The warehouse version it committed (none when there was nothing to compact).
    pub version: Option<u64>,
}

/// Compacts the day `day` (every day when `None`) of the warehouse at `root`.
pub async fn optimize(
    root: &Path,
    day: Option<&str>,
    settings: &Settings,
) -> Result<OptimizeReport> {
    let (wh, manifest) = Warehouse::open_existing_for_writing(root)?;
    let storage = wh.storage();
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(settings.memory_limit()?)))
        .build_arc()?;
    let ctx = SessionContext::new_with_config_rt(
        SessionConfig::new().with_target_partitions(settings.threads()),
        runtime,
    );
    storage.register(&ctx)?;
    let mut txn = WriteTxn::open(&storage, &Manifest::run_id(manifest.next_run))?;
    let mut compacted = Vec::new();
    let result = async {
        for table in COMPACTED {
            let mut days: BTreeMap<&str, Vec<&DataFile>> = BTreeMap::new();
            for f in manifest.files_of(table.name) {
                if let Some(d) = f.cst_date.as_deref() {
                    if day.is_none_or(|want| want == d) {
                        days.entry(d).or_default().push(f);
                    }
                }
            }
            for (d, files) in days {
                if files.len() < 2 {
                    continue;
                }
                let (written, rows) =
                    compact(&ctx, &storage, table, d, &files, &mut txn, settings).await?;
                for f in &files {
                    txn.delete(f);
                }
                compacted.push(Compacted {
                    table: table.name,
                    day: d.to_string(),
                    files_before: files.len(),
                    files_after: written,
                    rows,
                });
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    if let Err(e) = result {
        txn.discard();
        return Err(e);
    }
    if compacted.is_empty() {
        txn.discard();
        return Ok(OptimizeReport {
            compacted,
            version: None,
        });
    }
    let committed = txn.commit(manifest, None, "optimize")?;
    Ok(OptimizeReport {
        compacted,
        version: Some(committed.version),
    })
}

/// Writes the rows of `files` (one day of `table`) sorted, in files of up to `rows_per_file`
/// rows; returns how many files and rows.
async fn compact(
    ctx: &SessionContext,
    storage: &Storage,
    table: &'static Table,
    day: &str,
    files: &[&DataFile],
    txn: &mut WriteTxn,
    settings: &Settings,
) -> Result<(usize, u64)> {
    let paths: Vec<String> = files
        .iter()
        .map(|f| storage.file_url(&f.path))
        .collect::<Result<_>>()?;
    let schema = table.schema();
    let options = ParquetReadOptions::default().schema(schema.as_ref());
    let frame = ctx.read_parquet(paths, options).await?;
    let order: Vec<usize> = table.sort_columns()?;
    let mut keys: Vec<_> = order
        .iter()
        .map(|&i| col(schema.field(i).name()).sort(true, false))
        .collect();
    for (i, field) in schema.fields().iter().enumerate() {
        if !order.contains(&i) {
            keys.push(col(field.name()).sort(true, false));
        }
    }
    let mut stream = frame.sort(keys)?.execute_stream().await?;
    let (mut written, mut rows) = (0, 0u64);
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0;
    let limit = settings.rows_per_file.max(1);
    let threads = settings.threads();
    // The files' columns are encoded as jobs of this pool: `--threads` of them, not one per core.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("double11-optimize-{i}"))
        .build()
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot start optimize's threads: {e}")))?;
    let mut flush = |batches: &mut Vec<RecordBatch>, txn: &mut WriteTxn| -> Result<()> {
        if batches.is_empty() {
            return Ok(());
        }
        let batch = concat_batches(schema, batches.iter())?;
        batches.clear();
        let file = txn.new_file(table, Some(day));
        let bytes =
            pool.install(|| write_sorted_file(&file.path, schema, &batch, &order, threads))?;
        let n = batch.num_rows() as u64;
        txn.record(file, n, bytes);
        written += 1;
        rows += n;
        Ok(())
    };
    while let Some(batch) = stream.next().await {
        let mut batch = batch?;
        while pending_rows + batch.num_rows() >= limit {
            let take = limit - pending_rows;
            pending.push(batch.slice(0, take));
            flush(&mut pending, txn)?;
            pending_rows = 0;
            batch = batch.slice(take, batch.num_rows() - take);
        }
        if batch.num_rows() > 0 {
            pending_rows += batch.num_rows();
            pending.push(batch);
        }
    }
    flush(&mut pending, txn)?;
    Ok((written, rows))
}
