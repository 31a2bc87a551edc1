//! Timestamp literals that carry a UTC offset keep their instant.
//!
//! DataFusion reads `TIMESTAMP '2019-11-10T17:00:00Z'` (and `CAST('…Z' AS TIMESTAMP)`) as a
//! timestamp *without* time zone: the offset is applied and dropped, leaving the naive UTC
//! wall time 17:00. Compared with `event_time` (a `+08:00` timestamp), that naive time is then
//! read as +08:00 wall time, 17:00 CST, eight hours before the instant the user wrote, and a
//! filter silently returns the wrong rows. (The plain string `'2019-11-10T17:00:00Z'` is right:
//! it is cast straight to `event_time`'s type.) A session time zone does not help: it only
//! changes `TIMESTAMP WITH TIME ZONE`, not the plain `TIMESTAMP` users write.
//!
//! So before planning, every such literal whose text ends in an explicit offset (`Z`,
//! `+08:00`, `-05:00`, `+0530`, `+05`) is rewritten to `arrow_cast('<text>',
//! 'Timestamp(<unit>, "<offset>")')`: a timestamp in the literal's own offset, the same
//! instant, which compares, subtracts and prints correctly. `arrow_cast` is a DataFusion
//! built-in, so the rewritten SQL still runs anywhere DataFusion does. A literal without an
//! offset is left alone and keeps DataFusion's meaning: a wall-clock time, which compared with
//! `event_time` is CST (`TIMESTAMP '2019-11-11 00:00:00'` is midnight in China).

use std::ops::ControlFlow;

use chrono::{DateTime, FixedOffset};
use datafusion::sql::parser::{CopyToSource, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, DataType as SqlType, Expr, TypedString, Value, VisitMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{Error, Result};

/// Rewrites the offset-carrying timestamp literals of `statement` in place (see the module
/// documentation).
pub fn keep_offsets(statement: &mut DfStatement) -> Result<()> {
    match statement {
        DfStatement::Statement(s) => rewrite(s.as_mut()),
        DfStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(q) => rewrite(q.as_mut()),
            CopyToSource::Relation(_) => Ok(()),
        },
        DfStatement::Explain(explain) => keep_offsets(explain.statement.as_mut()),
        DfStatement::CreateExternalTable(_) | DfStatement::Reset(_) => Ok(()),
    }
}

