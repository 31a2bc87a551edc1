//! Row estimates that know how rare refunds are, so a join builds its table from the small side.
//!
//! "Refund share by category" joins the day's paid events (10 M rows at 19 M records) with the
//! distinct orders refunded (0.2 M). DataFusion builds a hash join's table from the side its
//! statistics call smaller; a Parquet scan's statistics give its files' rows, not how many pass
//! `event_type = 'refunded'`, and an aggregate's estimate is its input's. So the paid side
//! (one day's files) looked smaller than the refunded one (every day's), and the join built
//! its table from 10 M rows: 1.9 s and 1.4 GB, against 1.2 s and 0.4 GB with the sides the
//! other way round (BENCHMARKS.md, 2026-12-05, stop 34).
//!
//! The warehouse knows the shares: `per_hour` counts the events of each type. This provider,
//! in DataFusion's statistics registry, scales the rows of a filter over a `transactions` scan
//! by the share of the event types it keeps, and caps a grouped aggregate's rows at its input's
//! estimate. Nothing else changes: the plans are DataFusion's, from better numbers.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::stats::Precision;
use datafusion::common::{Result, ScalarValue, Statistics};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, InListExpr, Literal};
use datafusion::physical_expr::split_conjunction;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::operator_statistics::{
    ExtendedStatistics, StatisticsProvider, StatisticsRegistry, StatisticsResult,
};
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};
use datafusion::prelude::SessionContext;

use crate::error::Result as D11Result;
use crate::schema::{PARTITION_COLUMN, TRANSACTIONS};

/// The share of each event type among `transactions`' rows.
#[derive(Debug)]
pub(crate) struct EventShares {
    shares: HashMap<String, f64>,
    /// A file of `transactions` has this in its path (after a `/`).
    folder: String,
}

impl EventShares {
    /// The shares from `per_hour` (one dimension's rows add up to every event), or `None` when
    /// the warehouse has no events.
    pub(crate) async fn read(ctx: &SessionContext) -> D11Result<Option<Self>> {
        let sql = "SELECT event_type, CAST(sum(events) AS BIGINT) FROM per_hour \
                   WHERE dimension = (SELECT min(dimension) FROM per_hour) GROUP BY event_type";
        let mut counts = Vec::new();
        for batch in ctx.sql(sql).await?.collect().await? {
            let types = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
            let types = types.as_any().downcast_ref::<arrow::array::StringArray>();
            let events = batch
                .column(1)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>();
            let (Some(types), Some(events)) = (types, events) else {
                return Ok(None);
            };
            for i in 0..batch.num_rows() {
                counts.push((types.value(i).to_string(), events.value(i)));
            }
        }
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        if total <= 0 {
            return Ok(None);
        }
        Ok(Some(Self {
            shares: counts
                .into_iter()
                .map(|(t, n)| (t, n as f64 / total as f64))
                .collect(),
            folder: format!("/{TRANSACTIONS}/{PARTITION_COLUMN}="),
        }))
    }

    /// DataFusion's built-in providers behind this one.
    pub(crate) fn registry(self) -> StatisticsRegistry {
        let mut registry = StatisticsRegistry::default_with_builtin_providers();
        registry.register(Arc::new(self));
        registry
    }

    /// The share of rows that `predicate` keeps: the share of the event types its conditions
    /// on `event_type` keep (the smallest, when several), times DataFusion's default
    /// selectivity (`selectivity`) if it has other conditions; `None` without conditions on
    /// `event_type`.
    fn kept(&self, predicate: &Arc<dyn PhysicalExpr>, selectivity: f64) -> Option<f64> {
        let conjuncts = split_conjunction(predicate);
        let on_type: Vec<Vec<&str>> = conjuncts.iter().copied().filter_map(event_types).collect();
        let share = on_type
            .iter()
            .map(|values| {
                let share: f64 = values
                    .iter()
                    .map(|v| self.shares.get(*v).copied().unwrap_or(0.0))
                    .sum();
                share.min(1.0)
            })
            .reduce(f64::min)?;
        Some(if on_type.len() < conjuncts.len() {
            share * selectivity
        } else {
            share
        })
    }

    /// Whether `plan` reads files of `transactions` and nothing else.
    fn reads_transactions(&self, plan: &dyn ExecutionPlan) -> bool {
        let Some(config) = plan
            .downcast_ref::<DataSourceExec>()
            .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
        else {
            return false;
        };
        let mut files = config.file_groups.iter().flat_map(|g| g.iter()).peekable();
        files.peek().is_some()
            && files.all(|f| format!("/{}", f.object_meta.location).contains(&self.folder))
    }
}

