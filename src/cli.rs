//! The command line: what each subcommand takes, with examples in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::export::ExportFormat;
use crate::output::Format;

const EXIT_CODES: &str = "\
Exit codes: 0 success (rejected lines are reported, not failures), 1 unexpected failure,
2 bad command line or SQL, 3 job run finished with rejected lines (`run` only),
65 corrupt input or incompatible warehouse, 66 input not found,
73 output exists (use --force), 74 read/write error (permissions, full disk),
75 another ingest or job run holds the lock (try again later), 78 invalid job file.";

#[derive(Debug, Parser)]
#[command(
    name = "double11",
    version,
    about = "Singles' Day scale analytics: ingest transaction logs into a Parquet warehouse, query it with SQL, export it.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No progress bar and no summary table.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The warehouse folder.
    #[arg(
        long,
        global = true,
        env = "DOUBLE11_WAREHOUSE",
        default_value = crate::warehouse::DEFAULT_WAREHOUSE
    )]
    pub warehouse: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest CSV / NDJSON logs (plain, .gz, .zst) into the warehouse, exactly once.
    #[command(after_help = "Examples:
  double11 ingest sample-data/logs/
  double11 ingest 'logs/2019-11-11-*.csv.zst' --fx-rates rates.csv --warehouse /data/wh
  zcat day.jsonl.gz | double11 ingest - --stdin-format ndjson")]
    Ingest(IngestArgs),
    /// Query the warehouse with SQL: an interactive shell, or -c / -f.
    #[command(after_help = "Examples:
  double11 sql
  double11 sql -c \"SELECT cst_date, count(*) FROM transactions GROUP BY 1\" --format csv
  double11 sql -f queries/my_query.sql --format json
  double11 sql -c '\\d transactions'")]
    Sql(SqlArgs),
    /// Export a table or query to CSV, Parquet or NDJSON, one file or a partitioned folder.
    #[command(after_help = "Examples:
  double11 export --table rejects --to rejects.csv
  double11 export --sql \"SELECT * FROM transactions WHERE cst_date = DATE '2019-11-11'\" --to day.parquet
  double11 export --table transactions --to out/ --format parquet --partition-by platform --force")]
    Export(ExportArgs),
    /// Generate a synthetic Singles' Day (and its base year) calibrated to the seed figures.
    #[command(after_help = "Examples:
  double11 generate --day 2019-11-11 --scale 0.001 --out logs/ --format csv --compress zst --files 8
  double11 generate --day 2019-11-11 --scale 0.001 --stdout | double11 ingest -
  double11 generate --year-over-year 2018-11-11 --scale 0.0001 --dirty 0.02 --out logs/")]
    Generate(crate::generate::GenerateArgs),
    /// Run a report: SQL files under queries/ (summary, revenue, growth, peak, milestones, yours).
    #[command(after_help = "Examples:
  double11 report all --day 2019-11-11 --compare 2018-11-11
  double11 report peak --day 2019-11-11 --top 20 --format csv --out reports/
  double11 report growth --day 2019-11-11 --compare 2018-11-11 --format parquet --out reports/
  double11 report revenue --day 2019-11-11 --format html --out reports/
  double11 report summary --day 2019-11-11 --currency KRW --rate 166.26
  double11 report my_report --param region=Zhejiang       # your own queries/my_report.sql")]
    Report(crate::reports::ReportArgs),
    /// Run a job file: ingest what is new, run its reports, write its exports (for cron and
    /// systemd timers). One line of summary on stdout; details in runs/<run-id>/run.json.
    #[command(after_help = "Examples:
  double11 run jobs/nightly.toml
  double11 run jobs/nightly.toml --date 2019-11-12      # {run_date} = 2019-11-12, {yesterday} = 2019-11-11

Exit codes: 0 ok, 3 ok but some lines were rejected, 75 another run holds the lock,
78 invalid job file or column mapping, 65/66/74/1 failed (recorded in the run's run.json).")]
    Run(RunArgs),
    /// The history of job runs: when, inputs, counts, outcome.
    #[command(after_help = "Examples:
  double11 runs                                # runs of the warehouse's jobs (<warehouse>/runs)
  double11 runs --job jobs/nightly.toml --last 10
  double11 runs --format json | jq '.[-1].status'")]
    Runs(RunsArgs),
}

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
    #[arg(long, value_enum, default_value_t = crate::jobs::history::HistoryFormat::Table)]
    pub format: crate::jobs::history::HistoryFormat,
}

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
    #[arg(long, default_value_t = 1_000_000)]
    pub rows_per_file: usize,
    /// Event ids kept in memory for de-duplication (about 40 bytes each) before the least
    /// recently used minutes spill to disk.
    #[arg(long, default_value_t = 8_000_000)]
    pub ids_in_memory: usize,
    /// The longest record read whole, in bytes (256 to 1073741824). A longer one (a line of
    /// GiBs with no newline, also inside a .gz or .zst) is rejected as record_too_long with
    /// its size; its first 4096 bytes are kept as its raw text, and memory stays bounded.
    #[arg(long, env = "DOUBLE11_MAX_RECORD_BYTES", value_name = "BYTES",
          default_value_t = crate::ingest::chunks::DEFAULT_MAX_RECORD_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(256..=1 << 30))]
    pub max_record_bytes: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StdinFormat {
    Csv,
    Ndjson,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// Run these statements and exit (may be repeated; `\dt` and `\d TABLE` work too).
    #[arg(short = 'c', long = "command")]
    pub commands: Vec<String>,
    /// Run the statements of these files and exit.
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print "N rows in T s" after each statement (on stderr).
    #[arg(long)]
    pub timing: bool,
    /// Allow statements that change data (INSERT, COPY).
    #[arg(long)]
    pub writable: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["sql", "table"])))]
pub struct ExportArgs {
    /// The query whose rows to export.
    #[arg(long)]
    pub sql: Option<String>,
    /// A whole table to export.
    #[arg(long)]
    pub table: Option<String>,
    /// Destination file, or folder with --partition-by.
    #[arg(long)]
    pub to: PathBuf,
    /// Format (default: from the destination's extension).
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    /// Write a folder partitioned by these columns (col=value/ sub-folders).
    #[arg(long)]
    pub partition_by: Vec<String>,
    /// Replace the destination if it exists.
    #[arg(long)]
    pub force: bool,
}
