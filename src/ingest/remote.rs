//! Inputs in an S3 bucket: `double11 ingest s3://logs/2019-11-11/` (or a job's inbox path).
//!
//! An `s3://bucket/prefix` argument names every log object under the prefix (sorted by key,
//! names starting with `_` or `.` skipped as in a folder), or one object. Objects are listed
//! when the inputs are resolved, then each is fetched, streamed to a file under the system's
//! temporary folder (memory stays bounded whatever its size), with the object's modification
//! time; ingest reads those files as it reads local logs (checksums, resume offsets, the
//! settle window) and names them by their `s3://` URL everywhere: summaries, rejects, errors
//! and the warehouse's ledger, so a re-run recognises an object it has already ingested. The
//! fetched copies are deleted when the ingest ends. The bucket is reached with the same
//! `AWS_*` settings as an S3 warehouse.

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

/// The fetched copies of remote inputs; deleted when dropped.
#[derive(Debug)]
pub struct Fetched(Option<PathBuf>);

impl Drop for Fetched {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Fetches every remote input of `inputs` to its local path.
pub fn fetch(inputs: &[Input]) -> Result<Fetched> {
    let remote: Vec<&RemoteObject> = inputs.iter().filter_map(|i| i.remote.as_ref()).collect();
    if remote.is_empty() {
        return Ok(Fetched(None));
    }
    let fetched = Fetched(Some(fetch_dir()));
    let mut stores: Vec<(String, Arc<dyn ObjectStore>)> = Vec::new();
    for (object, input) in inputs
        .iter()
        .filter_map(|i| i.remote.as_ref().map(|r| (r, i)))
    {
        let store = match stores.iter().find(|(b, _)| *b == object.bucket.bucket) {
            Some((_, s)) => Arc::clone(s),
            None => {
                let s = object.bucket.store()?;
                stores.push((object.bucket.bucket.clone(), Arc::clone(&s)));
                s
            }
        };
        let path = input
            .path
            .clone()
            .ok_or_else(|| Error::Other(anyhow::anyhow!("{}: no local path", object.url)))?;
        block_on(download(store, object, &path))?;
    }
    Ok(fetched)
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
