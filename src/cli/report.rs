//! `double11 report`: its flags, and the [`ReportRequest`] they stand for.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use crate::error::Result;
use crate::reports::{catalog, ReportFormat, ReportRequest};
use crate::sql::params;

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The report: all, summary, revenue, growth, peak, milestones, or NAME for your own
    /// queries/NAME.sql (and queries/NAME.*.sql).
    pub name: String,
    /// The CST day to report on (binds $day).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub day: Option<NaiveDate>,
    /// The day to compare with (binds $compare; default: the same date a year before --day).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub compare: Option<NaiveDate>,
    /// How many rows a top-N query shows (binds $top; default 10).
    #[arg(long, value_name = "N")]
    pub top: Option<u64>,
    /// Another parameter for $NAME in the SQL (repeatable), e.g. --param gmv_unit=1000
    /// or --param region=Zhejiang.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormatArg::Table)]
    pub format: ReportFormatArg,
    /// Write one file per query, OUT/<query>.<ext> (HTML: one OUT/<report>.html), instead of
    /// printing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The folder of report SQL files (the built-in ones are used when ./queries is absent).
    #[arg(
        long,
        env = "DOUBLE11_QUERIES",
        default_value = catalog::DEFAULT_DIR,
        value_name = "DIR"
    )]
    pub queries: PathBuf,
    /// Also show money in this currency (next to CNY, which stays the stored truth).
    #[arg(long, requires = "rate", value_name = "CODE")]
    pub currency: Option<String>,
    /// Units of --currency per 1 CNY, e.g. 166.26 for KRW (up to 6 fraction digits).
    #[arg(long, requires = "currency", value_name = "DECIMAL")]
    pub rate: Option<String>,
}

/// `--format` of `double11 report`: [`ReportFormat`] as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    /// Boxed tables for a terminal.
    Table,
    Csv,
    /// One JSON array of objects per query.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Binary Parquet, one file per query (needs --out unless the report has one query).
    Parquet,
    /// One self-contained offline page with the tables and SVG charts.
    Html,
}

impl From<ReportFormatArg> for ReportFormat {
    fn from(f: ReportFormatArg) -> ReportFormat {
        match f {
            ReportFormatArg::Table => ReportFormat::Table,
            ReportFormatArg::Csv => ReportFormat::Csv,
            ReportFormatArg::Json => ReportFormat::Json,
            ReportFormatArg::Ndjson => ReportFormat::Ndjson,
            ReportFormatArg::Parquet => ReportFormat::Parquet,
            ReportFormatArg::Html => ReportFormat::Html,
        }
    }
}

impl ReportArgs {
    /// The request these flags make; a `--param` that is not NAME=VALUE is a usage error.
    pub fn request(self) -> Result<ReportRequest> {
        let params = self
            .params
            .iter()
            .map(|kv| params::parse_kv(kv))
            .collect::<Result<_>>()?;
        Ok(ReportRequest {
            report: self.name,
            day: self.day,
            compare: self.compare,
            top: self.top,
            params,
            format: self.format.into(),
            out: self.out,
            queries: self.queries,
            currency: self.currency,
            rate: self.rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_its_library_name() {
        assert_eq!(
            ReportFormatArg::value_variants().len(),
            ReportFormat::ALL.len()
        );
        for f in ReportFormatArg::value_variants() {
            let name = f.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(ReportFormat::from(*f).name()));
        }
    }
}
