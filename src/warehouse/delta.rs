//! Each table of the warehouse is a Delta Lake table: this file is everything double11 asks of
//! the `deltalake` crate.
//!
//! double11 writes its data files itself (sorted, with statistics and page indexes, see
//! [`parquet_files`](crate::warehouse::parquet_files)) and commits them here as Delta `add`
//! actions (and `remove`s of the files a run replaces), one Delta version per table and write
//! transaction, with `max_retries(0)`: a commit lands at exactly the version after the one the
//! writer pinned, or fails. A commit that a crash left without its warehouse version (see
//! [`pins`](crate::warehouse::pins)) is undone with Delta's own `restore`. Any Delta-aware
//! engine (Spark, Polars' `scan_delta`, the Python `deltalake` package, DuckDB, Trino) reads
//! the tables; double11 reads them at the versions its pin names.
//!
//! deltalake's API is async; the write path is not, so [`block_on`] runs one operation on the
//! process's I/O runtime, from any thread.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, DataType as DeltaType, Remove, StructField, Transaction};
use deltalake::logstore::{
    default_logstore, logstore_factories, object_store_factories, LogStore, LogStoreFactory,
    ObjectStoreFactory, ObjectStoreRef, StorageConfig,
};
use deltalake::operations::create::CreateBuilder;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaResult, DeltaTableBuilder, DeltaTableError, TableProperty};
use url::Url;

use crate::error::{Error, Result};
use crate::warehouse::manifest::DataFile;
use crate::warehouse::tables::Table;

/// A Delta table version.
pub(crate) type Version = u64;

/// The application id of double11's `txn` actions: its version is the warehouse version that
/// committed the table version (Delta's "idempotent writes"), for Delta-native tools.
const APP_ID: &str = "double11";

/// Runs `fut` to completion on the process's I/O runtime, from a thread of its own, so that
/// sync code can call deltalake and object stores wherever it runs (inside or outside a tokio
/// runtime).
pub(crate) fn block_on<T, F>(fut: F) -> Result<T>
where
    T: Send,
    F: Future<Output = Result<T>> + Send,
{
    let runtime = io_runtime()?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || runtime.block_on(fut))
            .join()
            .unwrap_or_else(|_| {
                Err(Error::Other(anyhow::anyhow!(
                    "a Delta Lake operation panicked"
                )))
            })
    })
}

/// The one runtime [`block_on`] runs on. One for the process, not one per call: an HTTP
/// client's pooled connections live as tasks of the runtime that opened them, so with a runtime
/// per call every S3 operation of a run would open (and on real S3, TLS-handshake) a new
/// connection.
fn io_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("double11-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Other(anyhow::anyhow!("starting a runtime: {e}")))
}

/// What `s3://` URLs mean to deltalake: our own object_store S3 client (settings from the
/// `AWS_*` variables, see [`location`](crate::warehouse::location)) and Delta's default log
/// store, whose commits are put-if-absent (`If-None-Match: *`). deltalake's `s3` feature would
/// bring the AWS SDK instead.
#[derive(Debug)]
struct S3Factory;

impl ObjectStoreFactory for S3Factory {
    fn parse_url_opts(
        &self,
        url: &Url,
        _config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, object_store::path::Path)> {
        let bucket = url.host_str().unwrap_or_default().to_string();
        let at = crate::warehouse::location::S3Prefix {
            bucket,
            prefix: String::new(),
        };
        let store = at
            .store()
            .map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        Ok((store, object_store::path::Path::parse(url.path())?))
    }
}

impl LogStoreFactory for S3Factory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<std::sync::Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// Registers [`S3Factory`] for `s3://`, once.
fn register_s3() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(s3) = Url::parse("s3://") {
            object_store_factories().insert(s3.clone(), std::sync::Arc::new(S3Factory));
            logstore_factories().insert(s3, std::sync::Arc::new(S3Factory));
        }
    });
}

/// The URL of `table`'s Delta table in the local warehouse at `root`.
pub(crate) fn table_url(root: &Path, table: &Table) -> Result<Url> {
    let dir = std::path::absolute(root.join(table.name))
        .map_err(|e| Error::io(root.display().to_string(), e))?;
    Url::from_directory_path(&dir)
        .map_err(|()| Error::Usage(format!("{}: not a usable folder path", dir.display())))
}

/// A deltalake error, naming the table and what to do.
fn error(url: &Url, e: DeltaTableError) -> Error {
    Error::Data(format!(
        "{url}: Delta Lake table: {e}. If the warehouse was changed by hand or by another \
         tool, restore it from a copy; `double11 history` lists its versions"
    ))
}

