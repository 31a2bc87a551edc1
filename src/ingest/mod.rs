//! Ingest: raw transaction logs in, committed Parquet out, exactly once.
//!
//! A run goes through these stages, one file each:
//! 1. [`plan`]: resolve the inputs (files, folders, globs, stdin) and decide for each whether
//!    to skip it (same bytes already ingested), resume it (it grew) or hold back its
//!    unfinished last line;
//! 2. [`read`]: stream each input's records ([`read::csv_records`],
//!    [`read::ndjson_records`]) and apply the contract's rules ([`read::validate`]), a chunk
//!    at a time on every core ([`read::chunks`], [`read::parsing`]), handing the results on
//!    in input order; a broken line becomes a reject;
//! 3. [`accept`]: drop re-deliveries of an `event_id` already accepted, in this run or an
//!    earlier one ([`accept::dedupe`]), and buffer accepted rows per CST day;
//! 4. [`write`]: sort and encode the buffers into the run's write transaction
//!    ([`WriteTxn`]), each `transactions` file also summed into the day's rollups;
//! 5. commit: the rates when they changed ([`rates`]), then every file and the manifest,
//!    atomically.
//!
//! Memory stays bounded: rows go to disk every [`IngestOptions::rows_per_file`] rows per day,
//! and seen ids beyond [`IngestOptions::ids_in_memory`] spill to disk by minute ([`accept::dedupe`]).

pub(crate) mod accept;
pub mod fx;
pub(crate) mod input;
pub(crate) mod options;
pub(crate) mod plan;
pub(crate) mod rates;
pub(crate) mod read;
pub(crate) mod remote;
pub mod summary;
pub(crate) mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::warehouse::manifest::{Counts, InputRecord, Manifest, RunRecord, TextPosition};
use crate::warehouse::txn::{now_rfc3339, WriteTxn};
use crate::warehouse::Warehouse;
use accept::{Accept, Accepted};
use input::Input;
use plan::{Plan, ReadInRun};
use rates::RunRates;
use read::InputReader;

pub use input::Encoding;
pub use options::IngestOptions;
/// The record formats and the contract's rules, public for property tests and other readers.
pub use read::{csv_records, ndjson_records, validate};

/// The outcome of one ingest run: the run record also written to the manifest.
#[derive(Debug, Clone)]
pub struct IngestReport {
    pub run: RunRecord,
    /// False when the run found nothing new and, as asked, committed nothing.
    pub committed: bool,
    pub rejects_by_kind: BTreeMap<String, u64>,
    pub warehouse: PathBuf,
}

/// Ingests the inputs into the warehouse at `root`, creating it if needed.
pub fn ingest(root: &Path, opts: &IngestOptions) -> Result<IngestReport> {
    opts.check()?;
    let inputs = input::resolve_inputs(&opts.inputs)?;
    if inputs.is_empty() {
        return Err(Error::Usage(
            "no log files among the inputs (expected *.csv, *.jsonl or *.ndjson, optionally .gz or .zst)".into(),
        ));
    }
    // Inputs in a bucket are read from local copies, fetched one ahead of the reader.
    let _fetched = remote::Fetched::guard(&inputs);
    if !opts.mapping.is_identity() {
        remote::fetch_all(&inputs)?; // the mapping's check reads every header first
        read::check_mapping(&inputs, &opts.mapping, opts.max_record_bytes)?;
    }
    let given = rates::given(opts)?;
    let (wh, manifest) = Warehouse::open_or_create(root)?;
    let rates = RunRates::reconcile(&wh, &manifest, given, opts)?;
    let mut txn = WriteTxn::open(&wh.storage(), &Manifest::run_id(manifest.next_run))?;
    let result = run(&wh, manifest, &mut txn, &rates, &inputs, opts);
    if result.is_err() {
        // Nothing of a failed run may linger: the warehouse stays exactly as it was.
        txn.discard();
    }
    result
}

