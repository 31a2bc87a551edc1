//! Time: RFC 3339 parsing and the China Standard Time (UTC+08:00) day.
//!
//! Event times are kept as epoch milliseconds. Fractions of a second beyond the millisecond
//! are truncated, never rounded, so `23:59:59.9999999` stays in its day. Every "day" in
//! double11 is a CST calendar day, whatever offset the log was written with; this module is
//! the one place that knows the offset.

use std::cell::Cell;

use chrono::{Datelike, NaiveDate};

/// China Standard Time is UTC+08:00 all year (no daylight saving).
pub(crate) const CST_OFFSET_SECONDS: i64 = 8 * 3600;
/// The Arrow timezone of stored `event_time` values, so SQL shows and truncates in CST.
pub(crate) const CST_TIMEZONE: &str = "+08:00";
const MS_PER_DAY: i64 = 86_400_000;

/// Where `YYYY-MM-DDTHH:MM:SS` has its digits.
const DIGIT_POSITIONS: [usize; 14] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

thread_local! {
    /// The calendar date parsed last on this thread (`YYYYMMDD`) and its days since
    /// 1970-01-01: a log's timestamps are nearly all of one or two dates, and chrono's check
    /// of the date and count of its days were 1.1 % of ingest's CPU (perf, BENCHMARKS.md,
    /// stop 38). `u32::MAX` is no date.
    static LAST_DATE: Cell<(u32, i64)> = const { Cell::new((u32::MAX, 0)) };
}

/// Parses an RFC 3339 timestamp with a mandatory offset into epoch milliseconds.
///
/// Accepts `T`/`t` as separator, `Z`/`z` or `±HH:MM` as offset and 1 to 9 fraction digits.
/// Refuses anything else (no offset, a space separator, leap second 60, 2019-13-01) with a
/// short reason the rejects table can show.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, &'static str> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err("not an RFC 3339 timestamp with offset");
    }
    // The fixed-width part `YYYY-MM-DDTHH:MM:SS`: separators and digits checked by position
    // (all within the 20 bytes checked above), then read two or four at a time.
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
        || !DIGIT_POSITIONS.iter().all(|&i| b[i].is_ascii_digit())
    {
        return Err("not an RFC 3339 timestamp with offset");
    }
    let d = |i: usize| u32::from(b[i] - b'0');
    let two = |i: usize| d(i) * 10 + d(i + 1);
    let (year, month, day) = (two(0) * 100 + two(2), two(5), two(8));
    let (hour, minute, second) = (two(11), two(14), two(17));
    let mut pos = 19;
    let mut millis = 0u32;
    if b[pos] == b'.' {
        let start = pos + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let digits = end - start;
        if digits == 0 || digits > 9 {
            return Err("fractional seconds must have 1 to 9 digits");
        }
        // Truncate to milliseconds: keep the first three digits, right-padded.
        for i in 0..3 {
            millis = millis * 10
                + if i < digits {
                    u32::from(b[start + i] - b'0')
                } else {
                    0
                };
        }
        pos = end;
    }
    let offset_seconds: i64 = match b.get(pos..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err("bad UTC offset");
            }
            let oh = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let om = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if oh > 23 || om > 59 {
                return Err("bad UTC offset");
            }
            let s = (oh * 60 + om) * 60;
            if *sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return Err("missing or bad UTC offset"),
    };
    // Days from the calendar, once per date and thread; the time of day by arithmetic.
    let date_key = (year * 100 + month) * 100 + day;
    let days = match LAST_DATE.with(Cell::get) {
        (key, days) if key == date_key => days,
        _ => {
            let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or("no such date")?;
            let days = i64::from(days_from_date(date));
            LAST_DATE.with(|last| last.set((date_key, days)));
            days
        }
    };
    if hour > 23 || minute > 59 || second > 59 {
        return Err("no such time of day");
    }
    let time_ms = i64::from(((hour * 60 + minute) * 60 + second) * 1000 + millis);
    Ok(days * MS_PER_DAY + time_ms - offset_seconds * 1000)
}

/// The CST calendar day of an instant, as days since 1970-01-01 (Arrow `Date32`).
pub(crate) fn cst_day(epoch_ms: i64) -> i32 {
    // Far outside the Date32 range only for absurd inputs, which validation refuses first.
    ((epoch_ms + CST_OFFSET_SECONDS * 1000).div_euclid(MS_PER_DAY)) as i32
}

/// The CST day as a date.
pub(crate) fn cst_date(epoch_ms: i64) -> NaiveDate {
    date_from_days(cst_day(epoch_ms))
}

