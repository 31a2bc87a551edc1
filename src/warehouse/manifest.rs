//! The manifest: what one version of the warehouse holds and how it got there.
//!
//! A manifest pins each table's Delta Lake version and lists every committed data file and
//! every ingest run with its inputs (path, size, checksum, counts: the ledger that keeps
//! ingest exactly once). Each warehouse version is one manifest, written last in a commit, put
//! only if absent (see [`pins`](crate::warehouse::pins)), so it always describes a complete
//! warehouse. Before format 4 the one manifest was `manifest.json`, rewritten by rename; it
//! now only tells an older double11 that the warehouse is newer than it. A manifest from a
//! newer double11 is refused, not guessed at.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Identifies a double11 warehouse manifest.
pub const FORMAT: &str = "double11-warehouse";
/// Bumped when the layout or schema changes incompatibly. 2: the `per_second` table; 3: the
/// `per_hour` table; 4: Delta Lake tables and warehouse versions (an older warehouse is
/// upgraded in place by [`crate::warehouse::upgrade`]).
pub const FORMAT_VERSION: u32 = 4;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The double11 version that wrote this manifest.
    pub written_by: String,
    /// The warehouse version (format 4): 1, 2, … in commit order.
    #[serde(default)]
    pub version: u64,
    /// What made this version: `create`, `upgrade`, `ingest`, `recover`, `optimize`, `vacuum`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation: String,
    /// When it was committed (UTC, RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub committed_at: String,
    /// The Delta version of each table in this warehouse version.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tables: std::collections::BTreeMap<String, u64>,
    /// Sequence number of the next run; run ids are `r000001`, `r000002`, …
    pub next_run: u64,
    pub files: Vec<DataFile>,
    pub runs: Vec<RunRecord>,
}

/// One Parquet file of a table, relative to the warehouse root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataFile {
    pub table: String,
    pub path: String,
    /// CST day of the rows (for `transactions`), `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cst_date: Option<String>,
    pub rows: u64,
    pub bytes: u64,
    pub run_id: String,
}

/// Records read, and what became of them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub records: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.records += other.records;
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
    }

    /// The contract's invariant: records read = accepted + duplicates + rejected.
    pub fn balanced(&self) -> bool {
        self.records == self.accepted + self.duplicates + self.rejected
    }
}

/// One input of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputRecord {
    /// The name as given on the command line (`<stdin>` for standard input).
    pub name: String,
    /// Absolute path, when the input is a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// BLAKE3 of the file's bytes as stored (compressed or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// The run that already ingested the same bytes, when this input was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_as_ingested_by: Option<String>,
    /// Why the input could not be read at all (a symlink loop, a FIFO, a `.gz` that is not
    /// gzip, a CSV file that is no transaction log): it was skipped and counts as not
    /// ingested, so a later run tries it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// Where this run started in the decompressed text, when an earlier run had read the
    /// start of the same (since grown) file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<TextPosition>,
    /// Where reading stopped: a later run of the grown file starts here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_to: Option<TextPosition>,
    /// Bytes of an unfinished last line left for a later run (the file was still being
    /// written).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_back: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

/// A place in an input's decompressed text: the byte offset and the newlines before it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TextPosition {
    pub offset: u64,
    pub lines: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub double11_version: String,
    pub inputs: Vec<InputRecord>,
    pub totals: Counts,
    /// Accepted rows per CST day written by this run.
    pub rows_by_date: std::collections::BTreeMap<String, u64>,
}

impl RunRecord {
    /// Inputs of the run that could not be read at all and were skipped.
    pub fn unreadable_inputs(&self) -> usize {
        self.inputs
            .iter()
            .filter(|i| i.unreadable.is_some())
            .count()
    }
}

impl Manifest {
    pub fn empty() -> Self {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            written_by: env!("CARGO_PKG_VERSION").into(),
            version: 0,
            operation: String::new(),
            committed_at: String::new(),
            tables: std::collections::BTreeMap::new(),
            next_run: 1,
            files: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub fn parse(text: &str, path: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
            format_version: u32,
            #[serde(default)]
            written_by: String,
        }
        let header: Header = serde_json::from_str(text)
            .map_err(|e| Error::Data(format!("{path}: not a double11 manifest ({e})")))?;
        if header.format != FORMAT {
            return Err(Error::Data(format!(
                "{path}: not a double11 warehouse manifest (format {:?})",
                header.format
            )));
        }
        if header.format_version > FORMAT_VERSION {
            return Err(Error::Data(format!(
                "{path}: this warehouse was written by double11 {} (format {}); this double11 {} reads format {} at most. Upgrade double11.",
                header.written_by,
                header.format_version,
                env!("CARGO_PKG_VERSION"),
                FORMAT_VERSION
            )));
        }
        serde_json::from_str(text)
            .map_err(|e| Error::Data(format!("{path}: damaged manifest ({e})")))
    }

    pub fn run_id(seq: u64) -> String {
        format!("r{seq:06}")
    }

    /// The run that already read all of a file with these bytes, if any.
    pub fn ingested_by(&self, size: u64, blake3: &str) -> Option<&str> {
        self.runs.iter().find_map(|run| {
            run.inputs.iter().find_map(|i| {
                (i.size == Some(size)
                    && i.blake3.as_deref() == Some(blake3)
                    && i.skipped_as_ingested_by.is_none()
                    && i.unreadable.is_none()
                    && i.held_back == 0)
                    .then_some(run.run_id.as_str())
            })
        })
    }

    /// The latest reading of the file at `path` (absolute), for resuming a file that grew.
    pub fn last_read_of(&self, path: &str) -> Option<&InputRecord> {
        self.runs.iter().rev().find_map(|run| {
            run.inputs.iter().rev().find(|i| {
                i.path.as_deref() == Some(path)
                    && i.skipped_as_ingested_by.is_none()
                    && i.unreadable.is_none()
                    && i.read_to.is_some()
                    && i.size.is_some()
            })
        })
    }

    pub fn files_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a DataFile> + 'a {
        self.files.iter().filter(move |f| f.table == table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_are_refused_with_advice() {
        let mut m = Manifest::empty();
        m.format_version = FORMAT_VERSION + 1;
        m.written_by = "9.0.0".into();
        let text = serde_json::to_string(&m).expect("serialize");
        let err = Manifest::parse(&text, "wh/manifest.json").expect_err("newer");
        let msg = err.to_string();
        assert!(
            msg.contains("wh/manifest.json") && msg.contains("Upgrade"),
            "{msg}"
        );
        let ok = serde_json::to_string(&Manifest::empty()).expect("serialize");
        assert_eq!(
            Manifest::parse(&ok, "m").expect("same version"),
            Manifest::empty()
        );
        assert!(Manifest::parse("{}", "m").is_err());
    }
}
