//! Writing and reading the warehouse's Parquet files.
//!
//! Files are zstd-compressed, sorted by `event_time`, with page-level statistics and the page
//! index, so a date or time filter skips whole row groups and pages.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::compute::{lexsort_to_indices, take_record_batch, SortColumn};
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{Error, Result};

/// Rows per row group: small enough to prune an hour of a busy day, large enough to
/// compress well and give each core a few groups to scan.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

fn properties(sorting: Option<Vec<SortingColumn>>) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(sorting)
        .set_created_by(format!("double11 {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sorts `batch` by the given columns (ascending), keeping input order for equal keys.
pub fn sort_batch(batch: &RecordBatch, columns: &[usize]) -> Result<RecordBatch> {
    let keys: Vec<SortColumn> = columns
        .iter()
        .map(|i| SortColumn {
            values: Arc::clone(batch.column(*i)),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&keys, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

/// Writes one Parquet file (sorted by `sorted_by` if given) and returns its size in bytes.
pub fn write_file(
    path: &Path,
    schema: &SchemaRef,
    batch: &RecordBatch,
    sorted_by: &[usize],
) -> Result<u64> {
    let name = path.display().to_string();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display().to_string(), e))?;
    }
    let (batch, sorting) = if sorted_by.is_empty() {
        (batch.clone(), None)
    } else {
        let sorting = sorted_by
            .iter()
            .map(|i| SortingColumn {
                column_idx: *i as i32,
                descending: false,
                nulls_first: false,
            })
            .collect();
        (sort_batch(batch, sorted_by)?, Some(sorting))
    };
    let file = File::create(path).map_err(|e| Error::io(&name, e))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(schema), Some(properties(sorting)))?;
    writer.write(&batch).map_err(|e| parquet_io(&name, e))?;
    let file = writer.into_inner().map_err(|e| parquet_io(&name, e))?;
    file.sync_all().map_err(|e| Error::io(&name, e))?;
    Ok(file.metadata().map_err(|e| Error::io(&name, e))?.len())
}

/// Parquet wraps I/O errors (a full disk, say); unwrap them so the user sees the cause.
fn parquet_io(name: &str, e: parquet::errors::ParquetError) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => Error::io(name, *io),
                Err(other) => Error::Data(format!("{name}: {other}")),
            }
        }
        other => Error::Data(format!("{name}: {other}")),
    }
}

/// Calls `f(event_time_ms, event_id)` for every row of a `transactions` file, reading only
/// those two columns.
pub fn for_each_event_id(path: &Path, mut f: impl FnMut(i64, &str) -> Result<()>) -> Result<()> {
    use arrow::array::TimestampMillisecondArray;
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(&name, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::Data(format!("{name}: unreadable Parquet ({e})")))?;
    let index = |column: &str| {
        builder
            .schema()
            .index_of(column)
            .map_err(|_| Error::Data(format!("{name}: no column {column}")))
    };
    let (id_index, time_index) = (index("event_id")?, index("event_time")?);
    let mask = ProjectionMask::roots(builder.parquet_schema(), [id_index, time_index]);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()?;
    let wrong = || Error::Data(format!("{name}: event_id or event_time has the wrong type"));
    for batch in reader {
        let batch = batch?;
        let ids = batch
            .column_by_name("event_id")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(wrong)?;
        let times = batch
            .column_by_name("event_time")
            .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
            .ok_or_else(wrong)?;
        for i in 0..batch.num_rows() {
            if ids.is_valid(i) && times.is_valid(i) {
                f(times.value(i), ids.value(i))?;
            }
        }
    }
    Ok(())
}

/// Reads a whole (small) Parquet file, such as the rates table.
pub fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(&name, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::Data(format!("{name}: unreadable Parquet ({e})")))?
        .build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}
