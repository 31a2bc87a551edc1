//! `double11 report`: reports as DataFusion SQL files under `queries/`.
//!
//! A report is one or more SQL files ([`catalog`]); each file is one query whose named
//! placeholders (`$day`, `$compare`, `$top`, your own `$region`) are bound as typed values
//! ([`crate::sql::params`]), so an analyst can read, change or add a report without touching Rust. Results
//! print as a table, CSV, JSON, NDJSON, Parquet or one offline HTML page ([`html`]), all from
//! the same record batches, optionally with a display currency next to CNY ([`display`]).
//! What to run is one [`ReportRequest`], built by the command line and by job files alike.

pub(crate) mod catalog;
pub(crate) mod charts;
pub(crate) mod display;
pub(crate) mod headline;
pub(crate) mod html;
pub(crate) mod pretty;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use arrow::array::{Array, Date32Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use chrono::{Datelike, NaiveDate};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::output::{self, Format};
use crate::sql::{params, plan_statements, Access};
use crate::warehouse::commit::write_atomic;
use catalog::Query;
use display::DisplayCurrency;

/// Output formats of a report: those of `double11 sql` plus one HTML page with charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Boxed tables for a terminal.
    Table,
    Csv,
    /// One JSON array of objects per query.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Binary Parquet, one file per query (needs --out unless the report has one query).
    Parquet,
    /// One self-contained offline page with the tables and SVG charts.
    Html,
}

impl ReportFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [ReportFormat; 6] = [
        ReportFormat::Table,
        ReportFormat::Csv,
        ReportFormat::Json,
        ReportFormat::Ndjson,
        ReportFormat::Parquet,
        ReportFormat::Html,
    ];

    /// The format named `name` (`csv`, `HTML`, …; any case), as `--format` and job files
    /// spell it.
    pub fn from_name(name: &str) -> Option<ReportFormat> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Table => "table",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Ndjson => "ndjson",
            ReportFormat::Parquet => "parquet",
            ReportFormat::Html => "html",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ReportFormat::Table => "txt",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Ndjson => "ndjson",
            ReportFormat::Parquet => "parquet",
            ReportFormat::Html => "html",
        }
    }

    fn plain(self) -> Option<Format> {
        match self {
            ReportFormat::Table => Some(Format::Table),
            ReportFormat::Csv => Some(Format::Csv),
            ReportFormat::Json => Some(Format::Json),
            ReportFormat::Ndjson => Some(Format::Ndjson),
            ReportFormat::Parquet => Some(Format::Parquet),
            ReportFormat::Html => None,
        }
    }
}

/// What to run: one report, its parameters and where its results go. `double11 report`
/// builds it from its flags, a job run from a `[[report]]` section.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// all, summary, revenue, growth, peak, milestones, or NAME for queries/NAME.sql (and
    /// queries/NAME.*.sql).
    pub report: String,
    /// The CST day to report on (binds `$day`).
    pub day: Option<NaiveDate>,
    /// The day to compare with (binds `$compare`; default: the same date a year before).
    pub compare: Option<NaiveDate>,
    /// How many rows a top-N query shows (binds `$top`).
    pub top: Option<u64>,
    /// Other parameters for `$NAME` in the SQL, name and value, later ones winning.
    pub params: Vec<(String, String)>,
    pub format: ReportFormat,
    /// Write one file per query into this folder instead of printing.
    pub out: Option<PathBuf>,
    /// The folder of report SQL files.
    pub queries: PathBuf,
    /// Also show money in this currency, `rate` units per 1 CNY (both or neither).
    pub currency: Option<String>,
    pub rate: Option<String>,
}

impl ReportRequest {
    /// A request for `report` with no parameters, printed as a table, from `queries`.
    pub fn new(report: impl Into<String>, queries: impl Into<PathBuf>) -> ReportRequest {
        ReportRequest {
            report: report.into(),
            day: None,
            compare: None,
            top: None,
            params: Vec::new(),
            format: ReportFormat::Table,
            out: None,
            queries: queries.into(),
            currency: None,
            rate: None,
        }
    }
}

