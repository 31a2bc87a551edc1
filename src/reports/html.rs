//! The HTML format: one self-contained page (no script, no external file) that reads like a
//! dashboard: the headline figures first ([`headline`]), then the SVG charts of the built-in
//! reports ([`charts`]), then every query's table with numbers shown for people ([`pretty`]).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::pretty::Style;
use super::{charts, headline, QueryResult};
use crate::error::Result;

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Every cell as the text the CSV format shows, header first: Arrow's display with the options
/// Arrow's CSV writer uses in [`crate::output`] (nulls empty, Arrow's default date, time and
/// timestamp formats, decimals with all their digits), formatted directly instead of written
/// as CSV and parsed back.
pub(crate) fn cells(r: &QueryResult) -> Result<Vec<Vec<String>>> {
    // The CSV writer's header is the first batch's schema (the result's when there is none).
    let schema = r
        .batches
        .first()
        .map_or_else(|| Arc::clone(&r.schema), |b| b.schema());
    let mut rows = vec![schema.fields().iter().map(|f| f.name().clone()).collect()];
    let options = FormatOptions::default().with_null("");
    for batch in &r.batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| {
                if column.data_type().is_nested() {
                    // As the CSV format: a table cell holds no list or struct.
                    Err(ArrowError::CsvError(format!(
                        "Nested type {} is not supported in CSV",
                        column.data_type()
                    )))
                } else {
                    ArrayFormatter::try_new(column.as_ref(), &options)
                }
            })
            .collect::<std::result::Result<Vec<_>, ArrowError>>()?;
        for row in 0..batch.num_rows() {
            let mut cells = Vec::with_capacity(formatters.len());
            for (col, f) in formatters.iter().enumerate() {
                let mut text = String::new();
                f.value(row).write(&mut text).map_err(|e| {
                    ArrowError::CsvError(format!(
                        "Error processing row {}, col {}: {e}",
                        row + 1,
                        col + 1
                    ))
                })?;
                cells.push(text);
            }
            rows.push(cells);
        }
    }
    Ok(rows)
}

/// Tables with more rows than this start folded (a click on their summary opens them).
const OPEN_ROWS: usize = 25;

const STYLE: &str = "\
body{font-family:sans-serif;margin:2em;color:#222;max-width:90em}\
h1{margin-bottom:.2em}.params{color:#666;margin-top:0}\
.band{display:flex;flex-wrap:wrap;gap:1em;margin:1.5em 0}\
.card{border:1px solid #ddd;border-radius:8px;padding:.7em 1.2em;min-width:12em;background:#fafafa}\
.card .k{color:#666;font-size:.85em;text-transform:uppercase;letter-spacing:.04em}\
.card .v{font-size:1.9em;font-weight:bold;margin:.15em 0;color:#c62828}\
.card .d{color:#444;font-size:.9em}\
.charts{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\
.charts figure{margin:0}figcaption{font-size:.85em;color:#666}\
svg.chart{display:block;border:1px solid #ddd}\
details{margin:.5em 0 1.5em}summary{cursor:pointer;color:#1565c0}\
table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#eee}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.scroll{max-height:30em;overflow:auto}";

