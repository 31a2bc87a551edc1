//! De-duplication by `event_id` in bounded memory.
//!
//! The contract promises that a re-delivery carries the same `event_time` instant, so ids only
//! need to be compared within a slice of time. Seen ids are kept in one set per minute of
//! event time ("shard"). When more than a budget of ids is in memory, the least recently used
//! shards are written to a spill file in the run's staging folder (one file per eviction, a
//! segment per shard) and read back only if an event of that minute turns up again. Logs are
//! nearly time-ordered, so a shard is usually spilled once and never read again; memory stays
//! bounded whatever the input size, and the spill files hold each id once.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::warehouse::direct_file::DirectFile;

/// Milliseconds of event time per shard.
const SHARD_MS: i64 = 60_000;

/// Hashes of event ids. They are already uniformly distributed, so the set uses their low
/// 64 bits as its hash instead of hashing them a second time.
pub type IdSet = HashSet<u128, BuildHasherDefault<PrehashedId>>;

#[derive(Default)]
pub struct PrehashedId(u64);

impl Hasher for PrehashedId {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; fold anything else in for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, id: u128) {
        self.0 = id as u64;
    }
}

/// A hasher for small integer keys (minutes, days) looked up once per event: one
/// multiplication instead of SipHash, which guards against inputs chosen to collide, a
/// concern that keys derived from times do not have.
#[derive(Default)]
pub struct SmallKey(u64);

impl Hasher for SmallKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn write_i32(&mut self, n: i32) {
        self.write_u64(n as u64);
    }
}

