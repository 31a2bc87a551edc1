//! Writing and reading the warehouse's Parquet files.
//!
//! Files are zstd-compressed, sorted by `event_time`, with page-level statistics and the page
//! index, so a date or time filter skips whole row groups and pages.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array,
};
use arrow::compute::{lexsort_to_indices, take_record_batch, SortColumn};
use arrow::datatypes::{FieldRef, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn,
    ArrowRowGroupWriterFactory,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::schema::{coded_text_type, LOW_CARDINALITY_TEXT_COLUMNS};
use crate::warehouse::coded_text;
use crate::warehouse::direct_file::DirectFile;
use crate::warehouse::manifest::Manifest;
use crate::warehouse::storage::Source;

/// Rows per row group: small enough to prune an hour of a busy day, large enough to
/// compress well and give each core a few groups to scan.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// zstd level 1: ingesting 4.8 M generated events took 1.3 s (10 %) less CPU than with
/// level 3, and its files were 3 % smaller, not larger.
const ZSTD_LEVEL: i32 = 1;

/// Columns written without a dictionary. The ids are (nearly) all distinct: a dictionary
/// would be built only to be abandoned once it outgrows its page limit. With `event_time`
/// delta-encoded too, ingesting 19 M generated records took 7 % less CPU (87-89 -> 80-83 s
/// user, alternating runs) and the files were 2 % smaller. Amounts repeat, but zstd packs
/// their plain values as tightly as a dictionary's indices (400,000 generated events: 1.96 ->
/// 1.88 MB for both columns) while the writer's dictionary hashed every value: 2 % of
/// ingest's instructions (BENCHMARKS.md, 2026-12-04, stop 31).
const PLAIN_COLUMNS: [&str; 6] = [
    "event_id",
    "order_id",
    "buyer_id",
    "seller_id",
    "amount",
    "amount_cny",
];

/// Text columns of random ids: every page's minimum and maximum span nearly all ids, so they
/// would prune nothing, and computing them compares every value twice. Only a bloom filter
/// could serve a lookup by id. Their values are written end to end after all their lengths
/// (DELTA_LENGTH_BYTE_ARRAY), not each after its own length: zstd then meets no length
/// bytes among the digits, and a page of 36-byte event ids stores its lengths in a few bytes.
/// On 400,000 generated events: `event_id` 7.94 -> 7.41 MB, `order_id` 3.81 -> 3.40 MB, and
/// ingest ran 8 % fewer instructions (BENCHMARKS.md, 2026-12-04, stop 31). DataFusion,
/// DuckDB and Polars all read the encoding.
const RANDOM_TEXT_COLUMNS: [&str; 2] = ["event_id", "order_id"];

/// Columns zstd barely shrinks: random 64-bit ids use every bit, and sorted times are already
/// packed into a few bits per delta. In a 6.6 M-row warehouse zstd saved 3.8 % of `buyer_id`
/// and `seller_id` (105.8 -> 102.5 MB) and 8 % of `event_time` (3.7 -> 3.4 MB): 1 % of the
/// files' size, for a fifth of the bytes it compresses. See BENCHMARKS.md (2026-12-04, stop 30).
const INCOMPRESSIBLE_COLUMNS: [&str; 3] = ["buyer_id", "seller_id", "event_time"];

fn properties(sorting: Option<Vec<SortingColumn>>) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(sorting)
        .set_created_by(format!("double11 {}", env!("CARGO_PKG_VERSION")));
    for column in PLAIN_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    // The text columns of a few values each, independent of time: in a file sorted by time
    // every page holds nearly all of them (`Anhui` .. `Zhejiang`), so their minimum and
    // maximum prune no page and no row group (a filter on them reads every page either way;
    // reports by them read `per_hour`), yet computing them compares every value twice: 2-3 %
    // of ingest's CPU in perf (BENCHMARKS.md, 2026-12-04, stop 29).
    for &column in RANDOM_TEXT_COLUMNS
        .iter()
        .chain(&LOW_CARDINALITY_TEXT_COLUMNS)
    {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    for column in INCOMPRESSIBLE_COLUMNS {
        builder =
            builder.set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED);
    }
    for column in RANDOM_TEXT_COLUMNS {
        builder = builder
            .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_LENGTH_BYTE_ARRAY);
    }
    // Sorted times: deltas of a few milliseconds pack into a few bits each.
    builder
        .set_column_dictionary_enabled(ColumnPath::from("event_time"), false)
        .set_column_encoding(
            ColumnPath::from("event_time"),
            Encoding::DELTA_BINARY_PACKED,
        )
        .build()
}

