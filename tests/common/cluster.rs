//! A real Ballista cluster for the tests: `double11 scheduler` and two `double11 executor`s
//! on loopback, each a child process of the test on its own ports, each executor with an
//! explicit memory pool (`--memory-limit`) and its own work folder. The executors are started
//! without any `AWS_*` variable: what they know of S3 comes from the client's session.
//! Dropping the [`Cluster`] kills them.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

pub struct Cluster {
    pub url: String,
    scheduler: Child,
    pub executors: Vec<Child>,
    _dir: tempfile::TempDir,
}

/// A free port on 127.0.0.1 (bound and released; the OS does not hand it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before it listened on {port}: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `double11` command with no `AWS_*` variable at all.
fn bare_double11(log: &Path) -> Command {
    let mut cmd = common::double11();
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    let log = std::fs::File::create(log).expect("log file");
    cmd.stdout(Stdio::null()).stderr(log);
    cmd
}

impl Cluster {
    /// A scheduler (executors lost after 10 s of silence, the least it takes) and two
    /// executors (2 task slots and 512 MiB each).
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let url = format!("df://127.0.0.1:{port}");
        let mut scheduler = bare_double11(&dir.path().join("scheduler.log"))
            .args([
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--executor-timeout",
                "10",
            ])
            .spawn()
            .expect("double11 scheduler starts");
        wait_for_port(port, &mut scheduler, "the scheduler");
        let mut cluster = Cluster {
            url,
            scheduler,
            executors: Vec::new(),
            _dir: dir,
        };
        for i in 0..2 {
            cluster.add_executor(i);
        }
        // Their first task polls register them.
        std::thread::sleep(Duration::from_millis(1500));
        cluster
    }

    fn add_executor(&mut self, i: usize) {
        let flight = free_port();
        let work: PathBuf = self._dir.path().join(format!("executor-{i}"));
        let mut child = bare_double11(&self._dir.path().join(format!("executor-{i}.log")))
            .args([
                "--memory-limit",
                "512M",
                "--threads",
                "2",
                "executor",
                "--scheduler",
                &self.url,
                "--port",
                &flight.to_string(),
                "--work-dir",
                common::path(&work),
            ])
            .spawn()
            .expect("double11 executor starts");
        wait_for_port(flight, &mut child, "an executor");
        self.executors.push(child);
    }

    /// The logs of the scheduler and executors (for a failing assertion's message).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["scheduler.log", "executor-0.log", "executor-1.log"] {
            let text = std::fs::read_to_string(self._dir.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out.push_str(&format!("--- {name} (last lines)\n"));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