/// Reads every input, writes what was accepted and commits the run.
fn run(
    wh: &Warehouse,
    manifest: Manifest,
    txn: &mut WriteTxn,
    rates: &RunRates,
    inputs: &[Input],
    opts: &IngestOptions,
) -> Result<IngestReport> {
    let started_at = now_rfc3339();
    let mut accept = Accept::new(wh, &manifest, txn, opts)?;
    let mut reader = InputReader {
        mapping: &opts.mapping,
        fx: &rates.fx,
        max_record: opts.max_record_bytes,
        threads: opts.threads,
        accept: &mut accept,
    };
    let records = read_inputs(&manifest, &mut reader, inputs, opts)?;
    let Accepted {
        rows_by_date,
        rejects_by_kind,
    } = accept.finish()?;
    let run = run_record(txn.run_id(), records, started_at, rows_by_date);
    commit(wh, manifest, txn, rates, run, rejects_by_kind, opts)
}

/// Plans and reads each input in turn; returns the manifest's record of each.
fn read_inputs(
    manifest: &Manifest,
    reader: &mut InputReader,
    inputs: &[Input],
    opts: &IngestOptions,
) -> Result<Vec<InputRecord>> {
    let progress = summary::progress_bar(inputs, opts.progress);
    let mut records = Vec::new();
    let mut read_in_run = ReadInRun::new();
    let run_id = Manifest::run_id(manifest.next_run);
    let unseen = unseen_files(manifest, inputs);
    let mut checksums = checksums_ahead(manifest, inputs, &unseen);
    for (n, input) in inputs.iter().enumerate() {
        crate::faults::point("input", n);
        let mut record = unread_record(input);
        if let Some(why) = &input.unreadable {
            tracing::warn!("{}: skipped: {why}", input.name);
            records.push(record);
            continue;
        }
        let (mut resume, mut hold_back, mut running) = (None, false, None);
        if let (Some(path), Some(abs)) = (&input.path, &record.path) {
            hold_back = opts
                .settle
                .is_some_and(|window| input::modified_within(path, window));
            if unseen[n] {
                // Read whole whatever its checksums: they are taken as it is read.
                running = Some(input::RunningChecksum::default());
            } else {
                let sums = checksums.get(n, input, plan::read_before(manifest, abs))?;
                let decided = plan::plan(manifest, &read_in_run, abs, &sums, hold_back);
                record.size = Some(sums.size);
                record.blake3 = Some(sums.blake3.clone());
                match decided {
                    Plan::Skip { by } => {
                        tracing::info!(
                            "{}: same bytes as already ingested by {by}; skipped",
                            input.name
                        );
                        if let Some(p) = &progress {
                            p.inc(sums.size);
                        }
                        record.skipped_as_ingested_by = Some(by);
                        records.push(record);
                        remote::forget(input);
                        continue;
                    }
                    Plan::Read {
                        resume: from,
                        hold_back: hold,
                    } => (resume, hold_back) = (from, hold),
                }
                read_in_run.insert((sums.size, sums.blake3), run_id.clone());
                if let Some(at) = resume {
                    tracing::info!(
                        "{}: grew since it was last read; reading on from line {}",
                        input.name,
                        at.lines + 1
                    );
                }
            }
        }
        let read = reader.read(
            input,
            opts.stdin_encoding,
            progress.clone(),
            resume,
            hold_back,
            running.clone(),
        )?;
        if let (Some(running), Some(path)) = (running, &input.path) {
            let sums = running.finish(path, &input.name)?;
            record.size = Some(sums.size);
            record.blake3 = Some(sums.blake3.clone());
            read_in_run.insert((sums.size, sums.blake3), run_id.clone());
        }
        note_read(&mut record, read, resume);
        records.push(record);
        remote::forget(input);
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    Ok(records)
}

/// Which inputs are local files that [`plan::unseen`] says are read whole whatever their
/// checksums. None in a run with objects in a bucket among its inputs: their sizes are known
/// only once they are fetched, so any of them may be a copy of a local file.
fn unseen_files(manifest: &Manifest, inputs: &[Input]) -> Vec<bool> {
    if inputs.iter().any(|input| input.remote.is_some()) {
        return vec![false; inputs.len()];
    }
    let files: Vec<Option<(String, u64)>> = inputs
        .iter()
        .map(|input| {
            let path = input.path.as_ref()?;
            if input.unreadable.is_some() {
                return None; // not read
            }
            let size = std::fs::metadata(path).ok()?.len();
            Some((input.ledger_name()?, size))
        })
        .collect();
    plan::unseen(manifest, &files)
}

/// Starts checksumming the input files on another thread, ahead of reading them, except the
/// `unseen` ones, whose checksums are taken as they are read.
fn checksums_ahead(
    manifest: &Manifest,
    inputs: &[Input],
    unseen: &[bool],
) -> input::ChecksumsAhead {
    input::ChecksumsAhead::start(
        inputs
            .iter()
            .enumerate()
            .filter(|(n, input)| input.unreadable.is_none() && !unseen[*n])
            .filter_map(|(n, input)| {
                let path = input.path.clone()?;
                let prefix = plan::read_before(manifest, &input.ledger_name()?);
                Some(input::Ahead {
                    n,
                    path,
                    name: input.name.clone(),
                    prefix,
                    remote: input.remote.clone(),
                })
            })
            .collect(),
    )
}

/// The manifest's record of an input before anything of it is known.
fn unread_record(input: &Input) -> InputRecord {
    InputRecord {
        name: input.name.clone(),
        path: input.ledger_name(),
        size: None,
        blake3: None,
        skipped_as_ingested_by: None,
        resumed_from: None,
        read_to: None,
        held_back: 0,
        counts: Counts::default(),
        unreadable: input.unreadable.clone(),
    }
}

/// Adds to an input's record what reading it (from `resume` on) gave.
fn note_read(record: &mut InputRecord, read: read::InputRead, resume: Option<TextPosition>) {
    record.counts = read.counts;
    record.resumed_from = resume;
    record.read_to = Some(read.read_to);
    record.held_back = read.held_back;
    if let Some(why) = read.not_a_log {
        tracing::warn!("{}: skipped: {why}", record.name);
        record.unreadable = Some(why);
    }
}

/// The record of the run in the manifest.
fn run_record(
    run_id: &str,
    inputs: Vec<InputRecord>,
    started_at: String,
    rows_by_date: BTreeMap<String, u64>,
) -> RunRecord {
    // Nothing new has zero counts and no rows, so this one record serves both outcomes.
    let mut totals = Counts::default();
    for i in &inputs {
        totals.add(&i.counts);
    }
    RunRecord {
        run_id: run_id.to_string(),
        started_at,
        finished_at: now_rfc3339(),
        double11_version: env!("CARGO_PKG_VERSION").into(),
        inputs,
        totals,
        rows_by_date,
    }
}

/// Commits the run's files, the rates (when they changed) and its record; or, when it found
/// nothing new and was asked not to, commits nothing.
fn commit(
    wh: &Warehouse,
    manifest: Manifest,
    txn: &mut WriteTxn,
    rates: &RunRates,
    run: RunRecord,
    rejects_by_kind: BTreeMap<String, u64>,
    opts: &IngestOptions,
) -> Result<IngestReport> {
    let rates_changed = rates.changed(&manifest);
    let nothing_new = !txn.has_new_files()
        && !rates_changed
        && run.inputs.iter().all(|i| {
            i.skipped_as_ingested_by.is_some()
                || (i.resumed_from.is_some() && i.read_to == i.resumed_from)
        });
    let committed = !nothing_new || opts.commit_when_nothing_new;
    if committed {
        if rates_changed {
            rates.stage(txn, &manifest)?;
        }
        txn.commit(manifest, Some(run.clone()), "ingest")?;
    } else {
        txn.discard();
    }
    Ok(IngestReport {
        run,
        committed,
        rejects_by_kind,
        warehouse: wh.root().to_path_buf(),
    })
}
