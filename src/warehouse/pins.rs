//! Warehouse versions: what makes a run all or nothing across the warehouse's Delta tables.
//!
//! Delta commits are per table, and one run changes up to six tables. After its table commits,
//! a run writes the next warehouse version, `_double11/versions/<N, 20 digits>.json`: the
//! [`Manifest`] (every table's Delta version, its committed files, and the ingest ledger),
//! put only if absent (`PutMode::Create`: `If-None-Match: *` on S3, a hard link on local disk).
//! That put is the commit point. Readers open the latest version (or the one `--as-of`
//! names) and read each table at the Delta version it pins, so they see the warehouse as
//! before a run or as after it, never a table of a run without the others; table versions a
//! crash left beyond the pin are undone on the next writer's open. Versions are never
//! rewritten or deleted, and two writers cannot both commit version N.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use futures::TryStreamExt;

use crate::error::{Error, Result};
use crate::warehouse::location::S3Prefix;
use crate::warehouse::manifest::Manifest;

/// Where the warehouse versions live, under the warehouse root.
pub(crate) const VERSIONS_DIR: &str = "_double11/versions";

/// The warehouse versions of one warehouse, local or on S3.
#[derive(Clone)]
pub(crate) struct Pins {
    store: Arc<dyn ObjectStore>,
    /// The versions folder's key in `store`.
    dir: ObjectPath,
    /// How to name the warehouse in messages.
    place: String,
    /// A local warehouse's versions folder, for fsync.
    local_dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Pins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{VERSIONS_DIR}", self.place)
    }
}

impl Pins {
    /// The versions of the local warehouse at `root` (which exists).
    pub(crate) fn local(root: &std::path::Path) -> Result<Self> {
        let name = root.display().to_string();
        let abs = std::path::absolute(root).map_err(|e| Error::io(&name, e))?;
        let store = LocalFileSystem::new_with_prefix(&abs)
            .map_err(|e| Error::Other(anyhow::anyhow!("{name}: {e}")))?;
        Ok(Pins {
            store: Arc::new(store),
            dir: ObjectPath::from(VERSIONS_DIR),
            place: name,
            local_dir: Some(abs.join(VERSIONS_DIR)),
        })
    }

    /// The versions of the warehouse at the S3 prefix `prefix`, through `store`.
    pub(crate) fn remote(prefix: &S3Prefix, store: Arc<dyn ObjectStore>) -> Self {
        Pins {
            store,
            dir: prefix.key(VERSIONS_DIR),
            place: prefix.display(),
            local_dir: None,
        }
    }

    fn key(&self, version: u64) -> ObjectPath {
        self.dir
            .clone()
            .join(format!("{version:020}.json").as_str())
    }

    /// How a version file is named in messages.
    pub(crate) fn name(&self, version: u64) -> String {
        format!("{}/{VERSIONS_DIR}/{version:020}.json", self.place)
    }

    fn error(&self, e: &object_store::Error) -> Error {
        Error::Data(format!("{}/{VERSIONS_DIR}: {e}", self.place))
    }

    /// Every committed warehouse version, oldest first.
    pub(crate) async fn versions(&self) -> Result<Vec<u64>> {
        let listed: Vec<_> = match self.store.list(Some(&self.dir)).try_collect().await {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.error(&e)),
        };
        let mut versions: Vec<u64> = listed
            .iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?;
                let digits = name.strip_suffix(".json")?;
                (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| digits.parse().ok())
                    .flatten()
            })
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// The latest committed version, if any.
    pub(crate) async fn latest(&self) -> Result<Option<u64>> {
        Ok(self.versions().await?.last().copied())
    }

    /// Warehouse version `version`.
    pub(crate) async fn read(&self, version: u64) -> Result<Manifest> {
        let name = self.name(version);
        let bytes = match self.store.get(&self.key(version)).await {
            Ok(found) => found.bytes().await.map_err(|e| self.error(&e))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::Usage(format!(
                    "{}: there is no warehouse version {version}; `double11 history` lists them",
                    self.place
                )))
            }
            Err(e) => return Err(self.error(&e)),
        };
        let text =
            std::str::from_utf8(&bytes).map_err(|_| Error::Data(format!("{name}: not UTF-8")))?;
        let manifest = Manifest::parse(text, &name)?;
        if manifest.version != version {
            return Err(Error::Data(format!(
                "{name}: says it is version {}; restore the warehouse from a copy",
                manifest.version
            )));
        }
        Ok(manifest)
    }

    /// Commits `manifest` as warehouse version `manifest.version`, if no writer committed that
    /// version first (then: [`Error::Busy`], and nothing is written).
    pub(crate) async fn put(&self, manifest: &Manifest) -> Result<()> {
        let version = manifest.version;
        let text = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Other(e.into()))?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.key(version), PutPayload::from(text), options)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(Error::Busy(format!(
                    "{}: another double11 committed warehouse version {version} first; run again",
                    self.place
                )))
            }
            Err(e) => return Err(self.error(&e)),
        }
        // object_store's local put does not sync: make the commit point durable.
        if let Some(dir) = &self.local_dir {
            if let Ok(file) = std::fs::File::open(dir.join(format!("{version:020}.json"))) {
                let _ = file.sync_all();
            }
            crate::warehouse::commit::sync_dir(dir);
        }
        Ok(())
    }
}
