//! `runs/<run-id>/run.json`: what one job run did, for people and for monitoring.
//!
//! Inputs with their counts, every report and export file with rows, bytes and BLAKE3,
//! durations, the outcome and the double11 version. `double11 runs` reads these back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::warehouse::manifest::{Counts, InputRecord};

pub const RUN_MANIFEST: &str = "run.json";
pub const FORMAT: &str = "double11-run";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunManifest {
    pub format: String,
    pub format_version: u32,
    pub run_id: String,
    pub job: JobInfo,
    pub double11_version: String,
    /// The CST date `{run_date}` stood for.
    pub run_date: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub status: RunStatus,
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub warehouse: String,
    /// The run whose lock this run took over because its process had died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_over_from: Option<String>,
    /// Unfinished folders of killed runs that this run removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleaned_up: Vec<String>,
    pub ingest: IngestRecord,
    pub reports: Vec<ReportRecord>,
    pub exports: Vec<ExportRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobInfo {
    pub name: String,
    pub file: String,
    pub blake3: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Everything ran; no line was rejected.
    Ok,
    /// Everything ran; some lines were rejected (see the rejects table).
    Partial,
    /// A step failed; `error` says which and why.
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestRecord {
    /// The warehouse run that committed this run's rows; none when nothing was new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_run: Option<String>,
    pub duration_ms: u64,
    pub inputs: Vec<InputRecord>,
    pub totals: Counts,
    pub rejects_by_kind: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportRecord {
    pub id: String,
    pub report: String,
    pub params: BTreeMap<String, String>,
    pub duration_ms: u64,
    pub files: Vec<FileRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    /// Relative to the run folder.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub rows: u64,
    pub bytes: u64,
    pub blake3: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRecord {
    #[serde(flatten)]
    pub output: FileRecord,
    pub format: String,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_to: Option<String>,
}

impl RunManifest {
    pub fn read(path: &Path) -> Result<RunManifest> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io(path.display().to_string(), e))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::Data(format!(
                "{}: not a double11 run manifest ({e})",
                path.display()
            ))
        })
    }

    pub fn counts(&self) -> Counts {
        self.ingest.totals
    }

    /// Inputs this run read new lines from (the others were skipped or had nothing new).
    pub fn inputs_with_new_lines(&self) -> usize {
        self.ingest
            .inputs
            .iter()
            .filter(|i| i.skipped_as_ingested_by.is_none() && i.counts.records > 0)
            .count()
    }
}

/// Run folders under `runs_dir` (committed runs only: hidden names are unfinished), oldest
/// first. Run ids sort by time.
pub fn run_folders(runs_dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(runs_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(runs_dir.display().to_string(), e)),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The size and BLAKE3 of a file, or of a folder's files (relative path and bytes of each, in
/// path order) for a partitioned export.
pub fn fingerprint(path: &Path) -> Result<(u64, String)> {
    let shown = |p: &Path| p.display().to_string();
    let mut hasher = blake3::Hasher::new();
    if path.is_dir() {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect();
        files.sort();
        let mut total = 0;
        for f in files {
            let rel = f
                .strip_prefix(path)
                .unwrap_or(&f)
                .to_string_lossy()
                .into_owned();
            hasher.update(rel.as_bytes());
            hasher.update(&[0]);
            let mut file = std::fs::File::open(&f).map_err(|e| Error::io(shown(&f), e))?;
            total += std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(shown(&f), e))?;
        }
        return Ok((total, hasher.finalize().to_hex().to_string()));
    }
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(shown(path), e))?;
    let size = std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(shown(path), e))?;
    Ok((size, hasher.finalize().to_hex().to_string()))
}
