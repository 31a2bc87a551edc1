//! The accept stage of ingest: parsed records, in input order, become rows.
//!
//! An accepted event joins its CST day's buffer unless its `event_id` was seen before (in
//! this run or a committed one: then it is a row of `duplicates`); a rejected line is a row
//! of `rejects`. Full buffers go to the [`Writer`].
//!
//! The workers that parse a chunk also build its accepted events' Arrow rows, so this stage,
//! the one that sees every record in input order, only decides: per event, one look-up of
//! its id and one (batch, row) pair appended to its day's list.
//!
//! [`dedupe`] keeps the seen ids in bounded memory; [`batches`] holds the rows.

pub(crate) mod batches;
pub(crate) mod dedupe;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;

use arrow::array::{AsArray, RecordBatch};

use crate::cst::date_from_days;
use crate::error::Result;
use crate::ingest::input::Input;
use crate::ingest::read::chunks::{Chunk, Outcome, RowKey};
use crate::ingest::read::validate::Reject;
use crate::ingest::write::Writer;
use crate::ingest::IngestOptions;
use crate::schema::TRANSACTIONS;
use crate::warehouse::manifest::{Counts, Manifest};
use crate::warehouse::parquet_files::for_each_event_id;
use crate::warehouse::tables::{DUPLICATES_TABLE, REJECTS_TABLE};
use crate::warehouse::txn::WriteTxn;
use crate::warehouse::Warehouse;
use batches::{DayRows, DuplicatesBuilder, HeldBatches, RejectsBuilder};
use dedupe::{id_hash, SeenIds, SmallKey};

/// Bytes of strings buffered for one file before it is written, whatever its row count:
/// records may be up to `--max-record-bytes` long, and an Arrow string column holds at most
/// 2 GiB. Typical rows (~150 bytes) reach `rows_per_file` long before this.
const BYTES_PER_FILE: usize = 256 << 20;

/// Memory of chunks' batches held for unwritten rows, per row of `rows_per_file`, before
/// every day's rows are copied into batches of their own ([`HeldBatches`]): a file's worth of
/// typical rows takes about 200 bytes each, so the default 1 M rows per file allow 512 MiB.
const HELD_BYTES_PER_FILE_ROW: usize = 512;

/// What the accept stage gathered over a run, once every buffer is written.
pub(crate) struct Accepted {
    pub rows_by_date: BTreeMap<String, u64>,
    pub rejects_by_kind: BTreeMap<String, u64>,
}

/// The rows of a run not yet written, and every id seen.
pub(crate) struct Accept<'a> {
    wh: &'a Warehouse,
    manifest: &'a Manifest,
    run_id: String,
    /// Accepted rows per CST day.
    days: HashMap<i32, DayRows, BuildHasherDefault<SmallKey>>,
    /// The batches those rows are in.
    held: HeldBatches,
    /// Number of the next batch in `held`.
    next_batch: u64,
    /// Memory of `held` that makes the days copy their rows out: at least `held_floor`.
    held_limit: usize,
    held_floor: usize,
    rejects: RejectsBuilder,
    duplicates: DuplicatesBuilder,
    rejects_by_kind: BTreeMap<String, u64>,
    /// Every accepted id, committed or from this run, in bounded memory.
    seen: SeenIds,
    rows_per_file: usize,
    out: Writer<'a>,
}

impl<'a> Accept<'a> {
    pub fn new(
        wh: &'a Warehouse,
        manifest: &'a Manifest,
        txn: &'a mut WriteTxn,
        opts: &IngestOptions,
    ) -> Result<Self> {
        Ok(Accept {
            wh,
            manifest,
            run_id: txn.run_id().to_string(),
            days: HashMap::default(),
            held: HeldBatches::default(),
            next_batch: 0,
            held_limit: held_floor(opts.rows_per_file),
            held_floor: held_floor(opts.rows_per_file),
            rejects: RejectsBuilder::default(),
            duplicates: DuplicatesBuilder::default(),
            rejects_by_kind: BTreeMap::new(),
            seen: SeenIds::new(txn.scratch_dir("ids"), opts.ids_in_memory),
            rows_per_file: opts.rows_per_file.max(1),
            out: Writer::new(txn, opts.threads, !opts.cached_writes)?,
        })
    }

    /// Takes the records of a chunk, whose first line is line `lines_before + 1` of `input`.
    pub fn take_chunk(
        &mut self,
        chunk: &mut Chunk,
        input: &Input,
        lines_before: u64,
        counts: &mut Counts,
    ) -> Result<()> {
        let rows = chunk.take_rows()?;
        let id = self.next_batch;
        self.next_batch += 1;
        if let Some(rows) = &rows {
            self.held.add(id, rows, false);
        }
        for record in &chunk.records {
            counts.records += 1;
            let line = lines_before + record.line;
            match (&record.outcome, &rows) {
                (Outcome::Accepted(row), Some(rows)) => {
                    let key = &chunk.keys[*row];
                    if self.accept(key, (id, rows, *row), input, line)? {
                        counts.accepted += 1;
                    } else {
                        counts.duplicates += 1;
                    }
                }
                (Outcome::Rejected { reject, raw }, _) => {
                    counts.rejected += 1;
                    self.reject(reject, input, line, &chunk.text[raw.clone()])?;
                }
                (Outcome::Accepted(_), None) => {
                    return Err(crate::error::Error::Other(anyhow::anyhow!(
                        "{}: a chunk lost its rows",
                        input.name
                    )))
                }
            }
        }
        // The chunk is read: its batch is held only while days have rows in it.
        self.held.release(id);
        if self.held.bytes() > self.held_limit {
            self.compact()?;
        }
        Ok(())
    }