/// One query's result.
#[derive(Debug)]
pub(crate) struct QueryResult {
    pub query: Query,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// The parameter values of a run: built-in defaults < --param < --day/--compare/--top.
pub(crate) fn parameter_values(args: &ReportRequest) -> Result<BTreeMap<String, String>> {
    let mut values: BTreeMap<String, String> = params::DEFAULTS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in &args.params {
        let k = k.trim();
        params::check_name(k, v)?;
        values.insert(k.to_string(), v.clone());
    }
    if let Some(day) = args.day {
        values.insert("day".into(), day.format("%Y-%m-%d").to_string());
    }
    if let Some(compare) = args.compare {
        values.insert("compare".into(), compare.format("%Y-%m-%d").to_string());
    }
    if !values.contains_key("compare") {
        if let Some(day) = values.get("day").and_then(|d| d.parse::<NaiveDate>().ok()) {
            let before = day
                .with_year(day.year() - 1)
                .or_else(|| NaiveDate::from_ymd_opt(day.year() - 1, day.month(), 28))
                .unwrap_or(day);
            values.insert("compare".into(), before.format("%Y-%m-%d").to_string());
        }
    }
    if let Some(top) = args.top {
        values.insert("top".into(), top.to_string());
    }
    Ok(values)
}

/// The longest a report query waits for the memory of the queries before it.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// Waits, at most [`SETTLE`], until the queries run before have handed their memory back to
/// the session's pool. A query's operators run as tasks that free their reservations when the
/// runtime drops them, which on a busy machine can come after the query's rows were collected:
/// under a tight memory limit the next query would meet a full pool (CI saw the summary's
/// currency mix, a few rows over `per_hour`, refused 320 KB of a 16 MB pool with 186 KB free,
/// right after the distinct counts). Nothing is held between queries otherwise, so the wait
/// is none.
async fn memory_settled(ctx: &SessionContext) {
    let pool = &ctx.runtime_env().memory_pool;
    let deadline = std::time::Instant::now() + SETTLE;
    while pool.reserved() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Runs the report `args.report` over `ctx` and prints or writes its results.
pub async fn run(ctx: &SessionContext, args: &ReportRequest) -> Result<()> {
    let (results, values) = compute(ctx, args).await?;
    match &args.out {
        Some(dir) => write_files(dir, &args.report, &results, args.format, &values).map(|_| ()),
        None => print(&args.report, &results, args.format, &values),
    }
}

/// Runs the report's queries and returns their results (with the display currency applied)
/// and the parameter values they were bound with.
pub(crate) async fn compute(
    ctx: &SessionContext,
    args: &ReportRequest,
) -> Result<(Vec<QueryResult>, BTreeMap<String, String>)> {
    let display = match (&args.currency, &args.rate) {
        (Some(code), Some(rate)) => Some(DisplayCurrency::parse(code, rate)?),
        _ => None,
    };
    let reports = catalog::scan(&args.queries)?;
    let queries = catalog::select(&reports, &args.report)?;
    let values = parameter_values(args)?;
    let mut results = execute(ctx, &queries, &values).await?;
    if let Some(display) = &display {
        for r in &mut results {
            r.schema = display.schema(&r.schema);
            r.batches = r
                .batches
                .iter()
                .map(|b| display.apply(b))
                .collect::<Result<_>>()?;
        }
    }
    Ok((results, values))
}

/// Plans every query (all parse and bind before any runs), checks that `$day` has data,
/// then runs them in order.
pub(crate) async fn execute(
    ctx: &SessionContext,
    queries: &[Query],
    values: &BTreeMap<String, String>,
) -> Result<Vec<QueryResult>> {
    let mut frames = Vec::with_capacity(queries.len());
    let mut needs_day = false;
    for q in queries {
        let file = q.path.display().to_string();
        let sql = q.sql()?;
        let mut planned = plan_statements(ctx, &sql, Access::ReadOnly)
            .await
            .map_err(|e| in_file(&file, e))?;
        if planned.len() != 1 {
            return Err(Error::Usage(format!(
                "{file}: a report query file holds exactly one SQL statement, this one has {}",
                planned.len()
            )));
        }
        let frame = planned.remove(0);
        needs_day |= params::used(&frame)?.iter().any(|p| p == "day");
        frames.push(params::bind(frame, values, &file)?);
    }
    if needs_day {
        if let Some(day) = values.get("day") {
            check_day_has_data(ctx, day).await?;
        }
    }
    let mut results = Vec::with_capacity(frames.len());
    for (q, frame) in queries.iter().zip(frames) {
        memory_settled(ctx).await;
        let schema = frame.schema().inner().clone();
        let batches = frame
            .collect()
            .await
            .map_err(|e| in_file(&q.path.display().to_string(), e.into()))?;
        results.push(QueryResult {
            query: q.clone(),
            schema,
            batches,
        });
    }
    Ok(results)
}

fn in_file(file: &str, e: Error) -> Error {
    match e {
        Error::Sql(msg) => Error::Sql(format!("{file}: {msg}")),
        other => other,
    }
}

/// A day without transactions is an error naming the days that have some (exit 66). Asks
/// `per_second`, which has rows for exactly the days `transactions` has, in far fewer files.
async fn check_day_has_data(ctx: &SessionContext, day: &str) -> Result<()> {
    let frame = ctx
        .sql("SELECT count(*) AS n FROM per_second WHERE cst_date = $day")
        .await?;
    let mut values = BTreeMap::new();
    values.insert("day".to_string(), day.to_string());
    let batches = params::bind(frame, &values, "<day check>")?
        .collect()
        .await?;
    let n = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0);
    if n > 0 {
        return Ok(());
    }
    let days = ctx
        .sql("SELECT DISTINCT cst_date FROM transactions ORDER BY cst_date")
        .await?
        .collect()
        .await?;
    let mut listed = Vec::new();
    for b in &days {
        if let Some(a) = b.column(0).as_any().downcast_ref::<Date32Array>() {
            for i in 0..a.len() {
                if let Some(d) = a.value_as_date(i) {
                    listed.push(d.format("%Y-%m-%d").to_string());
                }
            }
        }
    }
    let listed = if listed.is_empty() {
        "none (ingest some logs first)".to_string()
    } else {
        listed.join(", ")
    };
    Err(Error::MissingInput(format!(
        "no transactions on {day} (CST) in the warehouse; days with data: {listed}"
    )))
}

fn print(
    report: &str,
    results: &[QueryResult],
    format: ReportFormat,
    values: &BTreeMap<String, String>,
) -> Result<()> {
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = stdout.lock();
    let err = |e| Error::io("<stdout>", e);
    match format {
        ReportFormat::Html => {
            let page = html::page(report, results, values)?;
            out.write_all(page.as_bytes()).map_err(err)?;
        }
        ReportFormat::Parquet | ReportFormat::Ndjson if results.len() > 1 => {
            return Err(Error::Usage(format!(
                "report {report} has {} queries: pass --out DIR to write one {} file each",
                results.len(),
                format.extension()
            )));
        }
        ReportFormat::Parquet if terminal => {
            return Err(Error::Usage(
                "Parquet is binary: pass --out DIR or redirect stdout to a file".into(),
            ));
        }
        ReportFormat::Json if results.len() > 1 => {
            // One JSON object: query name -> its rows.
            write!(out, "{{").map_err(err)?;
            for (i, r) in results.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                write!(
                    out,
                    "{sep}\n{}: ",
                    serde_json::Value::from(r.query.name.clone())
                )
                .map_err(err)?;
                let mut buf = Vec::new();
                output::write(&mut buf, &r.schema, &r.batches, Format::Json)?;
                out.write_all(String::from_utf8_lossy(&buf).trim_end().as_bytes())
                    .map_err(err)?;
            }
            writeln!(out, "\n}}").map_err(err)?;
        }
        _ => {
            let plain = format.plain().unwrap_or(Format::Table);
            let several = results.len() > 1;
            for (i, r) in results.iter().enumerate() {
                if several {
                    // CSV: a `# query` line before each query's header, a blank line between.
                    let lead = if i == 0 { "" } else { "\n" };
                    match plain {
                        Format::Csv => writeln!(out, "{lead}# {}", r.query.name),
                        _ => writeln!(out, "{lead}{}", r.query.name),
                    }
                    .map_err(err)?;
                }
                output::write(&mut out, &r.schema, &r.batches, plain)?;
            }
        }
    }
    out.flush().map_err(err)
}

/// Writes one file per query (one page for HTML) into `dir`; returns the files written.
pub(crate) fn write_files(
    dir: &Path,
    report: &str,
    results: &[QueryResult],
    format: ReportFormat,
    values: &BTreeMap<String, String>,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    if format == ReportFormat::Html {
        let page = html::page(report, results, values)?;
        let path = dir.join(format!("{report}.html"));
        write_atomic(&path, page.as_bytes())?;
        return Ok(vec![path]);
    }
    let plain = format.plain().unwrap_or(Format::Table);
    let mut written = Vec::with_capacity(results.len());
    for r in results {
        let mut buf = Vec::new();
        output::write(&mut buf, &r.schema, &r.batches, plain)?;
        let path = dir.join(format!("{}.{}", r.query.name, format.extension()));
        write_atomic(&path, &buf)?;
        written.push(path);
    }
    Ok(written)
}
