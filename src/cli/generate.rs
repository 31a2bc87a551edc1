//! `double11 generate`: its flags, and the generator's arguments they stand for.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use crate::generate::{self, GenCompression, GenFormat};

/// `--format`: [`GenFormat`] as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenFormatArg {
    /// CSV with a header row (`*.csv`).
    Csv,
    /// One JSON object per line (`*.jsonl`).
    Ndjson,
}

/// `--compress`: [`GenCompression`] as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenCompressionArg {
    None,
    /// gzip (`.gz`).
    Gz,
    /// Zstandard (`.zst`).
    Zst,
}

/// Arguments of `double11 generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// The CST day to generate (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2019-11-11", value_parser = parse_day)]
    pub day: NaiveDate,
    /// Size relative to the seed day: 1.0 is 1.3 billion paid orders and 268.4 billion yuan
    /// GMV with a peak of 544,000 orders in one second.
    #[arg(long, value_name = "F", default_value_t = 0.0001)]
    pub scale: f64,
    /// Also generate this base day, one year earlier: GMV 213.5 billion yuan at scale 1
    /// (the seed day is +25.7 %), orders in the same proportion.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub year_over_year: Option<NaiveDate>,
    /// Random seed: the same seed and arguments give the same bytes.
    #[arg(long, value_name = "N", default_value_t = 11)]
    pub seed: u64,
    /// Folder for the log files, _fx_rates.csv and truth.json (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "stdout")]
    pub out: Option<PathBuf>,
    /// Write the log as one stream to standard output instead of files.
    #[arg(long)]
    pub stdout: bool,
    /// Encoding of the log.
    #[arg(long, value_enum, default_value_t = GenFormatArg::Csv)]
    pub format: GenFormatArg,
    /// Compression of the log.
    #[arg(long, value_enum, default_value_t = GenCompressionArg::None)]
    pub compress: GenCompressionArg,
    /// Split each day over N files (named like 2019-11-11-0001.csv.zst), in time order.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub files: u32,
    /// Extra dirty lines per good event (e.g. 0.02): re-deliveries (also across files), bad
    /// lines of every reject kind, and events just outside the day, all counted in the truth.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub dirty: f64,
    /// Where to write the truth JSON (default: <out>/truth.json when --out is given).
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Where to write the rates CSV (default: <out>/_fx_rates.csv when writing files; ingest skips names starting with _ in folders).
    #[arg(long, value_name = "FILE")]
    pub fx_rates_out: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// A day between 1971 and 2999, as YYYY-MM-DD.
fn parse_day(text: &str) -> std::result::Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD)"))?;
    if !(1971..=2999).contains(&chrono::Datelike::year(&date)) {
        return Err(format!("{text}: pick a year between 1971 and 2999"));
    }
    Ok(date)
}

impl From<GenFormatArg> for GenFormat {
    fn from(f: GenFormatArg) -> GenFormat {
        match f {
            GenFormatArg::Csv => GenFormat::Csv,
            GenFormatArg::Ndjson => GenFormat::Ndjson,
        }
    }
}

impl From<GenCompressionArg> for GenCompression {
    fn from(c: GenCompressionArg) -> GenCompression {
        match c {
            GenCompressionArg::None => GenCompression::None,
            GenCompressionArg::Gz => GenCompression::Gz,
            GenCompressionArg::Zst => GenCompression::Zst,
        }
    }
}

impl From<GenerateArgs> for generate::GenerateArgs {
    fn from(a: GenerateArgs) -> generate::GenerateArgs {
        generate::GenerateArgs {
            day: a.day,
            scale: a.scale,
            year_over_year: a.year_over_year,
            seed: a.seed,
            out: a.out,
            stdout: a.stdout,
            format: a.format.into(),
            compress: a.compress.into(),
            files: a.files,
            dirty: a.dirty,
            truth: a.truth,
            fx_rates_out: a.fx_rates_out,
            force: a.force,
        }
    }
}
