//! The plan nodes of double11's own planning rules, on the wire to a cluster.
//!
//! A cluster session plans with the same rules as a local one ([`crate::sql`]): the sorts a
//! DataFusion 55 bug drops are put back over an `Unconstrained` node, and `WHERE rank <= K`
//! becomes DataFusion's `PartitionedTopKExec`. datafusion-proto 55 serializes neither, so the
//! client, the scheduler and every executor use this codec: it writes those two nodes itself
//! (behind a prefix no protobuf message of Ballista's starts with) and hands every other node
//! to Ballista's own codec, as Ballista would.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::common::{internal_err, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::sorts::partitioned_topk::{PartitionedTopKExec, WindowFnKind};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::from_proto::parse_physical_sort_exprs;
use datafusion_proto::physical_plan::to_proto::serialize_physical_sort_exprs;
use datafusion_proto::physical_plan::{
    PhysicalExtensionCodec, PhysicalPlanDecodeContext, PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf::PhysicalSortExprNodeCollection;
use prost::Message;

use crate::sql::orderings::Unconstrained;

/// What our nodes' bytes start with. Ballista's are a protobuf message, whose first byte is
/// a field's tag: `d` (0x64) would be field 12 with the deprecated group-end wire type.
const MAGIC: &[u8] = b"double11/plan/";
const UNCONSTRAINED: u8 = 1;
const TOP_K: u8 = 2;

/// Ballista's physical codec, plus double11's nodes.
#[derive(Debug, Default)]
pub struct PlanCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PlanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(ours) = buf.strip_prefix(MAGIC) else {
            return self.ballista.try_decode(buf, inputs, ctx, converter);
        };
        let [input] = inputs else {
            return internal_err!("a double11 plan node has one input, not {}", inputs.len());
        };
        let input = Arc::clone(input);
        match ours.split_first() {
            Some((&UNCONSTRAINED, [])) => Ok(Arc::new(Unconstrained::new(input))),
            Some((&TOP_K, rest)) => {
                let (Some(prefix), Some(fetch), Some((&kind, exprs))) = (
                    rest.get(..8).and_then(|b| b.try_into().ok()),
                    rest.get(8..16).and_then(|b| b.try_into().ok()),
                    rest.get(16..).and_then(|b| b.split_first()),
                ) else {
                    return internal_err!("a PartitionedTopKExec's bytes are cut short");
                };
                let kind = match kind {
                    0 => WindowFnKind::RowNumber,
                    1 => WindowFnKind::Rank,
                    other => return internal_err!("PartitionedTopKExec: no window kind {other}"),
                };
                let nodes = PhysicalSortExprNodeCollection::decode(exprs)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                let decode = PhysicalPlanDecodeContext::new(ctx, self);
                let exprs = parse_physical_sort_exprs(
                    &nodes.physical_sort_expr_nodes,
                    &decode,
                    &input.schema(),
                    converter,
                )?;
                let Some(expr) = LexOrdering::new(exprs) else {
                    return internal_err!("a PartitionedTopKExec without a sort key");
                };
                Ok(Arc::new(PartitionedTopKExec::try_new(
                    input,
                    expr,
                    usize::try_from(u64::from_le_bytes(prefix)).unwrap_or(usize::MAX),
                    usize::try_from(u64::from_le_bytes(fetch)).unwrap_or(usize::MAX),
                    kind,
                )?))
            }
            _ => internal_err!("an unknown double11 plan node"),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if node.downcast_ref::<Unconstrained>().is_some() {
            buf.extend_from_slice(MAGIC);
            buf.push(UNCONSTRAINED);
            return Ok(());
        }
        let Some(top) = node.downcast_ref::<PartitionedTopKExec>() else {
            return self.ballista.try_encode(node, buf, converter);
        };
        let nodes = PhysicalSortExprNodeCollection {
            physical_sort_expr_nodes: serialize_physical_sort_exprs(
                top.expr().iter().cloned(),
                self,
                converter,
            )?,
        };
        buf.extend_from_slice(MAGIC);
        buf.push(TOP_K);
        buf.extend_from_slice(&(top.partition_prefix_len() as u64).to_le_bytes());
        buf.extend_from_slice(&(top.fetch() as u64).to_le_bytes());
        buf.push(match top.fn_kind() {
            WindowFnKind::RowNumber => 0,
            WindowFnKind::Rank => 1,
        });
        nodes
            .encode(buf)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};
    use datafusion_proto::physical_plan::AsExecutionPlan;
    use datafusion_proto::protobuf::PhysicalPlanNode;

    /// Both nodes survive the trip through bytes: the decoded plan prints and runs as the
    /// original does.
    #[tokio::test]
    async fn our_nodes_go_over_the_wire_and_run_the_same() {
        let schema = Arc::new(Schema::new(vec![Field::new("b", DataType::Int64, false)]));
        let parts = (0..3i64)
            .map(|p| {
                let b: Vec<i64> = (0..500i64).map(|i| (i * 31 + p * 7) % 97).collect();
                vec![
                    RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(b))])
                        .expect("batch"),
                ]
            })
            .collect();
        let state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(3))
            .with_default_features()
            .with_physical_optimizer_rules(crate::sql::physical_rules())
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, parts).expect("table")),
        )
        .expect("register");
        let plan = ctx
            .sql(
                "SELECT r, b FROM (SELECT b, rank() OVER (ORDER BY count(*) DESC) AS r \
                 FROM t GROUP BY b) WHERE r <= 5 ORDER BY r, b",
            )
            .await
            .expect("sql")
            .create_physical_plan()
            .await
            .expect("plan");
        let shown = displayable(plan.as_ref()).indent(false).to_string();
        assert!(shown.contains("Unconstrained"), "{shown}");
        assert!(shown.contains("PartitionedTopKExec"), "{shown}");

        let codec = PlanCodec::default();
        let node =
            PhysicalPlanNode::try_from_physical_plan(Arc::clone(&plan), &codec).expect("encode");
        let back = node
            .try_into_physical_plan(&ctx.task_ctx(), &codec)
            .expect("decode");
        assert_eq!(displayable(back.as_ref()).indent(false).to_string(), shown);
        let want = collect(plan, ctx.task_ctx()).await.expect("run");
        let got = collect(back, ctx.task_ctx()).await.expect("run decoded");
        assert_eq!(got, want);
        assert!(want.iter().map(|b| b.num_rows()).sum::<usize>() >= 5);
    }
}