/// Sorts `batch` by the given columns (ascending).
pub fn sort_batch(batch: &RecordBatch, columns: &[usize]) -> Result<RecordBatch> {
    let keys: Vec<SortColumn> = columns
        .iter()
        .map(|i| SortColumn {
            values: Arc::clone(batch.column(*i)),
            options: None,
        })
        .collect();
    let indices = match time_then_text_order(&keys) {
        Some(order) if order.iter().enumerate().all(|(i, r)| *r as usize == i) => {
            return Ok(batch.clone()); // already in order: nothing to copy
        }
        Some(order) => UInt32Array::from(order),
        None => lexsort_to_indices(&keys, None)?,
    };
    Ok(take_record_batch(batch, &indices)?)
}

/// The row order of a (millisecond timestamp, string) key such as `transactions`'
/// (`event_time`, `event_id`), or `None` when the key is of another shape, has nulls, or
/// two rows with equal keys (then `lexsort_to_indices` decides, as it always did).
///
/// Logs are nearly time-ordered: a stable sort by time alone finds them (almost) sorted, and
/// only the rows of the same millisecond then need their strings compared. With no two keys
/// equal, every correct sort gives this same order.
fn time_then_text_order(keys: &[SortColumn]) -> Option<Vec<u32>> {
    let [time, text] = keys else { return None };
    if time.options.is_some() || text.options.is_some() {
        return None;
    }
    let time = time
        .values
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()?;
    let text = text.values.as_any().downcast_ref::<StringArray>()?;
    if time.null_count() > 0 || text.null_count() > 0 {
        return None;
    }
    let rows = u32::try_from(time.len()).ok()?;
    let mut order: Vec<u32> = (0..rows).collect();
    let all_distinct = sort_by_time_then_text(
        &mut order,
        |i| time.value(i as usize),
        |i| text.value(i as usize),
    );
    all_distinct.then_some(order)
}

/// Sorts `rows` by (`time`, `text`) of each: a stable sort by time, needed only when the times
/// are out of order (logs are nearly time-ordered), then the rows of each millisecond by their
/// strings. `false` when two rows have the same key (their order is then arbitrary).
fn sort_by_time_then_text<'a, R: Copy>(
    rows: &mut [R],
    time: impl Fn(R) -> i64,
    text: impl Fn(R) -> &'a str,
) -> bool {
    if rows.windows(2).any(|w| time(w[0]) > time(w[1])) {
        rows.sort_by_key(|row| time(*row));
    }
    let mut distinct = true;
    let mut start = 0;
    while start < rows.len() {
        let t = time(rows[start]);
        let mut end = start + 1;
        while end < rows.len() && time(rows[end]) == t {
            end += 1;
        }
        if end - start > 1 {
            let group = &mut rows[start..end];
            group.sort_unstable_by(|a, b| text(*a).cmp(text(*b)));
            distinct &= group.windows(2).all(|w| text(w[0]) != text(w[1]));
        }
        start = end;
    }
    distinct
}

/// The rows `rows` ((batch, row)) of `batches`, sorted by a key of a millisecond timestamp
/// and a string (the columns `key`, such as `transactions`' (`event_time`, `event_id`), no
/// two rows alike), copied into one batch: each value is copied once, whatever the order.
///
/// The batches are taken: each column of theirs is let go as soon as it is copied, so the
/// rows are held about once, not twice, while they are sorted (unless another owner, such
/// as a day still holding rows of the same chunk, keeps a column alive).
pub fn take_sorted(
    batches: Vec<RecordBatch>,
    mut rows: Vec<(usize, usize)>,
    key: &[usize],
) -> Result<RecordBatch> {
    let &[time, text] = key else {
        return Err(Error::Other(anyhow::anyhow!(
            "take_sorted: a (time, text) key expected, got columns {key:?}"
        )));
    };
    let times = batches
        .iter()
        .map(|b| {
            b.column(time)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
        })
        .collect::<Option<Vec<_>>>();
    let texts = batches
        .iter()
        .map(|b| b.column(text).as_any().downcast_ref::<StringArray>())
        .collect::<Option<Vec<_>>>();
    let (Some(times), Some(texts)) = (times, texts) else {
        return Err(Error::Other(anyhow::anyhow!(
            "take_sorted: columns {key:?} are not a millisecond timestamp and a string"
        )));
    };
    // The accept stage keeps one row per event id and instant: no two keys are equal.
    sort_by_time_then_text(
        &mut rows,
        |(b, r)| times[b].value(r),
        |(b, r)| texts[b].value(r),
    );
    drop((times, texts));
    gather_rows(batches, &rows, true)
}