    /// Adds an accepted event, row `row` of chunk batch `id`, unless its id was seen
    /// before; `Ok(false)` for a duplicate, which is recorded in the `duplicates` table
    /// instead.
    fn accept(
        &mut self,
        key: &RowKey,
        (id, batch, row): (u64, &RecordBatch, usize),
        input: &Input,
        line: u64,
    ) -> Result<bool> {
        let rows = match self.days.entry(key.day) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                load_committed_ids(self.wh, self.manifest, key.day, &mut self.seen)?;
                v.insert(DayRows::default())
            }
        };
        if !self.seen.insert(key.event_time_ms, key.id_hash)? {
            let Some(ids) = batch.column(0).as_string_opt::<i32>() else {
                return Err(crate::error::Error::Other(anyhow::anyhow!(
                    "{}: a chunk's first column is not event_id",
                    input.name
                )));
            };
            self.duplicates.append(
                (&self.run_id, &input.name, line),
                ids.value(row),
                key.event_time_ms,
                key.day,
            );
            if self.duplicates.len() >= self.rows_per_file {
                self.flush_duplicates()?;
            }
            return Ok(false);
        }
        rows.push(&mut self.held, id, batch, row, key.bytes as usize);
        if rows.len() >= self.rows_per_file || rows.bytes() >= BYTES_PER_FILE {
            self.flush_day(key.day)?;
            self.compact_sparse_days()?;
        }
        Ok(true)
    }

    /// Copies every day's rows into batches of their own, freeing the chunks' batches.
    fn compact(&mut self) -> Result<()> {
        tracing::debug!(
            "{} bytes of chunks held for unwritten rows: copying each day's rows out",
            self.held.bytes()
        );
        for rows in self.days.values_mut() {
            rows.compact(&mut self.held, self.next_batch)?;
            self.next_batch += 1;
        }
        // What is left is the days' own rows, each day below a file's worth.
        self.held_limit = self.held_floor.max(2 * self.held.bytes());
        Ok(())
    }

    /// Adds a rejected line (`raw`, its bytes) of `input`.
    pub fn reject(&mut self, reject: &Reject, input: &Input, line: u64, raw: &[u8]) -> Result<()> {
        *self
            .rejects_by_kind
            .entry(reject.kind.as_str().to_string())
            .or_default() += 1;
        self.rejects
            .append(&self.run_id, &input.name, line, reject, raw);
        if self.rejects.len() >= self.rows_per_file || self.rejects.bytes() >= BYTES_PER_FILE {
            self.flush_rejects()?;
        }
        Ok(())
    }

    fn flush_day(&mut self, day: i32) -> Result<()> {
        let Some(rows) = self.days.get_mut(&day) else {
            return Ok(());
        };
        if rows.is_empty() {
            return Ok(());
        }
        let (batches, rows) = rows.take(&mut self.held);
        self.out.transactions(day, batches, rows)
    }

    /// Once a full day's rows are handed to the writer, the chunks' batches they were in may be
    /// kept alive only by a few rows of other days (events stamped just across midnight, a
    /// few in every chunk of a log): those days copy their rows out now, so the batches are
    /// freed at once instead of piling up to the held limit. A dirty log of 6.7 M lines took
    /// 1.26-1.42 GiB at peak before this, against 0.93-1.0 GiB for the clean one. (Not at the
    /// end of a run: every day is written then, and a copy would only be thrown away.)
    fn compact_sparse_days(&mut self) -> Result<()> {
        for rows in self.days.values_mut() {
            if rows.is_sparse() {
                rows.compact(&mut self.held, self.next_batch)?;
                self.next_batch += 1;
            }
        }
        Ok(())
    }

    fn flush_rejects(&mut self) -> Result<()> {
        if self.rejects.is_empty() {
            return Ok(());
        }
        let batch = self.rejects.finish()?;
        self.out.file(&REJECTS_TABLE, None, batch)
    }

    fn flush_duplicates(&mut self) -> Result<()> {
        if self.duplicates.is_empty() {
            return Ok(());
        }
        let batch = self.duplicates.finish()?;
        self.out.file(&DUPLICATES_TABLE, None, batch)
    }

    /// Writes everything still buffered (rows, rollups, rejects, duplicates) and waits for
    /// the last write.
    pub fn finish(mut self) -> Result<Accepted> {
        let mut days: Vec<i32> = self.days.keys().copied().collect();
        days.sort_unstable();
        for day in days {
            self.flush_day(day)?;
        }
        self.out.finish_pending()?; // the last day's rows summed per second and hour
        self.out.flush_rollups()?;
        self.flush_rejects()?;
        self.flush_duplicates()?;
        self.out.finish()?; // and every file on disk before the run may commit
        Ok(Accepted {
            rows_by_date: self.out.rows_by_date(),
            rejects_by_kind: self.rejects_by_kind,
        })
    }
}

fn held_floor(rows_per_file: usize) -> usize {
    rows_per_file.max(1).saturating_mul(HELD_BYTES_PER_FILE_ROW)
}

/// Feeds the ids already committed for a CST day into `seen`: the contract lets
/// de-duplication rely on a re-delivery carrying the same instant, hence the same day.
fn load_committed_ids(
    wh: &Warehouse,
    manifest: &Manifest,
    day: i32,
    seen: &mut SeenIds,
) -> Result<()> {
    let date = date_from_days(day).to_string();
    for file in manifest.files_of(TRANSACTIONS) {
        if file.cst_date.as_deref() == Some(date.as_str()) {
            for_each_event_id(&wh.storage().source(&file.path), |ms, id| {
                seen.add_committed(ms, id_hash(id))
            })?;
        }
    }
    Ok(())
}
