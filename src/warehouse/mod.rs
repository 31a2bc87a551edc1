//! The warehouse: plain Parquet files in Hive-style folders, plus a manifest.
//!
//! ```text
//! warehouse/
//!   manifest.json                                  what is committed (written last)
//!   transactions/cst_date=2019-11-11/part-r000001-0000.parquet
//!   rejects/rejects-r000001-0000.parquet
//!   duplicates/duplicates-r000001-0000.parquet       re-deliveries that lost
//!   fx_rates/fx_rates-r000001.parquet
//!   per_second/cst_date=2019-11-11/per_second-r000001-0000.parquet   sums per second (reports)
//!   per_hour/cst_date=2019-11-11/per_hour-r000001-0000.parquet       sums per hour and category, … (reports)
//!   _staging/<run>/                                a run in progress; never read
//! ```
//! Every table is a plain Parquet listing table, so the same folders can be registered on a
//! DataFusion Ballista cluster unchanged.
//!
//! A warehouse is written on local disk; a copy of one in an S3 bucket
//! (`--warehouse s3://bucket/prefix`, see [`location`]) can be read by `sql`, `report` and
//! `export` through object_store's S3 client.

pub(crate) mod commit;
pub(crate) mod location;
pub(crate) mod manifest;
pub(crate) mod parquet_files;
pub(crate) mod rollups;
pub(crate) mod tables;
pub(crate) mod txn;
pub(crate) mod upgrade;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use location::{Location, S3Prefix};
use manifest::Manifest;
use object_store::ObjectStoreExt;

/// Where the warehouse lives when `--warehouse` is not given (clap applies it, and reads
/// [`WAREHOUSE_ENV`] first).
pub const DEFAULT_WAREHOUSE: &str = "./warehouse";
/// Environment variable that overrides the default location.
pub const WAREHOUSE_ENV: &str = "DOUBLE11_WAREHOUSE";

/// Held (as an OS file lock) by the one process writing to the warehouse. The OS releases it
/// when that process ends, however it ends, so a killed ingest never leaves a stale lock.
pub(crate) const LOCK_FILE: &str = "_writer.lock";
/// Where job runs keep their outputs by default (`double11 run`), beside the tables.
pub const RUNS_DIR: &str = "runs";

#[derive(Debug, Clone)]
pub struct Warehouse {
    root: PathBuf,
    /// For a warehouse read from S3: where it is and the bucket's client.
    remote: Option<Remote>,
    /// The writer lock, for a warehouse opened for writing.
    _lock: Option<std::sync::Arc<fs::File>>,
}

/// Takes the writer lock without waiting; `None` when another process holds it.
fn try_lock(root: &Path) -> Result<Option<fs::File>> {
    let path = root.join(LOCK_FILE);
    let name = path.display().to_string();
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&name, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(&name, e)),
    }
}

/// A warehouse in an S3 bucket, read through object_store's client.
#[derive(Clone)]
pub(crate) struct Remote {
    pub prefix: S3Prefix,
    pub store: std::sync::Arc<dyn object_store::ObjectStore>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.prefix.display())
    }
}

/// `root` as a local folder; an S3 URL is refused for writing, with what to do instead.
fn local(root: &Path) -> Result<&Path> {
    match Location::parse(root)? {
        Location::Local(_) => Ok(root),
        Location::S3(p) => Err(Error::Usage(format!(
            "{}: double11 writes a warehouse on local disk (S3 warehouses are read-only for \
             now): ingest into a local folder, copy it to the bucket (e.g. `aws s3 sync DIR {}`), \
             then read it with `--warehouse {}`",
            p.display(),
            p.display(),
            p.display()
        ))),
    }
}