/// The rows `rows` ((batch, row)) of `batches`, in that order, as one batch: column by column,
/// side by side on the current rayon pool when `parallel`. Coded text columns are gathered
/// by key ([`coded_text::gather`]), the others by Arrow's `interleave`. Each column's sources
/// are let go once it is copied.
pub fn gather_rows(
    batches: Vec<RecordBatch>,
    rows: &[(usize, usize)],
    parallel: bool,
) -> Result<RecordBatch> {
    let Some(schema) = batches.first().map(|b| b.schema()) else {
        return Err(Error::Other(anyhow::anyhow!(
            "gather_rows: no batches to take rows of"
        )));
    };
    // Column by column: each column's sources, one array per batch.
    let mut columns: Vec<Vec<ArrayRef>> =
        vec![Vec::with_capacity(batches.len()); schema.fields().len()];
    for batch in batches {
        if batch.schema() != schema {
            return Err(Error::Other(anyhow::anyhow!(
                "gather_rows: batches of other schemas"
            )));
        }
        for (sources, column) in columns.iter_mut().zip(batch.columns()) {
            sources.push(Arc::clone(column));
        }
    }
    let coded = coded_text_type();
    let gather = |sources: Vec<ArrayRef>| -> Result<ArrayRef> {
        let refs: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
        if refs.first().is_some_and(|a| a.data_type() == &coded) {
            coded_text::gather(&refs, rows)
        } else {
            Ok(arrow::compute::interleave(&refs, rows)?)
        }
    };
    let gathered = if parallel {
        columns
            .into_par_iter()
            .map(gather)
            .collect::<Result<Vec<_>>>()?
    } else {
        columns
            .into_iter()
            .map(gather)
            .collect::<Result<Vec<_>>>()?
    };
    Ok(RecordBatch::try_new(schema, gathered)?)
}

/// Writes one Parquet file (sorted by `sorted_by` if given) and returns its size in bytes.
/// The batch is taken so that, once sorted, its unsorted rows are freed before encoding.
/// Columns are encoded as in [`write_sorted_file`].
pub fn write_file(
    path: &Path,
    schema: &SchemaRef,
    batch: RecordBatch,
    sorted_by: &[usize],
    threads: usize,
) -> Result<u64> {
    let batch = if sorted_by.is_empty() {
        batch
    } else {
        let sorted = sort_batch(&batch, sorted_by)?;
        drop(batch);
        sorted
    };
    write_sorted_file(path, schema, &batch, sorted_by, threads)
}

/// Writes one Parquet file of rows already sorted by the columns `sorted_by` (recorded in
/// the file's metadata) and returns its size in bytes. Columns are encoded on the current
/// rayon pool (the caller's, to bound the threads), or one after the other when `threads` is 1.
pub fn write_sorted_file(
    path: &Path,
    schema: &SchemaRef,
    batch: &RecordBatch,
    sorted_by: &[usize],
    threads: usize,
) -> Result<u64> {
    let (file, bytes) = write_sorted_file_unsynced(path, schema, batch, sorted_by, threads, true)?;
    file.sync_all()
        .map_err(|e| Error::io(path.display().to_string(), e))?;
    Ok(bytes)
}

