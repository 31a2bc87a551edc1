//! "The top K by a rank" without sorting every row: a physical optimizer rule.
//!
//! `WHERE rank <= K` over `rank() OVER (ORDER BY …)` (or `row_number()`) with no `PARTITION
//! BY`, the shape of "top 10 buyers by GMV", is planned by DataFusion 55 as a full sort of
//! every row below the window, then the rank of every row, then the filter. Over the 3.3 M
//! buyers of one 10 M-order day that sort spilled and took most of the query's CPU. DataFusion's
//! own `WindowTopN` rule keeps a top-K heap (with the rows tied at the boundary, as `rank()`
//! needs) instead, but only under a `PARTITION BY` (a global top-K, it says, is `SortExec`
//! with a fetch: true for `LIMIT`, not for a filter on `rank()`, whose ties may exceed K rows).
//!
//! This rule puts the same operator, `PartitionedTopKExec`, in place of the per-partition sort
//! under the window's merge, with one constant partition key: each input partition keeps its
//! own top K (plus ties), the merge orders those few rows, and the window and the filter run
//! unchanged above them. Exact: a row of global rank r has r - 1 rows strictly before it, so
//! at most r - 1 in its own partition, so it survives its partition's top K whenever r <= K;
//! and every row strictly before a kept row is kept too, so each kept row's rank is unchanged.
//! The window must compute nothing else (another function over all rows would change).
//! Local sessions only: a Ballista cluster plans the query on its scheduler.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion::physical_expr::window::StandardWindowExpr;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::partitioned_topk::{PartitionedTopKExec, WindowFnKind};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowUDFExpr};
use datafusion::physical_plan::ExecutionPlan;

/// The rule; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct RankTop;

