//! The write stage of ingest: batches of rows become staged Parquet files of the run's
//! write transaction, encoded on a second thread while parsing goes on.
//!
//! A `transactions` batch is sorted by its table's key, summed into the day's rollups
//! (`per_second`, `per_hour`; written at the end of the run, or earlier when many groups are
//! held) and encoded; other batches are written in the order their table keeps. At most one
//! write is in flight, which bounds memory to two batches. Ingest runs as fast as this stage
//! (a file of 1 M rows every ~0.55 s at 19 M records), so one write uses every core: a pool
//! of `--threads` copies the columns into order side by side and sums the rollups while the
//! columns are encoded (19 M records: 11.30-11.53 -> 10.96-11.27 s; BENCHMARKS.md, stop 39).
//! For the same reason a file is synced to disk by another thread ([`Syncer`]) while the next
//! one is written; the run commits only once all are synced (BENCHMARKS.md, stop 41).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;

use crate::cst::date_from_days;
use crate::error::{Error, Result};
use crate::schema::TRANSACTIONS_FILE_SCHEMA;
use crate::warehouse::parquet_files::{take_sorted, write_sorted_file_unsynced};
use crate::warehouse::rollups::Rollups;
use crate::warehouse::tables::{Table, TRANSACTIONS_TABLE};
use crate::warehouse::txn::{NewFile, WriteTxn};

/// Rollup groups (`per_second` and `per_hour`) held for all days before they are written out
/// early (a run over many days, or over logs of very many platforms or categories): ~100
/// bytes each.
const ROLLUP_GROUPS_IN_MEMORY: usize = 4_000_000;

/// What the run wrote of one CST day.
#[derive(Default)]
struct DayOutput {
    rows_written: u64,
    /// The day's `transactions` files written so far, summed per second and per hour.
    rollups: Rollups,
}

/// A Parquet file being written on another thread, recorded once it is done.
struct PendingWrite {
    handle: std::thread::JoinHandle<Result<Written>>,
    file: NewFile,
    rows: u64,
}

/// What the writer thread did: the file (written, not yet synced) and its size, and for a
/// `transactions` file its rows summed per second and per hour (of the CST day given).
struct Written {
    file: std::fs::File,
    bytes: u64,
    rollups: Option<(i32, Rollups)>,
}

/// Syncs the run's files to disk on a thread of its own, in the order they were written: a
/// file's sync took 27-50 ms (19 M records), and the write stage, the one the others wait on,
/// went on to the next file only after it. The run commits only once every file is synced
/// ([`Writer::finish`]).
struct Syncer {
    files: Option<std::sync::mpsc::SyncSender<(std::fs::File, String)>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Files written but not yet synced, at most: each holds a file descriptor, and files of a
/// few rows (a small `--rows-per-file`) are written faster than they sync, so past this the
/// write stage waits for the disk as it did before.
const SYNCS_IN_FLIGHT: usize = 8;

impl Syncer {
    fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(std::fs::File, String)>(SYNCS_IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("double11-sync".into())
            .spawn(move || {
                // Every file is synced even after one fails: the first failure is the run's.
                let mut failed = None;
                for (file, name) in rx {
                    if let Err(e) = file.sync_all() {
                        failed.get_or_insert(Error::io(name, e));
                    }
                }
                failed.map_or(Ok(()), Err)
            });
        match thread {
            Ok(thread) => Syncer {
                files: Some(tx),
                thread: Some(thread),
            },
            // No thread: files are synced where they are written.
            Err(_) => Syncer {
                files: None,
                thread: None,
            },
        }
    }

    fn sync(&mut self, file: std::fs::File, name: String) -> Result<()> {
        match &self.files {
            Some(files) => match files.send((file, name)) {
                Ok(()) => Ok(()),
                // The thread is gone: sync here, and let `finish` report why it ended.
                Err(std::sync::mpsc::SendError((file, name))) => {
                    file.sync_all().map_err(|e| Error::io(name, e))
                }
            },
            None => file.sync_all().map_err(|e| Error::io(name, e)),
        }
    }

    /// Waits until every file handed over is synced.
    fn finish(&mut self) -> Result<()> {
        drop(self.files.take());
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| Error::Other(anyhow::anyhow!("the file sync thread panicked")))?,
            None => Ok(()),
        }
    }
}

/// Writes a run's files into its transaction.
pub(crate) struct Writer<'t> {
    txn: &'t mut WriteTxn,
    pending: Option<PendingWrite>,
    syncer: Syncer,
    days: BTreeMap<i32, DayOutput>,
    /// Threads that encode a file's columns.
    threads: usize,
    /// The threads that copy a file's rows into order and sum its rollups: as many.
    pool: Arc<rayon::ThreadPool>,
    /// Files are written around the page cache ([`crate::warehouse::direct_file`]).
    direct: bool,
}

