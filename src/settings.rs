//! One settings value for a process: how much memory queries may use, how many threads work
//! and how ingest buffers, built from the command line, the environment and a job file, each
//! default defined here once.
//!
//! Precedence: a flag, then its environment variable, then the job file, then the default.
//!
//! The command line (`cli`) and job files (`jobs::config`) only say which values were given;
//! [`Settings`] holds the result, and the session builder ([`crate::sql::session`]) and
//! [`crate::ingest::IngestOptions`] take their values from it instead of reading the
//! environment or repeating a default.

use crate::error::{Error, Result};

/// Memory DataFusion may hold for a query before its sorts and aggregations spill to disk (the
/// OS temporary folder). Exact distinct counts over a billion-row day need more than RAM allows
/// otherwise; small queries never reach it.
pub const DEFAULT_MEMORY_LIMIT: usize = 2 << 30;
/// The environment variable for the query memory limit (`--memory-limit`).
pub const MEMORY_LIMIT_ENV: &str = "DOUBLE11_MEMORY_LIMIT";
/// The environment variable for the cluster that runs queries (`--cluster`).
pub const CLUSTER_ENV: &str = "DOUBLE11_CLUSTER";
/// The environment variable for the largest scan a cluster session runs in its own process
/// (`0`: every plan that reads a file goes to the cluster); see [`crate::cluster::planner`].
pub const CLUSTER_LOCAL_BYTES_ENV: &str = "DOUBLE11_CLUSTER_LOCAL_BYTES";
/// Its default: the rollups of many days, never a day of `transactions` at scale.
pub const DEFAULT_CLUSTER_LOCAL_BYTES: u64 = 64 << 20;
/// The environment variable for the number of threads (`--threads`).
pub const THREADS_ENV: &str = "DOUBLE11_THREADS";
/// Accepted rows of one CST day held in memory before they are written out.
pub const DEFAULT_ROWS_PER_FILE: usize = 1_000_000;
/// Event ids kept in memory for de-duplication before older minutes spill to disk.
pub const DEFAULT_IDS_IN_MEMORY: usize = 8_000_000;
/// The environment variable for writing ingest's files through the page cache
/// (`--cached-writes`).
pub const CACHED_WRITES_ENV: &str = "DOUBLE11_CACHED_WRITES";
/// The environment variable for the longest record read whole (`--max-record-bytes`).
pub const MAX_RECORD_BYTES_ENV: &str = "DOUBLE11_MAX_RECORD_BYTES";
/// The longest record read whole unless told otherwise (defined with the reader that
/// enforces it).
pub const DEFAULT_MAX_RECORD_BYTES: usize = crate::ingest::read::chunks::DEFAULT_MAX_RECORD_BYTES;
/// The smallest maximum record size that may be asked for.
pub const MIN_MAX_RECORD_BYTES: usize = 256;
/// The largest maximum record size that may be asked for.
pub const MAX_MAX_RECORD_BYTES: usize = crate::ingest::read::chunks::MAX_MAX_RECORD_BYTES;

/// The settings of one command or job run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The query memory limit as given; checked when a session needs it, so that a command
    /// without SQL (ingest, generate) is not refused for it.
    pub memory_limit: MemoryLimit,
    /// Accepted rows of one CST day buffered before they are written to a file.
    pub rows_per_file: usize,
    /// Event ids held in memory for de-duplication.
    pub ids_in_memory: usize,
    /// The longest record held whole, in bytes.
    pub max_record_bytes: usize,
    /// Ingest writes its files through the page cache instead of around it
    /// ([`crate::warehouse::direct_file`]).
    pub cached_writes: bool,
    /// Threads that parse, encode and run a query's partitions; `None`: one per core.
    pub threads: Option<usize>,
    /// The Ballista cluster that runs queries (`--cluster`); `None`: this process runs them.
    pub cluster: Option<crate::cluster::ClusterUrl>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memory_limit: MemoryLimit::Default,
            rows_per_file: DEFAULT_ROWS_PER_FILE,
            ids_in_memory: DEFAULT_IDS_IN_MEMORY,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            cached_writes: false,
            threads: None,
            cluster: None,
        }
    }
}

