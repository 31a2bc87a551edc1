//! `double11 run JOB.toml`: a scheduled run that ingests what is new, runs the job's reports
//! and writes its exports, exactly once, whatever happens to the process.
//!
//! The order of a run, and why a kill at any point is harmless:
//! 1. check the job file ([`config`]) — nothing is touched before it is valid;
//! 2. take the runs folder's lock ([`lock`]); remove what killed runs left unfinished;
//! 3. ingest the inbox: only new files, and only the new lines of files that grew (the
//!    warehouse commit is atomic and records what was read, so a re-run reads on from there);
//! 4. run the reports and exports into a hidden `runs/.<run-id>.partial/` folder, publish
//!    copies where the job asks (each by temporary name + rename);
//! 5. write `run.json` ([`run_manifest`]) and rename the folder to `runs/<run-id>/`: the run's
//!    outputs appear all at once or not at all;
//! 6. prune runs beyond `keep_runs`, release the lock.
//!
//! A re-run after a kill finds the warehouse as before or after step 3, recomputes the
//! reports from it and so produces the same bytes.

pub mod config;
pub mod history;
pub(crate) mod lock;
pub(crate) mod run_manifest;

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::prelude::SessionContext;

use crate::error::{exit, Error, Result};
use crate::export::{self, ExportOptions};
use crate::faults;
use crate::ingest::{self, input, IngestOptions};
use crate::reports::{self, ReportRequest};
use crate::settings::Settings;
use crate::warehouse::commit::{sync_dir, write_atomic};
use crate::warehouse::txn::now_rfc3339;
use crate::warehouse::Warehouse;
use config::{ExportJob, Job, ReportJob};
use lock::{LockNote, RunLock};
use run_manifest::{
    ExportRecord, FileRecord, IngestRecord, JobInfo, ReportRecord, RunManifest, RunStatus,
    RUN_MANIFEST,
};

/// How to run a job.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub job_file: PathBuf,
    /// The date `{run_date}` stands for (default: today in CST).
    pub run_date: Option<NaiveDate>,
    /// The warehouse when the job file names none (`--warehouse`).
    pub default_warehouse: PathBuf,
    /// Progress bars on a terminal.
    pub progress: bool,
    /// The command line's and environment's settings; the job file's `[inbox]` sizes replace
    /// theirs.
    pub settings: Settings,
}

/// What a run did. `error` is set for a failed run, which still has its folder and manifest.
#[derive(Debug)]
pub struct RunOutcome {
    pub manifest: RunManifest,
    pub folder: PathBuf,
    pub error: Option<Error>,
}

impl RunOutcome {
    pub fn exit_code(&self) -> i32 {
        self.manifest.exit_code
    }

    /// The one line a scheduler's log gets.
    pub fn summary_line(&self) -> String {
        let m = &self.manifest;
        let secs = m.duration_ms as f64 / 1000.0;
        let read = m.inputs_with_new_lines();
        let t = m.counts();
        let files: usize = m.reports.iter().map(|r| r.files.len()).sum();
        let head = format!(
            "run {} {}: {read} input(s) with new lines ({} accepted, {} duplicates, {} rejected), {files} report file(s), {} export(s) in {secs:.1} s",
            m.run_id,
            m.status.as_str(),
            t.accepted,
            t.duplicates,
            t.rejected,
            m.exports.len(),
        );
        match &m.error {
            Some(e) => format!(
                "{head}; failed: {e} (details: {})",
                self.folder.join(RUN_MANIFEST).display()
            ),
            None => format!("{head} -> {}", self.folder.display()),
        }
    }
}

