//! The rollups of `transactions` rows that ingest writes beside them, together: every
//! `transactions` file is summed into both, and an upgrade builds both from old files.

use arrow::array::RecordBatch;

use crate::error::Result;
use crate::warehouse::per_hour::PerHour;
use crate::warehouse::per_second::PerSecond;

/// The `per_second` and `per_hour` groups of some `transactions` rows (of one CST day).
#[derive(Default)]
pub struct Rollups {
    pub per_second: PerSecond,
    pub per_hour: PerHour,
}

impl Rollups {
    pub fn of_transactions(batch: &RecordBatch) -> Result<Self> {
        Ok(Rollups {
            per_second: PerSecond::of_transactions(batch)?,
            per_hour: PerHour::of_transactions(batch)?,
        })
    }

    pub fn merge(&mut self, other: Rollups) {
        self.per_second.merge(other.per_second);
        self.per_hour.merge(other.per_hour);
    }

    /// Groups held in both.
    pub fn len(&self) -> usize {
        self.per_second.len() + self.per_hour.len()
    }

    pub fn is_empty(&self) -> bool {
        self.per_second.is_empty() && self.per_hour.is_empty()
    }
}
