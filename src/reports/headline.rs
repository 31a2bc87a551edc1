//! The headline band at the top of the HTML page: the seed's questions answered at a glance
//! (GMV with a unit, orders, growth on the compare day, the peak second, milestones passed),
//! each read from a query of the page by name, so a page without that query (a report of its
//! own, or `report peak`) simply has fewer cards.
//!
//! Every figure is the exact cell the CSV output of that query holds, shown with
//! [`pretty`](super::pretty): separators, a unit, a percentage; nothing is recomputed here.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::html::{cells, escape};
use super::pretty::{short_en, yuan_cn, Decimal, Style};
use super::QueryResult;
use crate::error::Result;

/// One card: a label, the figure, and a line of detail.
struct Card {
    label: String,
    value: String,
    detail: String,
}

/// The first row of each query, by column name.
struct Rows(BTreeMap<String, Vec<BTreeMap<String, String>>>);

impl Rows {
    fn of(results: &[QueryResult]) -> Result<Rows> {
        let mut by_query = BTreeMap::new();
        for r in results {
            let table = cells(r)?;
            let Some((header, rows)) = table.split_first() else {
                continue;
            };
            let rows = rows
                .iter()
                .map(|row| header.iter().cloned().zip(row.iter().cloned()).collect())
                .collect();
            by_query.insert(r.query.name.clone(), rows);
        }
        Ok(Rows(by_query))
    }

    /// The cell `column` of the first row of `query`, when it has one and it is not empty.
    fn get(&self, query: &str, column: &str) -> Option<&str> {
        self.0
            .get(query)?
            .first()?
            .get(column)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn all(&self, query: &str) -> &[BTreeMap<String, String>] {
        self.0.get(query).map_or(&[], Vec::as_slice)
    }
}

/// The band's HTML, or an empty string when the page has none of its queries.
pub(crate) fn band(results: &[QueryResult]) -> Result<String> {
    let rows = Rows::of(results)?;
    let cards: Vec<Card> = [gmv(&rows), orders(&rows), growth(&rows), peak(&rows)]
        .into_iter()
        .flatten()
        .chain(milestones(&rows))
        .collect();
    if cards.is_empty() {
        return Ok(String::new());
    }
    let mut html = String::from("<section class=\"band\" id=\"headline\">\n");
    for c in cards {
        let _ = writeln!(
            html,
            "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"d\">{}</div></div>",
            escape(&c.label),
            escape(&c.value),
            escape(&c.detail)
        );
    }
    html.push_str("</section>\n");
    Ok(html)
}

fn gmv(rows: &Rows) -> Option<Card> {
    let text = rows
        .get("summary", "gmv_cny")
        .or_else(|| rows.get("growth", "gmv_cny"))?;
    let d = Decimal::parse(text)?;
    Some(Card {
        label: "GMV".into(),
        value: format!("{} yuan", short_en(d)),
        detail: format!("{} · ¥{}", yuan_cn(d), d.grouped()),
    })
}

fn orders(rows: &Rows) -> Option<Card> {
    let text = rows
        .get("summary", "orders")
        .or_else(|| rows.get("growth", "orders"))?;
    let mut detail = Vec::new();
    for (column, what) in [("buyers", "buyers"), ("sellers", "sellers")] {
        if let Some(n) = rows.get("summary", column) {
            detail.push(format!("{} {what}", Style::Grouped.show(n)));
        }
    }
    Some(Card {
        label: "Orders".into(),
        value: Style::Grouped.show(text),
        detail: detail.join(" · "),
    })
}

fn growth(rows: &Rows) -> Option<Card> {
    let compare = rows.get("growth", "compare_date")?;
    let label = format!("GMV growth on {compare}");
    let Some(gmv) = rows.get("growth", "gmv_growth") else {
        let note = rows
            .get("growth", "note")
            .unwrap_or("no figures for that day");
        return Some(Card {
            label,
            value: "–".into(),
            detail: note.to_string(),
        });
    };
    let detail = match rows.get("growth", "orders_growth") {
        Some(o) => format!("orders {}", Style::Growth.show(o)),
        None => String::new(),
    };
    Some(Card {
        label,
        value: Style::Growth.show(gmv),
        detail,
    })
}

fn peak(rows: &Rows) -> Option<Card> {
    let second = rows.get("peak", "second_cst")?;
    let orders = rows.get("peak", "orders")?;
    let mut detail = format!("at {} CST", clock(second));
    if let Some(g) = rows.get("peak", "gmv_cny") {
        let _ = write!(detail, " · ¥{}", Style::Grouped.show(g));
    }
    Some(Card {
        label: "Peak second".into(),
        value: format!("{} orders", Style::Grouped.show(orders)),
        detail,
    })
}

/// A threshold as people say it: `1 B`, `10 B`, `2.50 B`.
fn round_figure(d: Decimal) -> String {
    short_en(d).replace(".00 ", " ")
}

/// `2019-11-11T00:00:01+08:00` as `00:00:01`: the clock time is what a reader looks for.
fn clock(instant: &str) -> &str {
    instant
        .split_once('T')
        .map_or(instant, |(_, t)| t.trim_end_matches("+08:00"))
}

fn milestones(rows: &Rows) -> Option<Card> {
    let all = rows.all("milestones");
    if all.is_empty() {
        return None;
    }
    let mut reached = Vec::new();
    let mut ahead = Vec::new();
    for row in all {
        let Some(threshold) = row.get("threshold_cny").and_then(|t| Decimal::parse(t)) else {
            continue;
        };
        match row.get("reached_at_cst").filter(|t| !t.is_empty()) {
            Some(at) => reached.push(format!("{} at {}", round_figure(threshold), clock(at))),
            None => ahead.push(round_figure(threshold)),
        }
    }
    let (value, detail) = if reached.is_empty() {
        (
            "none passed".to_string(),
            format!("of {} yuan", ahead.join(" / ")),
        )
    } else {
        let detail = if ahead.is_empty() {
            String::new()
        } else {
            format!("next: {} yuan", ahead.join(" / "))
        };
        (format!("{} yuan", reached.join(", ")), detail)
    };
    Some(Card {
        label: "Milestones".into(),
        value,
        detail,
    })
}
