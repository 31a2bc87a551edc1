//! The flags of `double11 scheduler` and `double11 executor`, the two processes of a Ballista
//! cluster, and their translation into [`crate::cluster`]'s options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cluster::{ClusterUrl, ExecutorOptions, SchedulerOptions, MIN_EXECUTOR_TIMEOUT_SECS};
use crate::error::Result;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub bind: SocketAddr,
    /// The host name executors and clients reach this scheduler at (default: the bind host).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Seconds without a word from an executor before it is taken as lost and its tasks run
    /// elsewhere. Executors ask for tasks every 50 ms when idle but only every 5 s when all
    /// their cores are busy, so at least 10.
    #[arg(long, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(MIN_EXECUTOR_TIMEOUT_SECS..))]
    pub executor_timeout: u64,
}

impl SchedulerArgs {
    pub fn options(&self) -> SchedulerOptions {
        SchedulerOptions {
            bind: self.bind,
            external_host: self.external_host.clone(),
            executor_timeout: Duration::from_secs(self.executor_timeout),
        }
    }
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler, df://host:port.
    #[arg(long, value_name = "URL")]
    pub scheduler: String,
    /// The address its services listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub bind_host: String,
    /// The host name the scheduler, other executors and clients reach it at (default: the
    /// bind host).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// The Arrow Flight port (results and shuffle data); its only port: it asks the scheduler
    /// for tasks.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// Shuffle and spill files (default: a folder under the system's temporary folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Seconds to wait for the scheduler to come up.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub wait: u64,
}

impl ExecutorArgs {
    /// The options, its cores from `--threads` and its memory pool from `--memory-limit`.
    pub fn options(&self, settings: &Settings) -> Result<ExecutorOptions> {
        Ok(ExecutorOptions {
            scheduler: ClusterUrl::parse(&self.scheduler, "--scheduler")?,
            bind_host: self.bind_host.clone(),
            external_host: self.external_host.clone(),
            port: self.port,
            cores: settings.threads(),
            memory_pool: settings.memory_limit()?,
            work_dir: self.work_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("double11-executor-{}", self.port))
            }),
            wait: Duration::from_secs(self.wait),
        })
    }
}
