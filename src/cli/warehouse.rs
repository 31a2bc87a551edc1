//! The flags of the warehouse's own commands: `history` (its versions), `optimize` (compact a
//! day's files), `vacuum` (delete files no version needs any more).

use std::time::Duration;

use clap::Args;

use crate::cli::jobs::HistoryFormatArg;

/// Flags of `double11 history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only the last N versions.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    #[arg(long, value_enum, default_value_t = HistoryFormatArg::Table)]
    pub format: HistoryFormatArg,
}

/// Flags of `double11 optimize`.
#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// The CST day to compact, YYYY-MM-DD (default: every day with more than one file).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub day: Option<String>,
}

/// Flags of `double11 vacuum`.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Delete files removed from the warehouse longer ago than this: 7d, 12h, 30m, 0s.
    #[arg(long, value_name = "AGE", value_parser = parse_age, default_value = "7d")]
    pub older_than: Duration,
    /// Only list the files that would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_day(text: &str) -> Result<String, String> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.format("%Y-%m-%d").to_string())
        .map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD)"))
}

/// `7d`, `12h`, `30m`, `45s`, `2w`.
fn parse_age(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not an age: a whole number and s, m, h, d or w (e.g. 7d)");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_days_parse_or_say_what_is_wrong() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "d", "7", "7 d", "7y", "-1d", "99999999999999999999w"] {
            assert!(parse_age(bad).unwrap_err().contains("not an age"), "{bad}");
        }
        assert_eq!(parse_day("2019-11-11"), Ok("2019-11-11".into()));
        assert!(parse_day("2019-13-11").is_err());
    }
}
