//! Coded text: the few-valued text columns of `transactions` (event type, platform, currency,
//! category, province, device) held as a dictionary and a key per row while ingest has the
//! rows in memory.
//!
//! Ingest copied every row's strings twice before Parquet's writer read them (into a chunk's
//! builders, then into file order) and looked four of them up per row again to sum
//! `per_hour`. These columns hold a few dozen names each, so a chunk now keeps each name once
//! and a `u32` key per row: putting rows into file order moves keys, and a rollup looks each
//! name up once per batch. Parquet's writer takes a dictionary array for a `Utf8` field and
//! writes the same bytes (it interns every row's value either way), so the files do not change.
//!
//! Each chunk has a dictionary of its own: the parsing threads share no lock, and a dictionary
//! is bounded by its chunk's rows whatever the input. Gathering rows of many chunks
//! ([`gather`]) merges the dictionaries, keeping only the names of the rows gathered.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BooleanBufferBuilder, DictionaryArray, StringBuilder,
    UInt32Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::UInt32Type;

use crate::error::{Error, Result};
use crate::warehouse::rollups::WordHasher;

/// A coded column as Arrow holds it.
pub(crate) type Coded = DictionaryArray<UInt32Type>;

/// Slots of [`ShortNames::recent`] (a power of two).
const RECENT_SLOTS: usize = 32;

/// Short texts ([`ShortText`]) mapped to values, with the ones looked up lately one per slot
/// of their hash: a column holds a few dozen names, so nearly every lookup ends there, with
/// one comparison instead of a probe of the map.
pub(crate) struct ShortNames<V: Copy> {
    map: HashMap<ShortText, V, BuildHasherDefault<WordHasher>>,
    recent: [Option<(ShortText, V)>; RECENT_SLOTS],
}

impl<V: Copy> Default for ShortNames<V> {
    fn default() -> Self {
        ShortNames {
            map: HashMap::default(),
            recent: [None; RECENT_SLOTS],
        }
    }
}

impl<V: Copy> ShortNames<V> {
    /// The value of `key`, given by `new` the first time.
    pub(crate) fn get_or_insert_with(&mut self, key: ShortText, new: impl FnOnce() -> V) -> V {
        let slot = key.slot();
        match self.recent[slot] {
            Some((seen, v)) if seen == key => v,
            _ => {
                let v = *self.map.entry(key).or_insert_with(new);
                self.recent[slot] = Some((key, v));
                v
            }
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.recent = [None; RECENT_SLOTS];
    }
}

/// The names of one column (each once, in the order they first came) and a key per row.
#[derive(Default)]
pub(crate) struct CodedBuilder {
    short: ShortNames<u32>,
    /// Names longer than a [`ShortText`]: rare, hashed by their text.
    long: HashMap<Box<[u8]>, u32>,
    names: StringBuilder,
    keys: Vec<u32>,
    /// Validity per row, once a row is null.
    nulls: Option<BooleanBufferBuilder>,
}

impl CodedBuilder {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        CodedBuilder {
            keys: Vec::with_capacity(rows),
            ..Default::default()
        }
    }

    /// A builder whose names start with `names`, in order: a row whose name is known to be
    /// the `k`th of them is appended by [`Self::append_key`], without a lookup.
    pub(crate) fn with_names<'n>(rows: usize, names: impl IntoIterator<Item = &'n str>) -> Self {
        let mut builder = Self::with_capacity(rows);
        for name in names {
            builder.key(name);
        }
        builder
    }

    /// Appends the name of key `key`, one of the names given to [`Self::with_names`] (a key
    /// beyond the names makes [`Self::finish`] fail).
    pub(crate) fn append_key(&mut self, key: u32) {
        self.keys.push(key);
        if let Some(nulls) = &mut self.nulls {
            nulls.append(true);
        }
    }

    /// The key of `name`, added to the names if new.
    fn key(&mut self, name: &str) -> u32 {
        let names = &mut self.names;
        let mut new = || {
            names.append_value(name);
            // A chunk holds fewer rows than `u32::MAX`, and a gather's rows are counted by `usize`
            // into a `Vec` of `u32`: `gather` refuses more.
            (names.len() - 1) as u32
        };
        match ShortText::of(name.as_bytes()) {
            Some(short) => self.short.get_or_insert_with(short, new),
            None => match self.long.get(name.as_bytes()) {
                Some(key) => *key,
                None => {
                    let key = new();
                    self.long.insert(name.as_bytes().into(), key);
                    key
                }
            },
        }
    }

    pub(crate) fn append_value(&mut self, name: &str) {
        let key = self.key(name);
        self.keys.push(key);
        if let Some(nulls) = &mut self.nulls {
            nulls.append(true);
        }
    }

    pub(crate) fn append_option(&mut self, name: Option<&str>) {
        match name {
            Some(name) => self.append_value(name),
            None => {
                let rows = self.keys.len();
                let nulls = self.nulls.get_or_insert_with(|| {
                    let mut valid = BooleanBufferBuilder::new(self.keys.capacity().max(rows + 1));
                    valid.append_n(rows, true);
                    valid
                });
                nulls.append(false);
                self.keys.push(0);
            }
        }
    }

    /// The rows so far as a coded column; the builder starts over empty.
    pub(crate) fn finish(&mut self) -> Result<Coded> {
        let keys = std::mem::take(&mut self.keys);
        let nulls = self.nulls.take().map(|mut v| NullBuffer::new(v.finish()));
        let names = Arc::new(self.names.finish());
        self.short.clear();
        self.long.clear();
        Ok(Coded::try_new(UInt32Array::new(keys.into(), nulls), names)?)
    }
}

