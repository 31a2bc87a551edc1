//! What the scheduler does with a job when one of its executors is lost: it cancels the job, and
//! the job's client runs it again on the executors left ([`super::planner`]), instead of letting
//! Ballista 55 recover the job in place.
//!
//! Ballista 55 recovers such a job by running again the stages that held or read the lost
//! executor's output. When the stage it runs again was itself running, the outputs its finished
//! tasks had already handed on (to the next stage's inputs, or to the job's results) stay there,
//! and the new attempt hands the same partitions on once more: the answer can count a
//! partition's rows twice. The executor-kill test in `tests/cluster.rs` saw that in about one run
//! in five (a query's top buyers with some buyers listed twice), with the job reported
//! successful. A job started again from its plan cannot do that.
//!
//! [`CancelOnLoss`] wraps the scheduler's cluster state: when the scheduler removes an executor
//! (its heartbeat stopped for `--executor-timeout`, or it stopped), every running job with a task
//! that ran or runs there is cancelled before Ballista's own recovery starts (the cancel is
//! queued on the scheduler's event loop ahead of the executor-lost event). Jobs that never used
//! that executor go on untouched.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use ballista_core::error::Result;
use ballista_core::serde::protobuf::{task_status, ExecutorHeartbeat, RunningTask, SuccessfulTask};
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_core::JobId;
use ballista_scheduler::cluster::{BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::scheduler_server::SchedulerServer;
use ballista_scheduler::state::task_manager::JobInfoCache;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

/// The scheduler a [`CancelOnLoss`] cancels jobs on.
pub(crate) type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// The cluster state Ballista's scheduler keeps (executors, their heartbeats and slots), with one
/// change: removing an executor first cancels the running jobs that used it.
pub(crate) struct CancelOnLoss {
    inner: Arc<dyn ClusterState>,
    /// Set once the scheduler exists (it is built from this state).
    scheduler: OnceLock<Scheduler>,
}

impl CancelOnLoss {
    pub(crate) fn new(inner: Arc<dyn ClusterState>) -> CancelOnLoss {
        CancelOnLoss {
            inner,
            scheduler: OnceLock::new(),
        }
    }

    /// Gives the state the scheduler built from it. Until then, no job can be running.
    pub(crate) fn attach(&self, scheduler: Scheduler) {
        let _ = self.scheduler.set(scheduler);
    }

    /// Cancels every running job that has a task, running or finished, on `executor_id`.
    async fn cancel_jobs_on(&self, executor_id: &str) {
        let Some(scheduler) = self.scheduler.get() else {
            return;
        };
        let jobs = scheduler.state.task_manager.get_running_job_cache();
        for job_id in jobs_on(&jobs, executor_id).await {
            tracing::warn!(
                "executor {executor_id} was lost while job {job_id} ran on it: cancelling the \
                 job, its client runs it again"
            );
            if let Err(e) = scheduler.cancel_job(job_id.clone()).await {
                tracing::error!("cannot cancel job {job_id} after losing {executor_id}: {e}");
            }
        }
    }
}

/// The jobs among `jobs` with a task, running or finished, on `executor_id`: the ones whose
/// recovery could hand a partition on twice. (A task's output lives on its executor, so a job
/// with none there lost nothing.)
async fn jobs_on(jobs: &HashMap<JobId, JobInfoCache>, executor_id: &str) -> Vec<JobId> {
    let mut hit = Vec::new();
    for (job_id, info) in jobs {
        let graph = info.execution_graph.read().await;
        let used = graph.stages().values().any(|stage| {
            stage.task_infos().is_some_and(|tasks| {
                tasks
                    .iter()
                    .any(|task| ran_on(&task.task_status, executor_id))
            })
        });
        if used {
            hit.push(job_id.clone());
        }
    }
    hit
}

/// Whether a task with this status runs, or ran and left its output, on `executor_id`.
fn ran_on(status: &task_status::Status, executor_id: &str) -> bool {
    match status {
        task_status::Status::Running(RunningTask { executor_id: on })
        | task_status::Status::Successful(SuccessfulTask {
            executor_id: on, ..
        }) => on == executor_id,
        _ => false,
    }
}

#[async_trait]
impl ClusterState for CancelOnLoss {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        self.inner
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots).await
    }

    async fn register_executor(
        &self,
        metadata: ExecutorMetadata,
        spec: ExecutorData,
    ) -> Result<()> {
        self.inner.register_executor(metadata, spec).await
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        self.cancel_jobs_on(executor_id).await;
        self.inner.remove_executor(executor_id).await
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}

#[cfg(test)]
mod tests {
    use super::ran_on;
    use ballista_core::serde::protobuf::{task_status, FailedTask, RunningTask, SuccessfulTask};

    #[test]
    fn a_task_used_the_executor_it_runs_on_or_left_its_output_on() {
        let running = task_status::Status::Running(RunningTask {
            executor_id: "exec-a".to_string(),
        });
        let done = task_status::Status::Successful(SuccessfulTask {
            executor_id: "exec-a".to_string(),
            ..Default::default()
        });
        assert!(ran_on(&running, "exec-a"));
        assert!(ran_on(&done, "exec-a"));
        assert!(!ran_on(&running, "exec-b"));
        assert!(!ran_on(&done, "exec-b"));
        // A failed task left nothing behind on any executor.
        let failed = task_status::Status::Failed(FailedTask::default());
        assert!(!ran_on(&failed, "exec-a"));
    }
}
