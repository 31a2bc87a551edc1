//! Every sort a plan needs, checked again without the uniqueness DataFusion 55 mislays.
//!
//! An aggregate's output is unique on its GROUP BY columns, and DataFusion uses that to skip
//! sorts: rows ordered by a unique `buyer_id` need no second key. But a projection that
//! reorders columns moves that knowledge to the wrong column (`projected_constraints` in
//! datafusion-physical-expr 55.2 looks up each constraint's column among the projection's
//! *output* positions instead of its input columns). In
//!
//! ```sql
//! SELECT rank, buyer_id FROM (SELECT buyer_id, rank() OVER (ORDER BY count(*) DESC) AS rank
//!   FROM transactions GROUP BY buyer_id) WHERE rank <= 10 ORDER BY rank, buyer_id
//! ```
//!
//! `rank` lands where `buyer_id` was, is taken for unique, and the buyers tied on a rank come
//! out in no order: `ORDER BY rank, buyer_id` is silently not honoured.
//!
//! This rule runs after DataFusion has placed its sorts and before it drops the requirement of
//! the query's own `ORDER BY`: wherever an operator needs its input in an order that the input's
//! orderings alone (without any uniqueness) do not give, it puts the sort back, as DataFusion
//! would have. A sort that uniqueness really made unnecessary costs one sort of rows already
//! in order; a wrong order costs a wrong answer.

use std::fmt;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{internal_err, Constraints, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::OrderingRequirements;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::utils::add_sort_above;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::tree_node::PlanContext;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};

/// The rule; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct KeepOrderings;

impl PhysicalOptimizerRule for KeepOrderings {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let mut sorted = false;
            let mut children = Vec::with_capacity(node.children().len());
            for (child, required) in node
                .children()
                .into_iter()
                .zip(node.required_input_ordering())
            {
                let child = Arc::clone(child);
                let Some(OrderingRequirements::Hard(alternatives)) = required else {
                    children.push(child);
                    continue;
                };
                let orderings = child
                    .equivalence_properties()
                    .clone()
                    .with_constraints(Constraints::default());
                let mut met = false;
                for requirement in &alternatives {
                    met |= orderings.ordering_satisfy_requirement(requirement.clone())?;
                }
                match alternatives.into_iter().next() {
                    Some(first) if !met => {
                        // SortExec passes its input through when the input claims the order,
                        // so the input must first stop claiming uniqueness.
                        let child = Arc::new(Unconstrained::new(child)) as Arc<dyn ExecutionPlan>;
                        let context = PlanContext::<()>::new_default(child);
                        children.push(add_sort_above(context, first, None).plan);
                        sorted = true;
                    }
                    _ => children.push(child),
                }
            }
            Ok(if sorted {
                Transformed::yes(replace_children_if_necessary(node, children)?)
            } else {
                Transformed::no(node)
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "double11_keep_orderings"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Its input as it is, minus the uniqueness DataFusion believes it has: below the sorts that
/// [`KeepOrderings`] puts back.
#[derive(Debug)]
pub(crate) struct Unconstrained {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl Unconstrained {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        let mut properties = input.properties().as_ref().clone();
        properties
            .eq_properties
            .set_constraints(Constraints::default());
        Self {
            input,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for Unconstrained {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Unconstrained")
    }
}

impl ExecutionPlan for Unconstrained {
    fn name(&self) -> &str {
        "Unconstrained"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Self::new(input))),
            _ => internal_err!("Unconstrained takes one input"),
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

/// DataFusion's physical optimizer rules with `KeepOrderings` just before the one that drops
/// the query's own output ordering (the second `OutputRequirements`).
pub(crate) fn rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    let at = rules
        .iter()
        .rposition(|rule| rule.name() == "OutputRequirements")
        .unwrap_or(rules.len());
    rules.insert(at, Arc::new(KeepOrderings));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// 4 partitions of events of 600 buyers, most with 1-3 events: ranks with many ties.
    fn events() -> MemTable {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "buyer",
            DataType::Int64,
            false,
        )]));
        let partitions = (0..4i64)
            .map(|p| {
                let buyers: Vec<i64> = (0..1_000i64).map(|i| (i * 7_919 + p * 13) % 600).collect();
                vec![RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(Int64Array::from(buyers))],
                )
                .expect("batch")]
            })
            .collect();
        MemTable::try_new(schema, partitions).expect("table")
    }

    async fn rows(sql: &str) -> Vec<(i64, u64)> {
        let state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(4))
            .with_default_features()
            .with_physical_optimizer_rules(rules())
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_table("t", Arc::new(events()))
            .expect("register");
        let mut out = Vec::new();
        for batch in ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run")
        {
            let buyer = batch.column_by_name("buyer").expect("buyer");
            let buyer = buyer.as_any().downcast_ref::<Int64Array>().expect("buyer");
            let rank = batch.column_by_name("r").expect("r");
            let rank = arrow::compute::cast(rank, &DataType::UInt64).expect("cast");
            let rank = rank
                .as_any()
                .downcast_ref::<arrow::array::UInt64Array>()
                .expect("rank");
            out.extend((0..batch.num_rows()).map(|i| (buyer.value(i), rank.value(i))));
        }
        out
    }

    #[tokio::test]
    async fn ties_come_in_the_order_asked_for() {
        let ranked =
            "SELECT buyer, rank() OVER (ORDER BY count(*) DESC) AS r FROM t GROUP BY buyer";
        let want = {
            let mut all = rows(&format!("SELECT buyer, r FROM ({ranked})")).await;
            all.sort_by_key(|(buyer, rank)| (*rank, *buyer));
            all
        };
        assert!(want.windows(2).any(|w| w[0].1 == w[1].1), "ties: {want:?}");
        // The rank first, where the buyer's uniqueness was: the case DataFusion gets wrong.
        let got = rows(&format!(
            "SELECT r, buyer FROM ({ranked}) ORDER BY r, buyer"
        ))
        .await;
        assert_eq!(got, want);
        let top: Vec<_> = want.iter().copied().filter(|(_, r)| *r <= 50).collect();
        let got = rows(&format!(
            "SELECT r, buyer FROM ({ranked}) WHERE r <= 50 ORDER BY r, buyer"
        ))
        .await;
        assert_eq!(got, top);
    }
}
