//! The rollups of `transactions` rows that ingest writes beside them: one [`Rollup`] trait,
//! its implementations (`per_second`, `per_hour`), and the helpers they share.
//!
//! Every `transactions` file is summed into each rollup of [`all`]; an older warehouse gets
//! the rollups its format lacks built from its files by the upgrade. A new rollup is one
//! `impl Rollup` (a table in the registry, its format version) and one line in [`all`].

pub(crate) mod per_hour;
pub(crate) mod per_second;

use std::any::Any;
use std::hash::Hasher;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::UInt32Type;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::warehouse::coded_text::Coded;
use crate::warehouse::tables::Table;

/// The largest `amount_cny` a `decimal(18, 2)` holds, in fen. One group would need ~10^9
/// orders of the largest allowed amount to reach it; a sum that does is an error naming the
/// table and day, never a wrapped or rounded figure.
///
/// Sums are `i128`. Every value added is first checked to be within ±`MAX_FEN` (a row beyond
/// it is an error: ingest never writes one, so only a damaged file could hold it), so no sum
/// of fewer than 10^20 rows can overflow; the additions are checked all the same, and
/// `merge` (which cannot return an error) saturates, which `take_batch` then refuses.
pub(crate) const MAX_FEN: i128 = crate::money::AMOUNT_CNY_MAX_FEN as i128;

/// Sums of `transactions` rows (of one CST day) by some key, written as a table of their own.
pub trait Rollup: Send + 'static {
    /// The table the sums are written to.
    fn table(&self) -> &'static Table;
    /// The warehouse format version that added this rollup: an older warehouse lacks it.
    fn since_format(&self) -> u32;
    /// The `transactions` columns it reads (found by name: a projection of these is enough).
    fn source_columns(&self) -> &'static [&'static str];
    /// Groups held (rows of the file [`Self::take_batch`] would write).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds the rows of a `transactions` batch.
    fn add_transactions(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Adds another rollup's groups (of the same kind and day) to these.
    fn merge(&mut self, other: Box<dyn Rollup>);
    /// The groups as a batch of the table's schema, in the table's row order; the rollup
    /// starts over empty.
    fn take_batch(&mut self) -> Result<RecordBatch>;
    /// For [`Self::merge`]: the rollup as `Any`, to be taken back as its own type.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// One empty rollup of each kind, in the order their files are written.
pub fn all() -> Vec<Box<dyn Rollup>> {
    vec![
        Box::new(per_second::PerSecond::default()),
        Box::new(per_hour::PerHour::default()),
    ]
}

/// Every rollup of some `transactions` rows (of one CST day).
pub struct Rollups(Vec<Box<dyn Rollup>>);

impl Default for Rollups {
    fn default() -> Self {
        Rollups(all())
    }
}

impl Rollups {
    /// The rollups are summed side by side, each on a core of its own when one is free.
    pub fn of_transactions(batch: &RecordBatch) -> Result<Self> {
        let mut rollups = Rollups::default();
        rollups
            .0
            .par_iter_mut()
            .try_for_each(|rollup| rollup.add_transactions(batch))?;
        Ok(rollups)
    }

    pub fn merge(&mut self, other: Rollups) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            mine.merge(theirs);
        }
    }

    /// Groups held in all.
    pub fn len(&self) -> usize {
        self.0.iter().map(|r| r.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|r| r.is_empty())
    }

    /// Each rollup's table and groups as a batch; the rollups start over empty.
    pub fn take_batches(&mut self) -> Result<Vec<(&'static Table, RecordBatch)>> {
        self.0
            .iter_mut()
            .map(|r| Ok((r.table(), r.take_batch()?)))
            .collect()
    }
}

/// A text column of a `transactions` batch: plain, as read from a file, or coded, as ingest
/// holds the few-valued columns ([`crate::warehouse::coded_text`]).
pub(crate) enum TextColumn<'a> {
    Plain(&'a StringArray),
    /// The column and its names.
    Coded(&'a Coded, &'a StringArray),
}

