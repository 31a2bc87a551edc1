//! The SVG charts of the HTML page, drawn with plotters' SVG backend. Text stays SVG `<text>`
//! that the browser lays out with its own fonts, so no font file is read or embedded.
//!
//! A chart belongs to a query name and reads its columns by name; a query edited so that a
//! column is gone (or a user's own report) simply has no chart. Money is exact `Decimal128`
//! everywhere else: here, and only here, it becomes `f64`, for the geometry of the drawing.
//! Figures written on a chart (bar labels, the busiest second) are the exact figures of the
//! tables, with thousands separators.

use std::collections::BTreeMap;

use arrow::array::{Array, ArrayRef, Decimal128Array, Float64Array, Int64Array, StringArray};
use arrow::compute::{cast, concat};
use arrow::datatypes::DataType;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::pretty::Style;
use super::QueryResult;
use crate::error::{Error, Result};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 340;
const FONT: &str = "sans-serif";
const THIS_YEAR: RGBColor = RGBColor(0xc6, 0x28, 0x28);
const LAST_YEAR: RGBColor = RGBColor(0x15, 0x65, 0xc0);
const GRID: RGBColor = RGBColor(0xee, 0xee, 0xee);

/// The charts (each one `<svg>` element) that go next to the table of `r`; `all` is every
/// result of the page, so a chart can draw a line of another query (last year's curve), and
/// `values` the parameters (the days, for the legends).
pub fn for_query(
    r: &QueryResult,
    all: &[QueryResult],
    values: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let find = |name: &str| all.iter().find(|q| q.query.name == name);
    let day = |key: &'static str| -> &str { values.get(key).map_or(key, String::as_str) };
    let chart = match r.query.name.as_str() {
        "revenue.cumulative" => cumulative(r, find("growth.clock"), day("day"), day("compare"))?,
        "revenue.platform" => platforms(r)?,
        "growth.clock" => clock(r, day("day"), day("compare"))?,
        "peak.midnight" => midnight(r)?,
        _ => None,
    };
    Ok(chart.into_iter().collect())
}

/// One column of all batches, or `None` if the query has no such column.
fn column(r: &QueryResult, name: &str) -> Option<ArrayRef> {
    let idx = r.schema.index_of(name).ok()?;
    let parts: Vec<&dyn Array> = r.batches.iter().map(|b| b.column(idx).as_ref()).collect();
    if parts.is_empty() {
        return Some(arrow::array::new_empty_array(
            r.schema.field(idx).data_type(),
        ));
    }
    concat(&parts).ok()
}

/// A numeric column as chart geometry (nulls as 0).
fn numbers(r: &QueryResult, name: &str) -> Option<Vec<f64>> {
    let a = column(r, name)?;
    match a.data_type() {
        DataType::Decimal128(_, scale) => {
            let d = a.as_any().downcast_ref::<Decimal128Array>()?;
            let unit = 10f64.powi(i32::from(*scale));
            // The one place money becomes a float: pixels.
            Some(d.iter().map(|v| v.unwrap_or(0) as f64 / unit).collect())
        }
        t if t.is_integer() => {
            let c = cast(&a, &DataType::Int64).ok()?;
            let i = c.as_any().downcast_ref::<Int64Array>()?;
            Some(i.iter().map(|v| v.unwrap_or(0) as f64).collect())
        }
        t if t.is_floating() => {
            let c = cast(&a, &DataType::Float64).ok()?;
            let f = c.as_any().downcast_ref::<Float64Array>()?;
            Some(f.iter().map(|v| v.unwrap_or(0.0)).collect())
        }
        _ => None,
    }
}

/// A column as the text the tables show (decimals exact), nulls as `None`.
fn texts(r: &QueryResult, name: &str) -> Option<Vec<Option<String>>> {
    let c = cast(&column(r, name)?, &DataType::Utf8).ok()?;
    let s = c.as_any().downcast_ref::<StringArray>()?;
    Some(s.iter().map(|v| v.map(str::to_string)).collect())
}

fn draw_err(chart: &str) -> impl Fn(DrawingAreaErrorKind<std::io::Error>) -> Error + '_ {
    move |e| Error::Data(format!("drawing the chart of {chart}: {e}"))
}

