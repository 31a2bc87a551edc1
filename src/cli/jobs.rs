//! `double11 run` and `double11 runs`: a job file's run and the history of runs.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::jobs::history::HistoryFormat;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file (TOML).
    pub job: PathBuf,
    /// The date {run_date} stands for (default: today in CST).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Read the runs folder of this job file.
    #[arg(long, conflicts_with = "runs_dir")]
    pub job: Option<PathBuf>,
    /// The runs folder (default: <warehouse>/runs).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Only the last N runs.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    #[arg(long, value_enum, default_value_t = HistoryFormatArg::Table)]
    pub format: HistoryFormatArg,
}

/// `--format` of `double11 runs`: [`HistoryFormat`] as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormatArg {
    /// One row per run.
    Table,
    /// The run manifests themselves, as one JSON array.
    Json,
}

impl From<HistoryFormatArg> for HistoryFormat {
    fn from(f: HistoryFormatArg) -> HistoryFormat {
        match f {
            HistoryFormatArg::Table => HistoryFormat::Table,
            HistoryFormatArg::Json => HistoryFormat::Json,
        }
    }
}
