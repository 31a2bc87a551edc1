//! What a person sees of an ingest: a progress bar while it runs, a table when it is done.

use std::io::IsTerminal;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ingest::input::Input;
use crate::ingest::IngestReport;
use crate::warehouse::manifest::Counts;

/// A byte-based progress bar over the inputs, or `None` when not asked for or not on a
/// terminal (a pipe or a log file gets no escape codes).
pub(crate) fn progress_bar(inputs: &[Input], wanted: bool) -> Option<ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| i.path.as_ref())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} ingest [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// The per-file and total table printed after an ingest.
pub fn render(report: &IngestReport) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "file",
        "records",
        "accepted",
        "duplicates",
        "rejected",
        "note",
    ]);
    let row = |name: &str, c: &Counts, note: &str| {
        let mut cells = vec![Cell::new(name)];
        for n in [c.records, c.accepted, c.duplicates, c.rejected] {
            cells.push(Cell::new(n).set_alignment(CellAlignment::Right));
        }
        cells.push(Cell::new(note));
        cells
    };
    for input in &report.run.inputs {
        let note = match (&input.skipped_as_ingested_by, &input.unreadable) {
            (Some(run), _) => format!("skipped: same bytes ingested by {run}"),
            (None, Some(why)) => format!("NOT READ: {why}"),
            (None, None) => String::new(),
        };
        table.add_row(row(&input.name, &input.counts, &note));
    }
    table.add_row(row("total", &report.run.totals, ""));
    let mut out = format!(
        "double11 ingest {} into {}\n{table}\n",
        report.run.run_id,
        report.warehouse.display()
    );
    let t = &report.run.totals;
    out.push_str(&format!(
        "records read {} = accepted {} + duplicates {} + rejected {}\n",
        t.records, t.accepted, t.duplicates, t.rejected
    ));
    if !report.rejects_by_kind.is_empty() {
        let kinds: Vec<String> = report
            .rejects_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        out.push_str(&format!(
            "rejected by kind: {} (see: double11 sql -c \"SELECT * FROM rejects WHERE run_id = '{}'\")\n",
            kinds.join(", "),
            report.run.run_id
        ));
    }
    if !report.run.rows_by_date.is_empty() {
        let days: Vec<String> = report
            .run
            .rows_by_date
            .iter()
            .map(|(d, n)| format!("{d}: {n}"))
            .collect();
        out.push_str(&format!("new rows by CST day: {}\n", days.join(", ")));
    }
    let unread = report.run.unreadable_inputs();
    if unread > 0 {
        out.push_str(&format!(
            "{unread} input(s) could not be read and were skipped (see the note column); fix them and run again: they count as not ingested\n"
        ));
    }
    out
}