/// An axis label: 1.5M, 250k, 12.
fn short(v: f64) -> String {
    let (div, unit) = match v.abs() {
        a if a >= 1e9 => (1e9, "B"),
        a if a >= 1e6 => (1e6, "M"),
        a if a >= 1e3 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let text = format!("{:.2}", v / div);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// The top of a value axis: a little above the largest value, never an empty range.
fn top(values: impl IntoIterator<Item = f64>) -> f64 {
    let max = values.into_iter().fold(0.0, f64::max);
    if max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// `<svg …>` with a `<title>` (what a screen reader or a hover shows) and a class for the page.
fn finish(svg: String, title: &str) -> String {
    let title = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    match svg.find('>') {
        Some(end) if svg.starts_with("<svg") => format!(
            "<svg class=\"chart\" role=\"img\"{}<title>{title}</title>{}",
            &svg[4..=end],
            &svg[end + 1..]
        ),
        _ => svg,
    }
}

struct Series {
    name: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(i32, f64)>,
}

/// A line chart over `0..=x_max` (minutes or seconds), labelled at `keys` by `label`.
struct LineChart<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x_max: i32,
    keys: Vec<i32>,
    label: &'a dyn Fn(i32) -> String,
}

fn lines(query: &str, spec: LineChart<'_>, series: &[Series]) -> Result<String> {
    let LineChart {
        title,
        x_desc,
        y_desc,
        x_max,
        keys,
        label,
    } = spec;
    let err = draw_err(query);
    let y_max = top(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let n_keys = keys.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 20))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d((0..x_max).with_key_points(keys), 0f64..y_max)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_labels(n_keys)
            .y_labels(6)
            .x_label_formatter(&|x| label(*x))
            .y_label_formatter(&|y| short(*y))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(&err)?;
        for s in series {
            let style = s.color.stroke_width(2);
            let points = s.points.iter().copied();
            let anno = if s.dashed {
                chart.draw_series(DashedLineSeries::new(points, 7, 4, style))
            } else {
                chart.draw_series(LineSeries::new(points, style))
            }
            .map_err(&err)?;
            anno.label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font((FONT, 15))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(0xbb, 0xbb, 0xbb))
                .draw()
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(finish(svg, title))
}

/// `HH:MM` of a minute of the day.
fn hh_mm(minute: i32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Every two hours of the day, in minutes.
fn day_keys() -> Vec<i32> {
    (0..=12).map(|h| h * 120).collect()
}

/// A cumulative curve: row i holds everything paid before minute i + 1, and it is 0 at 00:00.
fn cumulative_points(values: &[f64]) -> Vec<(i32, f64)> {
    std::iter::once((0, 0.0))
        .chain((1..).zip(values.iter().copied()))
        .collect()
}

/// revenue.cumulative: the GMV curve of the day, and last year's when growth.clock is on the
/// page too and its compare day has sales.
fn cumulative(
    r: &QueryResult,
    clock: Option<&QueryResult>,
    day: &str,
    compare: &str,
) -> Result<Option<String>> {
    let Some(gmv) = numbers(r, "cum_gmv_cny") else {
        return Ok(None);
    };
    let mut series = vec![Series {
        name: day.to_string(),
        color: THIS_YEAR,
        dashed: false,
        points: cumulative_points(&gmv),
    }];
    let mut title = "Cumulative GMV by minute (CST)".to_string();
    if let Some(base) = clock.and_then(|c| numbers(c, "base_cum_gmv_cny")) {
        if base.iter().any(|v| *v > 0.0) {
            series.push(Series {
                name: format!("{compare} (compare day)"),
                color: LAST_YEAR,
                dashed: true,
                points: cumulative_points(&base),
            });
            title = format!("Cumulative GMV by minute (CST), {day} vs {compare}");
        }
    }
    let spec = LineChart {
        title: &title,
        x_desc: "CST time",
        y_desc: "GMV (CNY)",
        x_max: 1440,
        keys: day_keys(),
        label: &hh_mm,
    };
    let svg = lines(&r.query.name, spec, &series)?;
    Ok(Some(svg))
}

/// growth.clock: this year's and the compare day's cumulative GMV at the same clock time.
fn clock(r: &QueryResult, day: &str, compare: &str) -> Result<Option<String>> {
    let (Some(now), Some(base)) = (numbers(r, "cum_gmv_cny"), numbers(r, "base_cum_gmv_cny"))
    else {
        return Ok(None);
    };
    let series = [
        Series {
            name: format!("{day} (this year)"),
            color: THIS_YEAR,
            dashed: false,
            points: cumulative_points(&now),
        },
        Series {
            name: format!("{compare} (compare day)"),
            color: LAST_YEAR,
            dashed: true,
            points: cumulative_points(&base),
        },
    ];
    let spec = LineChart {
        title: "Cumulative GMV at the same clock time: this year vs last year",
        x_desc: "CST time",
        y_desc: "GMV (CNY)",
        x_max: 1440,
        keys: day_keys(),
        label: &hh_mm,
    };
    let svg = lines(&r.query.name, spec, &series)?;
    Ok(Some(svg))
}

/// peak.midnight: orders per second, 00:00:00–00:09:59, with the busiest second named.
fn midnight(r: &QueryResult) -> Result<Option<String>> {
    let (Some(orders), Some(counts), Some(seconds)) = (
        numbers(r, "orders"),
        texts(r, "orders"),
        texts(r, "second_cst"),
    ) else {
        return Ok(None);
    };
    // The first busiest second, by the exact count.
    let busiest = counts
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c.as_deref()?.parse::<i64>().ok()?)))
        .fold(None, |best: Option<(usize, i64)>, (i, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((i, n)),
        });
    let title = match busiest {
        Some((i, n)) if n > 0 => format!(
            "Orders per second after midnight (busiest: {} at {})",
            Style::Grouped.show(&n.to_string()),
            seconds[i].as_deref().unwrap_or("?")
        ),
        _ => "Orders per second after midnight".to_string(),
    };
    let n = i32::try_from(orders.len()).unwrap_or(i32::MAX).max(1);
    let series = [Series {
        name: "orders".into(),
        color: THIS_YEAR,
        dashed: false,
        points: (0..).zip(orders.iter().copied()).collect(),
    }];
    let label = |s: i32| format!("00:{:02}:{:02}", s / 60, s % 60);
    let spec = LineChart {
        title: &title,
        x_desc: "CST time (second)",
        y_desc: "orders per second",
        x_max: n,
        keys: (0..=n).step_by(60).collect(),
        label: &label,
    };
    let svg = lines(&r.query.name, spec, &series)?;
    Ok(Some(svg))
}