/// [`write_sorted_file`], but the file is not yet on disk: it is returned, with its size, for
/// the caller to sync (ingest syncs on another thread while it writes the next file). `direct`:
/// written around the page cache ([`DirectFile`]), else through it.
pub fn write_sorted_file_unsynced(
    path: &Path,
    schema: &SchemaRef,
    batch: &RecordBatch,
    sorted_by: &[usize],
    threads: usize,
    direct: bool,
) -> Result<(File, u64)> {
    let name = path.display().to_string();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display().to_string(), e))?;
    }
    let sorting = (!sorted_by.is_empty()).then(|| {
        sorted_by
            .iter()
            .map(|i| SortingColumn {
                column_idx: *i as i32,
                descending: false,
                nulls_first: false,
            })
            .collect()
    });
    let file = DirectFile::create(path, direct).map_err(|e| Error::io(&name, e))?;
    let writer = ArrowWriter::try_new(file, Arc::clone(schema), Some(properties(sorting)))?;
    // What `ArrowWriter::write` does, row group by row group, but with the columns of each
    // row group encoded and compressed on every core: the same bytes, sooner.
    let (mut writer, columns) = writer.into_serialized_writer()?;
    let mut start = 0;
    for group in 0.. {
        if start >= batch.num_rows() {
            break;
        }
        let rows = ROW_GROUP_ROWS.min(batch.num_rows() - start);
        let chunks = encode_row_group(&columns, group, schema, &batch.slice(start, rows), threads)?;
        let mut row_group = writer.next_row_group().map_err(|e| parquet_io(&name, e))?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut row_group)
                .map_err(|e| parquet_io(&name, e))?;
        }
        row_group.close().map_err(|e| parquet_io(&name, e))?;
        start += rows;
    }
    let file = writer.into_inner().map_err(|e| parquet_io(&name, e))?;
    file.finish().map_err(|e| Error::io(&name, e))
}

/// Encodes the columns of one row group, each column a job of the current rayon pool (ingest's
/// write stage runs in its pool of `--threads`; elsewhere it is rayon's global pool, one
/// thread per core), or one after the other when `threads` is 1.
fn encode_row_group(
    factory: &ArrowRowGroupWriterFactory,
    group: usize,
    schema: &SchemaRef,
    batch: &RecordBatch,
    threads: usize,
) -> Result<Vec<ArrowColumnChunk>> {
    let mut writers = factory.create_column_writers(group)?.into_iter();
    // A flat column is one Parquet leaf, computed (with its levels) only when encoded, as
    // `ArrowWriter` does, so that not every column's levels are held at once; a nested
    // column's leaves are computed here, to know how many column writers it takes.
    let mut jobs = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let leaves = if field.data_type().is_nested() {
            Some(compute_leaves(field, column)?)
        } else {
            None
        };
        let count = leaves.as_ref().map_or(1, Vec::len);
        let own: Vec<ArrowColumnWriter> = writers.by_ref().take(count).collect();
        if own.len() != count {
            return Err(Error::Other(anyhow::anyhow!(
                "more Parquet leaves than column writers"
            )));
        }
        jobs.push((field, column, leaves, own));
    }
    let encoded: Vec<Vec<ArrowColumnChunk>> = if threads > 1 {
        jobs.into_par_iter()
            .map(encode_column)
            .collect::<Result<_>>()?
    } else {
        jobs.into_iter().map(encode_column).collect::<Result<_>>()?
    };
    Ok(encoded.into_iter().flatten().collect())
}

/// One column of a row group to encode: its field and values, its leaves if already computed
/// (a nested column's), and its column writers (one per leaf).
type ColumnJob<'a> = (
    &'a FieldRef,
    &'a ArrayRef,
    Option<Vec<ArrowLeafColumn>>,
    Vec<ArrowColumnWriter>,
);

/// Encodes and compresses one column of a row group.
fn encode_column((field, column, leaves, writers): ColumnJob<'_>) -> Result<Vec<ArrowColumnChunk>> {
    let leaves = match leaves {
        Some(leaves) => leaves,
        None => compute_leaves(field, column)?,
    };
    writers
        .into_iter()
        .zip(leaves)
        .map(|(mut writer, leaf)| {
            writer.write(&leaf)?;
            Ok(writer.close()?)
        })
        .collect()
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

/// Calls `f` with each batch of `columns` of the committed file `source` (a local file, or an
/// object of the bucket, read in ranges: only those columns' bytes are fetched).
pub(crate) fn read_columns(
    source: &Source,
    columns: &[&str],
    f: impl FnMut(&RecordBatch) -> Result<()> + Send,
) -> Result<()> {
    match source {
        Source::Local(path) => read_local_columns(path, columns, f),
        Source::S3 { store, name, .. } => crate::warehouse::delta::block_on(read_remote_columns(
            Arc::clone(store),
            name,
            columns,
            f,
        )),
    }
}

fn read_local_columns(
    path: &Path,
    columns: &[&str],
    mut f: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(&name, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| damaged(&name, e))?;
    let roots = column_roots(builder.schema(), &name, columns)?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| damaged(&name, e))?;
    for batch in reader {
        f(&batch.map_err(|e| damaged(&name, e))?)?;
    }
    Ok(())
}