/// Days since 1970-01-01 to a date.
pub(crate) fn date_from_days(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + EPOCH_DAYS_FROM_CE).unwrap_or(NaiveDate::MIN)
}

/// A date to days since 1970-01-01.
pub(crate) fn days_from_date(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_DAYS_FROM_CE
}

/// 1970-01-01 counted from 0001-01-01 (chrono's "days from CE").
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The first instant (epoch ms) of a CST day.
pub(crate) fn cst_day_start_ms(date: NaiveDate) -> i64 {
    i64::from(days_from_date(date)) * MS_PER_DAY - CST_OFFSET_SECONDS * 1000
}

/// Range of instants accepted as event times: years 1000..=9999 keep dates and partitions
/// sane (an epoch-ms integer of 10^18 is almost certainly a unit mistake).
pub(crate) fn plausible_epoch_ms(ms: i64) -> bool {
    // 1000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z
    (-30_610_224_000_000..=253_402_300_799_999).contains(&ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        parse_rfc3339_ms(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn offsets_are_brought_to_the_same_instant() {
        let a = ms("2019-11-11T00:00:01.234+08:00");
        assert_eq!(a, ms("2019-11-10T16:00:01.234Z"));
        assert_eq!(a, ms("2019-11-10T11:00:01.234-05:00"));
        assert_eq!(a, ms("2019-11-10t16:00:01.234z"));
        assert_eq!(a, 1_573_401_601_234);
    }

    #[test]
    fn fractions_are_truncated_to_milliseconds() {
        assert_eq!(ms("2019-11-11T23:59:59.9999999+08:00") % 1000, 999);
        assert_eq!(
            cst_date(ms("2019-11-11T23:59:59.9999999+08:00")).to_string(),
            "2019-11-11"
        );
        assert_eq!(
            cst_date(ms("2019-11-10T15:59:59.999999999Z")).to_string(),
            "2019-11-10"
        );
        assert_eq!(ms("2019-11-11T00:00:00.5Z") % 1000, 500);
        assert_eq!(ms("2019-11-11T00:00:00.05Z") % 1000, 50);
        assert_eq!(ms("2019-11-11T00:00:00Z") % 1000, 0);
    }

    #[test]
    fn bad_times_are_refused() {
        for bad in [
            "2019-11-11 00:00:01",
            "2019-11-11T00:00:01",
            "2019-11-11 00:00:01+08:00",
            "2019-13-01T00:00:00Z",
            "2019-02-29T00:00:00Z",
            "2019-11-11T24:00:00Z",
            "2019-11-11T23:59:60Z",
            "2019-11-11T00:00:00.Z",
            "2019-11-11T00:00:00.1234567890Z",
            "2019-11-11T00:00:00+0800",
            "2019-11-11T00:00:00+24:00",
            "garbage",
            "",
            "１９１９-11-11T00:00:00Z",
        ] {
            assert!(parse_rfc3339_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_read_as_chrono_reads_them() {
        // Dates across the calendar's edges (leap days, the first and last years), each time
        // of day checked by arithmetic against chrono's own RFC 3339 parser.
        let texts = [
            "2019-11-11T00:00:01.234+08:00",
            "2019-11-11T23:59:59.999+08:00",
            "2019-11-12T00:00:00Z",
            "2019-11-11T12:00:00Z",
            "2019-02-29T00:00:00Z",
            "2020-02-29T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
            "2019-11-11T24:00:00Z",
            "2019-11-11T00:00:00Z",
            // The same date again (its days remembered), then dates that follow one another
            // and a date that does not exist right after one that does.
            "2019-11-11T08:00:00.5+08:00",
            "2019-02-28T23:59:59Z",
            "2019-02-29T00:00:00Z",
            "2019-02-28T00:00:00-08:00",
            "2019-03-01T00:00:00+14:00",
        ];
        for text in texts {
            let chrono = chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.timestamp_millis());
            assert_eq!(parse_rfc3339_ms(text).ok(), chrono, "{text}");
        }
    }

    #[test]
    fn cst_days_have_their_bounds() {
        let day = NaiveDate::from_ymd_opt(2019, 11, 11).unwrap();
        let start = cst_day_start_ms(day);
        assert_eq!(start, ms("2019-11-11T00:00:00.000+08:00"));
        assert_eq!(cst_date(start), day);
        assert_eq!(cst_date(start - 1).to_string(), "2019-11-10");
        assert_eq!(cst_date(start + 86_400_000 - 1), day);
        assert_eq!(date_from_days(days_from_date(day)), day);
        assert_eq!(
            cst_day(-1),
            0,
            "1970-01-01T07:59:59.999+08:00 is still day 0"
        );
    }
}