impl<'a> TextColumn<'a> {
    pub(crate) fn of(batch: &'a RecordBatch, name: &str) -> Result<Self> {
        let wrong = || {
            Error::Data(format!(
                "rollups: transactions column {name} missing or of the wrong type"
            ))
        };
        let column = batch.column_by_name(name).ok_or_else(wrong)?;
        if let Some(plain) = column.as_string_opt::<i32>() {
            return Ok(TextColumn::Plain(plain));
        }
        let coded = column.as_dictionary_opt::<UInt32Type>().ok_or_else(wrong)?;
        let names = coded.values().as_string_opt::<i32>().ok_or_else(wrong)?;
        Ok(TextColumn::Coded(coded, names))
    }

    pub(crate) fn null_count(&self) -> usize {
        match self {
            TextColumn::Plain(plain) => plain.null_count(),
            TextColumn::Coded(coded, _) => coded.null_count(),
        }
    }

    /// Row `i`'s text (of a row that is not null).
    pub(crate) fn value(&self, i: usize) -> &'a str {
        match self {
            TextColumn::Plain(plain) => plain.value(i),
            // A valid key is below its names' length (Arrow checks when a column is built).
            TextColumn::Coded(coded, names) => names.value(coded.keys().values()[i] as usize),
        }
    }
}

/// Takes a rollup handed to [`Rollup::merge`] back as its own type `T`. Rollups are only
/// merged with their own kind ([`Rollups`] keeps them in the order of [`all`]).
pub(crate) fn downcast<T: Rollup>(other: Box<dyn Rollup>) -> Option<T> {
    let other = other.into_any().downcast::<T>().ok();
    debug_assert!(other.is_some(), "a rollup merged with another kind");
    other.map(|o| *o)
}

/// Hashes the short strings of a batch (categories, provinces, …) a word at a time: they are
/// looked up several times a row, where SipHash or a streaming hash cost 6 % of ingest's CPU.
/// Keys come from the logs but only number strings within one batch, so a collision costs
/// time, never a wrong sum.
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl WordHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        let mut word = [0u8; 8];
        for w in &mut words {
            word.copy_from_slice(w);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(word));
    }
    fn write_u8(&mut self, b: u8) {
        self.mix(u64::from(b));
    }
    fn write_u64(&mut self, word: u64) {
        self.mix(word);
    }
}

/// Refuses a `transactions` batch holding a `column` value (fen) beyond ±[`MAX_FEN`], what
/// `decimal(18, 2)` holds: ingest never writes one, so the file is damaged. Bounding every
/// value bounds every sum (see [`MAX_FEN`]).
pub(crate) fn out_of_range(table: &str, column: &str, times: &[i64], fen: &[i128]) -> Result<()> {
    // `v` is within ±MAX_FEN exactly when `v + MAX_FEN` lies in 0..=2 * MAX_FEN (as unsigned;
    // MAX_FEN is far from i128's bounds, so the sum wraps only for values far beyond it).
    // Checked over the whole batch without a branch per row first (0.9 % of ingest's CPU
    // with a search that stops at the first); only a damaged batch is searched for its row.
    let beyond = |v: &i128| v.wrapping_add(MAX_FEN) as u128 > (2 * MAX_FEN) as u128;
    if !fen.iter().fold(false, |bad, v| bad | beyond(v)) {
        return Ok(());
    }
    match fen.iter().position(beyond) {
        None => Ok(()),
        Some(i) => Err(Error::Data(format!(
            "{table}: a transactions row of {} (CST) has {column} {}, beyond decimal(18, 2): the \
             transactions file is damaged; restore it or remove the run that wrote it",
            crate::cst::cst_date(times[i]),
            crate::money::format_fen(fen[i])
        ))),
    }
}

/// The column `name` of a `transactions` batch as the array type `T`.
pub(crate) fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            Error::Data(format!(
                "rollups: transactions column {name} missing or of the wrong type"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_beyond_decimal_18_2_are_found_at_the_edges() {
        let times = [1_573_401_600_000; 3];
        for fen in [0, 1, -1, MAX_FEN, -MAX_FEN] {
            assert!(
                out_of_range("t", "c", &times, &[fen, 0, fen]).is_ok(),
                "{fen}"
            );
        }
        for fen in [
            MAX_FEN + 1,
            -MAX_FEN - 1,
            i128::MAX,
            i128::MIN,
            i128::MIN + MAX_FEN,
        ] {
            let err = out_of_range("t", "c", &times, &[0, 5, fen])
                .expect_err("beyond")
                .to_string();
            assert!(err.contains("2019-11-11 (CST) has c"), "{fen}: {err}");
        }
    }
}
