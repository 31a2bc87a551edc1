//! The warehouse as one version of it: an object store view in which each table folder holds
//! only the files that version commits.
//!
//! A table folder also holds files no version of the query pins: those a later version
//! removed or replaced (kept for time travel until `double11 vacuum`), those of a run still
//! committing, those a crash left, and the Delta log. The tables stay plain DataFusion listing
//! tables (partition pruning, the declared file order, statistics, and plans a Ballista
//! cluster can run), registered over this view of the real store instead of the store itself.
//! Everything outside the table folders (exports, job outputs) passes through unchanged.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Which files are visible.
#[derive(Debug)]
struct Pinned {
    /// The table folders' keys.
    tables: Vec<Path>,
    /// The keys of the committed files.
    files: BTreeSet<String>,
}

impl Pinned {
    fn in_a_table(&self, key: &Path) -> bool {
        self.tables.iter().any(|t| key.prefix_matches(t))
    }

    fn shows_file(&self, key: &Path) -> bool {
        !self.in_a_table(key) || self.files.contains(key.as_ref())
    }

    /// A folder is shown when it is outside the tables, or holds a committed file.
    fn shows_folder(&self, key: &Path) -> bool {
        if !self.in_a_table(key) {
            return true;
        }
        let folder = format!("{}/", key.as_ref());
        self.files
            .range(folder.clone()..)
            .next()
            .is_some_and(|f| f.starts_with(&folder))
    }
}

/// `inner`, with each table folder showing only its committed files.
#[derive(Debug)]
pub(crate) struct PinnedStore {
    inner: Arc<dyn ObjectStore>,
    pinned: Arc<Pinned>,
}

impl PinnedStore {
    /// A view of `inner` where the folders `tables` show only `files` (keys in `inner`).
    pub(crate) fn new(
        inner: Arc<dyn ObjectStore>,
        tables: Vec<Path>,
        files: impl IntoIterator<Item = Path>,
    ) -> Self {
        let files = files.into_iter().map(|p| p.as_ref().to_string()).collect();
        PinnedStore {
            inner,
            pinned: Arc::new(Pinned { tables, files }),
        }
    }
}

impl fmt::Display for PinnedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for PinnedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let pinned = Arc::clone(&self.pinned);
        self.inner
            .list(prefix)
            .filter(move |meta| {
                let keep = match meta {
                    Ok(meta) => pinned.shows_file(&meta.location),
                    Err(_) => true,
                };
                futures::future::ready(keep)
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed
            .objects
            .retain(|meta| self.pinned.shows_file(&meta.location));
        listed
            .common_prefixes
            .retain(|folder| self.pinned.shows_folder(folder));
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn a_table_folder_shows_only_its_committed_files() {
        let inner = Arc::new(InMemory::new());
        for key in [
            "wh/t/cst_date=2019-11-11/a.parquet",
            "wh/t/cst_date=2019-11-11/removed.parquet",
            "wh/t/cst_date=2019-11-12/orphan.parquet",
            "wh/t/_delta_log/00000000000000000000.json",
            "wh/t-other/x.parquet",
            "wh/exports/e.csv",
        ] {
            inner
                .put(&Path::from(key), PutPayload::from("x"))
                .await
                .unwrap();
        }
        let view = PinnedStore::new(
            inner,
            vec![Path::from("wh/t")],
            [Path::from("wh/t/cst_date=2019-11-11/a.parquet")],
        );
        let mut all: Vec<String> = view
            .list(Some(&Path::from("wh")))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        all.sort();
        assert_eq!(
            all,
            [
                "wh/exports/e.csv",
                "wh/t-other/x.parquet",
                "wh/t/cst_date=2019-11-11/a.parquet"
            ]
        );
        let folders = view
            .list_with_delimiter(Some(&Path::from("wh/t")))
            .await
            .unwrap();
        let names: Vec<String> = folders
            .common_prefixes
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(names, ["wh/t/cst_date=2019-11-11"]);
    }
}