/// The Delta type of an Arrow column type of the warehouse's schema. Timestamps are stored
/// as instants (milliseconds, +08:00 in double11's files): Delta's `timestamp` is an instant.
fn delta_type(t: &arrow::datatypes::DataType) -> Result<DeltaType> {
    use arrow::datatypes::DataType as A;
    Ok(match t {
        A::Utf8 | A::LargeUtf8 | A::Utf8View => DeltaType::STRING,
        A::Int64 => DeltaType::LONG,
        A::Int32 => DeltaType::INTEGER,
        A::Boolean => DeltaType::BOOLEAN,
        A::Date32 => DeltaType::DATE,
        A::Timestamp(_, Some(_)) => DeltaType::TIMESTAMP,
        A::Decimal128(precision, scale) => {
            let scale = u8::try_from(*scale)
                .map_err(|_| Error::Other(anyhow::anyhow!("negative decimal scale {scale}")))?;
            DeltaType::decimal(*precision, scale)
                .map_err(|e| Error::Other(anyhow::anyhow!("decimal({precision}, {scale}): {e}")))?
        }
        other => {
            return Err(Error::Other(anyhow::anyhow!(
                "no Delta Lake type for the column type {other}"
            )))
        }
    })
}

/// The Delta schema of `table`: its file columns, then its partition column (a date).
fn columns(table: &Table) -> Result<Vec<StructField>> {
    let mut out = Vec::new();
    for field in table.schema().fields() {
        out.push(StructField::new(
            field.name(),
            delta_type(field.data_type())?,
            field.is_nullable(),
        ));
    }
    if let Some(partition) = table.partition {
        out.push(StructField::new(partition, DeltaType::DATE, false));
    }
    Ok(out)
}

/// Creates `table`'s Delta table at `url` (version 0), with `files` (already in the table's
/// folder) as its first files. Log clean-up is left to `double11 vacuum`, so that every
/// warehouse version stays readable until then.
pub(crate) async fn create(url: &Url, table: &Table, files: &[DataFile]) -> Result<Version> {
    register_s3();
    let adds = files
        .iter()
        .map(|f| add_action(table, f, true).map(Action::Add))
        .collect::<Result<Vec<_>>>()?;
    let mut builder = CreateBuilder::new()
        .with_location(url.as_str())
        .with_table_name(table.name)
        .with_columns(columns(table)?)
        .with_configuration_property(TableProperty::EnableExpiredLogCleanup, Some("false"))
        .with_actions(adds)
        .with_commit_properties(CommitProperties::default().with_cleanup_expired_logs(Some(false)));
    if let Some(partition) = table.partition {
        builder = builder.with_partition_columns([partition]);
    }
    let created = builder.await.map_err(|e| error(url, e))?;
    Ok(created.version().unwrap_or(0))
}

/// The Delta table at `url`, at `version` (the latest when `None`).
async fn load(url: &Url, version: Option<Version>) -> Result<deltalake::DeltaTable> {
    register_s3();
    let mut builder = DeltaTableBuilder::from_url(url.clone()).map_err(|e| error(url, e))?;
    if let Some(v) = version {
        builder = builder.with_version(v);
    }
    builder.load().await.map_err(|e| error(url, e))
}

