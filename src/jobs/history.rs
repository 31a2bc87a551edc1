//! `double11 runs`: the history of job runs, newest last, from their run manifests.

use std::io::Write;
use std::path::Path;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;

use crate::error::{Error, Result};
use crate::jobs::run_manifest::{run_folders, RunManifest, RUN_MANIFEST};

/// How `double11 runs` prints the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFormat {
    /// One row per run.
    Table,
    /// The run manifests themselves, as one JSON array.
    Json,
}

/// Prints the last `last` runs found under `runs_dir` (all when `None`).
pub fn print(runs_dir: &Path, format: HistoryFormat, last: Option<usize>) -> Result<()> {
    let folders = run_folders(runs_dir)?;
    let skip = last.map_or(0, |n| folders.len().saturating_sub(n));
    let runs: Vec<(String, Result<RunManifest>)> = folders
        .iter()
        .skip(skip)
        .map(|f| {
            let id = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (id, RunManifest::read(&f.join(RUN_MANIFEST)))
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let err = |e| Error::io("<stdout>", e);
    match format {
        HistoryFormat::Json => {
            let manifests: Vec<&RunManifest> =
                runs.iter().filter_map(|(_, m)| m.as_ref().ok()).collect();
            let text =
                serde_json::to_string_pretty(&manifests).map_err(|e| Error::Other(e.into()))?;
            writeln!(out, "{text}").map_err(err)?;
        }
        HistoryFormat::Table => {
            if runs.is_empty() {
                writeln!(out, "no job runs under {} yet", runs_dir.display()).map_err(err)?;
                return Ok(());
            }
            writeln!(out, "{}", table(&runs)).map_err(err)?;
        }
    }
    out.flush().map_err(err)
}

/// One row per run; a run whose manifest cannot be read says why.
fn table(runs: &[(String, Result<RunManifest>)]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "run",
        "job",
        "started (UTC)",
        "took",
        "status",
        "exit",
        "new inputs",
        "skipped",
        "accepted",
        "duplicates",
        "rejected",
        "reports",
        "exports",
    ]);
    for (id, m) in runs {
        match m {
            Ok(m) => {
                let new = m.inputs_with_new_lines();
                let skipped = m.ingest.inputs.len() - new;
                let t = m.counts();
                table.add_row([
                    id.clone(),
                    m.job.name.clone(),
                    m.started_at
                        .replace('T', " ")
                        .trim_end_matches('Z')
                        .to_string(),
                    format!("{:.1} s", m.duration_ms as f64 / 1000.0),
                    m.status.as_str().to_string(),
                    m.exit_code.to_string(),
                    new.to_string(),
                    skipped.to_string(),
                    t.accepted.to_string(),
                    t.duplicates.to_string(),
                    t.rejected.to_string(),
                    m.reports
                        .iter()
                        .map(|r| r.files.len())
                        .sum::<usize>()
                        .to_string(),
                    m.exports.len().to_string(),
                ]);
            }
            Err(e) => {
                table.add_row([id.clone(), format!("unreadable: {e}")]);
            }
        }
    }
    table
}