/// Runs the job. Errors before the lock is taken (invalid job file, lock held) are returned
/// as errors; once the run has started, its outcome (success or failure) is recorded in its
/// run folder and returned.
pub async fn run(opts: &RunOptions) -> Result<RunOutcome> {
    let run_date = opts.run_date.unwrap_or_else(today_cst);
    let job = Job::load(&opts.job_file, run_date, &opts.default_warehouse)?;
    let clock = Instant::now();
    let started_at = now_rfc3339();
    let mut note = LockNote {
        pid: std::process::id(),
        job: job.name.clone(),
        run_id: String::new(),
        started_at: started_at.clone(),
    };
    let mut lock = RunLock::acquire(&job.runs_dir, &note)?;
    faults::point("job", 0);
    let run_id = unique_run_id(&job.runs_dir);
    note.run_id = run_id.clone();
    lock.update_note(&note)?;
    let cleaned_up = clean_unfinished(&job.runs_dir)?;
    faults::point("job", 1);

    let partial = job.runs_dir.join(format!(".{run_id}.partial"));
    std::fs::create_dir_all(&partial).map_err(|e| Error::io(partial.display().to_string(), e))?;
    let mut m = new_manifest(&job, &run_id, started_at, &lock, cleaned_up);

    let settings = opts.settings.with(&job.settings);
    let result = steps(&job, &settings, &partial, &mut m, opts.progress).await;
    m.finished_at = now_rfc3339();
    m.duration_ms = clock.elapsed().as_millis() as u64;
    (m.status, m.exit_code, m.error) = match &result {
        // Rejected lines, or inputs skipped as unreadable (listed in the run's inputs).
        Ok(())
            if m.ingest.totals.rejected > 0
                || m.ingest.inputs.iter().any(|i| i.unreadable.is_some()) =>
        {
            (RunStatus::Partial, exit::PARTIAL, None)
        }
        Ok(()) => (RunStatus::Ok, exit::OK, None),
        Err(e) => (RunStatus::Failed, e.exit_code(), Some(e.to_string())),
    };
    let text = serde_json::to_vec_pretty(&m).map_err(|e| Error::Other(e.into()))?;
    write_atomic(&partial.join(RUN_MANIFEST), &text)?;
    faults::point("job", 2);
    // The commit point of the run's outputs.
    let folder = job.runs_dir.join(&run_id);
    std::fs::rename(&partial, &folder).map_err(|e| Error::io(folder.display().to_string(), e))?;
    sync_dir(&job.runs_dir);
    faults::point("job", 3);
    prune(&job.runs_dir, job.keep_runs)?;
    faults::point("job", 4);
    lock.release()?;
    Ok(RunOutcome {
        manifest: m,
        folder,
        error: result.err(),
    })
}

/// The manifest of a run that has just started: what it runs, where, and what it took over
/// from a killed run; its outcome is filled in when it ends.
fn new_manifest(
    job: &Job,
    run_id: &str,
    started_at: String,
    lock: &RunLock,
    cleaned_up: Vec<String>,
) -> RunManifest {
    RunManifest {
        format: run_manifest::FORMAT.into(),
        format_version: run_manifest::FORMAT_VERSION,
        run_id: run_id.to_string(),
        job: JobInfo {
            name: job.name.clone(),
            file: job.file.display().to_string(),
            blake3: job.file_blake3.clone(),
        },
        double11_version: env!("CARGO_PKG_VERSION").into(),
        run_date: job.run_date.format("%Y-%m-%d").to_string(),
        started_at,
        finished_at: String::new(),
        duration_ms: 0,
        status: RunStatus::Ok,
        exit_code: exit::OK,
        error: None,
        warehouse: job.warehouse.display().to_string(),
        took_over_from: lock
            .stale
            .as_ref()
            .map(|s| format!("run {} (pid {}, started {})", s.run_id, s.pid, s.started_at)),
        cleaned_up,
        ingest: IngestRecord::default(),
        reports: Vec::new(),
        exports: Vec::new(),
    }
}

