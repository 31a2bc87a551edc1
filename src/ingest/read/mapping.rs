//! Logs whose columns are named differently, or whose times are written differently.
//!
//! A job file may say `ts` is `event_time` and `amt` is `amount`, and that times look like
//! `2019-11-11 00:00:20.5` in CST. Renaming happens where a CSV header or a JSON key is matched
//! to a contract field; a mapped time is rewritten into the contract's RFC 3339 form before the
//! contract's rules run, so validation, the CST day and truncation to milliseconds stay in one
//! place ([`crate::cst`]).

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

use crate::ingest::read::validate::{Reject, RejectKind, Value};
use crate::schema::INPUT_FIELDS;

/// Source names of the contract's fields and how their times are written.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMapping {
    /// The CSV column or JSON key of each contract field, in `INPUT_FIELDS` order.
    pub columns: [String; 13],
    /// Where each renamed field was configured (e.g. `jobs/x.toml line 12`), for errors.
    pub origins: [Option<String>; 13],
    pub time: Option<TimeFormat>,
}

/// How `event_time` is written in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeFormat {
    pub kind: TimeKind,
    /// The zone of times that carry none (default CST).
    pub zone: FixedOffset,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimeKind {
    /// A chrono `strftime` pattern, e.g. `%Y-%m-%d %H:%M:%S%.f`; with `%z` the time carries
    /// its own offset.
    Pattern(String),
    /// Seconds since 1970-01-01 UTC, optionally with a fraction.
    EpochSeconds,
    /// Milliseconds since 1970-01-01 UTC.
    EpochMillis,
}

impl Default for ColumnMapping {
    fn default() -> Self {
        ColumnMapping {
            columns: INPUT_FIELDS.map(str::to_string),
            origins: Default::default(),
            time: None,
        }
    }
}

impl ColumnMapping {
    /// True when nothing is renamed or converted: the contract's own names and formats.
    pub fn is_identity(&self) -> bool {
        self.time.is_none() && self.columns.iter().zip(INPUT_FIELDS).all(|(c, f)| c == f)
    }

    /// Rewrites a mapped `event_time` into RFC 3339 with the full fraction, so that the
    /// contract's parser truncates it to milliseconds as it does every other time.
    pub fn convert_time(&self, value: &mut Value<'_>) -> Result<(), Reject> {
        let Some(time) = &self.time else {
            return Ok(());
        };
        let text: &str = match &*value {
            Value::Text(t) => t,
            Value::Number(n) => n,
            _ => return Ok(()), // absent or of the wrong type: the contract's rules say why
        };
        let parsed = time.parse(text.trim()).ok_or_else(|| {
            Reject::new(
                RejectKind::BadTime,
                format!(
                    "event_time {text:?} does not match the job's time format {}",
                    time.describe()
                ),
            )
        })?;
        *value = Value::Text(Cow::Owned(
            parsed.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string(),
        ));
        Ok(())
    }
}

impl TimeFormat {
    fn describe(&self) -> String {
        match &self.kind {
            TimeKind::Pattern(p) => format!("{p:?} (zone {})", self.zone),
            TimeKind::EpochSeconds => "epoch_seconds".into(),
            TimeKind::EpochMillis => "epoch_millis".into(),
        }
    }

    fn parse(&self, text: &str) -> Option<DateTime<FixedOffset>> {
        match &self.kind {
            TimeKind::Pattern(p) if has_offset(p) => DateTime::parse_from_str(text, p).ok(),
            TimeKind::Pattern(p) => {
                let naive = NaiveDateTime::parse_from_str(text, p).ok()?;
                self.zone.from_local_datetime(&naive).single()
            }
            TimeKind::EpochMillis => {
                let ms: i64 = text.parse().ok()?;
                Some(DateTime::from_timestamp_millis(ms)?.with_timezone(&self.zone))
            }
            TimeKind::EpochSeconds => {
                let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
                if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let secs: i64 = whole.parse().ok()?;
                let nanos: u32 = format!("{fraction:0<9}").parse().ok()?;
                if secs < 0 && nanos > 0 {
                    return None; // "-1.5" is ambiguous; nobody logs times before 1970
                }
                Some(DateTime::from_timestamp(secs, nanos)?.with_timezone(&self.zone))
            }
        }
    }
}

fn has_offset(pattern: &str) -> bool {
    ["%z", "%:z", "%::z", "%#z"]
        .iter()
        .any(|z| pattern.contains(z))
}

/// Parses a time zone offset such as `+08:00`, `-05:00`, `Z` or `UTC`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return FixedOffset::east_opt(0);
    }
    let sign = match t.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = &t[1..];
    let (h, m) = match digits.split_once(':') {
        Some(hm) => hm,
        None if digits.len() == 4 && digits.is_char_boundary(2) => digits.split_at(2),
        None => (digits, "00"),
    };
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cst::parse_rfc3339_ms;

    fn mapping(kind: TimeKind, zone: &str) -> ColumnMapping {
        ColumnMapping {
            time: Some(TimeFormat {
                kind,
                zone: parse_offset(zone).expect("zone"),
            }),
            ..ColumnMapping::default()
        }
    }

    fn converted(m: &ColumnMapping, text: &str) -> Result<i64, Reject> {
        let mut v = Value::Text(Cow::Borrowed(text));
        m.convert_time(&mut v)?;
        match v {
            Value::Text(t) => Ok(parse_rfc3339_ms(&t).expect("rfc3339")),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn patterns_epochs_and_zones_become_the_same_instant() {
        // 2019-11-11T00:00:20.999+08:00 = 1573401620999 ms.
        let want = 1_573_401_620_999;
        let local = mapping(TimeKind::Pattern("%Y-%m-%d %H:%M:%S%.f".into()), "+08:00");
        assert_eq!(converted(&local, "2019-11-11 00:00:20.9999999"), Ok(want));
        let utc = mapping(TimeKind::Pattern("%d/%m/%Y %H:%M:%S%.f".into()), "UTC");
        assert_eq!(converted(&utc, "10/11/2019 16:00:20.999"), Ok(want));
        let with_offset = mapping(TimeKind::Pattern("%Y-%m-%d %H:%M:%S%.f %z".into()), "Z");
        assert_eq!(
            converted(&with_offset, "2019-11-10 11:00:20.999 -0500"),
            Ok(want)
        );
        let secs = mapping(TimeKind::EpochSeconds, "+08:00");
        assert_eq!(converted(&secs, "1573401620.9999"), Ok(want));
        let ms = mapping(TimeKind::EpochMillis, "+08:00");
        assert_eq!(converted(&ms, "1573401620999"), Ok(want));
    }

    #[test]
    fn a_time_that_does_not_match_is_a_bad_time_reject() {
        let m = mapping(TimeKind::Pattern("%Y-%m-%d %H:%M:%S".into()), "+08:00");
        let r = converted(&m, "2019-11-11T00:00:20+08:00").expect_err("other format");
        assert_eq!(r.kind, RejectKind::BadTime);
        assert!(r.reason.contains("time format"), "{}", r.reason);
        let secs = mapping(TimeKind::EpochSeconds, "+08:00");
        assert!(converted(&secs, "1573401620.x").is_err());
        assert!(converted(&secs, "abc").is_err());
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+08:00"), FixedOffset::east_opt(8 * 3600));
        assert_eq!(
            parse_offset("-0530"),
            FixedOffset::east_opt(-(5 * 3600 + 1800))
        );
        assert_eq!(parse_offset("UTC"), FixedOffset::east_opt(0));
        assert_eq!(parse_offset("8"), None);
        assert_eq!(parse_offset("+25:00"), None);
    }
}