/// The event types `expr` keeps if it is `event_type = '…'` or `event_type IN (…)`; `None`
/// for any other condition.
fn event_types(expr: &Arc<dyn PhysicalExpr>) -> Option<Vec<&str>> {
    let is_event_type = |e: &Arc<dyn PhysicalExpr>| {
        e.downcast_ref::<Column>()
            .is_some_and(|c| c.name() == "event_type")
    };
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        if *binary.op() == Operator::Eq {
            if is_event_type(binary.left()) {
                return Some(vec![text(binary.right())?]);
            }
            if is_event_type(binary.right()) {
                return Some(vec![text(binary.left())?]);
            }
        }
    }
    if let Some(list) = expr.downcast_ref::<InListExpr>() {
        if is_event_type(list.expr()) && !list.negated() {
            return list.list().iter().map(text).collect();
        }
    }
    None
}

fn text(e: &Arc<dyn PhysicalExpr>) -> Option<&str> {
    match e.downcast_ref::<Literal>()?.value() {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// DataFusion's own estimate for `plan`.
fn own(plan: &dyn ExecutionPlan) -> Result<Arc<Statistics>> {
    StatisticsContext::new().compute(plan, &StatisticsArgs::new())
}

/// `plan`'s own statistics with `rows` rows, its bytes scaled alike.
fn with_rows(plan: &dyn ExecutionPlan, rows: usize) -> Result<StatisticsResult> {
    let mut stats = Arc::unwrap_or_clone(own(plan)?);
    stats.total_byte_size = match (
        stats.num_rows.get_value(),
        stats.total_byte_size.get_value(),
    ) {
        (Some(&old), Some(&bytes)) if old > 0 => {
            Precision::Inexact((bytes as f64 * rows as f64 / old as f64).round() as usize)
        }
        _ => stats.total_byte_size,
    };
    stats.num_rows = Precision::Inexact(rows);
    Ok(StatisticsResult::Computed(ExtendedStatistics::new(stats)))
}

impl StatisticsProvider for EventShares {
    fn compute_statistics(
        &self,
        plan: &dyn ExecutionPlan,
        child_stats: &[ExtendedStatistics],
    ) -> Result<StatisticsResult> {
        // A filter of `transactions` rows on their event type.
        if let (Some(filter), [input]) = (plan.downcast_ref::<FilterExec>(), child_stats) {
            let selectivity = f64::from(filter.default_selectivity()) / 100.0;
            if let (true, Some(share), Some(&rows)) = (
                self.reads_transactions(filter.input().as_ref()),
                self.kept(filter.predicate(), selectivity),
                input.base().num_rows.get_value(),
            ) {
                return with_rows(plan, (rows as f64 * share).ceil() as usize);
            }
        }
        // A grouped aggregate has at most as many rows as its input.
        if let (Some(aggregate), [input]) = (plan.downcast_ref::<AggregateExec>(), child_stats) {
            let stats = own(plan)?;
            if let (false, Some(&cap), Some(&rows)) = (
                aggregate.group_expr().expr().is_empty(),
                input.base().num_rows.get_value(),
                stats.num_rows.get_value(),
            ) {
                if cap < rows {
                    return with_rows(plan, cap);
                }
            }
        }
        Ok(StatisticsResult::Delegate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::{binary, col, in_list, lit};

    #[test]
    fn conditions_on_the_event_type_keep_its_share() {
        let shares = EventShares {
            shares: [("paid".to_string(), 0.98), ("refunded".to_string(), 0.02)].into(),
            folder: format!("/{TRANSACTIONS}/{PARTITION_COLUMN}="),
        };
        let schema = Schema::new(vec![
            Field::new("event_type", DataType::Utf8, false),
            Field::new("province", DataType::Utf8, true),
        ]);
        let column = |name: &str| col(name, &schema).expect("column");
        let eq = |name: &str, value: &str| {
            binary(column(name), Operator::Eq, lit(value), &schema).expect("eq")
        };
        let and = |a, b| binary(a, Operator::And, b, &schema).expect("and");
        let list = |negated| {
            in_list(
                column("event_type"),
                vec![lit("paid"), lit("refunded")],
                &negated,
                &schema,
            )
            .expect("in")
        };
        let flipped =
            binary(lit("refunded"), Operator::Eq, column("event_type"), &schema).expect("eq");
        let near = |got: Option<f64>, want: f64| {
            assert!(
                got.is_some_and(|g| (g - want).abs() < 1e-9),
                "{got:?} != {want}"
            )
        };
        near(shares.kept(&eq("event_type", "refunded"), 0.2), 0.02);
        near(shares.kept(&flipped, 0.2), 0.02);
        near(shares.kept(&eq("event_type", "created"), 0.2), 0.0);
        near(shares.kept(&list(false), 0.2), 1.0);
        near(
            shares.kept(
                &and(eq("event_type", "paid"), eq("province", "Zhejiang")),
                0.2,
            ),
            0.98 * 0.2,
        );
        near(
            shares.kept(
                &and(eq("event_type", "paid"), eq("event_type", "refunded")),
                0.2,
            ),
            0.02,
        );
        assert_eq!(shares.kept(&eq("province", "Zhejiang"), 0.2), None);
        assert_eq!(shares.kept(&list(true), 0.2), None);
    }
}