/// The query memory limit, or the text that was given for it where it is not a size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryLimit {
    /// Nothing given: [`DEFAULT_MEMORY_LIMIT`], unless a job file gives a limit.
    Default,
    Bytes(usize),
    /// Not a size: `given` names where it came from (`--memory-limit` or the variable).
    Invalid {
        given: String,
        text: String,
    },
}

impl MemoryLimit {
    /// The limit from the text of `--memory-limit` or [`MEMORY_LIMIT_ENV`] (`from_flag` says
    /// which, for the error), or the default when neither was given.
    pub fn given(text: Option<&str>, from_flag: bool) -> MemoryLimit {
        let Some(text) = text else {
            return MemoryLimit::Default;
        };
        match parse_size(text) {
            Some(n) => MemoryLimit::Bytes(n),
            None => MemoryLimit::Invalid {
                given: if from_flag {
                    "--memory-limit ".into()
                } else {
                    format!("{MEMORY_LIMIT_ENV}=")
                },
                text: text.to_string(),
            },
        }
    }

    /// The limit from [`MEMORY_LIMIT_ENV`] alone (for library callers and tests).
    pub fn from_env() -> MemoryLimit {
        let text = std::env::var(MEMORY_LIMIT_ENV).ok();
        MemoryLimit::given(text.as_deref(), false)
    }
}

impl Settings {
    /// The query memory limit in bytes; a value that is not a size is a usage error (exit 2)
    /// naming the flag or variable it came from.
    pub fn memory_limit(&self) -> Result<usize> {
        match &self.memory_limit {
            MemoryLimit::Default => Ok(DEFAULT_MEMORY_LIMIT),
            MemoryLimit::Bytes(n) => Ok(*n),
            MemoryLimit::Invalid { given, text } => Err(Error::Usage(format!(
                "{given}{text:?}: expected a size such as 2G, 512M or 1073741824"
            ))),
        }
    }

    /// The number of threads: as given, else one per core.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(available_cores)
    }

    /// These settings with the values a job file gives laid over them: its ingest sizes
    /// replace the defaults; its memory limit and threads apply where no flag or variable
    /// gave one.
    pub fn with(&self, overrides: &Overrides) -> Settings {
        let memory_limit = match (&self.memory_limit, overrides.memory_limit) {
            (MemoryLimit::Default, Some(n)) => MemoryLimit::Bytes(n),
            (given, _) => given.clone(),
        };
        Settings {
            memory_limit,
            threads: self.threads.or(overrides.threads),
            cluster: self.cluster.clone().or_else(|| overrides.cluster.clone()),
            rows_per_file: overrides.rows_per_file.unwrap_or(self.rows_per_file),
            ids_in_memory: overrides.ids_in_memory.unwrap_or(self.ids_in_memory),
            max_record_bytes: overrides.max_record_bytes.unwrap_or(self.max_record_bytes),
            // A flag or variable can only turn it on; a job file may too.
            cached_writes: self.cached_writes || overrides.cached_writes == Some(true),
        }
    }
}

/// The settings a job file gives (its `[settings]` and `[inbox]` keys); what it leaves out
/// keeps the value of the command line, the environment or the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `[settings] memory_limit`, in bytes.
    pub memory_limit: Option<usize>,
    /// `[settings] threads`.
    pub threads: Option<usize>,
    pub rows_per_file: Option<usize>,
    pub ids_in_memory: Option<usize>,
    pub max_record_bytes: Option<usize>,
    /// `[inbox] cached_writes`.
    pub cached_writes: Option<bool>,
    /// `cluster = "df://host:port"`: the job's reports and exports run on that cluster.
    pub cluster: Option<crate::cluster::ClusterUrl>,
}

/// The cores this process may use (one if that cannot be found out).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `1073741824`, `512K`, `64M`, `2G` (binary units, any case) as bytes; `None` for anything
/// else, zero or an overflow.
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let (digits, shift) = match t.as_bytes().last()?.to_ascii_uppercase() {
        b'K' => (&t[..t.len() - 1], 10),
        b'M' => (&t[..t.len() - 1], 20),
        b'G' => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    digits
        .parse::<usize>()
        .ok()?
        .checked_mul(1 << shift)
        .filter(|n| *n > 0)
}