/// The rows `rows` ((source, row)) of the coded columns `sources`, in that order, as one coded
/// column whose names are those of the rows taken, in the order they first come.
pub(crate) fn gather(sources: &[&dyn Array], rows: &[(usize, usize)]) -> Result<ArrayRef> {
    let coded = sources
        .iter()
        .map(|a| a.as_dictionary_opt::<UInt32Type>())
        .collect::<Option<Vec<&Coded>>>()
        .ok_or_else(|| Error::Other(anyhow::anyhow!("gather: a source is not a coded column")))?;
    let names = coded
        .iter()
        .map(|c| c.values().as_string_opt::<i32>())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            Error::Other(anyhow::anyhow!(
                "gather: a coded column's names are not text"
            ))
        })?;
    if u32::try_from(rows.len()).is_err() {
        return Err(Error::Other(anyhow::anyhow!(
            "gather: {} rows are more than a coded column holds",
            rows.len()
        )));
    }
    // Each source's keys mapped to the output's, as its names are first met.
    const UNSEEN: u32 = u32::MAX;
    let mut remap: Vec<Vec<u32>> = names.iter().map(|n| vec![UNSEEN; n.len()]).collect();
    let keys_of: Vec<&[u32]> = coded.iter().map(|c| c.keys().values().as_ref()).collect();
    let mut out = CodedBuilder::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    let mut take = |s: usize, r: usize| {
        // A valid key is below its names' length (Arrow checks when a column is built).
        let k = keys_of[s][r] as usize;
        let mut key = remap[s][k];
        if key == UNSEEN {
            key = out.key(names[s].value(k));
            remap[s][k] = key;
        }
        key
    };
    let valid = if coded.iter().any(|c| c.keys().null_count() > 0) {
        let nulls: Vec<Option<&NullBuffer>> = coded.iter().map(|c| c.keys().nulls()).collect();
        let mut valid = BooleanBufferBuilder::new(rows.len());
        for &(s, r) in rows {
            let is_valid = nulls[s].is_none_or(|n| n.is_valid(r));
            valid.append(is_valid);
            keys.push(if is_valid { take(s, r) } else { 0 });
        }
        Some(valid)
    } else {
        keys.extend(rows.iter().map(|&(s, r)| take(s, r)));
        None
    };
    let nulls = valid.map(|mut v| NullBuffer::new(v.finish()));
    let names = Arc::new(out.names.finish());
    Ok(Arc::new(Coded::try_new(
        UInt32Array::new(keys.into(), nulls),
        names,
    )?))
}

/// A string of at most 16 bytes as a key hashed and compared in registers: its bytes as two
/// words (overlapping for 9 to 15 bytes; zero-padded, with the second word 0, below 8) and
/// its length, which together tell every such string apart. Names of categories, provinces,
/// devices and currencies are short; a longer one is looked up by its text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShortText {
    words: (u64, u64),
    len: u8,
}

impl ShortText {
    pub(crate) fn of(bytes: &[u8]) -> Option<ShortText> {
        let len = bytes.len();
        let words = match len {
            0..8 => (padded_word(bytes), 0),
            8..=16 => (word_at(bytes, 0), word_at(bytes, len - 8)),
            _ => return None,
        };
        Some(ShortText {
            words,
            len: len as u8,
        })
    }
}

impl ShortText {
    /// The text's words and length folded into one word: what the map hashes.
    fn folded(&self) -> u64 {
        let (first, last) = self.words;
        first ^ last.rotate_left(29) ^ u64::from(self.len)
    }

    /// A slot of [`ShortNames::recent`]: the top bits of a multiplicative hash.
    fn slot(&self) -> usize {
        let mixed = self.folded().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> (64 - RECENT_SLOTS.trailing_zeros())) as usize
    }
}

