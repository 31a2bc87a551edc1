//! Finding reports: every `*.sql` file in the queries folder is one query, and the part of
//! its name before the first dot names the report it belongs to (`peak.sql`, `peak.top.sql`
//! and `peak.minute.sql` make the report `peak`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The queries folder when `--queries` and `$DOUBLE11_QUERIES` are not given.
pub const DEFAULT_DIR: &str = "queries";

/// The reports `report all` runs, in this order (those present in the folder).
pub const BUILT_IN: [&str; 5] = ["summary", "revenue", "growth", "peak", "milestones"];

/// The shipped `queries/*.sql`, compiled in so that `double11 report` also works where no
/// queries folder is at hand (an installed binary). A folder on disk always wins; a test keeps
/// this list equal to the folder.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "growth.category",
        include_str!("../../queries/growth.category.sql"),
    ),
    (
        "growth.clock",
        include_str!("../../queries/growth.clock.sql"),
    ),
    ("growth.hour", include_str!("../../queries/growth.hour.sql")),
    (
        "growth.platform",
        include_str!("../../queries/growth.platform.sql"),
    ),
    ("growth", include_str!("../../queries/growth.sql")),
    (
        "milestones.orders",
        include_str!("../../queries/milestones.orders.sql"),
    ),
    ("milestones", include_str!("../../queries/milestones.sql")),
    ("peak.hour", include_str!("../../queries/peak.hour.sql")),
    (
        "peak.midnight",
        include_str!("../../queries/peak.midnight.sql"),
    ),
    ("peak.minute", include_str!("../../queries/peak.minute.sql")),
    ("peak", include_str!("../../queries/peak.sql")),
    ("peak.top", include_str!("../../queries/peak.top.sql")),
    (
        "revenue.category",
        include_str!("../../queries/revenue.category.sql"),
    ),
    (
        "revenue.cumulative",
        include_str!("../../queries/revenue.cumulative.sql"),
    ),
    (
        "revenue.device",
        include_str!("../../queries/revenue.device.sql"),
    ),
    (
        "revenue.hour",
        include_str!("../../queries/revenue.hour.sql"),
    ),
    (
        "revenue.platform",
        include_str!("../../queries/revenue.platform.sql"),
    ),
    (
        "revenue.province",
        include_str!("../../queries/revenue.province.sql"),
    ),
    (
        "summary.currency",
        include_str!("../../queries/summary.currency.sql"),
    ),
    (
        "summary.duplicates",
        include_str!("../../queries/summary.duplicates.sql"),
    ),
    (
        "summary.rejects",
        include_str!("../../queries/summary.rejects.sql"),
    ),
    ("summary", include_str!("../../queries/summary.sql")),
];

/// One SQL file of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The report it belongs to: `peak`.
    pub report: String,
    /// The file name without `.sql`: `peak` or `peak.top`. Output files are `<name>.<ext>`.
    pub name: String,
    pub path: PathBuf,
    /// The SQL text of an embedded query (`None`: read `path`).
    pub embedded: Option<&'static str>,
}

impl Query {
    /// The query's SQL text.
    pub fn sql(&self) -> Result<String> {
        match self.embedded {
            Some(text) => Ok(text.to_string()),
            None => std::fs::read_to_string(&self.path)
                .map_err(|e| Error::io(self.path.display().to_string(), e)),
        }
    }
}

/// The reports compiled into the binary, shown as `<built-in>/NAME.sql` in messages.
fn embedded() -> BTreeMap<String, Vec<Query>> {
    let mut reports: BTreeMap<String, Vec<Query>> = BTreeMap::new();
    for (name, text) in EMBEDDED {
        let report = name.split('.').next().unwrap_or(name).to_string();
        reports.entry(report.clone()).or_default().push(Query {
            report,
            name: name.to_string(),
            path: PathBuf::from(format!("<built-in>/{name}.sql")),
            embedded: Some(text),
        });
    }
    sort_queries(&mut reports);
    reports
}

fn sort_queries(reports: &mut BTreeMap<String, Vec<Query>>) {
    for queries in reports.values_mut() {
        queries.sort_by(|a, b| (a.name != a.report, &a.name).cmp(&(b.name != b.report, &b.name)));
    }
}

/// Every report of `dir`, each with its queries: the one named like the report first, then
/// the others in name order.
pub fn scan(dir: &Path) -> Result<BTreeMap<String, Vec<Query>>> {
    if dir == Path::new(DEFAULT_DIR) && !dir.exists() {
        tracing::info!("no ./{DEFAULT_DIR} folder: using the built-in report queries");
        return Ok(embedded());
    }
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
            embedded: None,
        });
    }
    sort_queries(&mut reports);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_queries_are_the_queries_folder() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let on_disk = scan(&folder).expect("queries folder");
        let built_in = embedded();
        assert_eq!(
            on_disk.keys().collect::<Vec<_>>(),
            built_in.keys().collect::<Vec<_>>()
        );
        for (report, queries) in &on_disk {
            let names: Vec<&str> = queries.iter().map(|q| q.name.as_str()).collect();
            let embedded_names: Vec<&str> =
                built_in[report].iter().map(|q| q.name.as_str()).collect();
            assert_eq!(names, embedded_names, "{report}: add new files to EMBEDDED");
            for (a, b) in queries.iter().zip(&built_in[report]) {
                assert_eq!(
                    a.sql().expect("read"),
                    b.sql().expect("embedded"),
                    "{}",
                    a.name
                );
            }
        }
    }
}
