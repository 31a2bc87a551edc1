//! Where a writer puts the warehouse's files: a folder on this machine or an S3 prefix, behind
//! one set of operations, so that ingest, `optimize`, `vacuum` and recovery are the same code
//! for both.
//!
//! A writer stages each new file on local disk (under the warehouse's `_staging/<run>/` for a
//! local warehouse; under the system's temporary folder, `$TMPDIR`, for an S3 one) and
//! [`Storage::publish`]es it into its table folder when the run commits: a rename on local
//! disk, an upload to S3 (multipart for big files), where an object appears whole or not at
//! all. While a run is open, `_staging/<run>` exists in the warehouse (a folder locally, an
//! empty marker object on S3): the sign the next writer looks for to undo an interrupted run
//! (see [`recover`](crate::warehouse::recover)). Listing a table's files, deleting one and
//! reading a committed one also go through here.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use url::Url;

use crate::error::{Error, Result};
use crate::warehouse::commit::{sync_dir, STAGING_DIR};
use crate::warehouse::delta;
use crate::warehouse::location::S3Prefix;
use crate::warehouse::pins::Pins;
use crate::warehouse::tables::Table;
use crate::warehouse::Remote;

/// Files up to this size are uploaded with one PUT; bigger ones in parts of this size.
const PART_BYTES: usize = 16 * 1024 * 1024;
/// Parts of one file uploaded at once.
const PARTS_IN_FLIGHT: usize = 2;
/// Files uploaded at once (with the parts, at most 8 x 2 x 16 MiB in memory).
const FILES_IN_FLIGHT: usize = 8;

/// A warehouse's files, for a writer.
#[derive(Clone, Debug)]
pub(crate) enum Storage {
    /// A folder on this machine.
    Local(PathBuf),
    /// A prefix of an S3 bucket.
    S3(Remote),
}

/// A committed file to read: a local path, or an object of the bucket.
pub(crate) enum Source {
    Local(PathBuf),
    S3 {
        store: Arc<dyn ObjectStore>,
        /// Its URL, `s3://bucket/key`.
        name: String,
    },
}

impl Source {
    /// How to name the file in messages.
    pub(crate) fn name(&self) -> String {
        match self {
            Source::Local(path) => path.display().to_string(),
            Source::S3 { name, .. } => name.clone(),
        }
    }
}

impl Storage {
    /// How to name the warehouse in messages.
    pub(crate) fn place(&self) -> String {
        match self {
            Storage::Local(root) => root.display().to_string(),
            Storage::S3(remote) => remote.prefix.display(),
        }
    }

    /// The URL of `table`'s Delta table.
    pub(crate) fn table_url(&self, table: &Table) -> Result<Url> {
        match self {
            Storage::Local(root) => delta::table_url(root, table),
            Storage::S3(remote) => {
                let url = remote.prefix.url_of(&format!("{}/", table.name));
                Url::parse(&url).map_err(|e| Error::Usage(format!("{url}: {e}")))
            }
        }
    }

    /// The file `rel` (relative to the warehouse) as a URL or absolute path that DataFusion
    /// reads (the bucket's store registered, see [`Self::register`]).
    pub(crate) fn file_url(&self, rel: &str) -> Result<String> {
        match self {
            Storage::Local(root) => {
                let path = root.join(rel);
                std::path::absolute(&path)
                    .map(|p| p.display().to_string())
                    .map_err(|e| Error::io(path.display().to_string(), e))
            }
            Storage::S3(remote) => Ok(remote.prefix.url_of(rel)),
        }
    }

    /// Lets `ctx` read the warehouse's files by [`Self::file_url`].
    pub(crate) fn register(&self, ctx: &datafusion::prelude::SessionContext) -> Result<()> {
        if let Storage::S3(remote) = self {
            let url = Url::parse(&remote.prefix.bucket_url())
                .map_err(|e| Error::Usage(format!("{}: {e}", remote.prefix.display())))?;
            ctx.register_object_store(&url, Arc::clone(&remote.store));
        }
        Ok(())
    }

    /// The warehouse versions.
    pub(crate) fn pins(&self) -> Result<Pins> {
        match self {
            Storage::Local(root) => Pins::local(root),
            Storage::S3(remote) => Ok(Pins::remote(&remote.prefix, Arc::clone(&remote.store))),
        }
    }

    /// Where the run `run` stages its files on this machine.
    pub(crate) fn staging_dir(&self, run: &str) -> PathBuf {
        match self {
            Storage::Local(root) => root.join(STAGING_DIR).join(run),
            Storage::S3(remote) => {
                let place: String = format!("{}-{}", remote.prefix.bucket, remote.prefix.prefix)
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                std::env::temp_dir()
                    .join("double11-staging")
                    .join(place)
                    .join(run)
            }
        }
    }