/// Reads through DataFusion's Parquet reader over the bucket's store: ranged reads of the
/// footer and of the wanted columns only.
async fn read_remote_columns(
    store: Arc<dyn object_store::ObjectStore>,
    name: &str,
    columns: &[&str],
    mut f: impl FnMut(&RecordBatch) -> Result<()> + Send,
) -> Result<()> {
    use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
    use futures::StreamExt;
    let url = url::Url::parse(name).map_err(|e| Error::Data(format!("{name}: {e}")))?;
    let bucket = url::Url::parse(&format!(
        "{}://{}",
        url.scheme(),
        url.host_str().unwrap_or("")
    ))
    .map_err(|e| Error::Data(format!("{name}: {e}")))?;
    // The file's own types (strings as Utf8, not the views DataFusion reads them as).
    let config = SessionConfig::new().with_target_partitions(1).set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    let ctx = SessionContext::new_with_config(config);
    ctx.register_object_store(&bucket, store);
    let mut frame = ctx
        .read_parquet(name, ParquetReadOptions::default())
        .await
        .map_err(|e| damaged(name, e))?;
    if !columns.is_empty() {
        frame = frame
            .select_columns(columns)
            .map_err(|_| Error::Data(format!("{name}: no column {}", columns.join(" or "))))?;
    }
    let mut stream = frame.execute_stream().await.map_err(|e| damaged(name, e))?;
    while let Some(batch) = stream.next().await {
        f(&batch.map_err(|e| damaged(name, e))?)?;
    }
    Ok(())
}

/// The indexes of `columns` in a file's `schema` (all of them when `columns` is empty).
fn column_roots(
    schema: &arrow::datatypes::Schema,
    name: &str,
    columns: &[&str],
) -> Result<Vec<usize>> {
    if columns.is_empty() {
        return Ok((0..schema.fields().len()).collect());
    }
    columns
        .iter()
        .map(|column| {
            schema
                .index_of(column)
                .map_err(|_| Error::Data(format!("{name}: no column {column}")))
        })
        .collect()
}

/// Calls `f(event_time_ms, event_id)` for every row of a `transactions` file, reading only
/// those two columns.
pub(crate) fn for_each_event_id(
    source: &Source,
    mut f: impl FnMut(i64, &str) -> Result<()> + Send,
) -> Result<()> {
    let name = source.name();
    let wrong = || Error::Data(format!("{name}: event_id or event_time has the wrong type"));
    read_columns(source, &["event_id", "event_time"], |batch| {
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
        Ok(())
    })
}

/// Reads a whole (small) Parquet file, such as the rates table.
pub(crate) fn read_all(source: &Source) -> Result<Vec<RecordBatch>> {
    let mut batches = Vec::new();
    read_columns(source, &[], |batch| {
        batches.push(batch.clone());
        Ok(())
    })?;
    Ok(batches)
}

/// Columns whose range a Delta commit records (Delta's per-file `minValues`/`maxValues`), so
/// that Delta-aware engines skip files by time as double11's own reader does with the Parquet
/// statistics: instants, stored as milliseconds.
const DELTA_STATS_COLUMNS: [&str; 1] = ["event_time"];

