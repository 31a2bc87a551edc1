//! Cluster mode: the same SQL and reports on Apache DataFusion Ballista, when one machine is
//! not enough.
//!
//! `double11 scheduler` and `double11 executor` start Ballista's own scheduler and executor
//! (the `ballista-scheduler` / `ballista-executor` crates' start-up API) with double11's
//! session settings; `--cluster df://host:port` makes a command's session plan its queries
//! here and run them there ([`planner`]). The warehouse must be where every executor can read
//! it: an S3 prefix (the settings travel in the session, [`stores`]) or a folder at the same
//! path on every machine (a shared mount).

pub(crate) mod codec;
mod lost;
pub(crate) mod planner;
pub mod stores;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::error::{Error, Result};

/// How long a client waits for the scheduler's port to answer before it gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Partitions of a shuffle (tasks of a stage) in cluster mode.
const CLUSTER_PARTITIONS: usize = 16;

/// Executors ask the scheduler for tasks when they have a free core (pull), rather than the
/// scheduler pushing tasks by its own count of free cores: in Ballista 55 that count leaks when
/// an executor dies in the middle of a stage whose input it held (the survivors' tasks of the
/// rolled-back stage are never refunded), and the query then waits forever. Pulling keeps the
/// count on the executor, which always knows it; an idle executor polls every 50 ms.
const SCHEDULING: TaskSchedulingPolicy = TaskSchedulingPolicy::PullStaged;

/// Attempts of a stage whose task could not fetch its input from another executor: one, so such
/// a query fails (exit 69: run it again) instead of being recovered. Ballista 55 recovers a lost
/// shuffle twice over, once when a task's fetch fails (it re-runs the map stage at once) and
/// again when the dead executor's silence passes `--executor-timeout` (it rolls the stages back);
/// when both happen to one query, we saw it hang (tests/cluster.rs, the executor-kill test, with
/// a 10 s timeout). An executor lost before its output was fetched is found by the timeout
/// alone: the scheduler then cancels the jobs that used it ([`lost`]: Ballista's own recovery
/// can count rows twice) and their clients run them again: the right answer, later.
const STAGE_ATTEMPTS: usize = 1;

/// The shortest silence after which the scheduler takes an executor as lost. Under pull
/// scheduling the task poll is the heartbeat, and an executor whose cores are all busy polls
/// every 5 s: below twice that a healthy, busy executor would be dropped.
pub const MIN_EXECUTOR_TIMEOUT_SECS: u64 = 10;

/// A scheduler's address, `df://host:port` (or `host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    pub host: String,
    pub port: u16,
}

