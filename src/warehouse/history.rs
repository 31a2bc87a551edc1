//! `double11 history`: the warehouse versions, newest first: when, what made each one (create,
//! upgrade, ingest, recover, …), the run and its counts, and which tables changed. Any version
//! listed can be read again with `--as-of N` (until `double11 vacuum` removes its files).

use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::history::HistoryFormat;
use crate::warehouse::manifest::{Counts, Manifest};
use crate::warehouse::Warehouse;

/// One warehouse version, as `history` shows it.
#[derive(Debug, Serialize)]
pub struct VersionSummary {
    pub version: u64,
    pub committed_at: String,
    pub operation: String,
    /// The run this version committed (an ingest's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// That run's inputs and counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// Tables whose Delta version changed, with the new version.
    pub tables_changed: Vec<(String, u64)>,
    /// Rows in `transactions` in this version.
    pub transactions_rows: u64,
}

/// The versions of `wh`, newest first (the last `last` only, when given).
pub async fn versions(wh: &Warehouse, last: Option<usize>) -> Result<Vec<VersionSummary>> {
    let pins = wh.pins()?;
    let all = pins.versions().await?;
    let start = last.map_or(0, |n| all.len().saturating_sub(n));
    let mut out = Vec::new();
    // The version before the window, to tell what the first one changed.
    let mut previous: Option<Manifest> = match start {
        0 => None,
        _ => Some(pins.read(all[start - 1]).await?),
    };
    for &v in &all[start..] {
        let m = pins.read(v).await?;
        let changed = m
            .tables
            .iter()
            .filter(|(t, v)| previous.as_ref().and_then(|p| p.tables.get(*t)) != Some(*v))
            .map(|(t, v)| (t.clone(), *v))
            .collect();
        let run = (m.operation == "ingest").then(|| m.runs.last()).flatten();
        out.push(VersionSummary {
            version: m.version,
            committed_at: m.committed_at.clone(),
            operation: m.operation.clone(),
            run_id: run.map(|r| r.run_id.clone()),
            inputs: run.map(|r| r.inputs.len()),
            counts: run.map(|r| r.totals),
            tables_changed: changed,
            transactions_rows: m
                .files_of(crate::schema::TRANSACTIONS)
                .map(|f| f.rows)
                .sum(),
        });
        previous = Some(m);
    }
    out.reverse();
    Ok(out)
}

/// Prints the versions of `wh` as a table or JSON.
pub async fn print(wh: &Warehouse, format: HistoryFormat, last: Option<usize>) -> Result<()> {
    let versions = versions(wh, last).await?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let err = |e| Error::io("<stdout>", e);
    match format {
        HistoryFormat::Json => {
            let text =
                serde_json::to_string_pretty(&versions).map_err(|e| Error::Other(e.into()))?;
            writeln!(out, "{text}").map_err(err)?;
        }
        HistoryFormat::Table => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header([
                "version",
                "committed (UTC)",
                "operation",
                "run",
                "inputs",
                "accepted",
                "duplicates",
                "rejected",
                "transactions rows",
                "tables changed (Delta version)",
            ]);
            for v in &versions {
                let count = |f: fn(&Counts) -> u64| {
                    v.counts
                        .as_ref()
                        .map(|c| f(c).to_string())
                        .unwrap_or_default()
                };
                table.add_row([
                    v.version.to_string(),
                    v.committed_at
                        .replace('T', " ")
                        .trim_end_matches('Z')
                        .to_string(),
                    v.operation.clone(),
                    v.run_id.clone().unwrap_or_default(),
                    v.inputs.map(|n| n.to_string()).unwrap_or_default(),
                    count(|c| c.accepted),
                    count(|c| c.duplicates),
                    count(|c| c.rejected),
                    v.transactions_rows.to_string(),
                    v.tables_changed
                        .iter()
                        .map(|(t, n)| format!("{t} {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]);
            }
            writeln!(out, "{table}").map_err(err)?;
        }
    }
    out.flush().map_err(err)
}
