//! The money type: exact amounts in integer fen (0.01), never floats.
//!
//! Every amount is parsed from its text straight into an integer, converted to CNY with
//! integer arithmetic, and stored as an Arrow `Decimal128` with scale 2, so sums in SQL and
//! in Polars are exact to the fen. This module is the one place that knows those rules.

use std::fmt;

/// Fen per yuan: amounts carry at most two fraction digits.
pub(crate) const FEN_PER_UNIT: i64 = 100;
/// Fraction digits of a stored amount (Arrow decimal scale).
pub(crate) const AMOUNT_SCALE: i8 = 2;
/// Precision of the `amount` column: amounts are below 10,000,000.00.
pub(crate) const AMOUNT_PRECISION: u8 = 9;
/// Precision of the `amount_cny` column: room for an amount times any sane rate.
pub(crate) const AMOUNT_CNY_PRECISION: u8 = 18;
/// Fraction digits of an exchange rate (`cny_per_unit`).
pub(crate) const RATE_SCALE: i8 = 6;
/// Precision of the `cny_per_unit` column.
pub(crate) const RATE_PRECISION: u8 = 18;
/// Rate units per CNY: a rate of 1.0 is 1,000,000.
pub(crate) const RATE_ONE: i64 = 1_000_000;
/// Amounts must be strictly below this many fen (10,000,000 yuan).
pub(crate) const AMOUNT_LIMIT_FEN: i64 = 10_000_000 * FEN_PER_UNIT;
/// The largest `amount_cny` in fen: the most a `decimal(18, 2)` holds (10^18 - 1). An event
/// whose converted amount is larger is rejected; a sum that is larger is an error.
pub(crate) const AMOUNT_CNY_MAX_FEN: i64 = 10i64.pow(AMOUNT_CNY_PRECISION as u32) - 1;
/// The largest rate in rate units: the most a `decimal(18, 6)` holds, 999999999999.999999
/// CNY per unit. A larger rate in a rates file is an error naming its line.
pub(crate) const RATE_MAX: i64 = 10i64.pow(RATE_PRECISION as u32) - 1;

/// Why an amount or rate text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    NotADecimal,
    TooManyFractionDigits(usize),
    NotPositive,
    TooLarge,
    /// A rate beyond [`RATE_MAX`].
    RateTooLarge,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecimalError::NotADecimal => write!(f, "not a plain decimal number"),
            DecimalError::TooManyFractionDigits(n) => write!(f, "{n} fraction digits, too many"),
            DecimalError::NotPositive => write!(f, "must be greater than 0"),
            DecimalError::TooLarge => write!(f, "too large"),
            DecimalError::RateTooLarge => write!(
                f,
                "too large: a rate is at most {} (decimal(18, 6))",
                format_fixed(i128::from(RATE_MAX), RATE_SCALE as u32)
            ),
        }
    }
}

/// Parses an unsigned plain decimal (`123`, `123.4`, `0.05`) with at most `scale` fraction
/// digits into an integer of `10^-scale` units. No sign, exponent, spaces or separators:
/// anything a float parser would "helpfully" accept is refused here. A value that does not fit
/// an `i64` in those units is [`DecimalError::TooLarge`]: up to 18 digits cannot overflow and
/// are summed directly; longer texts are checked at every step, so however many digits the
/// text has, nothing wraps and the loop stops at the first digit too many.
pub(crate) fn parse_fixed(text: &str, scale: usize) -> Result<i64, DecimalError> {
    let bytes = text.as_bytes();
    // An amount is a few bytes: a plain search beats memchr's call and set-up.
    let (int_part, frac_part) = match bytes.iter().position(|b| *b == b'.') {
        Some(dot) => (&bytes[..dot], Some(&bytes[dot + 1..])),
        None => (bytes, None),
    };
    if int_part.is_empty() || !int_part.iter().all(u8::is_ascii_digit) {
        return Err(DecimalError::NotADecimal);
    }
    let frac = frac_part.unwrap_or_default();
    if frac_part.is_some() && frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
        return Err(DecimalError::NotADecimal);
    }
    if frac.len() > scale {
        return Err(DecimalError::TooManyFractionDigits(frac.len()));
    }
    let first = int_part.iter().position(|b| *b != b'0');
    let digits = &int_part[first.unwrap_or(int_part.len())..];
    if digits.len() + scale <= MAX_UNCHECKED_DIGITS {
        // The common case (an amount has a few digits): no step can overflow.
        let value = digits_value(frac, digits_value(digits, 0));
        return Ok(value * 10i64.pow((scale - frac.len()) as u32));
    }
    let mut value: i64 = 0;
    for b in digits.iter().chain(frac) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or(DecimalError::TooLarge)?;
    }
    for _ in frac.len()..scale {
        value = value.checked_mul(10).ok_or(DecimalError::TooLarge)?;
    }
    Ok(value)
}