/// Ingest, reports, exports: the steps whose failure is recorded rather than returned.
async fn steps(
    job: &Job,
    settings: &Settings,
    partial: &Path,
    m: &mut RunManifest,
    progress: bool,
) -> Result<()> {
    let clock = Instant::now();
    ingest_inbox(job, settings, m, progress).await?;
    m.ingest.duration_ms = clock.elapsed().as_millis() as u64;

    let wh = Warehouse::open_for_reading(&job.warehouse, None).await?;
    let ctx = crate::sql::session(&wh, settings).await?;
    let bar = steps_bar(job.reports.len() + job.exports.len(), progress);
    for (i, r) in job.reports.iter().enumerate() {
        faults::point("report", i);
        if let Some(b) = &bar {
            b.set_message(format!("report {}", r.id));
        }
        let record = run_report(&ctx, job, r, partial).await?;
        m.reports.push(record);
        faults::point("report-written", i);
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    for (i, e) in job.exports.iter().enumerate() {
        faults::point("export", i);
        if let Some(b) = &bar {
            b.set_message(format!("export {}", e.file));
        }
        let record = run_export(&ctx, e, i, partial).await?;
        m.exports.push(record);
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    Ok(())
}

/// Runs one `[[report]]` into `partial/reports/<id>/` and records its files.
async fn run_report(
    ctx: &SessionContext,
    job: &Job,
    r: &ReportJob,
    partial: &Path,
) -> Result<ReportRecord> {
    let clock = Instant::now();
    let request = ReportRequest {
        params: r.params.clone().into_iter().collect(),
        format: r.format,
        ..ReportRequest::new(r.report.clone(), job.queries.clone())
    };
    let (results, values) = reports::compute(ctx, &request).await?;
    let dir = partial.join("reports").join(&r.id);
    let written = reports::write_files(&dir, &r.report, &results, r.format, &values)?;
    let mut files = Vec::with_capacity(written.len());
    for (n, path) in written.iter().enumerate() {
        // One file per query, except HTML: one page holding every query.
        let (query, rows) = match results.get(n) {
            Some(q) if written.len() == results.len() => (
                Some(q.query.name.clone()),
                q.batches.iter().map(|b| b.num_rows() as u64).sum(),
            ),
            _ => (
                None,
                results
                    .iter()
                    .flat_map(|q| &q.batches)
                    .map(|b| b.num_rows() as u64)
                    .sum(),
            ),
        };
        files.push(file_record(partial, path, query, rows)?);
    }
    Ok(ReportRecord {
        id: r.id.clone(),
        report: r.report.clone(),
        params: values,
        duration_ms: clock.elapsed().as_millis() as u64,
        files,
    })
}

/// Writes the `i`th `[[export]]` into `partial/exports/`, publishes its copy, and records it.
async fn run_export(
    ctx: &SessionContext,
    e: &ExportJob,
    i: usize,
    partial: &Path,
) -> Result<ExportRecord> {
    let clock = Instant::now();
    let dest = partial.join("exports").join(&e.file);
    let rows = export::export(
        ctx,
        &ExportOptions {
            sql: e.sql.clone(),
            to: dest.clone(),
            format: Some(e.format),
            partition_by: e.partition_by.clone(),
            force: true,
            params: e.params.clone(),
        },
    )
    .await?;
    let output = file_record(partial, &dest, None, rows)?;
    faults::point("export-written", i);
    let published_to = match &e.publish_to {
        Some(folder) => Some(publish(&dest, folder, i)?),
        None => None,
    };
    Ok(ExportRecord {
        output,
        format: e.format.name().to_string(),
        duration_ms: clock.elapsed().as_millis() as u64,
        published_to: published_to.map(|p| p.display().to_string()),
    })
}

/// Ingests the inbox: new files, and the new lines of files that grew. An inbox with nothing
/// in it (a glob that matches no file yet) is not an error for a scheduled run.
async fn ingest_inbox(
    job: &Job,
    settings: &Settings,
    m: &mut RunManifest,
    progress: bool,
) -> Result<()> {
    let mut entries = Vec::new();
    for entry in &job.inbox {
        if entry.contains(['*', '?', '[']) {
            let matches = glob::glob(entry).map_err(|e| {
                Error::Config(format!(
                    "{}: inbox.paths {entry:?}: {e}",
                    job.file.display()
                ))
            })?;
            let mut found: Vec<String> = matches
                .filter_map(|m| m.ok())
                .map(|p| p.display().to_string())
                .collect();
            found.sort();
            entries.extend(found);
        } else {
            entries.push(entry.clone());
        }
    }
    if input::resolve_inputs(&entries)?.is_empty() {
        tracing::info!("the inbox holds no log files");
        if !Warehouse::exists(&job.warehouse).await? {
            return Err(Error::MissingInput(format!(
                "the inbox ({}) holds no log files and the warehouse {} is empty: nothing to report on",
                job.inbox.join(", "),
                job.warehouse.display()
            )));
        }
        return Ok(());
    }
    let opts = IngestOptions {
        inputs: entries,
        fx_rates: job.fx_rates.clone(),
        stdin_encoding: None,
        rows_per_file: settings.rows_per_file,
        progress,
        ids_in_memory: settings.ids_in_memory,
        mapping: job.mapping.clone(),
        settle: Some(job.settle),
        commit_when_nothing_new: false,
        max_record_bytes: settings.max_record_bytes,
        cached_writes: settings.cached_writes,
        threads: settings.threads(),
    };
    let root = job.warehouse.clone();
    let report = tokio::task::spawn_blocking(move || ingest::ingest(&root, &opts))
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("ingest stopped: {e}")))??;
    m.ingest.warehouse_run = report.committed.then(|| report.run.run_id.clone());
    m.ingest.inputs = report.run.inputs;
    m.ingest.totals = report.run.totals;
    m.ingest.rejects_by_kind = report.rejects_by_kind;
    Ok(())
}