/// The Delta statistics of the Parquet file at `path` with `rows` rows: `numRecords`, and the
/// minimum, maximum and null count of [`DELTA_STATS_COLUMNS`] it has, from its footer (no data
/// is read). `None` when the footer cannot be read (the commit then records the count only).
pub(crate) fn delta_stats(path: &Path, rows: u64) -> Option<String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::statistics::Statistics;
    let reader = SerializedFileReader::new(File::open(path).ok()?).ok()?;
    let meta = reader.metadata();
    let (mut mins, mut maxs, mut nulls) = (
        serde_json::Map::new(),
        serde_json::Map::new(),
        serde_json::Map::new(),
    );
    for column in DELTA_STATS_COLUMNS {
        let Some(index) = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == column)
        else {
            continue;
        };
        let mut range: Option<(i64, i64)> = None;
        let mut null_count = 0u64;
        let mut complete = true;
        for group in meta.row_groups() {
            match group.column(index).statistics() {
                Some(Statistics::Int64(s)) => {
                    null_count += s.null_count_opt().unwrap_or(0);
                    match (s.min_opt(), s.max_opt()) {
                        (Some(&lo), Some(&hi)) => {
                            range = Some(match range {
                                Some((a, b)) => (a.min(lo), b.max(hi)),
                                None => (lo, hi),
                            })
                        }
                        // A group of nulls only: no range to add.
                        _ if s.null_count_opt() == Some(group.num_rows() as u64) => {}
                        _ => complete = false,
                    }
                }
                _ => complete = false,
            }
        }
        if !complete {
            continue;
        }
        nulls.insert(column.into(), null_count.into());
        if let Some((lo, hi)) = range {
            let text = |ms: i64| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            };
            mins.insert(column.into(), text(lo)?.into());
            maxs.insert(column.into(), text(hi)?.into());
        }
    }
    Some(
        serde_json::json!({
            "numRecords": rows,
            "minValues": mins,
            "maxValues": maxs,
            "nullCount": nulls,
        })
        .to_string(),
    )
}

/// What to do about a damaged file of the warehouse.
pub const DAMAGED_ADVICE: &str = "restore it from a backup of the warehouse, or rebuild the \
     warehouse by ingesting the logs again into an empty folder";

/// A warehouse file that cannot be decoded: exit 65, naming it and what to do.
fn damaged(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Data(format!(
        "{name}: damaged Parquet file ({e}); {DAMAGED_ADVICE}"
    ))
}

/// A Parquet file under a table folder that a query cannot read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Relative to the warehouse root.
    pub path: String,
    pub reason: String,
    /// The run that committed it.
    pub run_id: Option<String>,
}

/// Finds the committed files (those the warehouse version `manifest` lists; queries read no
/// other) that queries would fail on: missing, of another size than the version recorded
/// (truncated or overwritten), or with a footer that does not parse. Reads footers only (a few
/// KiB per file), so it is quick enough to run when a query has failed.
pub fn find_damage(root: &Path, manifest: &Manifest) -> Vec<Damage> {
    let mut found = Vec::new();
    for file in &manifest.files {
        if let Err(reason) = check_footer(&root.join(&file.path), Some(file.bytes)) {
            found.push(Damage {
                path: file.path.clone(),
                reason,
                run_id: Some(file.run_id.clone()),
            });
        }
    }
    found
}

