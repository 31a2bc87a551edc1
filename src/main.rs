//! The `double11` binary: parse the command line, run the command, map errors to exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use double11::cli::{Cli, Command, StdinFormat};
use double11::error::{exit, Error, Result};
use double11::export;
use double11::ingest::{self, input::Encoding, IngestOptions};
use double11::shell::{self, ShellOptions};
use double11::sql::{self, Access};
use double11::warehouse::Warehouse;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("double11: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): stop quietly, as other tools do.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        // A job run that kept rejected lines: its summary line already said so.
        Err(Error::Partial) => ExitCode::from(exit::PARTIAL as u8),
        Err(e) => {
            eprintln!("double11: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("DOUBLE11_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Ingest(args) => {
            let opts = IngestOptions {
                inputs: args.inputs,
                fx_rates: args.fx_rates,
                stdin_encoding: args.stdin_format.map(|f| match f {
                    StdinFormat::Csv => Encoding::Csv,
                    StdinFormat::Ndjson => Encoding::Ndjson,
                }),
                rows_per_file: args.rows_per_file,
                ids_in_memory: args.ids_in_memory,
                max_record_bytes: usize::try_from(args.max_record_bytes)
                    .unwrap_or(ingest::chunks::MAX_MAX_RECORD_BYTES),
                progress: !cli.quiet,
                ..IngestOptions::default()
            };
            let root = cli.warehouse.clone();
            // Ingest is blocking I/O and CPU work: keep it off the async workers.
            let report = tokio::task::spawn_blocking(move || ingest::ingest(&root, &opts))
                .await
                .map_err(|e| Error::Other(anyhow::anyhow!("ingest stopped: {e}")))??;
            if !cli.quiet {
                print!("{}", ingest::summary::render(&report));
            }
            match report.run.unreadable_inputs() {
                0 => Ok(()),
                n => Err(Error::Skipped(n)),
            }
        }
        Command::Sql(args) => {
            let wh = Warehouse::open(&cli.warehouse)?;
            let ctx = sql::session(&wh).await?;
            let opts = ShellOptions {
                format: args.format,
                timing: args.timing,
                access: if args.writable {
                    Access::ReadWrite
                } else {
                    Access::ReadOnly
                },
            };
            if args.commands.is_empty() && args.files.is_empty() {
                if !std::io::stdin().is_terminal() {
                    // Piped statements: read them all, run them, no prompt.
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                        .map_err(|e| Error::io("<stdin>", e))?;
                    return shell::run_text(&ctx, &text, &opts).await;
                }
                let opts = ShellOptions {
                    timing: true,
                    ..opts
                };
                return shell::interactive(&ctx, opts).await;
            }
            for text in &args.commands {
                shell::run_text(&ctx, text, &opts).await?;
            }
            for file in &args.files {
                shell::run_file(&ctx, file, &opts).await?;
            }
            Ok(())
        }
        Command::Generate(args) => {
            let report = tokio::task::spawn_blocking(move || double11::generate::run(&args))
                .await
                .map_err(|e| Error::Other(anyhow::anyhow!("generate stopped: {e}")))??;
            if !cli.quiet {
                eprintln!(
                    "generated {} records in {} file(s)",
                    report.rows,
                    report.files.len().max(1)
                );
            }
            Ok(())
        }
        Command::Report(args) => {
            let wh = Warehouse::open(&cli.warehouse)?;
            let ctx = sql::session(&wh).await?;
            double11::reports::run(&ctx, &args)
                .await
                .map_err(|e| sql::diagnose(&ctx, e))
        }
        Command::Run(args) => {
            let opts = double11::jobs::RunOptions {
                job_file: args.job,
                run_date: args.date,
                default_warehouse: cli.warehouse.clone(),
                progress: !cli.quiet,
            };
            let outcome = double11::jobs::run(&opts).await?;
            println!("{}", outcome.summary_line());
            match outcome.error {
                Some(e) => Err(e),
                None if outcome.exit_code() == exit::PARTIAL => Err(Error::Partial),
                None => Ok(()),
            }
        }
        Command::Runs(args) => {
            let runs_dir = match (&args.runs_dir, &args.job) {
                (Some(dir), _) => dir.clone(),
                (None, Some(job)) => {
                    let date = double11::jobs::today_cst();
                    double11::jobs::config::Job::load(job, date, &cli.warehouse)?.runs_dir
                }
                (None, None) => cli.warehouse.join(double11::warehouse::RUNS_DIR),
            };
            double11::jobs::history::print(&runs_dir, args.format, args.last)
        }
        Command::Export(args) => {
            let wh = Warehouse::open(&cli.warehouse)?;
            let ctx = sql::session(&wh).await?;
            let sql = match (&args.sql, &args.table) {
                (Some(sql), _) => sql.clone(),
                (None, Some(table)) => export::sql_for_table(table),
                (None, None) => return Err(Error::Usage("pass --sql or --table".into())),
            };
            let opts = export::ExportOptions {
                sql,
                to: args.to.clone(),
                format: args.format,
                partition_by: args.partition_by,
                force: args.force,
                params: Default::default(),
            };
            let rows = export::export(&ctx, &opts)
                .await
                .map_err(|e| sql::diagnose(&ctx, e))?;
            if !cli.quiet {
                eprintln!("exported {rows} rows to {}", args.to.display());
            }
            Ok(())
        }
    }
}
