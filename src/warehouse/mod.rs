//! The warehouse: Delta Lake tables of Parquet files in Hive-style folders, and warehouse
//! versions that pin them.
//!
//! ```text
//! warehouse/
//!   _double11/versions/00000000000000000007.json    warehouse version 7: each table's Delta
//!                                                    version, its files, the ingest ledger
//!   transactions/_delta_log/…                        each table is a Delta Lake table
//!   transactions/cst_date=2019-11-11/part-r000001-0000.parquet
//!   rejects/rejects-r000001-0000.parquet
//!   duplicates/duplicates-r000001-0000.parquet       re-deliveries that lost
//!   fx_rates/fx_rates-r000001.parquet
//!   per_second/cst_date=2019-11-11/per_second-r000001-0000.parquet   sums per second (reports)
//!   per_hour/cst_date=2019-11-11/per_hour-r000001-0000.parquet       sums per hour and category, … (reports)
//!   manifest.json                                    tells an older double11 this is format 4
//!   _staging/<run>/                                  a run in progress; never read
//! ```
//! A reader opens one warehouse version (the latest, or `--as-of N`) and reads each table's
//! files at the Delta version it pins (see [`pins`] and `sql::pinned_store`), so it sees every
//! run whole or not at all. Any Delta Lake reader can read the tables too.
//!
//! A warehouse lives on local disk or in an S3 bucket (`--warehouse s3://bucket/prefix`, see
//! [`location`]), reached through object_store's S3 client; every command reads and writes
//! both the same way (see [`storage`]). A writer holds the OS lock `_writer.lock` on local
//! disk, the lease `_double11/writer.lease` on S3 (see [`lease`]).

pub(crate) mod coded_text;
pub(crate) mod commit;
pub(crate) mod delta;
pub(crate) mod direct_file;
pub mod history;
pub(crate) mod lease;
pub(crate) mod location;
pub(crate) mod manifest;
pub mod optimize;
pub(crate) mod parquet_files;
pub(crate) mod pins;
pub(crate) mod recover;
pub(crate) mod rollups;
pub(crate) mod storage;
pub(crate) mod tables;
pub(crate) mod txn;
pub(crate) mod upgrade;
pub mod vacuum;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use location::{Location, S3Prefix};
use manifest::Manifest;
use object_store::ObjectStoreExt;
use pins::Pins;
use storage::Storage;

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
    _lock: Option<std::sync::Arc<WriterLock>>,
    /// The warehouse version this handle reads (or the one a writer started from).
    pinned: Manifest,
}

