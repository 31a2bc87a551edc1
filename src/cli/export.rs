//! `double11 export`: its flags, and the export options they stand for.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::export::{self, ExportFormat, ExportOptions};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["sql", "table"])))]
pub struct ExportArgs {
    /// The query whose rows to export.
    #[arg(long)]
    pub sql: Option<String>,
    /// A whole table to export.
    #[arg(long)]
    pub table: Option<String>,
    /// Destination file, or folder with --partition-by.
    #[arg(long)]
    pub to: PathBuf,
    /// Format (default: from the destination's extension).
    #[arg(long, value_enum)]
    pub format: Option<ExportFormatArg>,
    /// Write a folder partitioned by these columns (col=value/ sub-folders).
    #[arg(long)]
    pub partition_by: Vec<String>,
    /// Replace the destination if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `--format` of `double11 export`: [`ExportFormat`] as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormatArg {
    Csv,
    Parquet,
    /// Newline-delimited JSON, one object per row.
    Json,
}

impl From<ExportFormatArg> for ExportFormat {
    fn from(f: ExportFormatArg) -> ExportFormat {
        match f {
            ExportFormatArg::Csv => ExportFormat::Csv,
            ExportFormatArg::Parquet => ExportFormat::Parquet,
            ExportFormatArg::Json => ExportFormat::Json,
        }
    }
}

impl ExportArgs {
    /// The export these flags ask for (`--table T` is `SELECT * FROM T`).
    pub fn options(self) -> Result<ExportOptions> {
        let sql = match (self.sql, &self.table) {
            (Some(sql), _) => sql,
            (None, Some(table)) => export::sql_for_table(table),
            (None, None) => return Err(Error::Usage("pass --sql or --table".into())),
        };
        Ok(ExportOptions {
            sql,
            to: self.to,
            format: self.format.map(ExportFormat::from),
            partition_by: self.partition_by,
            force: self.force,
            params: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_its_library_name() {
        assert_eq!(
            ExportFormatArg::value_variants().len(),
            ExportFormat::ALL.len()
        );
        for f in ExportFormatArg::value_variants() {
            let name = f.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(ExportFormat::from(*f).name()));
        }
    }
}
