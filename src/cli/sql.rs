//! `double11 sql`: its flags and the output formats they name.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::output::Format;

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// Run these statements and exit (may be repeated; `\dt` and `\d TABLE` work too).
    #[arg(short = 'c', long = "command")]
    pub commands: Vec<String>,
    /// Run the statements of these files and exit.
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// Print "N rows in T s" after each statement (on stderr).
    #[arg(long)]
    pub timing: bool,
    /// Allow statements that change data (INSERT, COPY).
    #[arg(long)]
    pub writable: bool,
}

/// `--format` of `double11 sql`: [`Format`] as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    /// A boxed table for a terminal.
    Table,
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Binary Parquet (to a file or a pipe, never to a terminal).
    Parquet,
}

impl From<SqlFormat> for Format {
    fn from(f: SqlFormat) -> Format {
        match f {
            SqlFormat::Table => Format::Table,
            SqlFormat::Csv => Format::Csv,
            SqlFormat::Json => Format::Json,
            SqlFormat::Ndjson => Format::Ndjson,
            SqlFormat::Parquet => Format::Parquet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_its_library_name() {
        assert_eq!(SqlFormat::value_variants().len(), Format::ALL.len());
        for f in SqlFormat::value_variants() {
            let name = f.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(Format::from(*f).name()));
        }
    }
}