/// The latest version of the Delta table at `url`; `None` when there is no table there.
pub(crate) async fn latest_version(url: &Url) -> Result<Option<Version>> {
    register_s3();
    let table = DeltaTableBuilder::from_url(url.clone())
        .map_err(|e| error(url, e))?
        .build()
        .map_err(|e| error(url, e))?;
    if !table
        .log_store()
        .is_delta_table_location()
        .await
        .map_err(|e| error(url, e))?
    {
        return Ok(None);
    }
    match table.get_latest_version().await {
        Ok(v) => Ok(Some(v)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(error(url, e)),
    }
}

/// What one table commit is for, recorded in its `commitInfo` (under `double11`) and as the
/// `txn` version.
#[derive(Debug, Clone)]
pub(crate) struct CommitInfo {
    /// The warehouse version this table version belongs to.
    pub warehouse_version: u64,
    /// `ingest`, `upgrade`, `optimize`, …
    pub operation: &'static str,
    pub run_id: String,
}

/// Commits `adds` and `removes` to the Delta table at `url`, on top of its version `from`
/// (which must still be its latest): returns the new version, `from + 1`. `stats` gives the
/// Delta statistics of added files (by path), where known; else only their row count.
pub(crate) async fn commit(
    url: &Url,
    table: &Table,
    from: Version,
    adds: &[DataFile],
    removes: &[DataFile],
    info: &CommitInfo,
    stats: &HashMap<String, String>,
) -> Result<Version> {
    let loaded = load(url, Some(from)).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let data_change = info.operation != "optimize";
    let mut actions = Vec::with_capacity(adds.len() + removes.len());
    for f in removes {
        actions.push(Action::Remove(remove_action(table, f, now, data_change)?));
    }
    for f in adds {
        let mut add = add_action(table, f, data_change)?;
        if let Some(s) = stats.get(&f.path) {
            add.stats = Some(s.clone());
        }
        actions.push(Action::Add(add));
    }
    let properties = CommitProperties::default()
        .with_metadata([(
            APP_ID.to_string(),
            serde_json::json!({
                "warehouse_version": info.warehouse_version,
                "operation": info.operation,
                "run_id": info.run_id,
            }),
        )])
        .with_application_transaction(Transaction::new_with_last_update(
            APP_ID,
            i64::try_from(info.warehouse_version).unwrap_or(i64::MAX),
            Some(now),
        ))
        .with_max_retries(0)
        .with_cleanup_expired_logs(Some(false));
    let partition_by = table.partition.map(|p| vec![p.to_string()]);
    let operation = match info.operation {
        "optimize" => DeltaOperation::Optimize {
            predicate: None,
            target_size: 0,
        },
        _ if !removes.is_empty() => DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by,
            predicate: None,
        },
        _ => DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by,
            predicate: None,
        },
    };
    let snapshot = loaded.snapshot().map_err(|e| error(url, e))?;
    let done = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), loaded.log_store(), operation)
        .await
        .map_err(|e| error(url, e))?;
    let version = done.version();
    if version != from + 1 {
        return Err(Error::Busy(format!(
            "{url}: committed as Delta version {version}, not {}: another writer changed the table",
            from + 1
        )));
    }
    Ok(version)
}

/// Undoes the versions after `to` of the Delta table at `url` (a crashed run's commits) with
/// one `restore` commit; returns the new latest version.
pub(crate) async fn restore(url: &Url, to: Version) -> Result<Version> {
    let (restored, _) = load(url, None)
        .await?
        .restore()
        .with_version_to_restore(to)
        .with_commit_properties(
            CommitProperties::default()
                .with_metadata([(
                    APP_ID.to_string(),
                    serde_json::json!({ "operation": "recover" }),
                )])
                .with_cleanup_expired_logs(Some(false)),
        )
        .await
        .map_err(|e| error(url, e))?;
    restored
        .version()
        .ok_or_else(|| Error::Data(format!("{url}: no version after a restore")))
}

/// Deletes the files of the Delta table at `url` that its latest version removed more than
/// `retention` ago (Delta's `VACUUM`, lite mode: only removed files); with `dry_run`, only
/// lists them. Returns their paths in the table and the table's version after it.
pub(crate) async fn vacuum(
    url: &Url,
    retention: chrono::Duration,
    dry_run: bool,
) -> Result<(Vec<String>, Option<Version>)> {
    let (after, metrics) = load(url, None)
        .await?
        .vacuum()
        .with_retention_period(retention)
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Lite)
        .with_dry_run(dry_run)
        .await
        .map_err(|e| error(url, e))?;
    Ok((metrics.files_deleted, after.version()))
}

/// `path` relative to the table's folder (a [`DataFile`]'s path is relative to the warehouse).
fn relative_path(table: &Table, file: &DataFile) -> Result<String> {
    file.path
        .strip_prefix(table.name)
        .and_then(|p| p.strip_prefix('/'))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Data(format!(
                "{}: not a file of the {} table",
                file.path, table.name
            ))
        })
}

fn partition_values(table: &Table, file: &DataFile) -> HashMap<String, Option<String>> {
    table
        .partition
        .map(|p| HashMap::from([(p.to_string(), file.cst_date.clone())]))
        .unwrap_or_default()
}

fn add_action(table: &Table, file: &DataFile, data_change: bool) -> Result<Add> {
    Ok(Add {
        path: relative_path(table, file)?,
        partition_values: partition_values(table, file),
        size: i64::try_from(file.bytes).unwrap_or(i64::MAX),
        // The commit's own time: the files are immutable and named by run.
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change,
        stats: Some(serde_json::json!({ "numRecords": file.rows }).to_string()),
        ..Default::default()
    })
}

fn remove_action(table: &Table, file: &DataFile, now: i64, data_change: bool) -> Result<Remove> {
    Ok(Remove {
        path: relative_path(table, file)?,
        data_change,
        deletion_timestamp: Some(now),
        extended_file_metadata: Some(true),
        partition_values: Some(partition_values(table, file)),
        size: Some(i64::try_from(file.bytes).unwrap_or(i64::MAX)),
        ..Default::default()
    })
}