/// What keeps a second writer out: an OS file lock (local), a lease (S3).
#[derive(Debug)]
enum WriterLock {
    File(#[allow(dead_code)] fs::File),
    Lease(#[allow(dead_code)] lease::Lease),
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

/// `root` as a local folder (an S3 URL is read with [`Warehouse::open_for_reading`]).
fn local(root: &Path) -> Result<&Path> {
    match Location::parse(root)? {
        Location::Local(_) => Ok(root),
        Location::S3(p) => Err(Error::Usage(format!(
            "{}: this command reads a local warehouse only",
            p.display()
        ))),
    }
}

impl Warehouse {
    /// Opens a warehouse for reading, wherever it is: a local folder ([`Self::open_at`]) or an
    /// S3 prefix, whose versions are read through the bucket's client. Reads the latest
    /// warehouse version, or `as_of`. An S3 copy must be of the current format (a local
    /// warehouse is upgraded when it is opened).
    pub async fn open_for_reading(given: &Path, as_of: Option<u64>) -> Result<Self> {
        let prefix = match Location::parse(given)? {
            Location::Local(_) => return Self::open_at(given, as_of),
            Location::S3(prefix) => prefix,
        };
        let store = prefix.store()?;
        let pins = Pins::remote(&prefix, std::sync::Arc::clone(&store));
        let version = match as_of {
            Some(v) => v,
            None => match s3_latest(&prefix, &store, &pins).await? {
                Some(v) => v,
                None => return Err(Self::no_s3_versions(&prefix, &store).await),
            },
        };
        let pinned = pins.read(version).await?;
        if as_of.is_some() {
            for f in &pinned.files {
                match store.head(&prefix.key(&f.path)).await {
                    Ok(_) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        return Err(vacuumed(&prefix.display(), &pinned, &f.path))
                    }
                    Err(e) => return Err(prefix.error(&e)),
                }
            }
        }
        Ok(Warehouse {
            root: given.to_path_buf(),
            remote: Some(Remote { prefix, store }),
            _lock: None,
            pinned,
        })
    }

    /// Whether a warehouse (of any format) is at `given`, a folder or an S3 prefix.
    pub async fn exists(given: &Path) -> Result<bool> {
        match Location::parse(given)? {
            Location::Local(_) => Ok(must_exist(given).is_ok()),
            Location::S3(prefix) => {
                let store = prefix.store()?;
                let pins = Pins::remote(&prefix, std::sync::Arc::clone(&store));
                Ok(s3_latest(&prefix, &store, &pins).await?.is_some())
            }
        }
    }

    /// Why an S3 prefix without warehouse versions cannot be read.
    async fn no_s3_versions(
        prefix: &S3Prefix,
        store: &std::sync::Arc<dyn object_store::ObjectStore>,
    ) -> Error {
        let place = prefix.display();
        match store.head(&prefix.key(commit::MANIFEST_FILE)).await {
            Ok(_) => Error::Usage(format!(
                "{place}: a warehouse of an older double11: open the local warehouse once with \
                 this double11 (e.g. `double11 sql --warehouse DIR -c 'SELECT 1'`) to upgrade \
                 it, then copy it again"
            )),
            Err(object_store::Error::NotFound { .. }) => Error::Usage(format!(
                "{place}: no warehouse here (no {}); run `double11 ingest <logs> --warehouse \
                 {place}` first",
                pins::VERSIONS_DIR
            )),
            Err(e) => prefix.error(&e),
        }
    }

    /// Opens an existing local warehouse for reading, at its latest version. A crashed run is
    /// undone first, and an older warehouse upgraded, when no ingest is writing.
    pub fn open(root: &Path) -> Result<Self> {
        Self::open_at(root, None)
    }

    /// Opens an existing local warehouse for reading, at version `as_of` (or the latest).
    pub fn open_at(root: &Path, as_of: Option<u64>) -> Result<Self> {
        let root = local(root)?;
        must_exist(root)?;
        let pins = Pins::local(root)?;
        // Undoing a crashed run or upgrading needs the writer lock; when an ingest holds it,
        // its staged files and table versions are work in progress and must be left alone.
        let latest = match try_lock(root)? {
            Some(lock) => {
                let latest = prepare(&Storage::Local(root.to_path_buf()), &pins)?;
                drop(lock);
                Some(latest)
            }
            None => None,
        };
        let pinned = match (as_of, latest) {
            (None, Some(latest)) => latest,
            (Some(v), Some(latest)) if v == latest.version => latest,
            (wanted, _) => {
                let version = match wanted {
                    Some(v) => v,
                    None => delta::block_on(pins.latest())?.ok_or_else(|| {
                        Error::Busy(format!(
                            "{}: an older warehouse that a running double11 ingest is upgrading; \
                             run again when it has finished",
                            root.display()
                        ))
                    })?,
                };
                delta::block_on(pins.read(version))?
            }
        };
        if as_of.is_some() {
            if let Some(gone) = pinned.files.iter().find(|f| !root.join(&f.path).exists()) {
                return Err(vacuumed(&root.display().to_string(), &pinned, &gone.path));
            }
        }
        Ok(Warehouse {
            root: root.to_path_buf(),
            remote: None,
            _lock: None,
            pinned,
        })
    }

    /// Opens an existing warehouse for writing (`optimize`, `vacuum`); returns it with its
    /// latest version.
    pub fn open_existing_for_writing(root: &Path) -> Result<(Self, Manifest)> {
        match Location::parse(root)? {
            Location::Local(_) => {
                must_exist(root)?;
                Self::open_or_create(root)
            }
            Location::S3(prefix) => Self::open_s3_for_writing(root, prefix, false),
        }
    }

    /// Opens a warehouse for writing, creating it when the folder (or S3 prefix) is new or
    /// empty; returns it with its latest version (upgraded if it was older).
    pub fn open_or_create(root: &Path) -> Result<(Self, Manifest)> {
        if let Location::S3(prefix) = Location::parse(root)? {
            return Self::open_s3_for_writing(root, prefix, true);
        }
        let name = root.display().to_string();
        fs::create_dir_all(root).map_err(|e| Error::io(&name, e))?;
        let lock = try_lock(root)?.ok_or_else(|| {
            Error::Busy(format!(
                "{name}: another double11 ingest is writing to this warehouse; run again when it has finished"
            ))
        })?;
        let pins = Pins::local(root)?;
        let manifest = if root.join(pins::VERSIONS_DIR).exists()
            || root.join(commit::MANIFEST_FILE).exists()
        {
            prepare(&Storage::Local(root.to_path_buf()), &pins)?
        } else {
            let ours = |n: &str| {
                [commit::STAGING_DIR, LOCK_FILE, RUNS_DIR, "_double11"].contains(&n)
                    || tables::ALL.iter().any(|t| t.name == n)
            };
            let non_empty = fs::read_dir(root)
                .map_err(|e| Error::io(&name, e))?
                .filter_map(|e| e.ok())
                .any(|e| !ours(&e.file_name().to_string_lossy()));
            if non_empty {
                return Err(Error::Usage(format!(
                    "{name}: this folder has files but no warehouse; choose an empty folder for a new warehouse"
                )));
            }
            upgrade::create(&Storage::Local(root.to_path_buf()), &pins)?
        };
        let wh = Warehouse {
            root: root.to_path_buf(),
            remote: None,
            _lock: Some(std::sync::Arc::new(WriterLock::File(lock))),
            pinned: manifest.clone(),
        };
        Ok((wh, manifest))
    }

    /// Opens the warehouse at the S3 prefix `prefix` for writing, under its lease; creates it
    /// when `create` and the prefix is empty.
    fn open_s3_for_writing(
        given: &Path,
        prefix: S3Prefix,
        create: bool,
    ) -> Result<(Self, Manifest)> {
        let store = prefix.store()?;
        let remote = Remote {
            prefix: prefix.clone(),
            store: std::sync::Arc::clone(&store),
        };
        let storage = Storage::S3(remote.clone());
        let pins = storage.pins()?;
        let place = prefix.display();
        let latest = {
            let (prefix, store, pins) = (&prefix, &store, &pins);
            delta::block_on(async move { s3_latest(prefix, store, pins).await })?
        };
        if latest.is_none() {
            let (prefix, store) = (&prefix, &store);
            if !create {
                return Err(delta::block_on(async move {
                    Ok(Self::no_s3_versions(prefix, store).await)
                })?);
            }
            if storage.exists(commit::MANIFEST_FILE)? {
                return Err(delta::block_on(async move {
                    Ok(Self::no_s3_versions(prefix, store).await)
                })?);
            }
            let ours = |rel: &str| {
                let top = rel.split('/').next().unwrap_or(rel);
                [commit::STAGING_DIR, RUNS_DIR, "_double11"].contains(&top)
                    || tables::ALL.iter().any(|t| t.name == top)
            };
            if storage.list("")?.iter().any(|rel| !ours(rel)) {
                return Err(Error::Usage(format!(
                    "{place}: this prefix has objects but no warehouse; choose an empty prefix \
                     for a new warehouse"
                )));
            }
        }
        let lease = lease::Lease::take(&prefix, std::sync::Arc::clone(&store))?;
        // Read again under the lease: another writer may have committed meanwhile.
        let manifest = prepare(&storage, &pins)?;
        let wh = Warehouse {
            root: given.to_path_buf(),
            remote: Some(remote),
            _lock: Some(std::sync::Arc::new(WriterLock::Lease(lease))),
            pinned: manifest.clone(),
        };
        Ok((wh, manifest))
    }

    /// The warehouse's files, for a writer.
    pub(crate) fn storage(&self) -> Storage {
        match &self.remote {
            Some(remote) => Storage::S3(remote.clone()),
            None => Storage::Local(self.root.clone()),
        }
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

    /// The warehouse version this handle reads.
    pub fn manifest(&self) -> Result<Manifest> {
        Ok(self.pinned.clone())
    }

    /// The warehouse versions of this warehouse.
    pub(crate) fn pins(&self) -> Result<Pins> {
        match &self.remote {
            Some(remote) => Ok(Pins::remote(
                &remote.prefix,
                std::sync::Arc::clone(&remote.store),
            )),
            None => Pins::local(&self.root),
        }
    }

    /// The warehouse version this handle reads, by reference.
    pub(crate) fn pinned(&self) -> &Manifest {
        &self.pinned
    }
}

/// Why warehouse version `pinned` of `place` cannot be read: its file `gone` was vacuumed.
fn vacuumed(place: &str, pinned: &Manifest, gone: &str) -> Error {
    Error::Usage(format!(
        "{place}: warehouse version {} can no longer be read: its file {gone} was deleted by \
         `double11 vacuum` (`double11 history` lists the versions); read a later one",
        pinned.version
    ))
}

/// Whether `root` holds a warehouse (of any format): a usage error saying what to do if not.
fn must_exist(root: &Path) -> Result<()> {
    if root.join(pins::VERSIONS_DIR).exists() || root.join(commit::MANIFEST_FILE).exists() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{}: no warehouse here; run `double11 ingest <logs> --warehouse {}` first",
        root.display(),
        root.display()
    )))
}

