//! The expected figures of a generated log, kept while it is written.
//!
//! Every line the generator writes is accounted for by what the contract says a reader must
//! make of it (accepted, duplicate, or rejected with a kind), so the truth is exact without
//! reading the output back and without keeping any per-event state.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::cst::date_from_days;
use crate::money::format_fen;

use super::curve::SECONDS_PER_DAY;

/// Expected figures of one CST date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTruth {
    /// Accepted, distinct `paid` events.
    pub orders: u64,
    /// Exact sum of their `amount_cny`, in fen.
    pub gmv_fen: i64,
    /// The same in yuan, two decimals.
    pub gmv: String,
    /// Exact sum of the `amount_cny` of accepted `refunded` events, in fen.
    pub refunds_fen: i64,
    pub refunds: String,
    pub refund_events: u64,
    /// `YYYY-MM-DDTHH:MM:SS` (CST) with the most orders, the earliest on a tie; `null` when
    /// the date has no orders.
    pub peak_second: Option<String>,
    pub peak_orders: u64,
}

/// Expected figures of a whole generated log: what an ingest of `files` (in that order,
/// with the written rates) must report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub seed: u64,
    pub scale: f64,
    pub format: String,
    pub dirty: f64,
    /// Log file names in ingest order (`-` for standard output).
    pub files: Vec<String>,
    /// Records read: CSV data rows, or non-blank NDJSON lines.
    pub records: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Reject kind -> count, kinds with at least one reject only.
    pub rejects_by_kind: BTreeMap<String, u64>,
    /// CST date (`YYYY-MM-DD`) -> figures, for every date with an accepted event.
    pub days: BTreeMap<String, DayTruth>,
}

/// Running totals of one CST date.
pub(crate) struct DayAcc {
    pub(crate) orders: u64,
    pub(crate) gmv_fen: i64,
    pub(crate) refunds_fen: i64,
    pub(crate) refund_events: u64,
    /// Orders per second of the day.
    pub(crate) per_second: Vec<u32>,
}

impl DayAcc {
    pub(crate) fn new() -> Self {
        DayAcc {
            orders: 0,
            gmv_fen: 0,
            refunds_fen: 0,
            refund_events: 0,
            per_second: vec![0; SECONDS_PER_DAY],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.orders == 0 && self.refund_events == 0
    }

    pub(crate) fn merge(&mut self, other: &DayAcc) {
        self.orders += other.orders;
        self.gmv_fen += other.gmv_fen;
        self.refunds_fen += other.refunds_fen;
        self.refund_events += other.refund_events;
        for (a, b) in self.per_second.iter_mut().zip(&other.per_second) {
            *a += b;
        }
    }

    pub(crate) fn finish(&self, date: NaiveDate) -> DayTruth {
        let mut peak = (0usize, 0u32);
        for (i, &n) in self.per_second.iter().enumerate() {
            if n > peak.1 {
                peak = (i, n);
            }
        }
        let peak_second = (peak.1 > 0).then(|| {
            let s = peak.0 as u32;
            format!("{date}T{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        });
        DayTruth {
            orders: self.orders,
            gmv_fen: self.gmv_fen,
            gmv: format_fen(i128::from(self.gmv_fen)),
            refunds_fen: self.refunds_fen,
            refunds: format_fen(i128::from(self.refunds_fen)),
            refund_events: self.refund_events,
            peak_second,
            peak_orders: u64::from(peak.1),
        }
    }
}

/// Line counts of the whole run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) records: u64,
    pub(crate) accepted: u64,
    pub(crate) duplicates: u64,
    pub(crate) rejected: u64,
    pub(crate) rejects_by_kind: BTreeMap<String, u64>,
}

impl Counters {
    pub(crate) fn reject(&mut self, kind: &str) {
        self.records += 1;
        self.rejected += 1;
        *self.rejects_by_kind.entry(kind.to_string()).or_default() += 1;
    }
}

/// Per-date totals of the run, keyed by days since the epoch.
pub(crate) fn days_truth(accs: &BTreeMap<i32, DayAcc>) -> BTreeMap<String, DayTruth> {
    accs.iter()
        .filter(|(_, acc)| !acc.is_empty())
        .map(|(&day, acc)| {
            let date = date_from_days(day);
            (date.to_string(), acc.finish(date))
        })
        .collect()
}
