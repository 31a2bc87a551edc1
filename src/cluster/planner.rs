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

/// How many times a query is submitted when the cluster fails it for want of an executor. The
/// double11 scheduler does not let Ballista 55 recover a job in place once an executor it used is
/// lost (that can count rows twice): it fails the stage whose task could not fetch the lost
/// executor's output (`STAGE_ATTEMPTS` in `cluster`), or cancels the job when the executor's
/// silence passes the timeout (`cluster::lost`). The job's results do not exist yet, so the
/// client runs it again from its plan, once, on the executors left (they are the ones asking
/// for tasks); a second such failure is reported (exit 69).
const RUNS: usize = 2;

/// Whether a job failed because an executor it used was lost: the scheduler cancelled it (a
/// job's status carries its failure as text, and a cancelled job's is `Cancelled`; the client's
/// own cancel ends this process); one of its stages could not fetch its input from another
/// executor (Ballista words only that failure `Stage <n> has failed <k> times, most recent
/// failure reason: …`; a task failing on every try says `failed <k> times, fail the stage`); or
/// a task's fetch was cut mid-way by the executor serving it dying (Arrow Flight's HTTP/2
/// stream broke: Ballista fails the stage at once, as a runtime error).
fn lost_an_executor(e: &datafusion::error::DataFusionError) -> bool {
    let text = e.find_root().to_string();
    text.ends_with(CANCELLED)
        || (text.contains(" has failed ") && text.contains(LOST_INPUT))
        || text.contains(STREAM_CUT)
}

/// How Ballista's client words a job the scheduler cancelled (`Job <id> failed: Cancelled`).
pub(crate) const CANCELLED: &str = "failed: Cancelled";

/// The end of Ballista's words for a stage that could not fetch its input (or a task that
/// failed on every try).
pub(crate) const LOST_INPUT: &str = "most recent failure reason";

/// What a shuffle fetch says when the executor it read from died mid-stream.
pub(crate) const STREAM_CUT: &str = "h2 protocol error";

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
            let mut runs = 0;
            loop {
                runs += 1;
                let run =
                    ballista_core::execution_plans::execute_physical_plan::<PhysicalPlanNode>(
                        scheduler.clone(),
                        &ballista,
                        Arc::clone(&plan),
                        codec.as_ref(),
                        session_id.clone(),
                        config.clone(),
                    )
                    .await;
                match run {
                    Err(e) if runs < RUNS && lost_an_executor(&e) => tracing::warn!(
                        "the cluster lost an executor the query used ({}): running it again on \
                         the executors left",
                        e.find_root()
                    ),
                    run => break run,
                }
            }
        })
        .try_flatten()
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::lost_an_executor;
    use datafusion::error::DataFusionError;

    fn job_failed(why: &str) -> DataFusionError {
        // As Ballista's client reports a failed job (execute_physical_plan).
        DataFusionError::Execution(format!("Job 0196f0a2 failed: {why}"))
    }

    #[test]
    fn a_job_is_run_again_only_when_an_executor_it_used_was_lost() {
        // Cancelled by the scheduler when the executor's silence passed the timeout.
        assert!(lost_an_executor(&job_failed("Cancelled")));
        // A stage whose task could not fetch the lost executor's shuffle output.
        assert!(lost_an_executor(&job_failed(
            "Stage 2 has failed 1 times, most recent failure reason: \"FetchFailed(\\\"exec-1\\\", \
             1, 3, \\\"connection refused\\\")\""
        )));
        // Wrapped the way DataFusion passes errors on.
        let wrapped =
            DataFusionError::Context("collect".to_string(), Box::new(job_failed("Cancelled")));
        assert!(lost_an_executor(&wrapped));
        // A task whose fetch was cut mid-way by the serving executor's death (as seen in the
        // executor-kill test).
        assert!(lost_an_executor(&job_failed(
            "Job failed due to stage 2 failed: Task failed due to runtime execution error: \
             DataFusionError(Shared(External(ArrowError(IpcError(\"Arrow error: Ipc error: code: \
             'Unknown error', message: \\\"h2 protocol error: error reading a body from \
             connection\\\"\")))))"
        )));
        // A task that fails on every try fails the same way again: not run again.
        assert!(!lost_an_executor(&job_failed(
            "Task 3 in Stage 2 failed 4 times, fail the stage, most recent failure reason: \
             \"Arrow error: divide by zero\""
        )));
        assert!(!lost_an_executor(&job_failed(
            "Execution error: no such column"
        )));
        assert!(!lost_an_executor(&DataFusionError::Plan(
            "table 'transactions' not found".to_string()
        )));
    }
}