    /// Opens the run `run`: an empty local staging folder, and (on S3) the marker saying that a
    /// run is open.
    pub(crate) fn begin(&self, run: &str) -> Result<PathBuf> {
        let dir = self.staging_dir(run);
        if let Storage::S3(_) = self {
            // What a killed run left on this machine is of no use: its uploads start again.
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        if let Storage::S3(remote) = self {
            let key = remote.prefix.key(&format!("{STAGING_DIR}/{run}"));
            let store = Arc::clone(&remote.store);
            delta::block_on(async move {
                store
                    .put(&key, PutPayload::new())
                    .await
                    .map(|_| ())
                    .map_err(|e| remote.prefix.error(&e))
            })?;
        }
        Ok(dir)
    }

    /// Closes the run `run`: its local staging folder and its marker are removed (locally, so
    /// is `_staging/` once no run is left in it).
    pub(crate) fn end(&self, run: &str) {
        let _ = std::fs::remove_dir_all(self.staging_dir(run));
        match self {
            Storage::Local(root) => {
                let _ = std::fs::remove_dir(root.join(STAGING_DIR));
            }
            Storage::S3(remote) => {
                let key = remote.prefix.key(&format!("{STAGING_DIR}/{run}"));
                let store = Arc::clone(&remote.store);
                let _ = delta::block_on(async move {
                    store.delete(&key).await.map_err(|e| Error::Other(e.into()))
                });
            }
        }
    }

    /// Whether a run was left open (interrupted) in the warehouse.
    pub(crate) fn interrupted(&self) -> Result<bool> {
        match self {
            Storage::Local(root) => Ok(root.join(STAGING_DIR).exists()),
            Storage::S3(_) => Ok(!self.list(STAGING_DIR)?.is_empty()),
        }
    }

    /// Removes every open run's staging (after recovery).
    pub(crate) fn clear_staging(&self) -> Result<()> {
        match self {
            Storage::Local(root) => {
                let staging = root.join(STAGING_DIR);
                match std::fs::remove_dir_all(&staging) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::io(staging.display().to_string(), e)),
                }
            }
            Storage::S3(_) => {
                for rel in self.list(STAGING_DIR)? {
                    self.delete(&rel)?;
                }
                Ok(())
            }
        }
    }

    /// Publishes every staged file of a commit (`(staged, rel)`): renamed into place in order
    /// on local disk; on S3, uploaded [`FILES_IN_FLIGHT`] at a time (a commit is bound by round
    /// trips, not bytes). Crash point `move:i` before the i-th.
    pub(crate) fn publish_all(&self, moves: &[(PathBuf, String)]) -> Result<()> {
        use futures::StreamExt;
        let remote = match self {
            Storage::Local(root) => {
                for (i, (from, rel)) in moves.iter().enumerate() {
                    crate::faults::point("move", i);
                    let to = root.join(rel);
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| Error::io(parent.display().to_string(), e))?;
                    }
                    std::fs::rename(from, &to)
                        .map_err(|e| Error::io(to.display().to_string(), e))?;
                }
                return Ok(());
            }
            Storage::S3(remote) => remote,
        };
        let uploads: Vec<_> = moves
            .iter()
            .enumerate()
            .map(|(i, (from, to))| {
                let store = Arc::clone(&remote.store);
                let (key, name) = (remote.prefix.key(to), remote.prefix.url_of(to));
                let (prefix, from) = (remote.prefix.clone(), from.clone());
                async move {
                    crate::faults::point("move", i);
                    upload(store, key, &from, &prefix, &name).await
                }
            })
            .collect();
        delta::block_on(async move {
            futures::stream::iter(uploads)
                .buffer_unordered(FILES_IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await
                .map(|_| ())
        })
    }

    /// Makes the published files durable (local renames; S3 uploads are once they return).
    pub(crate) fn settle(&self) {
        if let Storage::Local(root) = self {
            sync_dir(root);
        }
    }

    /// The files under `rel` (a folder of the warehouse), relative to the warehouse.
    pub(crate) fn list(&self, rel: &str) -> Result<Vec<String>> {
        match self {
            Storage::Local(root) => {
                let dir = root.join(rel);
                if !dir.exists() {
                    return Ok(Vec::new());
                }
                let mut out = Vec::new();
                for entry in walkdir::WalkDir::new(&dir) {
                    let entry =
                        entry.map_err(|e| Error::Data(format!("{}: {e}", dir.display())))?;
                    if !entry.file_type().is_file() {
                        continue;
                    }
                    if let Ok(path) = entry.path().strip_prefix(root) {
                        out.push(path.to_string_lossy().replace('\\', "/"));
                    }
                }
                Ok(out)
            }
            Storage::S3(remote) => {
                let store = Arc::clone(&remote.store);
                let key = remote.prefix.key(rel);
                let base = remote.prefix.key("");
                let listed = delta::block_on(async move {
                    store
                        .list(Some(&key))
                        .try_collect::<Vec<_>>()
                        .await
                        .map_err(|e| remote.prefix.error(&e))
                })?;
                Ok(listed
                    .into_iter()
                    .filter_map(|meta| {
                        let full = meta.location.as_ref();
                        let rel = if base.as_ref().is_empty() {
                            full
                        } else {
                            full.strip_prefix(base.as_ref())?.strip_prefix('/')?
                        };
                        Some(rel.to_string())
                    })
                    .collect())
            }
        }
    }

    /// The data files in `table`'s folders (not its Delta log), relative to the warehouse.
    pub(crate) fn table_files(&self, table: &Table) -> Result<Vec<String>> {
        let log = format!("{}/_delta_log/", table.name);
        Ok(self
            .list(table.name)?
            .into_iter()
            .filter(|rel| !rel.starts_with(&log))
            .collect())
    }

    /// Deletes the file `rel`; one already gone is no error.
    pub(crate) fn delete(&self, rel: &str) -> Result<()> {
        match self {
            Storage::Local(root) => {
                let path = root.join(rel);
                match std::fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::io(path.display().to_string(), e)),
                }
            }
            Storage::S3(remote) => {
                let key = remote.prefix.key(rel);
                let store = Arc::clone(&remote.store);
                delta::block_on(async move {
                    match store.delete(&key).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(remote.prefix.error(&e)),
                    }
                })
            }
        }
    }

    /// Deletes everything under the folder `rel`.
    pub(crate) fn delete_all(&self, rel: &str) -> Result<()> {
        match self {
            Storage::Local(root) => {
                let dir = root.join(rel);
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::io(dir.display().to_string(), e)),
                }
            }
            Storage::S3(_) => {
                for file in self.list(rel)? {
                    self.delete(&file)?;
                }
                Ok(())
            }
        }
    }

    /// Whether the file `rel` exists.
    pub(crate) fn exists(&self, rel: &str) -> Result<bool> {
        match self {
            Storage::Local(root) => Ok(root.join(rel).exists()),
            Storage::S3(remote) => {
                let key = remote.prefix.key(rel);
                let store = Arc::clone(&remote.store);
                delta::block_on(async move {
                    match store.head(&key).await {
                        Ok(_) => Ok(true),
                        Err(object_store::Error::NotFound { .. }) => Ok(false),
                        Err(e) => Err(remote.prefix.error(&e)),
                    }
                })
            }
        }
    }

    /// The committed file `rel`, to read.
    pub(crate) fn source(&self, rel: &str) -> Source {
        match self {
            Storage::Local(root) => Source::Local(root.join(rel)),
            Storage::S3(remote) => Source::S3 {
                store: Arc::clone(&remote.store),
                name: remote.prefix.url_of(rel),
            },
        }
    }
}

