//! `double11 generate`: a synthetic Singles' Day transaction log and its exact truth.
//!
//! The log follows the input contract (`docs/input-format.md`) and is fully
//! determined by `--seed`: the same arguments give the same bytes. At `--scale 1` a day is
//! the seed day itself: 1.3 billion paid orders, 268.4 billion yuan GMV, a peak of 544,000
//! orders in the second 00:00:20 CST; `--year-over-year` adds the base day (2018: 213.5
//! billion yuan, ≈ 1.034 billion orders, peak 491,000/s). See [`curve`] for the shape of a
//! day and its calibration.
//!
//! Orders are streamed second by second from a table of 86,400 counts: nothing per event is
//! kept beyond two rings of 4,096 recent events (for refunds and re-deliveries), so any
//! scale runs in constant memory. Events are drawn on one thread and rendered into text on
//! every core, in blocks written in draw order ([`pipeline`]): the bytes do not depend on the
//! number of cores. The [`Truth`] (`truth.json`) is accounted line by line
//! as the log is written, by what the contract says a reader must make of each line.

mod catalog;
mod curve;
mod day;
mod pipeline;
mod render;
mod rng;
mod sink;
mod truth;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};

use crate::cst::days_from_date;
use crate::error::{Error, Result};
use crate::ingest::fx::{FxRates, BUNDLED_RATES};

use catalog::CURRENCIES;
use curve::{Profile, BASE_DAY, SEED_DAY};
use day::{DayPlan, Generator, Job, Renderer};
use rng::mix64;
use sink::Output;

pub use truth::{DayTruth, Truth};

/// Encoding of the generated log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    /// CSV with a header row (`*.csv`).
    Csv,
    /// One JSON object per line (`*.jsonl`).
    Ndjson,
}

/// Compression of the generated log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenCompression {
    None,
    /// gzip (`.gz`).
    Gz,
    /// Zstandard (`.zst`).
    Zst,
}