fn file_record(
    run_folder: &Path,
    path: &Path,
    query: Option<String>,
    rows: u64,
) -> Result<FileRecord> {
    let (bytes, blake3) = run_manifest::fingerprint(path)?;
    Ok(FileRecord {
        file: path
            .strip_prefix(run_folder)
            .unwrap_or(path)
            .display()
            .to_string(),
        query,
        rows,
        bytes,
        blake3,
    })
}

/// Copies an export into `folder` under its own name, by temporary name + rename.
fn publish(file: &Path, folder: &Path, n: usize) -> Result<PathBuf> {
    let shown = |p: &Path| p.display().to_string();
    std::fs::create_dir_all(folder).map_err(|e| Error::io(shown(folder), e))?;
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let dest = folder.join(&name);
    let tmp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    faults::point("publish", n);
    let copied = std::fs::copy(file, &tmp)
        .and_then(|_| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &dest));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(shown(&dest), e));
    }
    sync_dir(folder);
    Ok(dest)
}

/// Removes what killed runs left: unfinished run folders and half-pruned ones.
fn clean_unfinished(runs_dir: &Path) -> Result<Vec<String>> {
    let mut cleaned = Vec::new();
    let entries =
        std::fs::read_dir(runs_dir).map_err(|e| Error::io(runs_dir.display().to_string(), e))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(hidden) = name.strip_prefix('.') else {
            continue;
        };
        let run = hidden
            .strip_suffix(".partial")
            .map(|r| (r, true))
            .or_else(|| hidden.strip_suffix(".trash").map(|r| (r, false)));
        if let Some((run, unfinished)) = run {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| Error::io(entry.path().display().to_string(), e))?;
            if unfinished {
                tracing::warn!("removed the unfinished outputs of killed run {run}");
                cleaned.push(run.to_string());
            }
        }
    }
    cleaned.sort();
    Ok(cleaned)
}

/// Keeps the newest `keep` run folders (0 keeps all). A folder is renamed out of sight before
/// it is deleted, so a kill never leaves half a run that looks whole.
fn prune(runs_dir: &Path, keep: usize) -> Result<()> {
    if keep == 0 {
        return Ok(());
    }
    let folders = run_manifest::run_folders(runs_dir)?;
    let excess = folders.len().saturating_sub(keep);
    for (i, old) in folders.iter().take(excess).enumerate() {
        let name = old
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let trash = runs_dir.join(format!(".{name}.trash"));
        std::fs::rename(old, &trash).map_err(|e| Error::io(old.display().to_string(), e))?;
        faults::point("prune", i);
        std::fs::remove_dir_all(&trash).map_err(|e| Error::io(trash.display().to_string(), e))?;
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` (UTC, sorts by time), with `-2`, `-3`… if a run started in the same second.
fn unique_run_id(runs_dir: &Path) -> String {
    let base = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let taken =
        |id: &str| runs_dir.join(id).exists() || runs_dir.join(format!(".{id}.partial")).exists();
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken(id))
        .unwrap_or(base)
}

fn steps_bar(len: usize, wanted: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !wanted || len == 0 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// Today's date in China Standard Time, the day every report is about.
pub fn today_cst() -> NaiveDate {
    crate::cst::cst_date(chrono::Utc::now().timestamp_millis())
}