/// Uploads the local file `from` as `key`: one PUT when small, else a multipart upload that
/// only becomes visible when complete (and is aborted on failure).
async fn upload(
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    from: &Path,
    prefix: &S3Prefix,
    name: &str,
) -> Result<()> {
    let local = from.display().to_string();
    let mut file = std::fs::File::open(from).map_err(|e| Error::io(&local, e))?;
    let size = file.metadata().map_err(|e| Error::io(&local, e))?.len();
    if size <= PART_BYTES as u64 {
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(&local, e))?;
        return store
            .put(&key, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| upload_error(prefix, name, &e));
    }
    let upload = store
        .put_multipart(&key)
        .await
        .map_err(|e| upload_error(prefix, name, &e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut buf = vec![0u8; PART_BYTES];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(Error::io(&local, e));
            }
        };
        if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
            return Err(upload_error(prefix, name, &e));
        }
        writer.write(&buf[..n]);
    }
    writer
        .finish()
        .await
        .map(|_| ())
        .map_err(|e| upload_error(prefix, name, &e))
}

fn upload_error(prefix: &S3Prefix, name: &str, e: &object_store::Error) -> Error {
    match prefix.error(e) {
        Error::Io { source, .. } => Error::Io {
            path: name.to_string(),
            source,
        },
        other => other,
    }
}