/// A 128-bit hash stands in for an id: a collision among even 10^12 ids has odds below 10^-14.
pub fn id_hash(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

struct Shard {
    /// Ids added since the shard was last spilled or read back (all of them, if it never
    /// was); `None` while the shard lives only in its spilled segments.
    fresh: Option<IdSet>,
    /// The ids of `segments`, read back because an event of the shard's minute turned up
    /// again: looked up, never written again.
    spilled: Option<IdSet>,
    /// Where the shard's spilled ids lie: each id is written once, in the eviction that
    /// first found it fresh.
    segments: Vec<Segment>,
    last_use: u64,
}

/// `count` ids (16 bytes each) from byte `offset` of spill file number `file`.
#[derive(Clone, Copy, Debug)]
struct Segment {
    file: u32,
    offset: u64,
    count: u64,
}

/// Every id accepted so far (committed earlier or in this run), sharded by minute.
pub struct SeenIds {
    spill_dir: PathBuf,
    budget: usize,
    in_memory: usize,
    clock: u64,
    shards: HashMap<i64, Shard, BuildHasherDefault<SmallKey>>,
    /// Ids in the shard used last: the size a new shard starts with.
    last_len: usize,
    /// Spill files written so far: one per eviction.
    spill_files: u32,
    /// Shards read back from their segments so far.
    reads_back: u64,
}

impl SeenIds {
    /// `budget`: ids held in memory before shards are spilled (about 40 bytes each).
    pub fn new(spill_dir: PathBuf, budget: usize) -> Self {
        SeenIds {
            spill_dir,
            budget: budget.max(1),
            in_memory: 0,
            clock: 0,
            shards: HashMap::default(),
            last_len: 0,
            spill_files: 0,
            reads_back: 0,
        }
    }

    fn shard_of(event_time_ms: i64) -> i64 {
        event_time_ms.div_euclid(SHARD_MS)
    }

    /// Records `id` at `event_time_ms`; `false` when it was seen before (a duplicate).
    pub fn insert(&mut self, event_time_ms: i64, id: u128) -> Result<bool> {
        let key = Self::shard_of(event_time_ms);
        self.clock += 1;
        let clock = self.clock;
        // One lookup per id: this runs for every accepted event.
        let shard = match self.shards.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                // Neighbouring minutes hold similar numbers of events: size a new shard like
                // the one used last, instead of growing it step by step.
                let ids = IdSet::with_capacity_and_hasher(self.last_len, Default::default());
                v.insert(Shard {
                    fresh: Some(ids),
                    spilled: None,
                    segments: Vec::new(),
                    last_use: clock,
                })
            }
        };
        shard.last_use = clock;
        let mut loaded = false;
        if shard.fresh.is_none() {
            let spilled = read_segments(&self.spill_dir, &shard.segments)?;
            self.in_memory += spilled.len();
            shard.spilled = Some(spilled);
            // In memory from now on: the shard's next events look it up there. (Left `None`
            // after a duplicate, every later event of the minute read all its segments
            // again: a replay of an old hour took quadratic time.)
            shard.fresh = Some(IdSet::default());
            loaded = true;
            self.reads_back += 1;
            tracing::debug!(
                "de-duplication read back minute {key}'s spilled ids ({} shards read back so far)",
                self.reads_back
            );
        }
        let fresh = if shard.spilled.as_ref().is_some_and(|s| s.contains(&id)) {
            false
        } else {
            let fresh_ids = shard.fresh.get_or_insert_with(IdSet::default);
            let fresh = fresh_ids.insert(id);
            self.last_len = fresh_ids.len() + shard.spilled.as_ref().map_or(0, |s| s.len());
            fresh
        };
        if fresh {
            self.in_memory += 1;
        }
        // A shard read back counts against the budget too, or a replay of duplicates alone
        // would load minute after minute.
        if (fresh || loaded) && self.in_memory > self.budget {
            self.evict(key)?;
        }
        Ok(fresh)
    }

    /// Adds ids that are already committed (read from the warehouse) without counting them
    /// as new; they go straight to the shards, spilling as needed.
    pub fn add_committed(&mut self, event_time_ms: i64, id: u128) -> Result<()> {
        self.insert(event_time_ms, id).map(|_| ())
    }

    /// Spills the least recently used shards (never `keep`) until half the budget is free,
    /// into one new spill file: a file per shard made the file system's inode allocation
    /// the run's bottleneck (0.5 s of one core, the pipeline stalled, for the 1,440 minutes
    /// of a day: BENCHMARKS.md, 2026-12-05, stop 36).
    fn evict(&mut self, keep: i64) -> Result<()> {
        let mut loaded: Vec<(u64, i64)> = self
            .shards
            .iter()
            .filter(|(k, s)| **k != keep && s.fresh.is_some())
            .map(|(k, s)| (s.last_use, *k))
            .collect();
        loaded.sort_unstable();
        let file = self.spill_files;
        let path = spill_path(&self.spill_dir, file);
        let name = path.display().to_string();
        let mut out: Option<DirectFile> = None;
        let mut offset = 0u64;
        for (_, key) in loaded {
            if self.in_memory <= self.budget / 2 {
                break;
            }
            let Some(shard) = self.shards.get_mut(&key) else {
                continue;
            };
            let fresh = shard.fresh.take().unwrap_or_default();
            let spilled = shard.spilled.take().unwrap_or_default();
            self.in_memory -= fresh.len() + spilled.len();
            if fresh.is_empty() {
                continue; // its ids are all in its segments already
            }
            let w = match &mut out {
                Some(w) => w,
                None => {
                    fs::create_dir_all(&self.spill_dir)
                        .map_err(|e| Error::io(self.spill_dir.display().to_string(), e))?;
                    // Around the page cache: a spilled minute is seldom read again, so its
                    // ids need no cache pages, which cost this VM more than the copy itself.
                    let f = DirectFile::create(&path, true).map_err(|e| Error::io(&name, e))?;
                    out.insert(f)
                }
            };
            for id in &fresh {
                w.write_all(&id.to_le_bytes())
                    .map_err(|e| Error::io(&name, e))?;
            }
            let count = fresh.len() as u64;
            shard.segments.push(Segment {
                file,
                offset,
                count,
            });
            offset += count * 16;
        }
        if let Some(w) = out {
            w.finish().map_err(|e| Error::io(&name, e))?;
            self.spill_files += 1;
        }
        Ok(())
    }

    /// Ids never written to a spill file.
    #[cfg(test)]
    fn unspilled(&self) -> usize {
        self.shards
            .values()
            .map(|s| s.fresh.as_ref().map_or(0, |f| f.len()))
            .sum()
    }

    /// Shards read back from their segments so far.
    #[cfg(test)]
    fn reads_back(&self) -> u64 {
        self.reads_back
    }

    /// Ids currently held in memory.
    #[cfg(test)]
    pub fn in_memory(&self) -> usize {
        self.in_memory
    }
}

fn spill_path(dir: &Path, file: u32) -> PathBuf {
    dir.join(format!("{file}.ids"))
}