/// The page for `report`: a headline band ([`headline`]), the charts ([`charts`]), then every
/// query's table, its numbers shown for people ([`pretty`]) with the raw value on hover.
pub(crate) fn page(
    report: &str,
    results: &[QueryResult],
    values: &BTreeMap<String, String>,
) -> Result<String> {
    let mut html = String::new();
    let mut title = format!("double11 report {report}");
    if let Some(day) = values.get("day") {
        let _ = write!(title, " · {day}");
    }
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n\
         <style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(&title)
    );
    let shown: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("${k} = {}", escape(v)))
        .collect();
    let _ = writeln!(
        html,
        "<p class=\"params\">Parameters: {}</p>",
        shown.join(", ")
    );
    html.push_str(&headline::band(results)?);
    let mut figures = String::new();
    for r in results {
        for svg in charts::for_query(r, results, values)? {
            let _ = writeln!(
                figures,
                "<figure>{svg}<figcaption>from <a href=\"#{0}\">{0}</a></figcaption></figure>",
                escape(&r.query.name)
            );
        }
    }
    if !figures.is_empty() {
        let _ = writeln!(html, "<section class=\"charts\">\n{figures}</section>");
    }
    for r in results {
        table(&mut html, r)?;
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

/// The table of one query, folded when it is long; cells shown in their column's [`Style`]
/// with the raw text (as the CSV output has it) in a `title`.
fn table(html: &mut String, r: &QueryResult) -> Result<()> {
    let rows = cells(r)?;
    let styles: Vec<Style> = r
        .schema
        .fields()
        .iter()
        .map(|f| Style::of(f.name(), f.data_type()))
        .collect();
    let data_rows = rows.len().saturating_sub(1);
    let _ = writeln!(html, "<h2 id=\"{0}\">{0}</h2>", escape(&r.query.name));
    let open = if data_rows <= OPEN_ROWS { " open" } else { "" };
    let plural = if data_rows == 1 { "" } else { "s" };
    let _ = writeln!(
        html,
        "<details{open}><summary>{data_rows} row{plural}</summary><div class=\"scroll\"><table>"
    );
    for (i, row) in rows.iter().enumerate() {
        let _ = write!(html, "<tr>");
        for (c, raw) in row.iter().enumerate() {
            let style = styles.get(c).copied().unwrap_or(Style::Raw);
            let class = if style == Style::Raw {
                ""
            } else {
                " class=\"n\""
            };
            if i == 0 {
                let _ = write!(html, "<th{class}>{}</th>", escape(raw));
                continue;
            }
            let shown = style.show(raw);
            if shown == *raw {
                let _ = write!(html, "<td{class}>{}</td>", escape(raw));
            } else {
                let _ = write!(
                    html,
                    "<td{class} title=\"{}\">{}</td>",
                    escape(raw),
                    escape(&shown)
                );
            }
        }
        let _ = writeln!(html, "</tr>");
    }
    let _ = writeln!(html, "</table></div></details>");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use arrow::array::{
        ArrayRef, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;
    use crate::reports::catalog::Query;

    fn result(batches: Vec<RecordBatch>, schema: arrow::datatypes::SchemaRef) -> QueryResult {
        QueryResult {
            query: Query {
                report: "t".into(),
                name: "t".into(),
                path: PathBuf::from("t.sql"),
                embedded: None,
            },
            schema,
            batches,
        }
    }

    /// What the CSV format writes, read back by the `csv` crate.
    fn csv_cells(r: &QueryResult) -> Vec<Vec<String>> {
        let mut buf = Vec::new();
        crate::output::write(&mut buf, &r.schema, &r.batches, crate::output::Format::Csv)
            .expect("csv");
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(buf.as_slice())
            .records()
            .map(|rec| rec.expect("record").iter().map(String::from).collect())
            .collect()
    }

    #[test]
    fn cells_read_as_the_csv_format_shows_them() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("text, \"quoted\"", DataType::Utf8, true),
            Field::new("gmv_cny", DataType::Decimal128(28, 2), true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+08:00".into())),
                true,
            ),
            Field::new(
                "naive",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
            Field::new("day", DataType::Date32, true),
            Field::new("n", DataType::Int64, true),
            Field::new("share", DataType::Float64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("a,b \"c\"\r\nd"),
                None,
                Some(""),
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(-5), None, Some(26_840_000_000_000)])
                    .with_precision_and_scale(28, 2)
                    .expect("decimal"),
            ),
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(1_573_401_600_123), None, Some(0)])
                    .with_timezone("+08:00"),
            ),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_573_401_600_000),
                Some(-1),
                None,
            ])),
            Arc::new(Date32Array::from(vec![Some(18_211), None, Some(0)])),
            Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(0), None])),
            Arc::new(Float64Array::from(vec![Some(0.1), Some(-2.5e-7), None])),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).expect("batch");
        let two = result(
            vec![batch.slice(0, 1), batch.slice(1, 2)],
            Arc::clone(&schema),
        );
        let expected = csv_cells(&two);
        assert_eq!(expected.len(), 4, "{expected:?}");
        assert_eq!(cells(&two).expect("cells"), expected);
        let empty = result(Vec::new(), schema);
        assert_eq!(cells(&empty).expect("cells"), csv_cells(&empty));
    }
}
