//! `double11 ingest`: its flags, and the ingest options and settings they stand for.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::ingest::input::Encoding;
use crate::ingest::IngestOptions;
use crate::settings::{
    Settings, DEFAULT_IDS_IN_MEMORY, DEFAULT_MAX_RECORD_BYTES, DEFAULT_ROWS_PER_FILE,
    MAX_MAX_RECORD_BYTES, MAX_RECORD_BYTES_ENV, MIN_MAX_RECORD_BYTES,
};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Log files, folders (their log files in path order), globs, or - for standard input.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Exchange rates CSV (currency,date,cny_per_unit). Default: the rates the warehouse
    /// already has, or the bundled sample rates for a new warehouse.
    #[arg(long, env = "DOUBLE11_FX_RATES")]
    pub fx_rates: Option<PathBuf>,
    /// Encoding of standard input (default: sniffed from the first byte).
    #[arg(long, value_enum)]
    pub stdin_format: Option<StdinFormat>,
    /// Accepted rows of one CST day held in memory before they are written out.
    #[arg(long, default_value_t = DEFAULT_ROWS_PER_FILE)]
    pub rows_per_file: usize,
    /// Event ids kept in memory for de-duplication (about 40 bytes each) before the least
    /// recently used minutes spill to disk.
    #[arg(long, default_value_t = DEFAULT_IDS_IN_MEMORY)]
    pub ids_in_memory: usize,
    /// The longest record read whole, in bytes (256 to 1073741824). A longer one (a line of
    /// GiBs with no newline, also inside a .gz or .zst) is rejected as record_too_long with
    /// its size; its first 4096 bytes are kept as its raw text, and memory stays bounded.
    #[arg(long, env = MAX_RECORD_BYTES_ENV, value_name = "BYTES",
          default_value_t = DEFAULT_MAX_RECORD_BYTES as u64,
          value_parser = clap::value_parser!(u64)
              .range(MIN_MAX_RECORD_BYTES as u64..=MAX_MAX_RECORD_BYTES as u64))]
    pub max_record_bytes: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StdinFormat {
    Csv,
    Ndjson,
}

impl From<StdinFormat> for Encoding {
    fn from(f: StdinFormat) -> Encoding {
        match f {
            StdinFormat::Csv => Encoding::Csv,
            StdinFormat::Ndjson => Encoding::Ndjson,
        }
    }
}

impl IngestArgs {
    /// `base` (the global flags and environment) with this command's buffer sizes.
    pub fn settings(&self, base: Settings) -> Settings {
        Settings {
            rows_per_file: self.rows_per_file,
            ids_in_memory: self.ids_in_memory,
            max_record_bytes: usize::try_from(self.max_record_bytes)
                .unwrap_or(MAX_MAX_RECORD_BYTES),
            ..base
        }
    }

    /// The options of this ingest, its sizes from `settings`.
    pub fn options(self, settings: &Settings, progress: bool) -> IngestOptions {
        IngestOptions {
            inputs: self.inputs,
            fx_rates: self.fx_rates,
            stdin_encoding: self.stdin_format.map(Encoding::from),
            rows_per_file: settings.rows_per_file,
            ids_in_memory: settings.ids_in_memory,
            max_record_bytes: settings.max_record_bytes,
            cached_writes: settings.cached_writes,
            threads: settings.threads(),
            progress,
            ..IngestOptions::default()
        }
    }
}
