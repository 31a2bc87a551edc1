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
use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::export::ExportFormat;
use crate::ingest::read::mapping::{parse_offset, ColumnMapping, TimeFormat, TimeKind};
use crate::reports::catalog::Query;
use crate::reports::ReportFormat;
use crate::schema::INPUT_FIELDS;
use crate::settings::{parse_size, Overrides, MAX_MAX_RECORD_BYTES, MIN_MAX_RECORD_BYTES};

/// Past runs kept under the runs folder when the job does not say.
pub(crate) const DEFAULT_KEEP_RUNS: usize = 30;
/// A file modified more recently than this may still be growing.
pub(crate) const DEFAULT_SETTLE_SECONDS: u64 = 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    name: Option<String>,
    warehouse: Option<Spanned<String>>,
    runs_dir: Option<Spanned<String>>,
    keep_runs: Option<usize>,
    queries: Option<Spanned<String>>,
    inbox: InboxSection,
    settings: Option<SettingsSection>,
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
    cached_writes: Option<bool>,
}

/// `[settings]`: the process-wide settings a job may give (a flag or variable wins).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsSection {
    memory_limit: Option<Spanned<String>>,
    threads: Option<Spanned<usize>>,
    cluster: Option<Spanned<String>>,
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
    /// The settings `[settings]` (`memory_limit`, `threads`) and `[inbox]` (`rows_per_file`,
    /// `ids_in_memory`, `max_record_bytes`, `cached_writes`) give, laid over the command line's
    /// by the run.
    pub settings: Overrides,
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

/// What every section's checks share: the file (for errors), the templates and the folder
/// relative paths are relative to.
struct Loader<'a> {
    src: Source<'a>,
    templates: Templates,
    base: PathBuf,
}

impl Loader<'_> {
    /// A path of the job file, relative to the job file's folder, made absolute.
    fn resolve(&self, p: &str) -> PathBuf {
        normalize(&self.base.join(p))
    }

    /// `value` with its `{placeholders}` filled in.
    fn fill(&self, value: &Spanned<String>, key: &str) -> Result<String> {
        self.templates.fill(&self.src, value, key)
    }

    /// `params.NAME = "…"` of a report or export, filled in.
    fn params(
        &self,
        section: &BTreeMap<String, Spanned<String>>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<BTreeMap<String, String>> {
        let mut params = BTreeMap::new();
        for (k, v) in section {
            params.insert(k.clone(), self.fill(v, &key(&format!("params.{k}")))?);
        }
        Ok(params)
    }
}

/// The top-level places of a job: its warehouse, runs folder and queries folder.
struct Places {
    warehouse: PathBuf,
    runs_dir: PathBuf,
    queries: PathBuf,
}

/// The checked `[inbox]` section.
struct Inbox {
    paths: Vec<String>,
    fx_rates: Option<PathBuf>,
    settle: Duration,
    settings: Overrides,
}

impl Job {
    /// Reads and checks the job file for a run on `run_date`. `default_warehouse` is used when
    /// the file names none.
    pub fn load(path: &Path, run_date: NaiveDate, default_warehouse: &Path) -> Result<Job> {
        let text = read(path)?;
        let file: JobFile = toml::from_str(&text).map_err(|e| {
            // toml's message already names the line, the column and the key.
            Error::Config(format!("{}: {e}", path.display()).trim_end().to_string())
        })?;
        let abs = normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
        let name = match &file.name {
            Some(n) => n.clone(),
            None => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "job".into()),
        };
        let l = Loader {
            src: Source { path, text: &text },
            templates: Templates {
                run_date,
                job: name.clone(),
            },
            base: abs.parent().unwrap_or(Path::new("/")).to_path_buf(),
        };
        let places = l.places(&file, default_warehouse)?;
        let inbox = l.inbox(&file.inbox)?;
        let settings = l.settings(file.settings.as_ref(), inbox.settings)?;
        let mapping = mapping(&l.src, &file.mapping)?;
        let catalog = match (
            crate::reports::catalog::scan(&places.queries),
            &file.queries,
        ) {
            (Ok(catalog), _) => catalog,
            // A folder the job file names: say where it is named.
            (Err(e), Some(q)) => return Err(l.src.error(q.span(), "queries", e)),
            (Err(e), None) => return Err(e),
        };
        let mut reports = Vec::new();
        for (i, r) in file.reports.iter().enumerate() {
            let report = l.report(i, r, &catalog, &reports)?;
            reports.push(report);
        }
        let exports = file
            .exports
            .iter()
            .enumerate()
            .map(|(i, e)| l.export(i, e))
            .collect::<Result<_>>()?;
        Ok(Job {
            file: abs,
            name,
            file_blake3: blake3::hash(text.as_bytes()).to_hex().to_string(),
            warehouse: places.warehouse,
            runs_dir: places.runs_dir,
            keep_runs: file.keep_runs.unwrap_or(DEFAULT_KEEP_RUNS),
            queries: places.queries,
            run_date,
            inbox: inbox.paths,
            fx_rates: inbox.fx_rates,
            settle: inbox.settle,
            settings,
            mapping,
            reports,
            exports,
        })
    }
}

