//! Job files: what a scheduled run ingests, which reports it runs and what it exports.
//!
//! A job file is TOML. Relative paths are relative to the job file's folder, so a job runs the
//! same from cron, systemd or a shell. Values may use `{run_date}` (the run's CST date,
//! `--date` to override), `{yesterday}` and `{job}`. Everything is checked here, before the run
//! takes its lock or writes anything, and every problem names the file, the line and the key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use clap::ValueEnum;
use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::export::ExportFormat;
use crate::ingest::mapping::{parse_offset, ColumnMapping, TimeFormat, TimeKind};
use crate::reports::ReportFormat;
use crate::schema::INPUT_FIELDS;

/// Past runs kept under the runs folder when the job does not say.
pub const DEFAULT_KEEP_RUNS: usize = 30;
/// A file modified more recently than this may still be growing.
pub const DEFAULT_SETTLE_SECONDS: u64 = 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    name: Option<String>,
    warehouse: Option<Spanned<String>>,
    runs_dir: Option<Spanned<String>>,
    keep_runs: Option<usize>,
    queries: Option<Spanned<String>>,
    inbox: InboxSection,
    #[serde(default)]
    mapping: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default, rename = "report")]
    reports: Vec<ReportSection>,
    #[serde(default, rename = "export")]
    exports: Vec<ExportSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxSection {
    paths: Spanned<Vec<String>>,
    fx_rates: Option<Spanned<String>>,
    settle_seconds: Option<u64>,
    rows_per_file: Option<usize>,
    ids_in_memory: Option<usize>,
    max_record_bytes: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportSection {
    name: Spanned<String>,
    id: Option<Spanned<String>>,
    day: Option<Spanned<String>>,
    compare: Option<Spanned<String>>,
    top: Option<u64>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<String>>,
    format: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportSection {
    sql: Option<Spanned<String>>,
    table: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<String>>,
    file: Spanned<String>,
    format: Option<Spanned<String>>,
    #[serde(default)]
    partition_by: Vec<String>,
    publish_to: Option<Spanned<String>>,
}

/// A checked job, its templates filled in for one run.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job file, absolute.
    pub file: PathBuf,
    pub name: String,
    /// BLAKE3 of the job file's bytes, recorded in each run manifest.
    pub file_blake3: String,
    pub warehouse: PathBuf,
    pub runs_dir: PathBuf,
    pub keep_runs: usize,
    pub queries: PathBuf,
    pub run_date: NaiveDate,
    /// Files, folders and globs, relative paths made absolute.
    pub inbox: Vec<String>,
    pub fx_rates: Option<PathBuf>,
    pub settle: Duration,
    pub rows_per_file: usize,
    pub ids_in_memory: usize,
    /// The longest record read whole (`--max-record-bytes`).
    pub max_record_bytes: usize,
    pub mapping: ColumnMapping,
    pub reports: Vec<ReportJob>,
    pub exports: Vec<ExportJob>,
}

#[derive(Debug, Clone)]
pub struct ReportJob {
    /// Names the report's folder under `reports/` (default: the report name).
    pub id: String,
    pub report: String,
    pub params: BTreeMap<String, String>,
    pub format: ReportFormat,
}

#[derive(Debug, Clone)]
pub struct ExportJob {
    pub sql: String,
    pub params: BTreeMap<String, String>,
    /// Relative to the run's `exports/` folder.
    pub file: String,
    pub format: ExportFormat,
    pub partition_by: Vec<String>,
    /// A folder that receives a copy once the run is committed.
    pub publish_to: Option<PathBuf>,
}

/// Locates problems in the job file's text.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// The 1-based line where `span` starts.
    fn line(&self, span: Range<usize>) -> usize {
        let start = span.start.min(self.text.len());
        self.text.as_bytes()[..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn error(&self, span: Range<usize>, key: &str, problem: impl std::fmt::Display) -> Error {
        let line = self.line(span);
        Error::Config(format!(
            "{} line {line}: {key}: {problem}",
            self.path.display()
        ))
    }

    fn origin<T>(&self, spanned: &Spanned<T>, key: &str) -> String {
        let line = self.line(spanned.span());
        format!("{} line {line} ({key})", self.path.display())
    }
}

/// The values `{placeholders}` stand for in one run.
struct Templates {
    run_date: NaiveDate,
    job: String,
}

impl Templates {
    fn fill(&self, src: &Source<'_>, value: &Spanned<String>, key: &str) -> Result<String> {
        let text = value.get_ref();
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                return Err(src.error(value.span(), key, format!("unclosed {{ in {text:?}")));
            };
            let name = &rest[open + 1..open + close];
            match name {
                "run_date" => out.push_str(&self.run_date.format("%Y-%m-%d").to_string()),
                "yesterday" => {
                    let d = self.run_date.pred_opt().unwrap_or(self.run_date);
                    out.push_str(&d.format("%Y-%m-%d").to_string())
                }
                "job" => out.push_str(&self.job),
                other => {
                    return Err(src.error(
                        value.span(),
                        key,
                        format!("unknown placeholder {{{other}}}; use {{run_date}}, {{yesterday}} or {{job}}"),
                    ))
                }
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl Job {
    /// Reads and checks the job file for a run on `run_date`. `default_warehouse` is used when
    /// the file names none.
    pub fn load(path: &Path, run_date: NaiveDate, default_warehouse: &Path) -> Result<Job> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::MissingInput(format!("{}: no such job file", path.display()))
            }
            _ => Error::io(path.display().to_string(), e),
        })?;
        let file: JobFile = toml::from_str(&text).map_err(|e| {
            // toml's message already names the line, the column and the key.
            Error::Config(format!("{}: {e}", path.display()).trim_end().to_string())
        })?;
        let src = Source { path, text: &text };
        let abs = normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
        let base = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
        let resolve = |p: &str| -> PathBuf { normalize(&base.join(p)) };
        let name = match &file.name {
            Some(n) => n.clone(),
            None => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "job".into()),
        };
        let t = Templates {
            run_date,
            job: name.clone(),
        };
        let warehouse = match &file.warehouse {
            Some(w) => resolve(&t.fill(&src, w, "warehouse")?),
            None => normalize(
                &std::path::absolute(default_warehouse)
                    .unwrap_or_else(|_| default_warehouse.to_path_buf()),
            ),
        };
        let runs_dir = match &file.runs_dir {
            Some(r) => resolve(&t.fill(&src, r, "runs_dir")?),
            None => warehouse.join(crate::warehouse::RUNS_DIR),
        };
        let queries = match &file.queries {
            Some(q) => resolve(q.get_ref()),
            None => PathBuf::from(crate::reports::catalog::DEFAULT_DIR),
        };

        if file.inbox.paths.get_ref().is_empty() {
            return Err(src.error(
                file.inbox.paths.span(),
                "inbox.paths",
                "names no files, folders or globs",
            ));
        }
        let inbox = file
            .inbox
            .paths
            .get_ref()
            .iter()
            .map(|p| resolve(p).display().to_string())
            .collect();
        let fx_rates = file.inbox.fx_rates.as_ref().map(|r| resolve(r.get_ref()));
        let max_record_bytes = match &file.inbox.max_record_bytes {
            None => crate::ingest::chunks::DEFAULT_MAX_RECORD_BYTES,
            Some(n)
                if (256..=crate::ingest::chunks::MAX_MAX_RECORD_BYTES).contains(n.get_ref()) =>
            {
                *n.get_ref()
            }
            Some(n) => {
                return Err(src.error(
                    n.span(),
                    "inbox.max_record_bytes",
                    format!(
                        "{} is out of range: give 256 to {}",
                        n.get_ref(),
                        crate::ingest::chunks::MAX_MAX_RECORD_BYTES
                    ),
                ))
            }
        };

        let mapping = mapping(&src, &file.mapping)?;
        let catalog = match (crate::reports::catalog::scan(&queries), &file.queries) {
            (Ok(catalog), _) => catalog,
            // A folder the job file names: say where it is named.
            (Err(e), Some(q)) => return Err(src.error(q.span(), "queries", e)),
            (Err(e), None) => return Err(e),
        };
        let mut reports = Vec::new();
        for (i, r) in file.reports.iter().enumerate() {
            let key = |k: &str| format!("report[{i}].{k}");
            let report = r.name.get_ref().clone();
            if let Err(e) = crate::reports::catalog::select(&catalog, &report) {
                return Err(src.error(r.name.span(), &key("name"), e));
            }
            let mut params = BTreeMap::new();
            for (k, v) in &r.params {
                params.insert(k.clone(), t.fill(&src, v, &key(&format!("params.{k}")))?);
            }
            for (k, v) in [("day", &r.day), ("compare", &r.compare)] {
                if let Some(v) = v {
                    let value = t.fill(&src, v, &key(k))?;
                    if value.parse::<NaiveDate>().is_err() {
                        return Err(src.error(
                            v.span(),
                            &key(k),
                            format!("{value:?} is not a date (YYYY-MM-DD, {{run_date}} or {{yesterday}})"),
                        ));
                    }
                    params.insert(k.to_string(), value);
                }
            }
            if let Some(top) = r.top {
                params.insert("top".into(), top.to_string());
            }
            let format = match &r.format {
                None => ReportFormat::Csv,
                Some(f) => ReportFormat::from_str(f.get_ref(), true).map_err(|_| {
                    src.error(
                        f.span(),
                        &key("format"),
                        format!(
                            "{:?} is not one of csv, json, ndjson, parquet, html, table",
                            f.get_ref()
                        ),
                    )
                })?,
            };
            let id = match &r.id {
                Some(id) => id.get_ref().clone(),
                None => report.clone(),
            };
            if !plain_name(&id) {
                let span = r.id.as_ref().map_or(r.name.span(), |s| s.span());
                return Err(src.error(
                    span,
                    &key("id"),
                    format!("{id:?} cannot name a folder; use letters, digits, - _ ."),
                ));
            }
            if reports.iter().any(|o: &ReportJob| o.id == id) {
                let span = r.id.as_ref().map_or(r.name.span(), |s| s.span());
                return Err(src.error(
                    span,
                    &key("id"),
                    format!("a second report with id {id:?}: give one an id = \"…\""),
                ));
            }
            reports.push(ReportJob {
                id,
                report,
                params,
                format,
            });
        }

        let mut exports = Vec::new();
        for (i, e) in file.exports.iter().enumerate() {
            let key = |k: &str| format!("export[{i}].{k}");
            let sql = match (&e.sql, &e.table) {
                (Some(sql), None) => sql.get_ref().clone(),
                (None, Some(table)) => crate::export::sql_for_table(table.get_ref()),
                _ => {
                    return Err(src.error(
                        e.file.span(),
                        &key("sql"),
                        "give either sql = \"SELECT …\" or table = \"…\", not both or neither",
                    ))
                }
            };
            let mut params = BTreeMap::new();
            for (k, v) in &e.params {
                params.insert(k.clone(), t.fill(&src, v, &key(&format!("params.{k}")))?);
            }
            let file_name = t.fill(&src, &e.file, &key("file"))?;
            if !Path::new(&file_name)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                return Err(src.error(
                    e.file.span(),
                    &key("file"),
                    format!("{file_name:?} must be a relative path inside the run's exports/ folder (use publish_to to copy it elsewhere)"),
                ));
            }
            let format = match &e.format {
                Some(f) => ExportFormat::from_str(f.get_ref(), true).map_err(|_| {
                    src.error(f.span(), &key("format"), format!("{:?} is not one of csv, parquet, json", f.get_ref()))
                })?,
                None => match ExportFormat::from_path(Path::new(&file_name)) {
                    Some(f) => f,
                    None if !e.partition_by.is_empty() => ExportFormat::Parquet,
                    None => {
                        return Err(src.error(
                            e.file.span(),
                            &key("format"),
                            format!("cannot tell the format of {file_name:?}: add format = \"csv\" | \"parquet\" | \"json\""),
                        ))
                    }
                },
            };
            let publish_to = match &e.publish_to {
                Some(p) if !e.partition_by.is_empty() => {
                    return Err(src.error(
                        p.span(),
                        &key("publish_to"),
                        "only a single-file export can be published (drop partition_by)",
                    ))
                }
                Some(p) => Some(resolve(&t.fill(&src, p, &key("publish_to"))?)),
                None => None,
            };
            exports.push(ExportJob {
                sql,
                params,
                file: file_name,
                format,
                partition_by: e.partition_by.clone(),
                publish_to,
            });
        }

        Ok(Job {
            file: abs,
            name,
            file_blake3: blake3::hash(text.as_bytes()).to_hex().to_string(),
            warehouse,
            runs_dir,
            keep_runs: file.keep_runs.unwrap_or(DEFAULT_KEEP_RUNS),
            queries,
            run_date,
            inbox,
            fx_rates,
            settle: Duration::from_secs(
                file.inbox.settle_seconds.unwrap_or(DEFAULT_SETTLE_SECONDS),
            ),
            rows_per_file: file.inbox.rows_per_file.unwrap_or(1_000_000).max(1),
            ids_in_memory: file.inbox.ids_in_memory.unwrap_or(8_000_000),
            max_record_bytes,
            mapping,
            reports,
            exports,
        })
    }
}

