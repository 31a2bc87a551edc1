//! Which scans filter rows while decoding them: those looking up ids, not the others.
//!
//! DataFusion can evaluate a filter inside the Parquet scan (`pushdown_filters`): it decodes
//! the filter's columns first, then only the rows they keep of the other columns. That pays
//! when the filter keeps a few rows: every event of one buyer is 0.15 s with it and 0.8 s
//! without (19 M records). It costs when the filter keeps many: decoding the other columns
//! row by row is slower than decoding them whole and filtering after, and the ad-hoc queries
//! that filter on an event type, a province or a device took up to 25 % longer with it
//! (BENCHMARKS.md, 2026-12-05, stop 38). DataFusion 55 has one switch for the whole session;
//! this rule makes the choice per scan.
//!
//! The session turns the switch off; this rule, placed before DataFusion's own filter
//! pushdown, turns it on for a Parquet scan whose filter compares an id column
//! ([`crate::schema::ID_COLUMNS`]) with `=` or `IN` to values, or is an `OR` of such
//! comparisons: ids are random, so such a filter keeps a few rows, and no statistics can
//! prune for it. Either way the filter also prunes row groups and pages by their statistics,
//! as before.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::datasource::physical_plan::{FileScanConfig, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Column, InListExpr, Literal};
use datafusion::physical_expr::split_conjunction;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::ExecutionPlan;

use crate::schema::ID_COLUMNS;

/// Turns on row filtering in the Parquet scans under a filter on an id (see the module docs).
#[derive(Debug)]
pub(crate) struct RowFilters;

impl PhysicalOptimizerRule for RowFilters {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(filter) = node.downcast_ref::<FilterExec>() else {
                return Ok(Transformed::no(node));
            };
            if !split_conjunction(filter.predicate())
                .into_iter()
                .any(picks_ids)
            {
                return Ok(Transformed::no(node));
            }
            let Some(scan) = filter.input().downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some((config, parquet)) = scan.downcast_to_file_source::<ParquetSource>() else {
                return Ok(Transformed::no(node));
            };
            let mut config: FileScanConfig = config.clone();
            config.file_source = Arc::new(parquet.clone().with_pushdown_filters(true));
            let scan: Arc<dyn ExecutionPlan> =
                Arc::new(scan.clone().with_data_source(Arc::new(config)));
            Ok(Transformed::yes(replace_children_if_necessary(
                node,
                vec![scan],
            )?))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "RowFilters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether `expr` is `id = value`, `value = id` or `id IN (values)` for an id column, or an
/// `OR` of such (`buyer_id = 1 OR order_id = '7'`).
fn picks_ids(expr: &Arc<dyn PhysicalExpr>) -> bool {
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        return match binary.op() {
            Operator::Eq => {
                (is_id(binary.left()) && is_value(binary.right()))
                    || (is_value(binary.left()) && is_id(binary.right()))
            }
            Operator::Or => picks_ids(binary.left()) && picks_ids(binary.right()),
            _ => false,
        };
    }
    if let Some(list) = expr.downcast_ref::<InListExpr>() {
        return !list.negated() && is_id(list.expr()) && list.list().iter().all(is_value);
    }
    false
}

/// An id column, possibly cast.
fn is_id(expr: &Arc<dyn PhysicalExpr>) -> bool {
    if let Some(cast) = expr.downcast_ref::<CastExpr>() {
        return is_id(cast.expr());
    }
    expr.downcast_ref::<Column>()
        .is_some_and(|c| ID_COLUMNS.contains(&c.name()))
}

/// A value known before the scan (a literal, possibly cast).
fn is_value(expr: &Arc<dyn PhysicalExpr>) -> bool {
    if let Some(cast) = expr.downcast_ref::<CastExpr>() {
        return is_value(cast.expr());
    }
    expr.downcast_ref::<Literal>().is_some()
}

/// DataFusion's physical optimizer rules in `rules` with [`RowFilters`] just before the first
/// filter pushdown.
pub(crate) fn insert(rules: &mut Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>) {
    let at = rules
        .iter()
        .position(|rule| rule.name() == "FilterPushdown")
        .unwrap_or(0);
    rules.insert(at, Arc::new(RowFilters));
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;
    use datafusion::common::ScalarValue;
    use datafusion::physical_expr::expressions::{in_list, lit};
    use std::sync::Arc;

    fn column(name: &str, index: usize) -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new(name, index))
    }

    fn eq(left: Arc<dyn PhysicalExpr>, right: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(left, Operator::Eq, right))
    }

    #[test]
    fn only_an_id_equal_to_values_picks_rows() {
        let schema = arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("buyer_id", DataType::Int64, true),
            arrow::datatypes::Field::new("order_id", DataType::Utf8, false),
            arrow::datatypes::Field::new("province", DataType::Utf8, true),
        ]);
        let buyer = column("buyer_id", 0);
        let order = column("order_id", 1);
        let province = column("province", 2);
        let cast_buyer: Arc<dyn PhysicalExpr> =
            Arc::new(CastExpr::new(Arc::clone(&buyer), DataType::Utf8, None));
        let orders = |negated| {
            in_list(
                Arc::clone(&order),
                vec![lit("a"), lit(ScalarValue::Utf8(Some("b".into())))],
                &negated,
                &schema,
            )
            .expect("in list")
        };
        assert!(picks_ids(&eq(Arc::clone(&buyer), lit(7i64))));
        assert!(picks_ids(&eq(lit(7i64), Arc::clone(&buyer))));
        assert!(picks_ids(&eq(cast_buyer, lit("7"))));
        assert!(picks_ids(&orders(false)));
        assert!(!picks_ids(&orders(true)), "NOT IN keeps most rows");
        let or = |left, right| -> Arc<dyn PhysicalExpr> {
            Arc::new(BinaryExpr::new(left, Operator::Or, right))
        };
        assert!(picks_ids(&or(
            eq(Arc::clone(&buyer), lit(7i64)),
            orders(false)
        )));
        assert!(
            !picks_ids(&or(
                eq(Arc::clone(&buyer), lit(7i64)),
                eq(Arc::clone(&province), lit("Zhejiang"))
            )),
            "an OR with a condition on anything else keeps many rows"
        );
        assert!(!picks_ids(&eq(Arc::clone(&province), lit("Zhejiang"))));
        assert!(!picks_ids(&eq(Arc::clone(&buyer), Arc::clone(&buyer))));
        let greater: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(buyer, Operator::Gt, lit(7i64)));
        assert!(
            !picks_ids(&greater),
            "a range of random ids keeps many rows"
        );
    }
}
