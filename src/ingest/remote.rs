//! Inputs in an S3 bucket: `double11 ingest s3://logs/2019-11-11/` (or a job's inbox path).
//!
//! An `s3://bucket/prefix` argument names every log object under the prefix (sorted by key,
//! names starting with `_` or `.` skipped as in a folder), or one object. Objects are listed
//! when the inputs are resolved; each is fetched just ahead of its turn, by the thread that
//! checksums inputs ahead of the reader (so the download of the next object overlaps the
//! parsing of this one), streamed to a file under the system's temporary folder (memory stays
//! bounded whatever its size) with the object's modification time, and deleted once read: at
//! most about two objects are on local disk at a time. Ingest reads those files as it reads
//! local logs (checksums, resume offsets, the settle window) and names them by their `s3://`
//! URL everywhere: summaries, rejects, errors and the warehouse's ledger, so a re-run
//! recognises an object it has already ingested. The bucket is reached with the same `AWS_*`
//! settings as an S3 warehouse.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Error, Result};
use crate::ingest::input::{kind_from_name, Input};
use crate::warehouse::delta::block_on;
use crate::warehouse::location::{Location, S3Prefix};

/// An input that is an object of a bucket.
#[derive(Debug, Clone)]
pub struct RemoteObject {
    /// `s3://bucket/key`: how the input is named.
    pub url: String,
    bucket: S3Prefix,
    key: object_store::path::Path,
    size: u64,
    modified: std::time::SystemTime,
}

/// Whether a command-line input names an S3 object or prefix.
pub fn is_remote(arg: &str) -> bool {
    arg.starts_with("s3://")
}

/// The log objects `arg` (`s3://bucket/prefix`) names, as inputs not fetched yet.
pub fn list(arg: &str) -> Result<Vec<Input>> {
    let prefix = match Location::parse(Path::new(arg.trim_end_matches('/')))? {
        Location::S3(prefix) => prefix,
        Location::Local(_) => return Err(Error::Usage(format!("{arg}: not an s3:// URL"))),
    };
    if arg.contains(['*', '?', '[']) {
        return Err(Error::Usage(format!(
            "{arg}: globs are for local files; name an S3 prefix (a folder) instead"
        )));
    }
    let store = prefix.store()?;
    let bucket = S3Prefix {
        bucket: prefix.bucket.clone(),
        prefix: String::new(),
    };
    let objects = {
        let (store, prefix) = (Arc::clone(&store), &prefix);
        block_on(async move {
            let key = object_store::path::Path::from(prefix.prefix.as_str());
            // The prefix as one object, else as a folder.
            let single = match store.head(&key).await {
                Ok(meta) if !prefix.prefix.is_empty() => Some(meta),
                Ok(_) | Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => return Err(prefix.error(&e)),
            };
            match single {
                Some(meta) => Ok(vec![meta]),
                None => store
                    .list(Some(&key))
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|e| prefix.error(&e)),
            }
        })?
    };
    let base = prefix.prefix.clone();
    let mut inputs: Vec<Input> = objects
        .into_iter()
        .filter(|meta| {
            let key = meta.location.as_ref();
            let below = key
                .strip_prefix(base.as_str())
                .unwrap_or(key)
                .trim_start_matches('/');
            // Side files (`_SUCCESS`, `_fx_rates.csv`, `.tmp`) are skipped, as in a folder.
            !below.split('/').any(|part| part.starts_with(['_', '.']))
        })
        .filter_map(|meta| {
            let url = format!("s3://{}/{}", bucket.bucket, meta.location);
            let (encoding, compression) = kind_from_name(&url)?;
            Some(Input {
                name: url.clone(),
                path: Some(
                    fetch_dir()
                        .join(&bucket.bucket)
                        .join(meta.location.as_ref()),
                ),
                encoding: Some(encoding),
                compression: Some(compression),
                unreadable: None,
                remote: Some(RemoteObject {
                    url,
                    bucket: bucket.clone(),
                    key: meta.location.clone(),
                    size: meta.size,
                    modified: meta.last_modified.into(),
                }),
            })
        })
        .collect();
    if inputs.is_empty() {
        return Err(Error::MissingInput(format!(
            "{arg}: no log objects there (expected *.csv, *.jsonl or *.ndjson, optionally .gz \
             or .zst)"
        )));
    }
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(inputs)
}

/// Where this process keeps the objects it fetched.
fn fetch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("double11-inputs-{}", std::process::id()))
}

/// The folder of this process's fetched copies; removed (with whatever is left in it) when
/// dropped.
#[derive(Debug)]
pub struct Fetched(Option<PathBuf>);

impl Drop for Fetched {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Fetched {
    /// The guard of the fetched copies of `inputs` (nothing when none is remote).
    pub fn guard(inputs: &[Input]) -> Fetched {
        Fetched(inputs.iter().any(|i| i.remote.is_some()).then(fetch_dir))
    }
}

/// Fetches every remote input of `inputs` to its local path now (for what must read them all
/// before the run, the column mapping's check).
pub fn fetch_all(inputs: &[Input]) -> Result<()> {
    for input in inputs {
        if let (Some(object), Some(path)) = (&input.remote, &input.path) {
            fetch_one(object, path)?;
        }
    }
    Ok(())
}

/// Deletes the fetched copy of `input`, once read (nothing for a local input).
pub fn forget(input: &Input) {
    if let (Some(_), Some(path)) = (&input.remote, &input.path) {
        let _ = std::fs::remove_file(path);
    }
}

/// Fetches `object` to the file `to`, unless it is there already (fetched in full: its size).
pub fn fetch_one(object: &RemoteObject, to: &Path) -> Result<()> {
    if std::fs::metadata(to).is_ok_and(|m| m.len() == object.size) {
        return Ok(());
    }
    let store = object.bucket.store()?;
    block_on(download(store, object, to))
}

/// Streams `object` to the file `to`, with the object's modification time.
async fn download(store: Arc<dyn ObjectStore>, object: &RemoteObject, to: &Path) -> Result<()> {
    let local = to.display().to_string();
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display().to_string(), e))?;
    }
    let mut file = std::fs::File::create(to).map_err(|e| Error::io(&local, e))?;
    let mut stream = store
        .get(&object.key)
        .await
        .map_err(|e| object.bucket.error(&e))?
        .into_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| object.bucket.error(&e))?;
        file.write_all(&chunk).map_err(|e| Error::io(&local, e))?;
        written += chunk.len() as u64;
    }
    if written != object.size {
        return Err(Error::Io {
            path: object.url.clone(),
            source: std::io::Error::other(format!(
                "read {written} bytes of {}: the object changed while it was read; run again",
                object.size
            )),
        });
    }
    file.set_modified(object.modified)
        .map_err(|e| Error::io(&local, e))?;
    Ok(())
}