/// Digits that always fit an `i64` (10^18 - 1 < 2^63 - 1), so they can be summed unchecked.
const MAX_UNCHECKED_DIGITS: usize = 18;

/// `start` followed by the ASCII digits `digits` (checked by the caller; together at most
/// [`MAX_UNCHECKED_DIGITS`] digits, so nothing overflows).
fn digits_value(digits: &[u8], start: i64) -> i64 {
    digits
        .iter()
        .fold(start, |v, b| v * 10 + i64::from(b - b'0'))
}

/// Parses a transaction amount: more than 0, below 10,000,000, at most 2 fraction digits.
pub fn parse_amount_fen(text: &str) -> Result<i64, DecimalError> {
    let fen = parse_fixed(text, AMOUNT_SCALE as usize)?;
    if fen <= 0 {
        return Err(DecimalError::NotPositive);
    }
    if fen >= AMOUNT_LIMIT_FEN {
        return Err(DecimalError::TooLarge);
    }
    Ok(fen)
}

/// Parses a `cny_per_unit` rate: more than 0, at most 6 fraction digits, at most
/// [`RATE_MAX`] (what the `cny_per_unit` column holds).
pub(crate) fn parse_rate(text: &str) -> Result<i64, DecimalError> {
    let units = match parse_fixed(text, RATE_SCALE as usize) {
        Err(DecimalError::TooLarge) => return Err(DecimalError::RateTooLarge),
        other => other?,
    };
    if units <= 0 {
        return Err(DecimalError::NotPositive);
    }
    if units > RATE_MAX {
        return Err(DecimalError::RateTooLarge);
    }
    Ok(units)
}

/// `amount × rate`, rounded to the fen half away from zero (the contract's rule), or `None`
/// when the result is beyond [`AMOUNT_CNY_MAX_FEN`] (what `amount_cny` holds): the caller
/// rejects that event. Never clamped, never wrapped.
pub(crate) fn convert_to_cny_fen(amount_fen: i64, rate: i64) -> Option<i64> {
    if rate == RATE_ONE {
        // Yuan (most events): the product and its rounding below give `amount_fen` back,
        // without an `i128` division.
        return (amount_fen.checked_abs()? <= AMOUNT_CNY_MAX_FEN).then_some(amount_fen);
    }
    // An i64 times an i64 always fits an i128; the checks are for the rounding and the result.
    let product = i128::from(amount_fen).checked_mul(i128::from(rate))?;
    let one = i128::from(RATE_ONE);
    let half = one / 2;
    let rounded = if product >= 0 {
        product.checked_add(half)? / one
    } else {
        product.checked_sub(half)? / one
    };
    let fen = i64::try_from(rounded).ok()?;
    (fen.checked_abs()? <= AMOUNT_CNY_MAX_FEN).then_some(fen)
}

/// Formats integer units with `scale` fraction digits: `format_fixed(123456, 2)` is `1234.56`.
pub(crate) fn format_fixed(value: i128, scale: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{abs}");
    }
    let div = 10u128.pow(scale);
    format!(
        "{sign}{}.{:0width$}",
        abs / div,
        abs % div,
        width = scale as usize
    )
}