/// revenue.platform: a horizontal bar per platform, labelled with its exact GMV and orders.
fn platforms(r: &QueryResult) -> Result<Option<String>> {
    let (Some(names), Some(gmv), Some(gmv_text), Some(orders)) = (
        texts(r, "platform"),
        numbers(r, "gmv_cny"),
        texts(r, "gmv_cny"),
        texts(r, "orders"),
    ) else {
        return Ok(None);
    };
    if gmv.is_empty() {
        return Ok(None);
    }
    let title = "GMV by platform (CNY)";
    let err = draw_err(&r.query.name);
    let n = i32::try_from(gmv.len()).unwrap_or(i32::MAX);
    // Row 0 (the largest) at the top.
    let slot = |i: usize| n - 1 - i32::try_from(i).unwrap_or(0);
    let name_at = |y: i32| -> String {
        usize::try_from(n - 1 - y)
            .ok()
            .and_then(|i| names.get(i))
            .map(|p| p.clone().unwrap_or_else(|| "(none)".into()))
            .unwrap_or_default()
    };
    let height = (90 + 42 * n.unsigned_abs()).clamp(180, 900);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        // Room on the right for the label of the longest bar.
        let x_max = top(gmv.iter().copied()) * 1.55;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 20))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..x_max, (0..n - 1).into_segmented())
            .map_err(&err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(gmv.len())
            .x_labels(6)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(y) => name_at(*y),
                _ => String::new(),
            })
            .x_label_formatter(&|x| short(*x))
            .x_desc("GMV (CNY)")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(gmv.iter().enumerate().map(|(i, v)| {
                let y = slot(i);
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(y)),
                        (*v, SegmentValue::Exact(y + 1)),
                    ],
                    THIS_YEAR.mix(0.85).filled(),
                );
                bar.set_margin(6, 6, 0, 0);
                bar
            }))
            .map_err(&err)?;
        let style = TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(gmv.iter().enumerate().map(|(i, v)| {
                let text = format!(
                    "{} CNY · {} orders",
                    Style::Grouped.show(gmv_text[i].as_deref().unwrap_or("")),
                    Style::Grouped.show(orders[i].as_deref().unwrap_or(""))
                );
                EmptyElement::at((*v, SegmentValue::CenterOf(slot(i))))
                    + Text::new(text, (6, 0), style.clone())
            }))
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(Some(finish(svg, title)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_axis_labels() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(12.0), "12");
        assert_eq!(short(2500.0), "2.5k");
        assert_eq!(short(1_250_000.0), "1.25M");
        assert_eq!(short(3e9), "3B");
    }

    #[test]
    fn the_title_goes_inside_the_svg() {
        let svg = finish("<svg width=\"1\">x</svg>".into(), "a < b");
        assert_eq!(
            svg,
            "<svg class=\"chart\" role=\"img\" width=\"1\"><title>a &lt; b</title>x</svg>"
        );
    }
}