fn rewrite<V: VisitMut>(node: &mut V) -> Result<()> {
    let flow = visit_expressions_mut(node, |expr| {
        let replacement = match &*expr {
            Expr::TypedString(TypedString {
                data_type, value, ..
            }) => match &value.value {
                Value::SingleQuotedString(text) => with_offset(data_type, text),
                _ => None,
            },
            Expr::Cast {
                expr: inner,
                data_type,
                format: None,
                array: false,
                ..
            } => match inner.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(text) => with_offset(data_type, text),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        match replacement {
            None => ControlFlow::Continue(()),
            Some(sql) => match Parser::new(&GenericDialect {})
                .try_with_sql(&sql)
                .and_then(|mut p| p.parse_expr())
            {
                Ok(new) => {
                    *expr = new;
                    ControlFlow::Continue(())
                }
                Err(e) => ControlFlow::Break(Error::Sql(format!(
                    "internal: cannot rewrite a timestamp literal as {sql:?}: {e}"
                ))),
            },
        }
    });
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

/// The `arrow_cast` expression (SQL text) for a `TIMESTAMP` of `text`, when `text` ends in
/// an explicit UTC offset; `None` for any other type or text.
fn with_offset(data_type: &SqlType, text: &str) -> Option<String> {
    let SqlType::Timestamp(precision, _) = data_type else {
        return None;
    };
    let unit = match precision {
        None | Some(9) => "ns",
        Some(6) => "us",
        Some(3) => "ms",
        Some(0) => "s",
        _ => return None, // DataFusion's own error for an odd precision
    };
    let offset = explicit_offset(text)?;
    // Parsed as a timestamp, so the text holds digits, separators and the offset: no quote.
    Some(format!(
        "arrow_cast('{text}', 'Timestamp({unit}, \"{offset}\")')"
    ))
}

/// The offset (`+08:00`) a timestamp text ends with: `Z`, `±HH:MM`, `±HHMM` or `±HH` after a
/// date and a time (`T` or a space between them, seconds and fractions optional).
fn explicit_offset(text: &str) -> Option<String> {
    let t = text.trim();
    const FORMATS: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%d %H:%M%#z",
    ];
    let zulu = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix('z'))
        .map(|rest| format!("{rest}+00:00"));
    let candidate = zulu.as_deref().unwrap_or(t);
    FORMATS.iter().find_map(|f| {
        DateTime::<FixedOffset>::parse_from_str(candidate, f)
            .ok()
            .map(|dt| dt.offset().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn rewritten(sql: &str) -> String {
        let mut statements = DFParser::parse_sql(sql).expect("parses");
        let mut s = statements.pop_front().expect("one statement");
        keep_offsets(&mut s).expect("rewrites");
        s.to_string()
    }

    #[test]
    fn offsets_are_recognised_in_every_spelling() {
        for (text, offset) in [
            ("2019-11-10T17:00:00Z", Some("+00:00")),
            ("2019-11-10T17:00:00z", Some("+00:00")),
            ("2019-11-10 17:00:00.123Z", Some("+00:00")),
            ("2019-11-11T01:00:00+08:00", Some("+08:00")),
            ("2019-11-10T12:00:00-05:00", Some("-05:00")),
            ("2019-11-10T22:30:00+0530", Some("+05:30")),
            ("2019-11-10T22:30:00.5+05", Some("+05:00")),
            ("2019-11-10 22:30+05:30", Some("+05:30")),
            ("2019-11-11 00:00:00", None),
            ("2019-11-11T00:00:00.999", None),
            ("2019-11-11", None),
            ("2019-11-10T17:00:00 UTC", None),
            ("not a time", None),
        ] {
            assert_eq!(explicit_offset(text).as_deref(), offset, "{text}");
        }
    }

    #[test]
    fn literals_with_an_offset_become_an_instant_and_others_stay() {
        let sql = rewritten(
            "SELECT count(*) FROM transactions WHERE event_time < TIMESTAMP '2019-11-10T17:00:00Z' \
             AND event_time >= CAST('2019-11-10T12:00:00-05:00' AS TIMESTAMP(3)) \
             AND event_time <> '2019-11-10T17:00:00Z' \
             AND event_time > TIMESTAMP '2019-11-10 00:00:00' \
             AND cst_date = DATE '2019-11-11'",
        );
        assert!(
            sql.contains("arrow_cast('2019-11-10T17:00:00Z', 'Timestamp(ns, \"+00:00\")')"),
            "{sql}"
        );
        assert!(
            sql.contains("arrow_cast('2019-11-10T12:00:00-05:00', 'Timestamp(ms, \"-05:00\")')"),
            "{sql}"
        );
        assert!(
            sql.contains("event_time <> '2019-11-10T17:00:00Z'"),
            "{sql}"
        );
        assert!(sql.contains("TIMESTAMP '2019-11-10 00:00:00'"), "{sql}");
        assert!(sql.contains("DATE '2019-11-11'"), "{sql}");
    }

    #[test]
    fn subqueries_explain_and_copy_are_rewritten_too() {
        for sql in [
            "EXPLAIN SELECT 1 WHERE TIMESTAMP '2019-11-10T17:00:00Z' IS NOT NULL",
            "SELECT * FROM (SELECT TIMESTAMP '2019-11-10T17:00:00Z' AS t) WHERE t IS NOT NULL",
            "COPY (SELECT TIMESTAMP '2019-11-10T17:00:00Z') TO '/tmp/x.csv'",
        ] {
            assert!(rewritten(sql).contains("arrow_cast("), "{sql}");
        }
    }
}
