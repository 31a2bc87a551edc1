//! Printing query results: a table for people, CSV / JSON / NDJSON / Parquet for programs.
//!
//! Decimals print with all their digits, timestamps as RFC 3339 in CST, and JSON is strict
//! (no NaN, no trailing commas); large integers stay exact as JSON numbers.

use std::io::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};

/// How `double11 sql` and the shell print results (`--format`, `\format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
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

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 5] = [
        Format::Table,
        Format::Csv,
        Format::Json,
        Format::Ndjson,
        Format::Parquet,
    ];

    /// The format named `name` (any case), as `--format` and `\format` spell it.
    pub fn from_name(name: &str) -> Option<Format> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        }
    }
}

/// Writes `batches` to `out` in `format`.
pub fn write(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: Format,
) -> Result<()> {
    match format {
        Format::Table => {
            let text = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{text}").map_err(stdout_err)?;
        }
        Format::Csv => {
            // Arrow's CSV writer turns I/O errors into text; write to memory (the rows are in
            // memory already) so that a closed pipe stays an I/O error.
            let mut buffer = Vec::new();
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut buffer);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(Arc::clone(schema)))?;
            }
            for b in batches {
                w.write(b)?;
            }
            drop(w);
            out.write_all(&buffer).map_err(stdout_err)?;
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs).map_err(arrow_out)?;
            w.finish().map_err(arrow_out)?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                // arrow writes nothing for no rows; an empty array is the honest answer.
                write!(out, "[]").map_err(stdout_err)?;
            }
            writeln!(out).map_err(stdout_err)?;
        }
        Format::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs).map_err(arrow_out)?;
            w.finish().map_err(arrow_out)?;
        }
        Format::Parquet => {
            let mut buffer = Vec::new();
            let mut w =
                parquet::arrow::ArrowWriter::try_new(&mut buffer, Arc::clone(schema), None)?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
            out.write_all(&buffer).map_err(stdout_err)?;
        }
    }
    out.flush().map_err(stdout_err)
}

fn stdout_err(e: std::io::Error) -> Error {
    Error::io("<stdout>", e)
}

/// Arrow's writers wrap write errors; a closed pipe must still read as an I/O error.
fn arrow_out(e: arrow::error::ArrowError) -> Error {
    match e {
        arrow::error::ArrowError::IoError(_, io) => stdout_err(io),
        other => other.into(),
    }
}