/// The largest scan a cluster session runs in its own process, from
/// [`CLUSTER_LOCAL_BYTES_ENV`] (a size as `--memory-limit` takes, or `0`).
pub fn cluster_local_bytes() -> Result<u64> {
    let Ok(text) = std::env::var(CLUSTER_LOCAL_BYTES_ENV) else {
        return Ok(DEFAULT_CLUSTER_LOCAL_BYTES);
    };
    if text.trim() == "0" {
        return Ok(0);
    }
    parse_size(&text).map(|n| n as u64).ok_or_else(|| {
        Error::Usage(format!(
            "{CLUSTER_LOCAL_BYTES_ENV}={text:?}: expected a size such as 64M or 1G, or 0 to send \
             every plan that reads a file to the cluster"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1073741824"), Some(1 << 30));
        assert_eq!(parse_size(" 512k"), Some(512 << 10));
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        for bad in ["", "G", "0", "2T", "-1G", "1.5G", "99999999999999999999G"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_memory_limit_that_is_no_size_names_where_it_came_from() {
        let flag = Settings {
            memory_limit: MemoryLimit::given(Some("lots"), true),
            ..Settings::default()
        };
        let msg = flag.memory_limit().expect_err("not a size").to_string();
        assert!(msg.contains("--memory-limit") && msg.contains("expected a size"));
        let env = Settings {
            memory_limit: MemoryLimit::given(Some("lots"), false),
            ..Settings::default()
        };
        let msg = env.memory_limit().expect_err("not a size").to_string();
        assert!(msg.contains("DOUBLE11_MEMORY_LIMIT=\"lots\""), "{msg}");
        assert_eq!(
            Settings::default().memory_limit().ok(),
            Some(DEFAULT_MEMORY_LIMIT)
        );
    }

    #[test]
    fn a_job_file_replaces_only_what_it_gives() {
        let base = Settings {
            memory_limit: MemoryLimit::Bytes(512 << 20),
            rows_per_file: 10,
            ..Settings::default()
        };
        let job = base.with(&Overrides {
            ids_in_memory: Some(7),
            ..Overrides::default()
        });
        assert_eq!(job.memory_limit, MemoryLimit::Bytes(512 << 20));
        assert_eq!(job.rows_per_file, 10);
        assert_eq!(job.ids_in_memory, 7);
        assert_eq!(job.max_record_bytes, DEFAULT_MAX_RECORD_BYTES);
    }

    /// Writes through the page cache are asked for by a flag (or its variable) or by a job
    /// file; neither can turn the other's request off.
    #[test]
    fn cached_writes_from_a_flag_or_a_job_file() {
        let job = Overrides {
            cached_writes: Some(true),
            ..Overrides::default()
        };
        let flag = Settings {
            cached_writes: true,
            ..Settings::default()
        };
        assert!(!Settings::default().cached_writes);
        assert!(
            !Settings::default()
                .with(&Overrides::default())
                .cached_writes
        );
        assert!(Settings::default().with(&job).cached_writes);
        assert!(flag.with(&Overrides::default()).cached_writes);
        let job_says_no = Overrides {
            cached_writes: Some(false),
            ..Overrides::default()
        };
        assert!(flag.with(&job_says_no).cached_writes);
        assert!(!Settings::default().with(&job_says_no).cached_writes);
    }

    #[test]
    fn a_job_files_memory_limit_and_threads_yield_to_flags() {
        let job = Overrides {
            memory_limit: Some(64 << 20),
            threads: Some(1),
            ..Overrides::default()
        };
        let from_job = Settings::default().with(&job);
        assert_eq!(from_job.memory_limit().ok(), Some(64 << 20));
        assert_eq!(from_job.threads(), 1);
        let flags = Settings {
            memory_limit: MemoryLimit::given(Some("1G"), true),
            threads: Some(3),
            ..Settings::default()
        };
        let from_flags = flags.with(&job);
        assert_eq!(from_flags.memory_limit().ok(), Some(1 << 30));
        assert_eq!(from_flags.threads(), 3);
        assert_eq!(Settings::default().threads(), available_cores());
    }
}
