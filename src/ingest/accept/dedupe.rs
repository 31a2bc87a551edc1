//! De-duplication by `event_id` in bounded memory.
//!
//! The contract promises that a re-delivery carries the same `event_time` instant, so ids only
//! need to be compared within a slice of time. Seen ids are kept in one set per minute of
//! event time ("shard"). When more than a budget of ids is in memory, the least recently used
//! shards are written to spill files in the run's staging folder and read back only if an
//! event of that minute turns up again. Logs are nearly time-ordered, so a shard is usually
//! spilled once and never read again; memory stays bounded whatever the input size.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

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
    /// `None` while the shard lives only in its spill file.
    ids: Option<IdSet>,
    last_use: u64,
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
        }
    }

    fn shard_of(event_time_ms: i64) -> i64 {
        event_time_ms.div_euclid(SHARD_MS)
    }

    fn spill_path(&self, shard: i64) -> PathBuf {
        spill_path(&self.spill_dir, shard)
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
                    ids: Some(ids),
                    last_use: clock,
                })
            }
        };
        shard.last_use = clock;
        let ids = match &mut shard.ids {
            Some(ids) => ids,
            None => {
                let ids = read_ids(&spill_path(&self.spill_dir, key))?;
                self.in_memory += ids.len();
                shard.ids.insert(ids)
            }
        };
        let fresh = ids.insert(id);
        self.last_len = ids.len();
        if fresh {
            self.in_memory += 1;
            if self.in_memory > self.budget {
                self.evict(key)?;
            }
        }
        Ok(fresh)
    }

    /// Adds ids that are already committed (read from the warehouse) without counting them
    /// as new; they go straight to the shards, spilling as needed.
    pub fn add_committed(&mut self, event_time_ms: i64, id: u128) -> Result<()> {
        self.insert(event_time_ms, id).map(|_| ())
    }

    /// Spills the least recently used shards (never `keep`) until half the budget is free.
    fn evict(&mut self, keep: i64) -> Result<()> {
        let mut loaded: Vec<(u64, i64)> = self
            .shards
            .iter()
            .filter(|(k, s)| **k != keep && s.ids.is_some())
            .map(|(k, s)| (s.last_use, *k))
            .collect();
        loaded.sort_unstable();
        fs::create_dir_all(&self.spill_dir)
            .map_err(|e| Error::io(self.spill_dir.display().to_string(), e))?;
        for (_, key) in loaded {
            if self.in_memory <= self.budget / 2 {
                break;
            }
            let path = self.spill_path(key);
            let Some(ids) = self.shards.get_mut(&key).and_then(|s| s.ids.take()) else {
                continue;
            };
            write_ids(&path, &ids)?;
            self.in_memory -= ids.len();
        }
        Ok(())
    }

    /// Ids currently held in memory.
    #[cfg(test)]
    pub fn in_memory(&self) -> usize {
        self.in_memory
    }
}

fn spill_path(dir: &Path, shard: i64) -> PathBuf {
    dir.join(format!("{shard}.ids"))
}

fn read_ids(path: &Path) -> Result<IdSet> {
    let name = path.display().to_string();
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::io(&name, e))?;
    let mut ids = IdSet::default();
    ids.reserve(bytes.len() / 16);
    for chunk in bytes.chunks_exact(16) {
        let mut raw = [0u8; 16];
        raw.copy_from_slice(chunk);
        ids.insert(u128::from_le_bytes(raw));
    }
    Ok(ids)
}

fn write_ids(path: &Path, ids: &IdSet) -> Result<()> {
    let name = path.display().to_string();
    let file = fs::File::create(path).map_err(|e| Error::io(&name, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    for id in ids {
        w.write_all(&id.to_le_bytes())
            .map_err(|e| Error::io(&name, e))?;
    }
    w.flush().map_err(|e| Error::io(&name, e))
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
        // Every id again, in another order: all duplicates, found in spilled shards.
        for i in (0..10_000u64).rev() {
            let t = (i as i64 % 50) * SHARD_MS + (i as i64 % 997);
            assert!(
                !seen.insert(t, u128::from(i)).expect("insert"),
                "{i} is a duplicate"
            );
        }
        // The same id in another minute is another event (the contract ties re-deliveries
        // to the same instant).
        assert!(seen.insert(60 * SHARD_MS, 5).expect("insert"));
    }
}
