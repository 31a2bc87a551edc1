//! Where a query is planned and where it runs in cluster mode: planned here, run there.
//!
//! The client plans every query itself, with the session's pinned view of the warehouse (the
//! files of the version it opened, see [`crate::sql::pinned_store`]), and sends the finished
//! physical plan to the scheduler. A physical plan names its files one by one, with their
//! partition values, so neither the scheduler nor an executor lists a table folder: they read
//! exactly the pinned files, never a file a concurrent writer is adding or one it replaced.
//! (Ballista's own client sends the logical plan instead, and the scheduler lists the folders.)
//!
//! A plan that reads no warehouse file (`information_schema`, `SELECT 1`, `EXPLAIN`) runs
//! here, and so does one whose files are small (at most `DOUBLE11_CLUSTER_LOCAL_BYTES`, 64 MiB
//! by default: the reports over the rollups), where a Ballista job's own cost (stages, task
//! polls, results over Flight: most of a second) would be most of the answer's time. A plan
//! that writes files (an export, `COPY`) sends only its input: the rows come back and are
//! written by this process, where the user asked for them, not on an executor's disk.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use ballista_core::config::BallistaConfig;
use ballista_core::extension::SessionConfigExt;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::analyze::AnalyzeExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::{StreamExt, TryStreamExt};

/// Plans locally and hands the plan's reading part to the cluster at `scheduler`.
#[derive(Debug)]
pub(crate) struct ClusterPlanner {
    /// `http://host:port` of the scheduler.
    pub scheduler: String,
    /// A plan whose files total at most this many bytes runs here: a report over the rollups
    /// reads a few MB, which takes this process milliseconds and a Ballista job (stages,
    /// tasks polled for, results fetched) most of a second.
    pub local_scan_bytes: u64,
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session_state)
            .await?;
        if plan.is::<AnalyzeExec>() {
            return Ok(plan);
        }
        match scanned_bytes(&plan)? {
            None => return Ok(plan),
            Some(bytes) if bytes <= self.local_scan_bytes => {
                tracing::debug!("the plan reads {bytes} bytes of files: run here");
                return Ok(plan);
            }
            Some(_) => {}
        }
        let session_id = session_state.session_id().to_string();
        if let Some(sink) = plan.downcast_ref::<DataSinkExec>() {
            let input = self.remote(Arc::clone(sink.input()), &session_id);
            #[allow(deprecated)]
            return Arc::clone(&plan).with_new_children(vec![input]);
        }
        // The final order is made here: Ballista 55 lost rows running a root
        // SortPreservingMergeExec itself (1,440 ordered groups over 8 files, BENCHMARKS.md).
        if let Some(merge) = plan.downcast_ref::<SortPreservingMergeExec>() {
            let remote = self.remote(Arc::clone(merge.input()), &session_id);
            let sort = SortExec::new(merge.expr().clone(), remote).with_fetch(merge.fetch());
            return Ok(Arc::new(sort));
        }
        Ok(self.remote(plan, &session_id))
    }
}

impl ClusterPlanner {
    fn remote(&self, plan: Arc<dyn ExecutionPlan>, session_id: &str) -> Arc<dyn ExecutionPlan> {
        // One stream of results, in the plan's order.
        let plan: Arc<dyn ExecutionPlan> = if plan.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(plan))
        } else {
            plan
        };
        Arc::new(ClusterExec::new(
            plan,
            self.scheduler.clone(),
            session_id.to_string(),
        ))
    }
}

/// The bytes of the files `plan` scans (of a warehouse table, or any other listing table),
/// whole files counted; `None` when it scans none.
fn scanned_bytes(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<u64>> {
    let mut bytes: Option<u64> = None;
    plan.apply(|node| {
        if let Some(scan) = node
            .downcast_ref::<DataSourceExec>()
            .and_then(|source| source.data_source().downcast_ref::<FileScanConfig>())
        {
            let files = scan.file_groups.iter().flat_map(|group| group.files());
            let sum = files.fold(0u64, |sum, file| sum.saturating_add(file.object_meta.size));
            bytes = Some(bytes.unwrap_or(0).saturating_add(sum));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(bytes)
}

/// A physical plan run by the cluster: its results stream back from the executors.
#[derive(Debug)]
pub(crate) struct ClusterExec {
    plan: Arc<dyn ExecutionPlan>,
    scheduler: String,
    session_id: String,
    properties: Arc<PlanProperties>,
}

impl ClusterExec {
    fn new(plan: Arc<dyn ExecutionPlan>, scheduler: String, session_id: String) -> Self {
        let eq = if plan.output_partitioning().partition_count() == 1 {
            plan.equivalence_properties().clone()
        } else {
            EquivalenceProperties::new(plan.schema())
        };
        let properties = Arc::new(PlanProperties::new(
            eq,
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        ClusterExec {
            plan,
            scheduler,
            session_id,
            properties,
        }
    }
}

impl DisplayAs for ClusterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ClusterExec: scheduler={}, plan={}",
            self.scheduler,
            self.plan.name()
        )
    }
}

impl ExecutionPlan for ClusterExec {
    fn name(&self) -> &str {
        "ClusterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return datafusion::common::internal_err!(
                "ClusterExec has one partition, not {partition}"
            );
        }
        let config = context.session_config().clone();
        let ballista: BallistaConfig = config.ballista_config();
        let codec = config.ballista_physical_extension_codec();
        let (plan, scheduler, session_id) = (
            Arc::clone(&self.plan),
            self.scheduler.clone(),
            self.session_id.clone(),
        );
        let schema = self.plan.schema();
        let stream = futures::stream::once(async move {
            ballista_core::execution_plans::execute_physical_plan::<PhysicalPlanNode>(
                scheduler,
                &ballista,
                plan,
                codec.as_ref(),
                session_id,
                config,
            )
            .await
        })
        .try_flatten()
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