/// The 8 bytes of `bytes` from `at` (there are at least `at + 8`) as a little-endian word.
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Fewer than 8 bytes as a little-endian word padded with zero bytes, read with fixed-size
/// loads (two overlapping ones from 4 bytes up) instead of a copy of variable length, which
/// is a call to `memcpy`: this runs for four columns of every row ingested.
fn padded_word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let at = |i: usize| u64::from(bytes[i]) << (8 * i);
    match len {
        0 => 0,
        1..4 => at(0) | at(len / 2) | at(len - 1),
        _ => {
            let mut low = [0u8; 4];
            let mut high = [0u8; 4];
            low.copy_from_slice(&bytes[..4]);
            high.copy_from_slice(&bytes[len - 4..len]);
            // The two loads overlap below 8 bytes; the bytes they share are the same.
            u64::from(u32::from_le_bytes(low))
                | u64::from(u32::from_le_bytes(high)) << (8 * (len - 4))
        }
    }
}

impl Hash for ShortText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.folded());
    }
}

/// `batch` with its few-valued text columns coded, as ingest holds them: for tests of what
/// reads such batches.
#[cfg(test)]
pub(crate) fn coded(batch: &arrow::array::RecordBatch) -> arrow::array::RecordBatch {
    use crate::schema::{coded_text_type, LOW_CARDINALITY_TEXT_COLUMNS};
    use arrow::datatypes::{Field, Schema};
    let schema = batch.schema();
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            if LOW_CARDINALITY_TEXT_COLUMNS.contains(&f.name().as_str()) {
                let coded = arrow::compute::cast(c, &coded_text_type()).expect("cast");
                (
                    Field::new(f.name(), coded_text_type(), f.is_nullable()),
                    coded,
                )
            } else {
                (f.as_ref().clone(), Arc::clone(c))
            }
        })
        .unzip();
    arrow::array::RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    fn texts(a: &dyn Array) -> Vec<Option<String>> {
        let plain = arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8).expect("cast");
        plain
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    #[test]
    fn short_words_are_the_bytes_zero_padded() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for len in 0..8 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 24) as u8
                    })
                    .collect();
                let mut w = [0u8; 8];
                w[..len].copy_from_slice(&bytes);
                assert_eq!(padded_word(&bytes), u64::from_le_bytes(w), "{bytes:?}");
            }
        }
    }

    #[test]
    fn a_coded_column_reads_back_as_its_rows_with_each_name_once() {
        let long = "a category name longer than sixteen bytes";
        let rows = [
            Some("Jiangsu"),
            None,
            Some("Zhejiang"),
            Some(long),
            Some("Jiangsu"),
            Some(long),
            Some(""),
        ];
        let mut b = CodedBuilder::with_capacity(2);
        for r in rows {
            b.append_option(r);
        }
        let coded = b.finish().expect("coded");
        assert_eq!(coded.values().len(), 4, "each name once");
        assert_eq!(coded.keys().null_count(), 1);
        assert_eq!(texts(&coded), rows.map(|r| r.map(str::to_string)).to_vec());
        // Names given up front are appended by key; a key beyond them is refused.
        let mut fixed = CodedBuilder::with_names(2, ["paid", "refunded"]);
        fixed.append_key(1);
        fixed.append_value("paid");
        let fixed = fixed.finish().expect("fixed");
        assert_eq!(
            texts(&fixed),
            vec![Some("refunded".into()), Some("paid".into())]
        );
        let mut wrong = CodedBuilder::with_names(1, ["paid"]);
        wrong.append_key(1);
        assert!(wrong.finish().is_err());
        // The builder starts over: a name of the last batch gets key 0 again.
        b.append_value(long);
        let next = b.finish().expect("next");
        assert_eq!(next.keys().values().to_vec(), vec![0]);
        assert_eq!(texts(&next), vec![Some(long.to_string())]);
    }

    #[test]
    fn gathering_merges_the_names_of_the_rows_taken_only() {
        let mut b = CodedBuilder::default();
        for r in ["paid", "refunded", "paid"] {
            b.append_value(r);
        }
        let first = b.finish().expect("first");
        for r in [Some("refunded"), None, Some("unused"), Some("paid")] {
            b.append_option(r);
        }
        let second = b.finish().expect("second");
        let rows = [(1, 3), (0, 1), (1, 1), (0, 0), (1, 0)];
        let got = gather(&[&first, &second], &rows).expect("gather");
        let want: Vec<Option<String>> = rows
            .iter()
            .map(|&(s, r)| texts([&first as &dyn Array, &second][s])[r].clone())
            .collect();
        assert_eq!(texts(got.as_ref()), want);
        let got = got.as_dictionary::<UInt32Type>();
        let names: Vec<&str> = got.values().as_string::<i32>().iter().flatten().collect();
        assert_eq!(
            names,
            vec!["paid", "refunded"],
            "in the order first taken; `unused` left out"
        );
        assert!(gather(&[&StringArray::from(vec!["x"])], &[(0, 0)]).is_err());
    }
}
