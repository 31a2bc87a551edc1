//! What to ingest and how: the options of one ingest run, and their limits.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::ingest::input::Encoding;
use crate::ingest::read::chunks;
use crate::ingest::read::mapping::ColumnMapping;
use crate::settings::{
    available_cores, DEFAULT_IDS_IN_MEMORY, DEFAULT_MAX_RECORD_BYTES, DEFAULT_ROWS_PER_FILE,
};

/// What to ingest and how.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files, folders, globs, or `-` for standard input, in de-duplication order.
    pub inputs: Vec<String>,
    /// A rates CSV; without one, the warehouse's stored rates (or the bundled sample rates).
    pub fx_rates: Option<PathBuf>,
    /// Forces the encoding of standard input (files are known by their names).
    pub stdin_encoding: Option<Encoding>,
    /// Accepted rows of one CST day buffered before they are written to a file.
    pub rows_per_file: usize,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Event ids held in memory for de-duplication before older minutes spill to disk.
    pub ids_in_memory: usize,
    /// Source column names and time format, for logs that do not use the contract's.
    pub mapping: ColumnMapping,
    /// A file modified less than this long ago may still be growing: its unfinished last
    /// line (no newline yet) is left for a later run. `None` reads every file to its end.
    pub settle: Option<std::time::Duration>,
    /// Commit a run even when it found nothing new (the manifest then lists the skipped
    /// inputs). Scheduled jobs turn this off so that an idle run leaves no trace.
    pub commit_when_nothing_new: bool,
    /// The longest record held whole, in bytes: a longer one (a line of GiBs with no newline)
    /// is rejected as `record_too_long`, only its start kept, and memory stays bounded.
    pub max_record_bytes: usize,
    /// Write the run's files through the page cache instead of around it (`--cached-writes`).
    pub cached_writes: bool,
    /// Threads that parse records and encode Parquet columns (one more writes files).
    pub threads: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            inputs: Vec::new(),
            fx_rates: None,
            stdin_encoding: None,
            rows_per_file: DEFAULT_ROWS_PER_FILE,
            progress: false,
            ids_in_memory: DEFAULT_IDS_IN_MEMORY,
            mapping: ColumnMapping::default(),
            settle: None,
            commit_when_nothing_new: true,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            cached_writes: false,
            threads: available_cores(),
        }
    }
}

impl IngestOptions {
    /// Refuses options out of their range before anything is read.
    pub(crate) fn check(&self) -> Result<()> {
        if !(256..=chunks::MAX_MAX_RECORD_BYTES).contains(&self.max_record_bytes) {
            return Err(Error::Usage(format!(
                "a maximum record size of {} bytes is out of range: give 256 to {} (--max-record-bytes)",
                self.max_record_bytes,
                chunks::MAX_MAX_RECORD_BYTES
            )));
        }
        Ok(())
    }
}