/// The ids of a spilled shard, read back from its segments.
fn read_segments(dir: &Path, segments: &[Segment]) -> Result<IdSet> {
    let total: u64 = segments.iter().map(|s| s.count).sum();
    let mut ids = IdSet::default();
    ids.reserve(usize::try_from(total).unwrap_or(0));
    let mut bytes = Vec::new();
    for s in segments {
        let path = spill_path(dir, s.file);
        let name = path.display().to_string();
        bytes.clear();
        fs::File::open(&path)
            .and_then(|mut f| {
                f.seek(SeekFrom::Start(s.offset))?;
                f.take(s.count * 16).read_to_end(&mut bytes)
            })
            .map_err(|e| Error::io(&name, e))?;
        if bytes.len() as u64 != s.count * 16 {
            return Err(Error::io(
                &name,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "a spill file of seen event ids is shorter than written",
                ),
            ));
        }
        for chunk in bytes.chunks_exact(16) {
            let mut raw = [0u8; 16];
            raw.copy_from_slice(chunk);
            ids.insert(u128::from_le_bytes(raw));
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_after_their_shard_was_spilled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut seen = SeenIds::new(dir.path().join("ids"), 100);
        // 10,000 ids over 50 minutes: far beyond the budget of 100 in memory.
        for i in 0..10_000u64 {
            let t = (i as i64 % 50) * SHARD_MS + (i as i64 % 997);
            assert!(seen.insert(t, u128::from(i)).expect("insert"), "{i} is new");
            // The budget, plus at most the one shard being filled (200 ids a minute here).
            assert!(
                seen.in_memory() <= 100 + 200,
                "bounded: {}",
                seen.in_memory()
            );
        }
        assert!(seen.in_memory() <= 200, "spilled: {}", seen.in_memory());
        // Every id again, in another order: all duplicates, found in spilled shards. Each
        // minute read back counts against the budget: a replay of duplicates alone stays
        // bounded too.
        for i in (0..10_000u64).rev() {
            let t = (i as i64 % 50) * SHARD_MS + (i as i64 % 997);
            assert!(
                !seen.insert(t, u128::from(i)).expect("insert"),
                "{i} is a duplicate"
            );
            assert!(
                seen.in_memory() <= 100 + 200,
                "bounded while replaying: {}",
                seen.in_memory()
            );
        }
        // The same id in another minute is another event (the contract ties re-deliveries
        // to the same instant).
        assert!(seen.insert(60 * SHARD_MS, 5).expect("insert"));
    }

    #[test]
    fn spills_of_many_mib_are_read_back_whole() {
        // Spill files of several 4 MiB windows, written around the page cache (by the
        // caller, then by the file's thread, the tail the ordinary way): 2.1 M ids over three
        // minutes with a budget of 800,000, so each eviction writes a minute's 700,000 ids
        // (11.2 MB).
        let dir = tempfile::tempdir().expect("tempdir");
        let spill = dir.path().join("ids");
        let mut seen = SeenIds::new(spill.clone(), 800_000);
        let id = |i: u64| u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
        let minute = |i: u64| (i / 700_000) as i64 * SHARD_MS;
        for i in 0..2_100_000 {
            assert!(seen.insert(minute(i), id(i)).expect("insert"), "{i} is new");
        }
        let sizes: Vec<u64> = fs::read_dir(&spill)
            .expect("spill folder")
            .map(|e| e.expect("entry").metadata().expect("metadata").len())
            .collect();
        assert!(
            sizes.iter().any(|s| *s > 8 << 20),
            "a spill file of more than two windows: {sizes:?}"
        );
        // Every seventh id of the two spilled minutes again: each minute is read back from
        // its segments once, not once per duplicate.
        for i in (0..1_400_000).step_by(7) {
            assert!(
                !seen.insert(minute(i), id(i)).expect("insert"),
                "{i} is a duplicate"
            );
        }
        assert_eq!(seen.reads_back(), 2);
        assert!(seen.insert(minute(0), id(3_000_000)).expect("insert"));
    }

    #[test]
    fn a_shard_read_back_and_spilled_again_writes_only_its_new_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spill = dir.path().join("ids");
        let mut seen = SeenIds::new(spill.clone(), 100);
        // Four minutes in turn, 60 new ids each time: every turn reads a spilled shard back
        // and spills others, over and over.
        let id =
            |round: u64, minute: i64, j: u64| u128::from(round * 1000 + minute as u64 * 100 + j);
        let mut distinct = 0u64;
        for round in 0..20 {
            for minute in 0..4 {
                for j in 0..60 {
                    assert!(seen
                        .insert(minute * SHARD_MS, id(round, minute, j))
                        .expect("insert"));
                    distinct += 1;
                }
            }
        }
        for round in 0..20 {
            for minute in 0..4 {
                for j in 0..60 {
                    assert!(
                        !seen
                            .insert(minute * SHARD_MS + 59_999, id(round, minute, j))
                            .expect("insert"),
                        "round {round}, minute {minute}, id {j} is a duplicate"
                    );
                }
            }
        }
        let files: Vec<u64> = fs::read_dir(&spill)
            .expect("spill folder")
            .map(|e| e.expect("entry").metadata().expect("metadata").len())
            .collect();
        assert!(files.len() > 1, "spilled in several evictions: {files:?}");
        // Each id is written once, however often its shard went out and came back.
        assert_eq!(
            files.iter().sum::<u64>(),
            distinct * 16 - 16 * seen.unspilled() as u64
        );
    }
}