/// The job file's text; a missing file is "input not found" (exit 66).
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::MissingInput(format!("{}: no such job file", path.display()))
        }
        _ => Error::io(path.display().to_string(), e),
    })
}

impl Loader<'_> {
    /// `warehouse`, `runs_dir` and `queries`: the file's, else `default_warehouse`, its
    /// `runs/` and `./queries`.
    fn places(&self, file: &JobFile, default_warehouse: &Path) -> Result<Places> {
        let s3 = |w: &str| w.starts_with("s3://");
        let warehouse = match &file.warehouse {
            Some(w) if s3(w.get_ref()) => PathBuf::from(self.fill(w, "warehouse")?),
            Some(w) => self.resolve(&self.fill(w, "warehouse")?),
            None if s3(&default_warehouse.to_string_lossy()) => default_warehouse.to_path_buf(),
            None => normalize(
                &std::path::absolute(default_warehouse)
                    .unwrap_or_else(|_| default_warehouse.to_path_buf()),
            ),
        };
        let runs_dir = match &file.runs_dir {
            Some(r) => self.resolve(&self.fill(r, "runs_dir")?),
            // Run folders are local files (the run lock, reports, exports): beside a local
            // warehouse by default, named by the job for an S3 one.
            None if s3(&warehouse.to_string_lossy()) => {
                let message = format!(
                    "the warehouse {} is on S3 and a job keeps its run folders on local disk: \
                     name a local folder with runs_dir = \"...\"",
                    warehouse.display()
                );
                return Err(match &file.warehouse {
                    Some(w) => self.src.error(w.span(), "warehouse", &message),
                    None => Error::Usage(format!("--warehouse {}", message)),
                });
            }
            None => warehouse.join(crate::warehouse::RUNS_DIR),
        };
        let queries = match &file.queries {
            Some(q) => self.resolve(q.get_ref()),
            None => PathBuf::from(crate::reports::catalog::DEFAULT_DIR),
        };
        Ok(Places {
            warehouse,
            runs_dir,
            queries,
        })
    }

    /// `[inbox]`: what to ingest, the rates, how long a file must rest, and the ingest sizes.
    fn inbox(&self, inbox: &InboxSection) -> Result<Inbox> {
        if inbox.paths.get_ref().is_empty() {
            return Err(self.src.error(
                inbox.paths.span(),
                "inbox.paths",
                "names no files, folders or globs",
            ));
        }
        let paths = inbox
            .paths
            .get_ref()
            .iter()
            .map(|p| {
                if p.starts_with("s3://") {
                    p.clone() // an S3 prefix, as it is
                } else {
                    self.resolve(p).display().to_string()
                }
            })
            .collect();
        let fx_rates = inbox.fx_rates.as_ref().map(|r| self.resolve(r.get_ref()));
        let max_record_bytes = match &inbox.max_record_bytes {
            None => None,
            Some(n) if (MIN_MAX_RECORD_BYTES..=MAX_MAX_RECORD_BYTES).contains(n.get_ref()) => {
                Some(*n.get_ref())
            }
            Some(n) => {
                return Err(self.src.error(
                    n.span(),
                    "inbox.max_record_bytes",
                    format!(
                        "{} is out of range: give {MIN_MAX_RECORD_BYTES} to {MAX_MAX_RECORD_BYTES}",
                        n.get_ref(),
                    ),
                ))
            }
        };
        Ok(Inbox {
            paths,
            fx_rates,
            settle: Duration::from_secs(inbox.settle_seconds.unwrap_or(DEFAULT_SETTLE_SECONDS)),
            settings: Overrides {
                rows_per_file: inbox.rows_per_file.map(|n| n.max(1)),
                ids_in_memory: inbox.ids_in_memory,
                max_record_bytes,
                cached_writes: inbox.cached_writes,
                ..Overrides::default()
            },
        })
    }

    /// `[settings]` laid over the sizes `[inbox]` gave: the query memory limit, threads and the
    /// cluster its reports and exports run on.
    fn settings(&self, section: Option<&SettingsSection>, inbox: Overrides) -> Result<Overrides> {
        let Some(section) = section else {
            return Ok(inbox);
        };
        let memory_limit = match &section.memory_limit {
            None => None,
            Some(text) => Some(parse_size(text.get_ref()).ok_or_else(|| {
                self.src.error(
                    text.span(),
                    "settings.memory_limit",
                    format!(
                        "{:?} is not a size: give one such as 2G, 512M or 1073741824",
                        text.get_ref()
                    ),
                )
            })?),
        };
        let threads = match &section.threads {
            Some(n) if *n.get_ref() == 0 => {
                return Err(self.src.error(
                    n.span(),
                    "settings.threads",
                    "0 threads cannot work: give 1 or more",
                ))
            }
            n => n.as_ref().map(|n| *n.get_ref()),
        };
        let cluster = match &section.cluster {
            None => None,
            Some(text) => Some(
                crate::cluster::ClusterUrl::parse(text.get_ref(), "settings.cluster").map_err(
                    |e| {
                        self.src
                            .error(text.span(), "settings.cluster", e.to_string())
                    },
                )?,
            ),
        };
        Ok(Overrides {
            memory_limit,
            threads,
            cluster,
            ..inbox
        })
    }

    /// The `i`th `[[report]]`: a report of the catalog, its parameters, format and folder id
    /// (unique among the `earlier` ones).
    fn report(
        &self,
        i: usize,
        r: &ReportSection,
        catalog: &BTreeMap<String, Vec<Query>>,
        earlier: &[ReportJob],
    ) -> Result<ReportJob> {
        let src = &self.src;
        let key = |k: &str| format!("report[{i}].{k}");
        let report = r.name.get_ref().clone();
        if let Err(e) = crate::reports::catalog::select(catalog, &report) {
            return Err(src.error(r.name.span(), &key("name"), e));
        }
        let mut params = self.params(&r.params, &key)?;
        for (k, v) in [("day", &r.day), ("compare", &r.compare)] {
            if let Some(v) = v {
                let value = self.fill(v, &key(k))?;
                if value.parse::<NaiveDate>().is_err() {
                    return Err(src.error(
                        v.span(),
                        &key(k),
                        format!(
                            "{value:?} is not a date (YYYY-MM-DD, {{run_date}} or {{yesterday}})"
                        ),
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
            Some(f) => ReportFormat::from_name(f.get_ref()).ok_or_else(|| {
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
        let id_span = r.id.as_ref().map_or(r.name.span(), |s| s.span());
        if !plain_name(&id) {
            return Err(src.error(
                id_span,
                &key("id"),
                format!("{id:?} cannot name a folder; use letters, digits, - _ ."),
            ));
        }
        if earlier.iter().any(|o| o.id == id) {
            return Err(src.error(
                id_span,
                &key("id"),
                format!("a second report with id {id:?}: give one an id = \"…\""),
            ));
        }
        Ok(ReportJob {
            id,
            report,
            params,
            format,
        })
    }

    /// The `i`th `[[export]]`: its query, parameters, file inside `exports/`, format and
    /// where a copy is published.
    fn export(&self, i: usize, e: &ExportSection) -> Result<ExportJob> {
        let src = &self.src;
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
        let params = self.params(&e.params, &key)?;
        let file_name = self.fill(&e.file, &key("file"))?;
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
        let format = self.export_format(e, &file_name, &key)?;
        let publish_to = match &e.publish_to {
            Some(p) if !e.partition_by.is_empty() => {
                return Err(src.error(
                    p.span(),
                    &key("publish_to"),
                    "only a single-file export can be published (drop partition_by)",
                ))
            }
            Some(p) => Some(self.resolve(&self.fill(p, &key("publish_to"))?)),
            None => None,
        };
        Ok(ExportJob {
            sql,
            params,
            file: file_name,
            format,
            partition_by: e.partition_by.clone(),
            publish_to,
        })
    }

    /// An export's `format`, else the one its file name implies (Parquet for a partitioned
    /// folder).
    fn export_format(
        &self,
        e: &ExportSection,
        file_name: &str,
        key: &dyn Fn(&str) -> String,
    ) -> Result<ExportFormat> {
        match &e.format {
            Some(f) => ExportFormat::from_name(f.get_ref()).ok_or_else(|| {
                self.src.error(
                    f.span(),
                    &key("format"),
                    format!("{:?} is not one of csv, parquet, json", f.get_ref()),
                )
            }),
            None => match ExportFormat::from_path(Path::new(file_name)) {
                Some(f) => Ok(f),
                None if !e.partition_by.is_empty() => Ok(ExportFormat::Parquet),
                None => Err(self.src.error(
                    e.file.span(),
                    &key("format"),
                    format!("cannot tell the format of {file_name:?}: add format = \"csv\" | \"parquet\" | \"json\""),
                )),
            },
        }
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
    m.time = time_format_of(src, time_format, time_zone)?;
    Ok(m)
}

/// `mapping.time_format` and `mapping.time_zone`: how the time column is written (`None`:
/// RFC 3339, which carries its own offset).
fn time_format_of(
    src: &Source<'_>,
    time_format: Option<&Spanned<String>>,
    time_zone: Option<&Spanned<String>>,
) -> Result<Option<TimeFormat>> {
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
        Ok(kind.map(|kind| TimeFormat { kind, zone }))
    } else if let Some(z) = time_zone {
        Err(src.error(
            z.span(),
            "mapping.time_zone",
            "applies to a time_format; RFC 3339 times carry their own offset",
        ))
    } else {
        Ok(None)
    }
}
