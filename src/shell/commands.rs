//! Backslash commands of the shell: `\dt`, `\d`, `\format`, `\timing`, `\?`, `\q`.

use datafusion::execution::context::SessionContext;

use crate::error::{Error, Result};
use crate::output::Format;

/// What a backslash command asks of the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Quit,
    Help,
    ListTables,
    Describe(String),
    SetFormat(Format),
    ToggleTiming,
}

pub const HELP: &str = "\
SQL statements end with ';' and may span lines. Commands:
  \\dt            list tables
  \\d TABLE       describe a table's columns
  \\format F      output format: table, csv, json, ndjson
  \\timing        toggle the timing line
  \\?             this help
  \\q             quit (or Ctrl-D)
Tables: transactions (accepted, de-duplicated events; cst_date is the CST day),
        rejects (file, line, kind, reason, raw), duplicates (file, line, event_id, cst_date),
        fx_rates (currency, date, cny_per_unit),
        per_second (events and amount_cny per CST second, platform and event_type),
        per_hour (events, amount and amount_cny per CST hour, event_type and value of
                  each dimension: category, currency, device, province).
Times: event_time is an instant, shown in CST (+08:00). A literal with an offset is that
instant: TIMESTAMP '2019-11-10T17:00:00Z', TIMESTAMP '2019-11-11T01:00:00+08:00' and
'2019-11-10T12:00:00-05:00' are the same moment. Without an offset, TIMESTAMP
'2019-11-11 01:00:00' is wall-clock time, read as CST next to event_time.";

pub fn parse(line: &str) -> Result<Command> {
    let mut words = line.trim().trim_end_matches(';').split_whitespace();
    let name = words.next().unwrap_or("");
    let arg = words.next();
    match (name, arg) {
        ("\\q" | "\\quit", _) => Ok(Command::Quit),
        ("\\?" | "\\h" | "\\help", _) => Ok(Command::Help),
        ("\\dt", _) | ("\\d", None) => Ok(Command::ListTables),
        ("\\d", Some(t)) => Ok(Command::Describe(t.to_string())),
        ("\\timing", _) => Ok(Command::ToggleTiming),
        ("\\format", Some(f)) => {
            let format = Format::from_name(f).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown format {f:?}; try table, csv, json or ndjson"
                ))
            })?;
            if format == Format::Parquet {
                return Err(Error::Usage(
                    "parquet is binary; use `double11 export` for it".into(),
                ));
            }
            Ok(Command::SetFormat(format))
        }
        _ => Err(Error::Usage(format!(
            "unknown command {name:?}; \\? lists the commands"
        ))),
    }
}

/// SQL that answers a listing or describing command from the information schema.
pub fn sql_for(command: &Command) -> Option<String> {
    match command {
        Command::ListTables => Some(
            "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
                .into(),
        ),
        Command::Describe(table) => Some(format!(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_name = '{}' ORDER BY ordinal_position",
            table.replace('\'', "''")
        )),
        _ => None,
    }
}

/// Whether `table` exists, so `\d nosuch` says so instead of printing nothing.
pub fn table_exists(ctx: &SessionContext, table: &str) -> bool {
    ctx.table_exist(table).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse("\\q").ok(), Some(Command::Quit));
        assert_eq!(parse("\\dt").ok(), Some(Command::ListTables));
        assert_eq!(
            parse("\\d transactions").ok(),
            Some(Command::Describe("transactions".into()))
        );
        assert_eq!(
            parse("\\format csv").ok(),
            Some(Command::SetFormat(Format::Csv))
        );
        assert!(parse("\\format parquet").is_err());
        assert!(parse("\\nope").is_err());
    }
}
