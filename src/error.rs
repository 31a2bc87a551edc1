//! Errors a user can act on, and the exit code each one maps to.
//!
//! Bad *lines* are never errors: they go to the rejects table. These are the problems that
//! stop a command: a missing file, a corrupt archive, a full disk, a warehouse from a newer
//! double11. Each names the file it is about and says what to do next where that helps.

use std::io;

/// Exit codes, documented in the README and in `--help`.
pub mod exit {
    /// Everything worked (rejected lines are reported, not a failure).
    pub const OK: i32 = 0;
    /// An unexpected failure (a bug or an environment problem not covered below).
    pub const FAILURE: i32 = 1;
    /// Bad command line, job or SQL: fix the command.
    pub const USAGE: i32 = 2;
    /// An input or warehouse file is corrupt or from an incompatible version.
    pub const DATA: i32 = 65;
    /// A named input does not exist.
    pub const NO_INPUT: i32 = 66;
    /// Reading or writing failed: permissions, a full disk, an unreadable folder.
    pub const IO: i32 = 74;
    /// The output exists and `--force` was not given.
    pub const EXISTS: i32 = 73;
    /// Another double11 is writing to the warehouse: try again later.
    pub const BUSY: i32 = 75;
    /// A job run finished, but some lines were rejected (they are in the `rejects` table).
    pub const PARTIAL: i32 = 3;
    /// A run committed what it read, but some inputs could not be read at all and were
    /// skipped (a symlink loop, a FIFO, a `.gz` that is not gzip…): they are listed in the
    /// summary and the manifest, and a later run tries them again.
    pub const SKIPPED: i32 = 4;
    /// The job file is invalid, or its column mapping does not fit the inputs.
    pub const CONFIG: i32 = 78;
    /// The cluster (`--cluster`) cannot be reached, or lost the query: try again when its
    /// scheduler and executors are up.
    pub const UNAVAILABLE: i32 = 69;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    MissingInput(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: corrupt or truncated input ({source}); nothing was written to the warehouse")]
    Corrupt {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Data(String),
    /// A query could not read a Parquet file of the warehouse (DataFusion does not always say
    /// which): [`crate::sql::diagnose`] finds the file and turns this into [`Error::Data`].
    #[error(
        "{0}; a Parquet file of the warehouse is damaged: restore the warehouse from a backup"
    )]
    DamagedWarehouse(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Config(String),
    /// A job run that finished but rejected some lines: not a failure, but its own exit code.
    #[error("some lines were rejected")]
    Partial,
    /// A run that committed, but skipped this many inputs it could not read.
    #[error("{0} input(s) could not be read and were skipped; the summary names them and why")]
    Skipped(usize),
    #[error("{0} already exists; pass --force to overwrite it")]
    Exists(String),
    #[error("{0}")]
    Sql(String),
    /// The cluster's scheduler cannot be reached, or the cluster failed the query.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<String>, source: io::Error) -> Self {
        let path = path.into();
        let source = match source.kind() {
            io::ErrorKind::PermissionDenied => {
                io::Error::new(source.kind(), format!("{source} (check the permissions)"))
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => io::Error::new(
                source.kind(),
                format!("{source} (free some space and run again; nothing was committed)"),
            ),
            io::ErrorKind::FileTooLarge => io::Error::new(
                source.kind(),
                format!("{source} (raise the file size limit, ulimit -f, or free some space, and run again; nothing was committed)"),
            ),
            _ => source,
        };
        Error::Io { path, source }
    }

    /// A read error inside a decompressor or parser: the file itself is damaged.
    pub fn corrupt(path: impl Into<String>, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::StorageFull => Self::io(path, source),
            _ => Error::Corrupt {
                path: path.into(),
                source,
            },
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Sql(_) => exit::USAGE,
            Error::MissingInput(_) => exit::NO_INPUT,
            Error::Io { .. } => exit::IO,
            Error::Corrupt { .. } | Error::Data(_) | Error::DamagedWarehouse(_) => exit::DATA,
            Error::Exists(_) => exit::EXISTS,
            Error::Busy(_) => exit::BUSY,
            Error::Config(_) => exit::CONFIG,
            Error::Partial => exit::PARTIAL,
            Error::Skipped(_) => exit::SKIPPED,
            Error::Other(_) => exit::FAILURE,
            Error::Unavailable(_) => exit::UNAVAILABLE,
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        // DataFusion wraps the root cause in context layers; users want the root message.
        let root = e.find_root();
        if matches!(
            root,
            datafusion::error::DataFusionError::ResourcesExhausted(_)
        ) {
            // Only sorts and grouped aggregations spill; a plain count(DISTINCT …) cannot.
            return Error::Sql(format!(
                "{root}; the query needs more memory than its limit allows: set it higher with \
                 --memory-limit 8G, {}=8G or a job file's [settings] memory_limit = \"8G\"",
                crate::settings::MEMORY_LIMIT_ENV,
            ));
        }
        if reads_damaged_parquet(&e) {
            return Error::DamagedWarehouse(root.to_string());
        }
        let text = root.to_string();
        if CLUSTER_FAILURES.iter().any(|s| text.contains(s)) {
            return Error::Unavailable(format!(
                "the cluster could not run the query: {text}; check that the scheduler and its \
                 executors are up (their logs say more) and run it again"
            ));
        }
        Error::Sql(text)
    }
}

/// What Ballista's client says when the cluster, not the query, failed (it passes errors on
/// as text): the scheduler went away, no executor took the job, a task failed on every try, an
/// executor died while another read its shuffle output (the Arrow Flight stream cut mid-way:
/// HTTP/2 says so; or the fetch failed, and the stage's one attempt, `STAGE_ATTEMPTS` in
/// `cluster`, was used up: Ballista names the most recent failure reason), or the scheduler
/// cancelled the job twice because an executor it used was lost (`cluster::planner::RUNS`).
const CLUSTER_FAILURES: [&str; 9] = [
    crate::cluster::planner::CANCELLED,
    "Stream closed without job completing",
    "transport error",
    "Could not connect",
    "ConnectError",
    "no executors",
    "Executor lost",
    crate::cluster::planner::STREAM_CUT,
    crate::cluster::planner::LOST_INPUT,
];

/// Whether a query failed because a Parquet file could not be decoded (a truncated or
/// overwritten file), as opposed to bad SQL: some layer of the error is Parquet's own.
fn reads_damaged_parquet(e: &datafusion::error::DataFusionError) -> bool {
    use arrow::error::ArrowError;
    use datafusion::error::DataFusionError as Df;
    use parquet::errors::ParquetError;
    let mut layer: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = layer {
        let parquet = err.downcast_ref::<ParquetError>().is_some()
            || matches!(err.downcast_ref::<Df>(), Some(Df::ParquetError(_)))
            || matches!(
                err.downcast_ref::<ArrowError>(),
                Some(ArrowError::ParquetError(_))
            );
        if parquet {
            return true;
        }
        layer = err.source();
    }
    false
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Other(e.into())
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Other(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::error::DataFusionError;

    #[test]
    fn a_lost_executor_is_the_cluster_failing_a_bad_cast_is_the_query() {
        // As Ballista's client reported them in tests/cluster.rs's executor-kill test.
        let cut = "Job 038HY24HPY000 failed: Job failed due to stage 2 failed: Task failed due to \
                   runtime execution error: DataFusionError(Shared(External(ArrowError(IpcError(\
                   \"Arrow error: Ipc error: code: 'Unknown error', message: \\\"h2 protocol \
                   error: error reading a body from connection\\\"\")))))";
        let fetch = "Job 038HY1V324000 failed: Job failed due to stage 2 failed: Stage 2 has \
                     failed 1 times, most recent failure reason: \"Error connecting to Ballista \
                     executor\"";
        for text in [cut, fetch] {
            let e = Error::from(DataFusionError::Execution(text.to_string()));
            assert_eq!(e.exit_code(), exit::UNAVAILABLE, "{e}");
            assert!(e.to_string().contains("run it again"), "{e}");
        }
        let cast = "Job 038HY1V324001 failed: Job failed due to stage 1 failed: Task failed due \
                    to runtime execution error: Cast error: Cannot cast string 'x' to value of \
                    Int64 type";
        let e = Error::from(DataFusionError::Execution(cast.to_string()));
        assert_eq!(e.exit_code(), exit::USAGE, "{e}");
    }
}