impl<'t> Writer<'t> {
    pub fn new(txn: &'t mut WriteTxn, threads: usize, direct: bool) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("double11-write-{i}"))
            .build()
            .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the writer's threads: {e}")))?;
        Ok(Writer {
            txn,
            pending: None,
            syncer: Syncer::start(),
            days: BTreeMap::new(),
            threads,
            pool: Arc::new(pool),
            direct,
        })
    }

    /// Writes a file of accepted rows of the CST `day`, the rows `rows` ((batch, row)) of
    /// `batches`, sorted by the table's key so that files are the same whatever the input
    /// order.
    pub fn transactions(
        &mut self,
        day: i32,
        batches: Vec<RecordBatch>,
        rows: Vec<(usize, usize)>,
    ) -> Result<()> {
        let date = date_from_days(day).to_string();
        let file = self.txn.new_file(&TRANSACTIONS_TABLE, Some(&date));
        self.days.entry(day).or_default().rows_written += rows.len() as u64;
        if self.days.values().map(|d| d.rollups.len()).sum::<usize>() > ROLLUP_GROUPS_IN_MEMORY {
            self.flush_rollups()?;
        }
        let key = TRANSACTIONS_TABLE.sort_columns()?;
        let (count, threads, pool) = (rows.len() as u64, self.threads, Arc::clone(&self.pool));
        let direct = self.direct;
        self.in_background(file, count, move |path| {
            // This stage is the one the others wait on, so it uses every core: the chunks'
            // rows are copied into order column by column (and let go as they are), then
            // summed while they are encoded.
            let (rollups, (file, bytes)) = pool.install(|| {
                let sorted = take_sorted(batches, rows, &key)?;
                let (rollups, written) = rayon::join(
                    || Rollups::of_transactions(&sorted),
                    || {
                        let schema = &TRANSACTIONS_FILE_SCHEMA;
                        write_sorted_file_unsynced(path, schema, &sorted, &key, threads, direct)
                    },
                );
                Ok::<_, Error>((rollups?, written?))
            })?;
            Ok(Written {
                file,
                bytes,
                rollups: Some((day, rollups)),
            })
        })
    }

    /// Writes a file of `table` (of the CST day `cst_date`, when partitioned) whose rows are
    /// already in the table's order.
    pub fn file(
        &mut self,
        table: &'static Table,
        cst_date: Option<&str>,
        batch: RecordBatch,
    ) -> Result<()> {
        let file = self.txn.new_file(table, cst_date);
        let sorted_by = table.sort_columns()?;
        let (rows, threads, direct) = (batch.num_rows() as u64, self.threads, self.direct);
        self.in_background(file, rows, move |path| {
            let schema = batch.schema();
            let (file, bytes) =
                write_sorted_file_unsynced(path, &schema, &batch, &sorted_by, threads, direct)?;
            Ok(Written {
                file,
                bytes,
                rollups: None,
            })
        })
    }

    /// Writes each day's rollups (`per_second`, `per_hour`) summed so far as files of that
    /// day.
    pub fn flush_rollups(&mut self) -> Result<()> {
        let days: Vec<i32> = self.days.keys().copied().collect();
        for day in days {
            let Some(output) = self.days.get_mut(&day) else {
                continue;
            };
            if output.rollups.is_empty() {
                continue;
            }
            let batches = output.rollups.take_batches()?;
            let date = date_from_days(day).to_string();
            for (table, batch) in batches {
                self.file(table, Some(&date), batch)?;
            }
        }
        Ok(())
    }

    /// Runs `write` (given the staged path) on another thread, after the write before it
    /// has finished.
    fn in_background(
        &mut self,
        file: NewFile,
        rows: u64,
        write: impl FnOnce(&std::path::Path) -> Result<Written> + Send + 'static,
    ) -> Result<()> {
        self.finish_pending()?;
        let path = file.path.clone();
        let handle = std::thread::spawn(move || write(&path));
        self.pending = Some(PendingWrite { handle, file, rows });
        Ok(())
    }

    /// Waits for the write in flight, if any, and records its file.
    pub fn finish_pending(&mut self) -> Result<()> {
        if let Some(p) = self.pending.take() {
            let written = p.handle.join().map_err(|_| {
                Error::Other(anyhow::anyhow!("the Parquet writer thread panicked"))
            })??;
            if let Some((day, rollups)) = written.rollups {
                if let Some(output) = self.days.get_mut(&day) {
                    output.rollups.merge(rollups);
                }
            }
            let name = p.file.path.display().to_string();
            self.syncer.sync(written.file, name)?;
            self.txn.record(p.file, p.rows, written.bytes);
        }
        Ok(())
    }

    /// Waits for the write in flight, if any, and until every file written is on disk.
    pub fn finish(&mut self) -> Result<()> {
        self.finish_pending()?;
        self.syncer.finish()
    }

    /// Accepted rows written per CST day.
    pub fn rows_by_date(&self) -> BTreeMap<String, u64> {
        self.days
            .iter()
            .filter(|(_, d)| d.rows_written > 0)
            .map(|(day, d)| (date_from_days(*day).to_string(), d.rows_written))
            .collect()
    }
}
