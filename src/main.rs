//! The `double11` binary: parse the command line, run the command, map errors to exit codes.
//! One function per command turns its flags (`double11::cli`) and the settings into the
//! library's request and runs it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use double11::cli::{
    Cli, Command, ExecutorArgs, ExportArgs, GenerateArgs, HistoryArgs, IngestArgs, OptimizeArgs,
    ReportArgs, RunArgs, RunsArgs, SchedulerArgs, SqlArgs, VacuumArgs,
};
use double11::error::{exit, Error, Result};
use double11::export;
use double11::ingest;
use double11::settings::Settings;
use double11::shell::{self, ShellOptions};
use double11::sql::{self, Access};
use double11::warehouse::Warehouse;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("double11: {e}");
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("double11: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE as u8);
        }
    };
    match runtime.block_on(run(cli, settings)) {
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

/// Keeps memory an ingest frees for its next chunks instead of handing it back to the kernel.
///
/// By default glibc serves a block above a threshold that rises to at most 32 MiB by mapping
/// it, and unmaps it on free: an ingest's column buffers (36 MB of event ids per million rows)
/// were mapped, zeroed by the kernel page by page and unmapped again, chunk after chunk. With
/// blocks below 256 MiB taken from the heap, and at most 256 MiB of free memory kept at its
/// top, 19 M records took 25 % fewer page faults, 0.2-0.3 s less system time and 1.6 % less
/// time over 4 alternating pairs, with the same peak memory (BENCHMARKS.md, stop 37). Only for
/// ingest: a long shell session keeps what it frees as glibc's default does.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const BYTES: libc::c_int = 256 << 20;
        // SAFETY: `mallopt` only sets two of the allocator's tunables, which it reads under
        // its own locks; it takes no pointers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, BYTES);
            libc::mallopt(libc::M_TRIM_THRESHOLD, BYTES);
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

/// What every command gets from the global flags.
struct Globals {
    quiet: bool,
    warehouse: PathBuf,
    as_of: Option<u64>,
    settings: Settings,
}

async fn run(cli: Cli, settings: Settings) -> Result<()> {
    let g = Globals {
        quiet: cli.quiet,
        settings,
        warehouse: cli.warehouse,
        as_of: cli.as_of,
    };
    match cli.command {
        Command::Ingest(args) => ingest(&g, args).await,
        Command::Sql(args) => sql(&g, args).await,
        Command::Generate(args) => generate(&g, args).await,
        Command::Report(args) => report(&g, args).await,
        Command::Run(args) => run_job(&g, args).await,
        Command::Runs(args) => runs(&g, args),
        Command::Export(args) => export(&g, args).await,
        Command::History(args) => history(&g, args).await,
        Command::Optimize(args) => optimize(&g, args).await,
        Command::Vacuum(args) => vacuum(&g, args).await,
        Command::Scheduler(args) => scheduler(args).await,
        Command::Executor(args) => executor(&g, args).await,
    }
}

async fn scheduler(args: SchedulerArgs) -> Result<()> {
    double11::cluster::serve_scheduler(&args.options()).await
}

async fn executor(g: &Globals, args: ExecutorArgs) -> Result<()> {
    double11::cluster::serve_executor(&args.options(&g.settings)?).await
}

async fn ingest(g: &Globals, args: IngestArgs) -> Result<()> {
    keep_freed_memory();
    let settings = args.settings(g.settings.clone());
    let opts = args.options(&settings, !g.quiet);
    let root = g.warehouse.clone();
    // Ingest is blocking I/O and CPU work: keep it off the async workers.
    let report = tokio::task::spawn_blocking(move || ingest::ingest(&root, &opts))
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("ingest stopped: {e}")))??;
    if !g.quiet {
        print!("{}", ingest::summary::render(&report));
    }
    match report.run.unreadable_inputs() {
        0 => Ok(()),
        n => Err(Error::Skipped(n)),
    }
}