/// What to generate (`double11 generate`'s flags, see `crate::cli::generate`).
#[derive(Debug, Clone)]
pub struct GenerateArgs {
    /// The CST day to generate (YYYY-MM-DD).
    pub day: NaiveDate,
    /// Size relative to the seed day: 1.0 is 1.3 billion paid orders and 268.4 billion yuan
    /// GMV with a peak of 544,000 orders in one second.
    pub scale: f64,
    /// Also generate this base day, one year earlier: GMV 213.5 billion yuan at scale 1
    /// (the seed day is +25.7 %), orders in the same proportion.
    pub year_over_year: Option<NaiveDate>,
    /// Random seed: the same seed and arguments give the same bytes.
    pub seed: u64,
    /// Folder for the log files, _fx_rates.csv and truth.json (created if missing).
    pub out: Option<PathBuf>,
    /// Write the log as one stream to standard output instead of files.
    pub stdout: bool,
    /// Encoding of the log.
    pub format: GenFormat,
    /// Compression of the log.
    pub compress: GenCompression,
    /// Split each day over N files (named like 2019-11-11-0001.csv.zst), in time order.
    pub files: u32,
    /// Extra dirty lines per good event (e.g. 0.02): re-deliveries (also across files), bad
    /// lines of every reject kind, and events just outside the day, all counted in the truth.
    pub dirty: f64,
    /// Where to write the truth JSON (default: <out>/truth.json when --out is given).
    pub truth: Option<PathBuf>,
    /// Where to write the rates CSV (default: <out>/_fx_rates.csv when writing files; ingest skips names starting with _ in folders).
    pub fx_rates_out: Option<PathBuf>,
    /// Overwrite existing files.
    pub force: bool,
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct GenerateReport {
    /// Records written (CSV data rows or non-blank NDJSON lines, good and bad).
    pub rows: u64,
    /// The log files in ingest order (empty with `--stdout`).
    pub files: Vec<PathBuf>,
    pub truth: Truth,
}

/// Generates the log, the rates and the truth, rendering on every core.
pub fn run(args: &GenerateArgs) -> Result<GenerateReport> {
    run_with(
        args,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    )
}

/// [`run`] with `workers` rendering threads: the bytes do not depend on how many.
fn run_with(args: &GenerateArgs, workers: usize) -> Result<GenerateReport> {
    check(args)?;
    let mut plans = vec![plan(args.day, &SEED_DAY, args.scale)];
    if let Some(base) = args.year_over_year {
        plans.push(plan(base, &BASE_DAY, args.scale));
    }
    // Files sort by name, which is the order readers take them in: generate in that order.
    plans.sort_by_key(|p| p.date);

    let ext = match (args.format, args.compress) {
        (GenFormat::Csv, GenCompression::None) => "csv",
        (GenFormat::Csv, GenCompression::Gz) => "csv.gz",
        (GenFormat::Csv, GenCompression::Zst) => "csv.zst",
        (GenFormat::Ndjson, GenCompression::None) => "jsonl",
        (GenFormat::Ndjson, GenCompression::Gz) => "jsonl.gz",
        (GenFormat::Ndjson, GenCompression::Zst) => "jsonl.zst",
    };
    let mut outputs: Vec<PathBuf> = Vec::new();
    if let (Some(dir), false) = (&args.out, args.stdout) {
        for p in &mut plans {
            p.files = (1..=args.files)
                .map(|k| dir.join(format!("{}-{k:04}.{ext}", p.date)))
                .collect();
            outputs.extend(p.files.iter().cloned());
        }
    }
    let rates_path = args
        .fx_rates_out
        .clone()
        .or_else(|| match (&args.out, args.stdout) {
            (Some(dir), false) => Some(dir.join("_fx_rates.csv")),
            _ => None,
        });
    let truth_path = args
        .truth
        .clone()
        .or_else(|| args.out.as_ref().map(|dir| dir.join("truth.json")));
    if !args.force {
        for path in outputs.iter().chain(&rates_path).chain(&truth_path) {
            if path.exists() {
                return Err(Error::Exists(path.display().to_string()));
            }
        }
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    }

    let fx = rates_for(plans.iter().map(|p| p.date))?;
    if let Some(path) = &rates_path {
        write_file(path, fx.to_csv().as_bytes())?;
    }

    let dirty = args.dirty > 0.0;
    let columns = day::columns(args.seed, dirty);
    let header = match args.format {
        GenFormat::Csv => render::csv_header(&columns),
        GenFormat::Ndjson => Vec::new(),
    };
    let mut out = Output::new(args.compress, header);
    if args.stdout {
        out.open_stdout()?;
    }
    let renderer = Renderer::new(args.format, columns);
    let render = |jobs: &[Job], bytes: &mut Vec<u8>| renderer.render(jobs, bytes);
    let (counters, days) = pipeline::run(out, workers, &render, |feed| {
        let mut gen = Generator::new(feed, args.seed, args.format, args.dirty);
        for p in &plans {
            gen.run_day(p, &fx)?;
        }
        gen.finish()
    })?;

    let c = &counters;
    let truth = Truth {
        seed: args.seed,
        scale: args.scale,
        format: match args.format {
            GenFormat::Csv => "csv".into(),
            GenFormat::Ndjson => "ndjson".into(),
        },
        dirty: args.dirty,
        files: if args.stdout {
            vec!["-".into()]
        } else {
            outputs
                .iter()
                .map(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect()
        },
        records: c.records,
        accepted: c.accepted,
        duplicates: c.duplicates,
        rejected: c.rejected,
        rejects_by_kind: c.rejects_by_kind.clone(),
        days: truth::days_truth(&days),
    };
    if let Some(path) = &truth_path {
        let mut json = serde_json::to_vec_pretty(&truth).map_err(|e| Error::Other(e.into()))?;
        json.push(b'\n');
        write_file(path, &json)?;
    }
    tracing::info!(
        rows = truth.records,
        accepted = truth.accepted,
        duplicates = truth.duplicates,
        rejected = truth.rejected,
        "generated"
    );
    Ok(GenerateReport {
        rows: truth.records,
        files: outputs,
        truth,
    })
}

fn check(args: &GenerateArgs) -> Result<()> {
    let usage = |m: String| Err(Error::Usage(m));
    if !(args.scale.is_finite() && args.scale > 0.0 && args.scale <= 100.0) {
        return usage(format!(
            "--scale {}: must be more than 0 and at most 100",
            args.scale
        ));
    }
    if !(0.0..=1.0).contains(&args.dirty) {
        return usage(format!("--dirty {}: must be between 0 and 1", args.dirty));
    }
    if args.files == 0 || args.files > 9999 {
        return usage(format!(
            "--files {}: must be between 1 and 9999",
            args.files
        ));
    }
    if args.stdout && args.files != 1 {
        return usage("--files needs --out: standard output is one stream".into());
    }
    if args.out.is_none() && !args.stdout {
        return usage("give --out DIR or --stdout".into());
    }
    if let Some(base) = args.year_over_year {
        if (base - args.day).num_days().abs() < 2 {
            return usage(format!(
                "--year-over-year {base}: must be at least two days away from --day {}",
                args.day
            ));
        }
    }
    if (SEED_DAY.orders * args.scale).round() < 1.0 {
        return usage(format!(
            "--scale {}: too small for a single order",
            args.scale
        ));
    }
    Ok(())
}

fn plan(date: NaiveDate, profile: &'static Profile, scale: f64) -> DayPlan {
    DayPlan {
        date,
        profile,
        orders: (profile.orders * scale).round() as u64,
        peak: (profile.peak_orders * scale).round() as u64,
        gmv_target_fen: (profile.gmv_yuan * scale * 100.0).round() as i64,
        files: Vec::new(),
    }
}

/// Rates of USD, EUR, JPY, KRW and HKD for each day and the days either side: the bundled
/// sample rates where they have the date, otherwise a typical rate moved by up to ±1.5 %
/// by a hash of the date (the same whatever the seed).
fn rates_for(days: impl Iterator<Item = NaiveDate>) -> Result<FxRates> {
    let bundled = FxRates::parse(BUNDLED_RATES.as_bytes(), "bundled rates")?;
    let mut fx = FxRates::default();
    for date in days {
        for d in [
            date.checked_sub_days(Days::new(1)),
            Some(date),
            date.checked_add_days(Days::new(1)),
        ]
        .into_iter()
        .flatten()
        {
            let day = days_from_date(d);
            for (i, &(code, _, typical)) in CURRENCIES.iter().enumerate().skip(1) {
                let rate = bundled.get(code, day).unwrap_or_else(|| {
                    let h = mix64((day as u64) << 8 | i as u64);
                    let permyriad = (h % 301) as i64 - 150;
                    let rate = typical * (10_000 + permyriad) / 10_000;
                    // Four significant decimals for the big currencies, six for the small.
                    if typical >= 100_000 {
                        rate / 100 * 100
                    } else {
                        rate
                    }
                });
                fx.insert(code.to_string(), day, rate);
            }
        }
    }
    Ok(fx)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(path.display().to_string(), e))
}