impl Warehouse {
    /// Opens a warehouse for reading, wherever it is: a local folder ([`Self::open`]) or an
    /// S3 prefix, whose manifest is read through the bucket's client. An S3 copy must be of the
    /// current format (a local warehouse is upgraded when it is opened).
    pub async fn open_for_reading(given: &Path) -> Result<Self> {
        let prefix = match Location::parse(given)? {
            Location::Local(_) => return Self::open(given),
            Location::S3(prefix) => prefix,
        };
        let store = prefix.store()?;
        let place = prefix.display();
        let bytes = match store.get(&prefix.key(commit::MANIFEST_FILE)).await {
            Ok(found) => found.bytes().await.map_err(|e| prefix.error(&e))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::Usage(format!(
                    "{place}: no warehouse here (no manifest.json); copy a local warehouse there \
                     first (e.g. `aws s3 sync DIR {place}`)"
                )))
            }
            Err(e) => return Err(prefix.error(&e)),
        };
        let name = format!("{place}/{}", commit::MANIFEST_FILE);
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::Data(format!("{name}: not UTF-8 text")))?;
        let manifest = Manifest::parse(&text, &name)?;
        if manifest.format_version < manifest::FORMAT_VERSION {
            return Err(Error::Usage(format!(
                "{place}: a warehouse of an older double11 (format {}): open the local warehouse \
                 once with this double11 (e.g. `double11 sql --warehouse DIR -c 'SELECT 1'`) to \
                 upgrade it, then copy it again",
                manifest.format_version
            )));
        }
        Ok(Warehouse {
            root: given.to_path_buf(),
            remote: Some(Remote { prefix, store }),
            _lock: None,
        })
    }

    /// Opens an existing local warehouse for reading. A crashed run is finished or discarded
    /// first, so readers never see a half-committed state.
    pub fn open(root: &Path) -> Result<Self> {
        let root = local(root)?;
        if !root.join(commit::MANIFEST_FILE).exists() {
            return Err(Error::Usage(format!(
                "{}: no warehouse here (no manifest.json); run `double11 ingest <logs> --warehouse {}` first",
                root.display(),
                root.display()
            )));
        }
        let wh = Warehouse {
            root: root.to_path_buf(),
            remote: None,
            _lock: None,
        };
        // Finishing or discarding a crashed run needs the writer lock; when an ingest holds
        // it, `_staging/` is that ingest's work in progress and must be left alone.
        let current = match try_lock(root)? {
            Some(lock) => {
                commit::recover(root)?;
                let upgraded = upgrade::upgrade(root, wh.manifest()?)?;
                drop(lock);
                upgraded
            }
            None => wh.manifest()?,
        };
        if current.format_version < manifest::FORMAT_VERSION {
            return Err(Error::Busy(format!(
                "{}: an older warehouse that a running double11 ingest is upgrading; run again when it has finished",
                root.display()
            )));
        }
        Ok(wh)
    }

    /// Opens a warehouse for writing, creating it when the folder is new or empty; returns it
    /// with its manifest (read once, upgraded if it was older).
    pub fn open_or_create(root: &Path) -> Result<(Self, Manifest)> {
        let root = local(root)?;
        let name = root.display().to_string();
        fs::create_dir_all(root).map_err(|e| Error::io(&name, e))?;
        let lock = try_lock(root)?.ok_or_else(|| {
            Error::Busy(format!(
                "{name}: another double11 ingest is writing to this warehouse; run again when it has finished"
            ))
        })?;
        let wh = Warehouse {
            root: root.to_path_buf(),
            remote: None,
            _lock: Some(std::sync::Arc::new(lock)),
        };
        commit::recover(root)?;
        let manifest = if root.join(commit::MANIFEST_FILE).exists() {
            upgrade::upgrade(root, wh.manifest()?)?
        } else {
            let non_empty = fs::read_dir(root)
                .map_err(|e| Error::io(&name, e))?
                .filter_map(|e| e.ok())
                .any(|e| {
                    ![commit::STAGING_DIR, LOCK_FILE, RUNS_DIR]
                        .contains(&&*e.file_name().to_string_lossy())
                });
            if non_empty {
                return Err(Error::Usage(format!(
                    "{name}: this folder has files but no warehouse manifest; choose an empty folder for a new warehouse"
                )));
            }
            let manifest = Manifest::empty();
            let text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Other(e.into()))?;
            commit::write_atomic(&root.join(commit::MANIFEST_FILE), &text)?;
            manifest
        };
        for table in tables::ALL {
            let dir = root.join(table.name);
            fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        }
        Ok((wh, manifest))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn table_dir(&self, table: &str) -> PathBuf {
        self.root.join(table)
    }

    /// The S3 copy this warehouse is read from, if it is one.
    pub(crate) fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    pub fn manifest(&self) -> Result<Manifest> {
        let path = self.root.join(commit::MANIFEST_FILE);
        let name = path.display().to_string();
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&name, e))?;
        Manifest::parse(&text, &name)
    }
}
