//! The command line: the `Cli` parser, its global flags, the `Command` enum and the exit codes
//! in `--help`. Each command's flags live in the file of its family ([`ingest`], [`sql`],
//! [`export`], [`report`], [`generate`], [`jobs`], [`warehouse`]), which also turns them into the library's own request
//! types, so no library type depends on clap.

pub(crate) mod cluster;
pub(crate) mod export;
pub(crate) mod generate;
pub(crate) mod ingest;
pub(crate) mod jobs;
pub(crate) mod report;
pub(crate) mod sql;
pub(crate) mod warehouse;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::{
    MemoryLimit, Settings, CACHED_WRITES_ENV, CLUSTER_ENV, MEMORY_LIMIT_ENV, THREADS_ENV,
};

pub use cluster::{ExecutorArgs, SchedulerArgs};
pub use export::ExportArgs;
pub use generate::GenerateArgs;
pub use ingest::{IngestArgs, StdinFormat};
pub use jobs::{RunArgs, RunsArgs};
pub use report::ReportArgs;
pub use sql::SqlArgs;
pub use warehouse::{HistoryArgs, OptimizeArgs, VacuumArgs};

const EXIT_CODES: &str = "\
Exit codes: 0 success (rejected lines are reported, not failures), 1 unexpected failure,
2 bad command line or SQL, 3 job run finished with rejected lines (`run` only),
65 corrupt input or incompatible warehouse, 66 input not found,
73 output exists (use --force), 74 read/write error (permissions, full disk),
69 the cluster (--cluster) is unreachable or lost the query,
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
    /// Query memory before sorts and aggregations spill to disk, e.g. 8G or 512M (default 2G).
    #[arg(long, global = true, env = MEMORY_LIMIT_ENV, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Threads that parse, encode and run queries (default: one per core).
    #[arg(long, global = true, env = THREADS_ENV, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Read the warehouse as of this earlier version (`double11 history` lists them), for
    /// sql, report and export.
    #[arg(long, global = true, value_name = "VERSION")]
    pub as_of: Option<u64>,
    /// Run sql, report, export and a job's reports on this Ballista cluster (its scheduler,
    /// df://host:port) instead of in this process. Every executor must reach the warehouse
    /// (S3, or the same folder path).
    #[arg(long, global = true, env = CLUSTER_ENV, value_name = "URL")]
    pub cluster: Option<String>,
    /// Ingest (and a job's ingest) writes the warehouse's files through the page cache, so that
    /// reports run right after find them in memory. By default they go around it (O_DIRECT on
    /// Linux): ingest spends less CPU and leaves the cache to its input, and the first report
    /// after it reads the new files from disk.
    #[arg(long, global = true, env = CACHED_WRITES_ENV)]
    pub cached_writes: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The settings the global flags and the environment give (a command's own flags, such as
    /// ingest's, are laid over them).
    pub fn settings(&self) -> crate::error::Result<Settings> {
        let text = self.memory_limit.as_deref();
        // clap prefers the flag to the variable: a text other than the variable's is the flag's.
        let from_flag = text.is_some() && std::env::var(MEMORY_LIMIT_ENV).ok().as_deref() != text;
        let cluster = match self.cluster.as_deref() {
            None | Some("") => None,
            Some(url) => {
                let given = if std::env::var(CLUSTER_ENV).ok().as_deref() == Some(url) {
                    format!("{CLUSTER_ENV}=")
                } else {
                    "--cluster".to_string()
                };
                Some(crate::cluster::ClusterUrl::parse(url, &given)?)
            }
        };
        Ok(Settings {
            memory_limit: MemoryLimit::given(text, from_flag),
            threads: self.threads.map(usize::from),
            cluster,
            cached_writes: self.cached_writes,
            ..Settings::default()
        })
    }
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
    Generate(GenerateArgs),
    /// Run a report: SQL files under queries/ (summary, revenue, growth, peak, milestones, yours).
    #[command(after_help = "Examples:
  double11 report all --day 2019-11-11 --compare 2018-11-11
  double11 report peak --day 2019-11-11 --top 20 --format csv --out reports/
  double11 report growth --day 2019-11-11 --compare 2018-11-11 --format parquet --out reports/
  double11 report revenue --day 2019-11-11 --format html --out reports/
  double11 report summary --day 2019-11-11 --currency KRW --rate 166.26
  double11 report my_report --param region=Zhejiang       # your own queries/my_report.sql")]
    Report(ReportArgs),
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
    /// The warehouse's versions, newest first: when, what made each (ingest, upgrade, …),
    /// the run's counts, the tables changed. Read an earlier one with --as-of.
    #[command(after_help = "Examples:
  double11 history --last 10
  double11 history --format json | jq '.[0].version'
  double11 --as-of 3 report summary --day 2019-11-11     # the figures as of version 3")]
    History(HistoryArgs),
    /// Compact a day's small files (one per run) into a few large sorted ones, in one
    /// warehouse version; figures are unchanged.
    #[command(after_help = "Examples:
  double11 optimize --day 2019-11-11
  double11 optimize                          # every day with more than one file")]
    Optimize(OptimizeArgs),
    /// Delete the files no recent warehouse version needs (replaced by optimize or newer rates).
    #[command(after_help = "Examples:
  double11 vacuum                            # files removed more than 7 days ago
  double11 vacuum --older-than 0s --dry-run  # what would go now")]
    Vacuum(VacuumArgs),
    /// Start a Ballista scheduler: the head of a cluster that runs sql, report and export for
    /// clients given --cluster df://host:port.
    #[command(after_help = "Examples:
  double11 scheduler --bind 0.0.0.0:50050 --external-host 10.0.0.5
  double11 --cluster df://10.0.0.5:50050 report all --day 2019-11-11 --warehouse s3://dw/double11")]
    Scheduler(SchedulerArgs),
    /// Start a Ballista executor: runs the tasks of a cluster's queries (one per machine, or
    /// several with their own ports). Its tasks share --memory-limit and run --threads at once.
    #[command(after_help = "Examples:
  double11 executor --scheduler df://10.0.0.5:50050 --bind-host 0.0.0.0 --external-host 10.0.0.6
  double11 --memory-limit 16G --threads 8 executor --scheduler df://127.0.0.1:50050 --port 50061")]
    Executor(ExecutorArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_memory_limit_flag_is_global() {
        let cli = Cli::try_parse_from(["double11", "sql", "--memory-limit", "512M"])
            .expect("a valid command line");
        let settings = cli.settings().expect("valid settings");
        assert_eq!(settings.memory_limit, MemoryLimit::Bytes(512 << 20));
        let cli = Cli::try_parse_from(["double11", "--memory-limit", "lots", "sql"])
            .expect("checked when a session needs it");
        let err = cli
            .settings()
            .expect("valid settings")
            .memory_limit()
            .expect_err("not a size");
        assert!(err.to_string().contains("--memory-limit \"lots\""), "{err}");
    }

    #[test]
    fn threads_are_a_global_flag_of_at_least_one() {
        let cli = Cli::try_parse_from(["double11", "ingest", "x.csv", "--threads", "3"])
            .expect("a valid command line");
        assert_eq!(cli.settings().expect("valid settings").threads(), 3);
        assert!(Cli::try_parse_from(["double11", "--threads", "0", "sql"]).is_err());
    }

    #[test]
    fn a_cluster_is_a_global_flag_checked_for_its_form() {
        let cli = Cli::try_parse_from(["double11", "report", "all", "--cluster", "df://h:7"])
            .expect("a valid command line");
        let cluster = cli.settings().expect("valid settings").cluster;
        assert_eq!(cluster.map(|c| c.display()), Some("df://h:7".to_string()));
        let cli = Cli::try_parse_from(["double11", "--cluster", "h", "sql"]).expect("parsed");
        let err = cli.settings().expect_err("no port");
        assert!(err.to_string().contains("--cluster \"h\""), "{err}");
    }
}