/// Whether the file at `path` exists, has `bytes` bytes (when known) and a Parquet footer that
/// parses; the reason when not.
fn check_footer(path: &Path, bytes: Option<u64>) -> std::result::Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot be opened ({e})"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot be read ({e})"))?
        .len();
    if let Some(bytes) = bytes {
        if size != bytes {
            return Err(format!(
                "has {size} bytes where the warehouse version recorded {bytes} (truncated or overwritten)"
            ));
        }
    }
    parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map(|_| ())
        .map_err(|e| format!("is not a readable Parquet file ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    fn batch(rows: &[(i64, &str)]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+08:00".into())),
                false,
            ),
            Field::new("row", DataType::Int64, false),
        ]);
        let ids = StringArray::from_iter_values(rows.iter().map(|r| r.1));
        let times = TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.0))
            .with_timezone("+08:00");
        let n = Int64Array::from_iter_values(0..rows.len() as i64);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(ids), Arc::new(times), Arc::new(n)],
        )
        .expect("batch")
    }

    fn lexsorted(b: &RecordBatch) -> RecordBatch {
        let keys = [1, 0].map(|i| SortColumn {
            values: Arc::clone(b.column(i)),
            options: None,
        });
        let indices = lexsort_to_indices(&keys, None).expect("lexsort");
        take_record_batch(b, &indices).expect("take")
    }

    /// Ids go end to end after their lengths, amounts plainly, short text through a
    /// dictionary, and every value reads back as written.
    #[test]
    fn columns_are_encoded_as_the_layout_says_and_read_back() {
        use arrow::array::Decimal128Array;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let rows = 5_000;
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("order_id", DataType::Utf8, false),
            Field::new("amount", DataType::Decimal128(9, 2), false),
            Field::new("category", DataType::Utf8, true),
        ]));
        let ids = StringArray::from_iter_values((0..rows).map(|i| format!("{i:08x}-event-{i}")));
        let orders = StringArray::from_iter_values((0..rows).map(|i| (i * 7919).to_string()));
        let amounts = Decimal128Array::from_iter_values((0..rows).map(|i| i128::from(i % 977)))
            .with_precision_and_scale(9, 2)
            .expect("decimal type");
        let categories = StringArray::from_iter(
            (0..rows).map(|i| (i % 5 != 0).then(|| ["Beauty", "Shoes, Bags"][i as usize % 2])),
        );
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(ids),
                Arc::new(orders),
                Arc::new(amounts),
                Arc::new(categories),
            ],
        )
        .expect("batch");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.parquet");
        write_sorted_file(&path, &schema, &batch, &[], 2).expect("write");

        let reader = SerializedFileReader::new(File::open(&path).expect("open")).expect("read");
        let group = reader.metadata().row_group(0);
        let encodings = |i: usize| group.column(i).encodings().collect::<Vec<_>>();
        for id in [0, 1] {
            assert!(encodings(id).contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY));
            assert!(!encodings(id).contains(&Encoding::RLE_DICTIONARY));
        }
        assert!(!encodings(2).contains(&Encoding::RLE_DICTIONARY));
        assert!(encodings(3).contains(&Encoding::RLE_DICTIONARY));

        let back = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).expect("open"))
            .expect("reader")
            .build()
            .expect("batches")
            .collect::<std::result::Result<Vec<_>, _>>()
            .expect("read back");
        let back = arrow::compute::concat_batches(&schema, &back).expect("concat");
        assert_eq!(back, batch);
    }

    #[test]
    fn the_typed_sort_orders_rows_as_lexsort_does() {
        let cases: [&[(i64, &str)]; 5] = [
            &[(1, "b"), (1, "a"), (2, "c"), (2, "a"), (3, "z")],
            &[(5, "x"), (3, "y"), (3, "b"), (9, "a"), (1, "q"), (3, "a")],
            &[(1, "a"), (2, "b"), (3, "c")],
            &[(7, "same"), (7, "same"), (1, "first")],
            &[],
        ];
        for rows in cases {
            let b = batch(rows);
            assert_eq!(
                sort_batch(&b, &[1, 0]).expect("sort"),
                lexsorted(&b),
                "{rows:?}"
            );
        }
        // Many ties in a nearly ordered log.
        let ids: Vec<String> = (0..5000)
            .map(|i| format!("{:x}", (i * 7919) % 10007))
            .collect();
        let rows: Vec<(i64, &str)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| ((i as i64 / 3) - i64::from(i % 97 == 0), id.as_str()))
            .collect();
        let b = batch(&rows);
        assert_eq!(sort_batch(&b, &[1, 0]).expect("sort"), lexsorted(&b));
    }

    #[test]
    fn rows_of_several_batches_come_out_as_lexsort_orders_them() {
        // A day's rows in three chunks, picked in arrival order (some rows of each chunk
        // belong to another day and are not picked).
        let chunks = [
            batch(&[(1, "c"), (1, "a"), (9, "other day"), (2, "b")]),
            batch(&[(3, "z"), (2, "a"), (3, "y")]),
            batch(&[(1, "b"), (4, "q"), (3, "x")]),
        ];
        let rows = vec![
            (0, 0),
            (0, 1),
            (0, 3),
            (1, 0),
            (1, 1),
            (1, 2),
            (2, 0),
            (2, 1),
            (2, 2),
        ];
        let got = take_sorted(chunks.to_vec(), rows.clone(), &[1, 0]).expect("take");
        let picked =
            arrow::compute::interleave_record_batch(&chunks.iter().collect::<Vec<_>>(), &rows)
                .expect("interleave");
        assert_eq!(got, lexsorted(&picked));
        let ids: Vec<&str> = got
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("ids")
            .iter()
            .flatten()
            .collect();
        assert_eq!(ids, ["a", "b", "c", "a", "b", "x", "y", "z", "q"]);
        // Already in order: the same rows, and other columns come along.
        let sorted =
            take_sorted(chunks[..1].to_vec(), vec![(0, 1), (0, 0), (0, 3)], &[1, 0]).expect("take");
        assert_eq!(sorted.num_rows(), 3);
        let row = sorted
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("row");
        assert_eq!(row.values(), &[1, 0, 3]);
        assert!(
            take_sorted(chunks.to_vec(), rows, &[0]).is_err(),
            "a key of one column"
        );
    }
}
