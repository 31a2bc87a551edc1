//! The HTML format: one self-contained page (no script, no external file) with every query's
//! table and, for the built-in reports, SVG charts ([`charts`]) next to their tables.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{charts, QueryResult};
use crate::error::Result;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Every cell as the text the CSV format shows.
pub fn cells(r: &QueryResult) -> Result<Vec<Vec<String>>> {
    let mut buf = Vec::new();
    crate::output::write(&mut buf, &r.schema, &r.batches, crate::output::Format::Csv)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(parse_csv(&text))
}

/// A small RFC 4180 reader for what arrow's CSV writer produced.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The page for `report`.
pub fn page(
    report: &str,
    results: &[QueryResult],
    values: &BTreeMap<String, String>,
) -> Result<String> {
    let mut html = String::new();
    let title = format!("double11 report {report}");
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}th{{background:#eee}}\
.scroll{{max-height:30em;overflow:auto}}\
.query{{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}}\
.query figure{{margin:1em 0}}svg.chart{{display:block;border:1px solid #ddd}}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let shown: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("${k} = {}", escape(v)))
        .collect();
    let _ = writeln!(html, "<p>Parameters: {}</p>", shown.join(", "));
    for r in results {
        let _ = writeln!(html, "<h2 id=\"{0}\">{0}</h2>", escape(&r.query.name));
        let rows = cells(r)?;
        let _ = writeln!(html, "<div class=\"query\">");
        for svg in charts::for_query(r, results, values)? {
            let _ = writeln!(html, "<figure>{svg}</figure>");
        }
        let _ = writeln!(html, "<div class=\"scroll\"><table>");
        for (i, row) in rows.iter().enumerate() {
            let tag = if i == 0 { "th" } else { "td" };
            let _ = write!(html, "<tr>");
            for c in row {
                let _ = write!(html, "<{tag}>{}</{tag}>", escape(c));
            }
            let _ = writeln!(html, "</tr>");
        }
        let _ = writeln!(html, "</table></div></div>");
    }
    html.push_str("</body></html>\n");
    Ok(html)
}