impl PhysicalOptimizerRule for RankTop {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            Ok(match rewrite(&node)? {
                Some(new) => Transformed::yes(new),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "double11_rank_top"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `Filter(rank <= K) → [Repartition, Projection] → Window(rank ORDER BY o) → Merge(o) → Sort(o, per
/// partition)` becomes the same with the sort replaced by a per-partition top K; `None` when
/// `plan` is not of that shape.
fn rewrite(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(filter) = plan.downcast_ref::<FilterExec>() else {
        return Ok(None);
    };
    if filter.projection().is_some() {
        return Ok(None);
    }
    let Some((mut column, k)) = limit_of(filter.predicate()) else {
        return Ok(None);
    };
    // Between the filter and the window: repartitions, and projections that pass the rank on.
    let mut between = Vec::new();
    let mut node = filter.input();
    loop {
        if let Some(repartition) = node.downcast_ref::<RepartitionExec>() {
            between.push(Arc::clone(node));
            node = repartition.input();
        } else if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
            let Some(passed) = projection
                .expr()
                .get(column)
                .and_then(|p| p.expr.downcast_ref::<Column>())
            else {
                return Ok(None);
            };
            column = passed.index();
            between.push(Arc::clone(node));
            node = projection.input();
        } else {
            break;
        }
    }
    let Some(window) = node.downcast_ref::<BoundedWindowAggExec>() else {
        return Ok(None);
    };
    let inputs = window.input().schema().fields().len();
    let [expr] = window.window_expr() else {
        return Ok(None);
    };
    if column != inputs || !expr.partition_by().is_empty() || expr.order_by().is_empty() {
        return Ok(None);
    }
    let Some(kind) = ranking(expr) else {
        return Ok(None);
    };
    let Some(merge) = window.input().downcast_ref::<SortPreservingMergeExec>() else {
        return Ok(None);
    };
    let Some(sort) = merge.input().downcast_ref::<SortExec>() else {
        return Ok(None);
    };
    if !sort.preserve_partitioning() || sort.fetch().is_some() || merge.fetch().is_some() {
        return Ok(None);
    }
    if sort.expr() != merge.expr() || !sort.expr().iter().eq(expr.order_by().iter()) {
        return Ok(None);
    }
    // One partition key for all rows: a constant.
    let constant: Arc<dyn PhysicalExpr> = Arc::new(Literal::new(ScalarValue::Boolean(Some(true))));
    let keys =
        std::iter::once(PhysicalSortExpr::new_default(constant)).chain(sort.expr().iter().cloned());
    let Some(ordering) = LexOrdering::new(keys) else {
        return Ok(None);
    };
    if ordering.len() != sort.expr().len() + 1 {
        return Ok(None);
    }
    let top = Arc::new(PartitionedTopKExec::try_new(
        Arc::clone(sort.input()),
        ordering,
        1,
        k,
        kind,
    )?);
    let merged = replace_children_if_necessary(Arc::clone(window.input()), vec![top])?;
    let mut new = replace_children_if_necessary(Arc::clone(node), vec![merged])?;
    for parent in between.into_iter().rev() {
        new = replace_children_if_necessary(parent, vec![new])?;
    }
    Ok(Some(replace_children_if_necessary(
        Arc::clone(plan),
        vec![new],
    )?))
}

/// `(column, K)` of a predicate `column <= K`, `column < K + 1`, `K >= column` or `K + 1 >
/// column`, with K >= 1.
fn limit_of(predicate: &Arc<dyn PhysicalExpr>) -> Option<(usize, usize)> {
    let binary = predicate.downcast_ref::<BinaryExpr>()?;
    let (column, literal, inclusive) = match (
        binary.left().downcast_ref::<Column>(),
        binary.right().downcast_ref::<Literal>(),
        binary.left().downcast_ref::<Literal>(),
        binary.right().downcast_ref::<Column>(),
    ) {
        (Some(c), Some(l), _, _) => match binary.op() {
            Operator::LtEq => (c, l, true),
            Operator::Lt => (c, l, false),
            _ => return None,
        },
        (_, _, Some(l), Some(c)) => match binary.op() {
            Operator::GtEq => (c, l, true),
            Operator::Gt => (c, l, false),
            _ => return None,
        },
        _ => return None,
    };
    if !literal.value().data_type().is_integer() {
        return None;
    }
    let ScalarValue::UInt64(Some(n)) = literal.value().cast_to(&DataType::UInt64).ok()? else {
        return None;
    };
    let k = if inclusive { n } else { n.checked_sub(1)? };
    let k = usize::try_from(k).ok()?;
    (k >= 1).then_some((column.index(), k))
}

/// Which ranking function the window computes, if `rank()` or `row_number()`.
fn ranking(expr: &Arc<dyn datafusion::physical_expr::window::WindowExpr>) -> Option<WindowFnKind> {
    let standard = expr.as_any().downcast_ref::<StandardWindowExpr>()?;
    let function = standard.get_standard_func_expr();
    let udf = function.as_any().downcast_ref::<WindowUDFExpr>()?;
    match udf.fun().name() {
        "rank" => Some(WindowFnKind::Rank),
        "row_number" => Some(WindowFnKind::RowNumber),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int64Array, RecordBatch};
    use arrow::datatypes::{Field, Schema};
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// 4 partitions of 3,000 buyers each, in batches of 100; amounts from 50 values (so many
    /// ties, also across partitions) and some nulls, which sort first in `DESC`.
    fn table() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("buyer", DataType::Int64, false),
            Field::new("gmv", DataType::Decimal128(20, 2), true),
        ]));
        let partitions = (0..4i64)
            .map(|p| {
                (0..30i64)
                    .map(|b| {
                        let ids: Vec<i64> = (0..100).map(|i| p * 3_000 + b * 100 + i).collect();
                        let gmv: Decimal128Array = ids
                            .iter()
                            .map(|id| (id % 97 != 5).then_some(i128::from(id * 7_919 % 50)))
                            .collect();
                        RecordBatch::try_new(
                            Arc::clone(&schema),
                            vec![
                                Arc::new(Int64Array::from(ids)),
                                Arc::new(gmv.with_precision_and_scale(20, 2).expect("decimal")),
                            ],
                        )
                        .expect("batch")
                    })
                    .collect()
            })
            .collect();
        MemTable::try_new(schema, partitions).expect("table")
    }

    /// The result of `sql` (pretty-printed) and whether its plan has a top K, with or
    /// without the rule.
    async fn run(sql: &str, rule: bool) -> (String, bool) {
        let mut state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(4))
            .with_default_features();
        if rule {
            state = state.with_physical_optimizer_rule(Arc::new(RankTop));
        }
        let ctx = SessionContext::new_with_state(state.build());
        ctx.register_table("t", Arc::new(table()))
            .expect("register");
        let frame = ctx.sql(sql).await.expect("plan");
        let plan = frame
            .clone()
            .create_physical_plan()
            .await
            .expect("physical plan");
        let top = displayable(plan.as_ref())
            .indent(false)
            .to_string()
            .contains("PartitionedTopKExec");
        let batches = frame.collect().await.expect("run");
        (
            pretty_format_batches(&batches).expect("format").to_string(),
            top,
        )
    }

    async fn same_rows(sql: &str, rewritten: bool) {
        let (plain, top) = run(sql, false).await;
        assert!(!top, "{sql}");
        let (fast, top) = run(sql, true).await;
        assert_eq!(top, rewritten, "{sql}");
        assert_eq!(fast, plain, "{sql}");
    }

    #[tokio::test]
    async fn top_ranks_are_those_of_the_full_sort() {
        let rank = |filter: &str, order: &str| {
            format!(
                "SELECT r, buyer, gmv FROM (SELECT buyer, gmv, rank() OVER (ORDER BY {order}) \
                 AS r FROM t) WHERE {filter} ORDER BY r, buyer"
            )
        };
        // Nulls first, then 49.00 ties: rank 1 holds 124 buyers, all kept.
        let (rows, _) = run(&rank("r <= 3", "gmv DESC"), true).await;
        assert_eq!(rows.lines().count(), 124 + 4, "{rows}");
        for (filter, order) in [
            ("r <= 10", "gmv DESC"),
            ("r <= 200", "gmv DESC"),
            ("r < 11", "gmv DESC NULLS LAST"),
            ("300 >= r", "gmv ASC, buyer DESC"),
            ("2 > r", "gmv"),
            ("r <= 100000", "gmv DESC"),
        ] {
            same_rows(&rank(filter, order), true).await;
        }
        // The rank passed on by projections that drop and reorder columns.
        same_rows(
            "SELECT r, buyer FROM (SELECT buyer, rank() OVER (ORDER BY gmv DESC NULLS LAST) \
             AS r FROM t) WHERE r <= 40 ORDER BY r, buyer",
            true,
        )
        .await;
        // Distinct keys: row_number() keeps exactly K.
        same_rows(
            "SELECT n, buyer FROM (SELECT buyer, row_number() OVER (ORDER BY buyer * 7 % 11999 \
             DESC) AS n FROM t) WHERE n <= 25 ORDER BY n",
            true,
        )
        .await;
    }

    #[tokio::test]
    async fn other_shapes_keep_their_plan() {
        for sql in [
            // Another window function needs every row.
            "SELECT * FROM (SELECT buyer, rank() OVER (ORDER BY gmv DESC) AS r, \
             count(*) OVER (ORDER BY gmv DESC) AS c FROM t) WHERE r <= 5 ORDER BY r, buyer",
            // r < 1 keeps nothing; r >= 5 is no top.
            "SELECT * FROM (SELECT buyer, rank() OVER (ORDER BY gmv DESC) AS r FROM t) \
             WHERE r < 1",
            "SELECT count(*) FROM (SELECT buyer, rank() OVER (ORDER BY gmv DESC) AS r FROM t) \
             WHERE r >= 5",
            // dense_rank() counts values, not rows.
            "SELECT * FROM (SELECT buyer, dense_rank() OVER (ORDER BY gmv DESC) AS r FROM t) \
             WHERE r <= 3 ORDER BY r, buyer",
        ] {
            same_rows(sql, false).await;
        }
    }
}