impl ClusterUrl {
    /// The scheduler `text` names; `given` says where it came from, for the error.
    pub fn parse(text: &str, given: &str) -> Result<ClusterUrl> {
        let rest = text.trim();
        let rest = rest.strip_prefix("df://").unwrap_or(rest);
        let bad = || {
            Error::Usage(format!(
                "{given} {text:?}: expected a scheduler address df://host:port, e.g. \
                 df://127.0.0.1:50050"
            ))
        };
        if rest.contains("://") || rest.contains('/') {
            return Err(bad());
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(bad)?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(ClusterUrl {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
        })
    }

    /// `df://host:port`.
    pub fn display(&self) -> String {
        format!("df://{}:{}", self.host, self.port)
    }

    /// The gRPC endpoint Ballista's client takes.
    fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// Fails at once, naming the address, when nothing answers on the scheduler's port (a
    /// refused port fails at once; a host that does not answer after [`CONNECT_TIMEOUT`]).
    pub fn check_reachable(&self) -> Result<()> {
        let unreachable = |why: String| {
            Error::Unavailable(format!(
                "cannot reach the cluster's scheduler at {}: {why}; start it with `double11 \
                 scheduler --bind {}:{}` or check --cluster / DOUBLE11_CLUSTER",
                self.display(),
                self.host,
                self.port
            ))
        };
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| unreachable(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        let mut last = String::from("no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(unreachable(last))
    }
}

/// `config` made ready for the cluster at `url`: Ballista's session settings (they decide how
/// the plan is split into stages, and are the same on every node) and our planner.
pub(crate) fn session_state(
    config: SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    url: &ClusterUrl,
    s3: Option<stores::StoreOptions>,
) -> Result<SessionState> {
    let mut config = config
        .with_option_extension(s3.unwrap_or_default())
        .with_ballista_query_planner(Arc::new(planner::ClusterPlanner {
            scheduler: url.endpoint(),
            local_scan_bytes: crate::settings::cluster_local_bytes()?,
        }))
        .with_ballista_physical_extension_codec(Arc::new(codec::PlanCodec::default()));
    // A shuffle's partitions are a stage's tasks: Ballista's own default (16), not the 16 per
    // core of this machine that a local session uses (SET datafusion.execution.
    // target_partitions for a larger cluster).
    config.options_mut().execution.target_partitions = CLUSTER_PARTITIONS;
    // The plan is made here (ClusterPlanner), with a local session's rules: the sorts a
    // DataFusion bug drops put back, a top K for `rank() <= K` (their nodes travel by `codec`).
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rules(crate::sql::physical_rules())
        .build();
    Ok(state.upgrade_for_ballista(url.endpoint())?)
}

/// What `double11 scheduler` is asked for.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens.
    pub bind: SocketAddr,
    /// The host executors and clients are told to reach it at (default: the bind address).
    pub external_host: Option<String>,
    /// An executor silent for this long is taken as gone: its tasks run elsewhere.
    pub executor_timeout: Duration,
}

/// Runs a scheduler until Ctrl-C or SIGTERM.
pub async fn serve_scheduler(opts: &SchedulerOptions) -> Result<()> {
    let timeout = opts
        .executor_timeout
        .as_secs()
        .max(MIN_EXECUTOR_TIMEOUT_SECS);
    let config = SchedulerConfig {
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host: opts
            .external_host
            .clone()
            .unwrap_or_else(|| opts.bind.ip().to_string()),
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: (timeout / 4).max(1),
        no_executors_grace_period_seconds: timeout,
        override_config_producer: Some(Arc::new(stores::config)),
        override_session_builder: Some(Arc::new(scheduler_session)),
        override_physical_codec: Some(Arc::new(codec::PlanCodec::default())),
        scheduling_policy: SCHEDULING,
        stage_max_failures: STAGE_ATTEMPTS,
        ..SchedulerConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .map_err(|e| Error::io(format!("scheduler address {}", opts.bind), e))?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the scheduler: {e}")))?;
    let executors = Arc::new(lost::CancelOnLoss::new(cluster.cluster_state()));
    let cluster = BallistaCluster::new(executors.clone(), cluster.job_state());
    let scheduler = ballista_scheduler::scheduler_process::create_scheduler::<
        LogicalPlanNode,
        PhysicalPlanNode,
    >(cluster, Arc::new(config))
    .await
    .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the scheduler: {e}")))?;
    executors.attach(scheduler.clone());
    eprintln!("double11 scheduler listening on {}", opts.bind);
    tokio::select! {
        served = ballista_scheduler::scheduler_process::start_grpc_service_with_listener(
            listener, scheduler,
        ) => served.map_err(|e| Error::Other(anyhow::anyhow!("the scheduler stopped: {e}"))),
        _ = shutdown() => Ok(()),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The scheduler's session for a query: Ballista's, with the object stores the session's
/// settings name.
fn scheduler_session(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let runtime = stores::runtime_for(&config, None)?;
    let state = ballista_core::utils::default_session_builder(config)?;
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .build())
}

/// What `double11 executor` is asked for.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler: ClusterUrl,
    /// The address its services listen on.
    pub bind_host: String,
    /// The host the scheduler, other executors and clients reach it at (default: bind host).
    pub external_host: Option<String>,
    /// Arrow Flight (results and shuffle data). Its only port: under pull scheduling it asks the
    /// scheduler for tasks, and that poll is its heartbeat.
    pub port: u16,
    /// Tasks run at once.
    pub cores: usize,
    /// Memory all its tasks together may hold before they spill (split between the cores).
    pub memory_pool: usize,
    /// Shuffle and spill files.
    pub work_dir: std::path::PathBuf,
    /// How long to wait for the scheduler to come up.
    pub wait: Duration,
}

/// Runs an executor until Ctrl-C, SIGTERM or the scheduler stops it.
pub async fn serve_executor(opts: &ExecutorOptions) -> Result<()> {
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| Error::io(opts.work_dir.display().to_string(), e))?;
    let work_dir = opts.work_dir.display().to_string();
    // Ballista tries the scheduler once: wait for it here, with a deadline.
    let deadline = Instant::now() + opts.wait;
    loop {
        match opts.scheduler.check_reachable() {
            Ok(()) => break,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let spill = work_dir.clone();
    let config = ballista_executor::executor_process::ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: Some(
            opts.external_host
                .clone()
                .unwrap_or_else(|| opts.bind_host.clone()),
        ),
        port: opts.port,
        scheduler_host: opts.scheduler.host.clone(),
        scheduler_port: opts.scheduler.port,
        scheduler_connect_timeout_seconds: 0,
        vcores: opts.cores,
        task_scheduling_policy: SCHEDULING,
        work_dir: Some(work_dir),
        memory_pool_size: Some(opts.memory_pool as u64),
        override_config_producer: Some(Arc::new(stores::config)),
        override_runtime_producer: Some(Arc::new(move |config: &SessionConfig| {
            stores::runtime_for(config, Some(&spill))
        })),
        override_physical_codec: Some(Arc::new(codec::PlanCodec::default())),
        ..Default::default()
    };
    eprintln!(
        "double11 executor on {}:{} (flight), {} cores, {} MiB, scheduler {}",
        opts.bind_host,
        opts.port,
        opts.cores,
        opts.memory_pool >> 20,
        opts.scheduler.display()
    );
    ballista_executor::executor_process::start_executor_process(Arc::new(config))
        .await
        .map_err(|e| {
            Error::Unavailable(format!(
                "the executor stopped: {e} (scheduler {})",
                opts.scheduler.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_is_a_scheduler_address() {
        let url = ClusterUrl::parse("df://127.0.0.1:50050", "--cluster").expect("valid");
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 50050));
        assert_eq!(url.display(), "df://127.0.0.1:50050");
        let bare = ClusterUrl::parse("sched.local:7000", "--cluster").expect("valid");
        assert_eq!((bare.host.as_str(), bare.port), ("sched.local", 7000));
        for bad in [
            "",
            "df://",
            "df://host",
            "df://host:0",
            "http://h:1",
            "h:99999",
            ":1",
        ] {
            let e = ClusterUrl::parse(bad, "--cluster").expect_err(bad);
            assert!(e.to_string().contains("df://host:port"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_closed_port_is_unreachable_at_once_naming_the_address() {
        // Bind and drop: the port is free and nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = ClusterUrl::parse(&format!("df://127.0.0.1:{port}"), "--cluster").expect("valid");
        let started = Instant::now();
        let e = url.check_reachable().expect_err("nothing listens");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(e.to_string().contains(&url.display()), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::UNAVAILABLE);
    }
}