async fn sql(g: &Globals, args: SqlArgs) -> Result<()> {
    let wh = Warehouse::open_for_reading(&g.warehouse, g.as_of).await?;
    let ctx = sql::session(&wh, &g.settings).await?;
    let opts = ShellOptions {
        format: args.format.into(),
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

async fn generate(g: &Globals, args: GenerateArgs) -> Result<()> {
    let args = double11::generate::GenerateArgs::from(args);
    let report = tokio::task::spawn_blocking(move || double11::generate::run(&args))
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("generate stopped: {e}")))??;
    if !g.quiet {
        eprintln!(
            "generated {} records in {} file(s)",
            report.rows,
            report.files.len().max(1)
        );
    }
    Ok(())
}

async fn report(g: &Globals, args: ReportArgs) -> Result<()> {
    let wh = Warehouse::open_for_reading(&g.warehouse, g.as_of).await?;
    let ctx = sql::session(&wh, &g.settings).await?;
    let request = args.request()?;
    double11::reports::run(&ctx, &request)
        .await
        .map_err(|e| sql::diagnose(&ctx, e))
}

async fn run_job(g: &Globals, args: RunArgs) -> Result<()> {
    let opts = double11::jobs::RunOptions {
        job_file: args.job,
        run_date: args.date,
        default_warehouse: g.warehouse.clone(),
        progress: !g.quiet,
        settings: g.settings.clone(),
    };
    let outcome = double11::jobs::run(&opts).await?;
    println!("{}", outcome.summary_line());
    match outcome.error {
        Some(e) => Err(e),
        None if outcome.exit_code() == exit::PARTIAL => Err(Error::Partial),
        None => Ok(()),
    }
}

fn runs(g: &Globals, args: RunsArgs) -> Result<()> {
    let runs_dir = match (&args.runs_dir, &args.job) {
        (Some(dir), _) => dir.clone(),
        (None, Some(job)) => {
            let date = double11::jobs::today_cst();
            double11::jobs::config::Job::load(job, date, &g.warehouse)?.runs_dir
        }
        (None, None) => g.warehouse.join(double11::warehouse::RUNS_DIR),
    };
    double11::jobs::history::print(&runs_dir, args.format.into(), args.last)
}

async fn history(g: &Globals, args: HistoryArgs) -> Result<()> {
    let wh = Warehouse::open_for_reading(&g.warehouse, None).await?;
    double11::warehouse::history::print(&wh, args.format.into(), args.last).await
}

async fn optimize(g: &Globals, args: OptimizeArgs) -> Result<()> {
    let report =
        double11::warehouse::optimize::optimize(&g.warehouse, args.day.as_deref(), &g.settings)
            .await?;
    if !g.quiet {
        for c in &report.compacted {
            println!(
                "{} {}: {} files -> {} ({} rows)",
                c.table, c.day, c.files_before, c.files_after, c.rows
            );
        }
        match report.version {
            Some(v) => println!("committed warehouse version {v}"),
            None => println!("nothing to compact: every day of every table is one file"),
        }
    }
    Ok(())
}

async fn vacuum(g: &Globals, args: VacuumArgs) -> Result<()> {
    let root = g.warehouse.clone();
    let (older_than, dry_run) = (args.older_than, args.dry_run);
    let report = tokio::task::spawn_blocking(move || {
        double11::warehouse::vacuum::vacuum(&root, older_than, dry_run)
    })
    .await
    .map_err(|e| Error::Other(anyhow::anyhow!("vacuum stopped: {e}")))??;
    if !g.quiet {
        let verb = if dry_run { "would delete" } else { "deleted" };
        for f in &report.files {
            println!("{verb} {f}");
        }
        println!("{verb} {} file(s)", report.files.len());
        if let Some(v) = report.version {
            println!("committed warehouse version {v}");
        }
    }
    Ok(())
}

async fn export(g: &Globals, args: ExportArgs) -> Result<()> {
    let wh = Warehouse::open_for_reading(&g.warehouse, g.as_of).await?;
    let ctx = sql::session(&wh, &g.settings).await?;
    let opts = args.options()?;
    let rows = export::export(&ctx, &opts)
        .await
        .map_err(|e| sql::diagnose(&ctx, e))?;
    if !g.quiet {
        eprintln!("exported {rows} rows to {}", opts.to.display());
    }
    Ok(())
}
