//! Exports: any table or query to CSV, Parquet or NDJSON, as one file or a partitioned folder.
//!
//! DataFusion's writers do the work. The result is written under a temporary name next to
//! the destination and renamed into place, so a reader never sees half an export, and an
//! existing destination is only replaced with `--force`.

use std::path::{Path, PathBuf};

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::execution::context::SessionContext;

use crate::error::{Error, Result};
use crate::sql::{plan_statements, Access};

/// The file format of an export (`--format`, a job's `format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Parquet,
    /// Newline-delimited JSON, one object per row.
    Json,
}

impl ExportFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [ExportFormat; 3] =
        [ExportFormat::Csv, ExportFormat::Parquet, ExportFormat::Json];

    /// The format named `name` (any case), as `--format` and job files spell it.
    pub fn from_name(name: &str) -> Option<ExportFormat> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Json => "json",
        }
    }

    /// The format a file name implies (`.csv`, `.parquet`, `.json` / `.jsonl` / `.ndjson`).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(ExportFormat::Csv),
            "parquet" | "pq" => Some(ExportFormat::Parquet),
            "json" | "jsonl" | "ndjson" => Some(ExportFormat::Json),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The query to export (a table name becomes `SELECT * FROM table`).
    pub sql: String,
    pub to: PathBuf,
    pub format: Option<ExportFormat>,
    /// Columns to partition a folder by (Hive-style `col=value/` folders).
    pub partition_by: Vec<String>,
    pub force: bool,
    /// Values for `$name` placeholders in the SQL, bound as typed values (never pasted).
    pub params: std::collections::BTreeMap<String, String>,
}

/// Runs the export; returns the number of rows written.
pub async fn export(ctx: &SessionContext, opts: &ExportOptions) -> Result<u64> {
    let dest = &opts.to;
    let dest_name = dest.display().to_string();
    let format = match opts.format.or_else(|| ExportFormat::from_path(dest)) {
        Some(f) => f,
        None if !opts.partition_by.is_empty() => ExportFormat::Parquet,
        None => {
            return Err(Error::Usage(format!(
                "{dest_name}: cannot tell the format from the name; pass --format csv|parquet|json"
            )))
        }
    };
    if dest.exists() && !opts.force {
        return Err(Error::Exists(dest_name));
    }
    let mut frames = plan_statements(ctx, &opts.sql, Access::ReadOnly).await?;
    let frame = frames
        .pop()
        .ok_or_else(|| Error::Usage("no SQL statement to export".into()))?;
    let frame = crate::sql::params::bind(frame, &opts.params, &dest_name)?;
    for column in &opts.partition_by {
        if frame.schema().field_with_unqualified_name(column).is_err() {
            return Err(Error::Usage(format!(
                "--partition-by {column}: the query has no such column"
            )));
        }
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display().to_string(), e))?;
    let file_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let tmp = parent.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let single = opts.partition_by.is_empty();
    // DataFusion picks single-file output from the path; a trailing slash means a folder.
    let tmp_url = if single {
        tmp.display().to_string()
    } else {
        format!("{}/", tmp.display())
    };
    let write_opts = DataFrameWriteOptions::new()
        .with_single_file_output(single)
        .with_partition_by(opts.partition_by.clone());
    let written = match format {
        ExportFormat::Csv => frame.write_csv(&tmp_url, write_opts, None).await,
        ExportFormat::Parquet => frame.write_parquet(&tmp_url, write_opts, None).await,
        ExportFormat::Json => frame.write_json(&tmp_url, write_opts, None).await,
    };
    let rows = match written {
        Ok(batches) => written_rows(&batches),
        Err(e) => {
            remove_path(&tmp);
            return Err(e.into());
        }
    };
    if dest.exists() {
        remove_path(dest);
    }
    std::fs::rename(&tmp, dest).map_err(|e| Error::io(&dest_name, e))?;
    Ok(rows)
}

/// DataFusion's writers answer with one `count` row: the rows written.
fn written_rows(batches: &[arrow::array::RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::UInt64Array>()
        })
        .map(|c| c.iter().flatten().sum::<u64>())
        .sum()
}

fn remove_path(path: &Path) {
    let _ = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

/// A table name on its own means the whole table.
pub(crate) fn sql_for_table(table: &str) -> String {
    format!("SELECT * FROM \"{}\"", table.replace('"', "\"\""))
}