/// Brings the warehouse to a readable latest version (the writer lock held): undoes a crashed
/// run, or converts an older (local) warehouse; returns that version.
fn prepare(storage: &Storage, pins: &Pins) -> Result<Manifest> {
    match delta::block_on(pins.latest())? {
        Some(v) => {
            let latest = delta::block_on(pins.read(v))?;
            recover::recover(storage, pins, latest)
        }
        None => match storage {
            Storage::Local(root) if root.join(commit::MANIFEST_FILE).exists() => {
                upgrade::upgrade(root, pins)
            }
            _ => upgrade::create(storage, pins),
        },
    }
}

/// The latest warehouse version at an S3 prefix; when it cannot be listed, why (credentials,
/// bucket) in S3's words.
async fn s3_latest(
    prefix: &S3Prefix,
    store: &std::sync::Arc<dyn object_store::ObjectStore>,
    pins: &Pins,
) -> Result<Option<u64>> {
    match pins.latest().await {
        Ok(latest) => Ok(latest),
        Err(_) => {
            let probe = store.head(&prefix.key(commit::MANIFEST_FILE)).await;
            Err(match probe {
                Err(e) if !matches!(e, object_store::Error::NotFound { .. }) => prefix.error(&e),
                _ => Error::Data(format!(
                    "{}: cannot list its warehouse versions",
                    prefix.display()
                )),
            })
        }
    }
}