/// `a/b/../c` as `a/c`, without touching the file system (the path may not exist yet), so
/// run manifests and messages show plain absolute paths.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A name usable as one path component.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The `[mapping]` section: `field = "source column"`, `time_format`, `time_zone`.
fn mapping(
    src: &Source<'_>,
    section: &BTreeMap<Spanned<String>, Spanned<String>>,
) -> Result<ColumnMapping> {
    let mut m = ColumnMapping::default();
    let mut time_format: Option<&Spanned<String>> = None;
    let mut time_zone: Option<&Spanned<String>> = None;
    for (key, value) in section {
        let k = key.get_ref().as_str();
        let shown = format!("mapping.{k}");
        match k {
            "time_format" => time_format = Some(value),
            "time_zone" => time_zone = Some(value),
            _ => {
                let Some(f) = INPUT_FIELDS.iter().position(|n| *n == k) else {
                    return Err(src.error(
                        key.span(),
                        &shown,
                        format!(
                            "not a field of the contract; map one of {}, or set time_format / time_zone",
                            INPUT_FIELDS.join(", ")
                        ),
                    ));
                };
                let column = value.get_ref().trim();
                if column.is_empty() {
                    return Err(src.error(value.span(), &shown, "names an empty column"));
                }
                m.columns[f] = column.to_string();
                m.origins[f] = Some(src.origin(value, &shown));
            }
        }
    }
    // Two fields read from one column, or a renamed field whose old name another field now
    // uses, would silently read the wrong values.
    for (i, a) in m.columns.iter().enumerate() {
        if let Some(j) = m.columns[i + 1..].iter().position(|b| b == a) {
            let j = i + 1 + j;
            let (field, other) = (INPUT_FIELDS[i], INPUT_FIELDS[j]);
            let at = section
                .iter()
                .find(|(k, _)| k.get_ref() == field || k.get_ref() == other)
                .map(|(k, _)| k.span())
                .unwrap_or(0..0);
            return Err(src.error(
                at,
                "mapping",
                format!("{field} and {other} would both read column {a:?}"),
            ));
        }
    }
    let zone = match time_zone {
        Some(z) => parse_offset(z.get_ref()).ok_or_else(|| {
            src.error(
                z.span(),
                "mapping.time_zone",
                format!(
                    "{:?} is not an offset like +08:00, -05:00 or UTC",
                    z.get_ref()
                ),
            )
        })?,
        None => chrono::FixedOffset::east_opt(crate::cst::CST_OFFSET_SECONDS as i32)
            .ok_or_else(|| Error::Other(anyhow::anyhow!("CST offset")))?,
    };
    if let Some(f) = time_format {
        let kind = match f.get_ref().as_str() {
            "rfc3339" => None,
            "epoch_seconds" => Some(TimeKind::EpochSeconds),
            "epoch_millis" => Some(TimeKind::EpochMillis),
            pattern => {
                let broken = chrono::format::StrftimeItems::new(pattern)
                    .any(|item| matches!(item, chrono::format::Item::Error));
                if broken || !pattern.contains('%') {
                    return Err(src.error(
                        f.span(),
                        "mapping.time_format",
                        format!("{pattern:?} is not a strftime pattern (e.g. \"%Y-%m-%d %H:%M:%S%.f\"), rfc3339, epoch_seconds or epoch_millis"),
                    ));
                }
                Some(TimeKind::Pattern(pattern.to_string()))
            }
        };
        m.time = kind.map(|kind| TimeFormat { kind, zone });
    } else if let Some(z) = time_zone {
        return Err(src.error(
            z.span(),
            "mapping.time_zone",
            "applies to a time_format; RFC 3339 times carry their own offset",
        ));
    }
    Ok(m)
}
