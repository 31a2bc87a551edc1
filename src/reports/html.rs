//! The HTML format: one self-contained page (no script, no external file) with every query's
//! table and, for the built-in reports, SVG charts ([`charts`]) next to their tables.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::{charts, QueryResult};
use crate::error::Result;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Every cell as the text the CSV format shows, header first: Arrow's display with the options
/// Arrow's CSV writer uses in [`crate::output`] (nulls empty, Arrow's default date, time and
/// timestamp formats, decimals with all their digits), formatted directly instead of written
/// as CSV and parsed back.
pub fn cells(r: &QueryResult) -> Result<Vec<Vec<String>>> {
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
