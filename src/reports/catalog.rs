//! Finding reports: every `*.sql` file in the queries folder is one query, and the part of
//! its name before the first dot names the report it belongs to (`peak.sql`, `peak.top.sql`
//! and `peak.minute.sql` make the report `peak`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The reports `report all` runs, in this order (those present in the folder).
pub const BUILT_IN: [&str; 5] = ["summary", "revenue", "growth", "peak", "milestones"];

/// One SQL file of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The report it belongs to: `peak`.
    pub report: String,
    /// The file name without `.sql`: `peak` or `peak.top`. Output files are `<name>.<ext>`.
    pub name: String,
    pub path: PathBuf,
}

/// Every report of `dir`, each with its queries: the one named like the report first, then
/// the others in name order.
pub fn scan(dir: &Path) -> Result<BTreeMap<String, Vec<Query>>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingInput(format!(
                "no queries folder {} (pass --queries DIR or set DOUBLE11_QUERIES)",
                dir.display()
            ))
        } else {
            Error::io(dir.display().to_string(), e)
        }
    })?;
    let mut reports: BTreeMap<String, Vec<Query>> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir.display().to_string(), e))?;
        let path = entry.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(name) = file.strip_suffix(".sql") else {
            continue;
        };
        if name.is_empty() || name.starts_with('.') || !path.is_file() {
            continue;
        }
        let report = name.split('.').next().unwrap_or(name).to_string();
        reports.entry(report.clone()).or_default().push(Query {
            report,
            name: name.to_string(),
            path,
        });
    }
    for queries in reports.values_mut() {
        queries.sort_by(|a, b| (a.name != a.report, &a.name).cmp(&(b.name != b.report, &b.name)));
    }
    Ok(reports)
}

/// The queries to run for `name` (`all` = the built-in reports), or a usage error that lists
/// what exists.
pub fn select(reports: &BTreeMap<String, Vec<Query>>, name: &str) -> Result<Vec<Query>> {
    if name == "all" {
        let all: Vec<Query> = BUILT_IN
            .iter()
            .filter_map(|r| reports.get(*r))
            .flatten()
            .cloned()
            .collect();
        if all.is_empty() {
            return Err(Error::Usage(format!(
                "no built-in reports found; available: {}",
                available(reports)
            )));
        }
        return Ok(all);
    }
    reports.get(name).cloned().ok_or_else(|| {
        Error::Usage(format!(
            "no report {name:?}; available reports: {}",
            available(reports)
        ))
    })
}

/// `all, growth, milestones, …` for error messages.
pub fn available(reports: &BTreeMap<String, Vec<Query>>) -> String {
    let mut names = vec!["all".to_string()];
    names.extend(reports.keys().cloned());
    names.join(", ")
}