/// Formats fen as yuan with two decimals.
pub(crate) fn format_fen(fen: i128) -> String {
    format_fixed(fen, AMOUNT_SCALE as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_amount_fen("12"), Ok(1200));
        assert_eq!(parse_amount_fen("12.5"), Ok(1250));
        assert_eq!(parse_amount_fen("12.05"), Ok(1205));
        assert_eq!(parse_amount_fen("0.01"), Ok(1));
        assert_eq!(parse_amount_fen("007.10"), Ok(710));
        assert_eq!(parse_amount_fen("9999999.99"), Ok(999_999_999));
    }

    #[test]
    fn amounts_refuse_what_the_contract_refuses() {
        assert_eq!(parse_amount_fen("0"), Err(DecimalError::NotPositive));
        assert_eq!(parse_amount_fen("0.00"), Err(DecimalError::NotPositive));
        assert_eq!(parse_amount_fen("10000000"), Err(DecimalError::TooLarge));
        assert_eq!(parse_amount_fen("10000000.00"), Err(DecimalError::TooLarge));
        assert_eq!(
            parse_amount_fen("1.234"),
            Err(DecimalError::TooManyFractionDigits(3))
        );
        for bad in [
            "-5", "+5", "1e3", "abc", "", ".5", "5.", " 5", "5 ", "1,000", "NaN", "inf", "0x10",
        ] {
            assert_eq!(
                parse_amount_fen(bad),
                Err(DecimalError::NotADecimal),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_amount_fen("99999999999999999999"),
            Err(DecimalError::TooLarge)
        );
    }

    #[test]
    fn conversion_rounds_half_away_from_zero() {
        // 0.01 USD at 7.05 = 0.0705 CNY -> 0.07
        assert_eq!(convert_to_cny_fen(1, 7_050_000), Some(7));
        // 0.10 at 0.005 = 0.0005 CNY, a twentieth of a fen -> 0.00
        assert_eq!(convert_to_cny_fen(10, 5_000), Some(0));
        // 1.00 at 0.005 = 0.005 -> half a fen -> away from zero -> 0.01
        assert_eq!(convert_to_cny_fen(100, 5_000), Some(1));
        // 3.00 at 0.004999 = 0.014997 -> 0.01
        assert_eq!(convert_to_cny_fen(300, 4_999), Some(1));
        assert_eq!(convert_to_cny_fen(-100, 5_000), Some(-1));
        assert_eq!(convert_to_cny_fen(12345, RATE_ONE), Some(12345));
    }

    #[test]
    fn yuan_convert_as_the_general_rule_does() {
        // The rule for any rate, without the shortcut for a rate of one.
        let general = |amount: i64| {
            let product = i128::from(amount) * i128::from(RATE_ONE);
            let half = i128::from(RATE_ONE) / 2;
            let rounded = if product >= 0 {
                (product + half) / i128::from(RATE_ONE)
            } else {
                (product - half) / i128::from(RATE_ONE)
            };
            i64::try_from(rounded)
                .ok()
                .filter(|fen| fen.unsigned_abs() <= AMOUNT_CNY_MAX_FEN.unsigned_abs())
        };
        let max = AMOUNT_CNY_MAX_FEN;
        for amount in [
            0,
            1,
            -1,
            7,
            12345,
            max - 1,
            max,
            max + 1,
            -max,
            -max - 1,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(
                convert_to_cny_fen(amount, RATE_ONE),
                general(amount),
                "{amount}"
            );
        }
    }

    #[test]
    fn rates_take_six_fraction_digits() {
        assert_eq!(parse_rate("7.0512"), Ok(7_051_200));
        assert_eq!(parse_rate("0.006012"), Ok(6_012));
        assert!(parse_rate("0.0060121").is_err());
        assert!(parse_rate("0").is_err());
    }

    #[test]
    fn the_largest_rate_is_what_cny_per_unit_holds() {
        // The largest accepted rate: decimal(18, 6)'s largest value.
        assert_eq!(parse_rate("999999999999.999999"), Ok(RATE_MAX));
        assert_eq!(RATE_MAX, 999_999_999_999_999_999);
        assert_eq!(
            format_fixed(i128::from(RATE_MAX), RATE_SCALE as u32),
            "999999999999.999999"
        );
        // The first rejected one, and the ~1e13 that used to overflow i64 while parsing.
        assert_eq!(parse_rate("1000000000000"), Err(DecimalError::RateTooLarge));
        assert_eq!(
            parse_rate("10000000000000"),
            Err(DecimalError::RateTooLarge)
        );
        // First past i64 itself (9223372036854.775807 is i64::MAX in rate units).
        assert_eq!(
            parse_rate("9223372036854.775808"),
            Err(DecimalError::RateTooLarge)
        );
        assert_eq!(
            parse_rate(&"9".repeat(10_000)),
            Err(DecimalError::RateTooLarge)
        );
        assert!(DecimalError::RateTooLarge
            .to_string()
            .contains("999999999999.999999"));
    }

    #[test]
    fn parsing_never_wraps() {
        // i64::MAX fen is the last value that fits; one more is too large, not negative.
        assert_eq!(parse_fixed("92233720368547758.07", 2), Ok(i64::MAX));
        assert_eq!(
            parse_fixed("92233720368547758.08", 2),
            Err(DecimalError::TooLarge)
        );
        // Padding the fraction digits overflows too: 9223372036854775807 with 2 implied.
        assert_eq!(
            parse_fixed("9223372036854775807", 2),
            Err(DecimalError::TooLarge)
        );
        assert_eq!(parse_fixed("000000000000000000000001", 2), Ok(100));
        // 18 digits with the fraction padded: the unchecked sum's limit, either side.
        assert_eq!(
            parse_fixed("9999999999999999.99", 2),
            Ok(999_999_999_999_999_999)
        );
        assert_eq!(
            parse_fixed("99999999999999999.9", 2),
            Err(DecimalError::TooLarge)
        );
        assert_eq!(
            parse_fixed("9223372036854775.8", 3),
            Ok(9_223_372_036_854_775_800)
        );
        assert_eq!(parse_fixed("0.5", 6), Ok(500_000));
    }

    #[test]
    fn conversion_at_the_edge_of_amount_cny() {
        assert_eq!(AMOUNT_CNY_MAX_FEN, 999_999_999_999_999_999);
        // 10,000.00 at the largest rate is exactly the largest amount_cny
        // (9,999,999,999,999,999.99 CNY); one fen more does not fit and is rejected.
        assert_eq!(
            convert_to_cny_fen(1_000_000, RATE_MAX),
            Some(AMOUNT_CNY_MAX_FEN)
        );
        assert_eq!(convert_to_cny_fen(1_000_001, RATE_MAX), None);
        assert_eq!(
            convert_to_cny_fen(-1_000_000, RATE_MAX),
            Some(-AMOUNT_CNY_MAX_FEN)
        );
        assert_eq!(convert_to_cny_fen(-1_000_001, RATE_MAX), None);
        // 1,000,000.00 at 9,999,999,999.999999 fits; at 10,000,000,000 it is 10^18 fen.
        assert_eq!(
            convert_to_cny_fen(100_000_000, 9_999_999_999_999_999),
            Some(999_999_999_999_999_900)
        );
        assert_eq!(
            convert_to_cny_fen(100_000_000, 10_000_000_000_000_000),
            None
        );
        // The largest amount at the largest rate, and whatever i64s a caller might pass.
        assert_eq!(convert_to_cny_fen(AMOUNT_LIMIT_FEN - 1, RATE_MAX), None);
        assert_eq!(convert_to_cny_fen(i64::MAX, i64::MAX), None);
        assert_eq!(convert_to_cny_fen(i64::MIN, i64::MAX), None);
    }

    #[test]
    fn formatting_is_exact() {
        assert_eq!(format_fen(0), "0.00");
        assert_eq!(format_fen(5), "0.05");
        assert_eq!(format_fen(-5), "-0.05");
        assert_eq!(format_fen(26_840_000_000_000), "268400000000.00");
        assert_eq!(format_fixed(7_051_200, 6), "7.051200");
    }
}
