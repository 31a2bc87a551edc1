//! The money type: exact amounts in integer fen (0.01), never floats.
//!
//! Every amount is parsed from its text straight into an integer, converted to CNY with
//! integer arithmetic, and stored as an Arrow `Decimal128` with scale 2, so sums in SQL and
//! in Polars are exact to the fen. This module is the one place that knows those rules.

use std::fmt;

/// Fen per yuan: amounts carry at most two fraction digits.
pub const FEN_PER_UNIT: i64 = 100;
/// Fraction digits of a stored amount (Arrow decimal scale).
pub const AMOUNT_SCALE: i8 = 2;
/// Precision of the `amount` column: amounts are below 10,000,000.00.
pub const AMOUNT_PRECISION: u8 = 9;
/// Precision of the `amount_cny` column: room for an amount times any sane rate.
pub const AMOUNT_CNY_PRECISION: u8 = 18;
/// Fraction digits of an exchange rate (`cny_per_unit`).
pub const RATE_SCALE: i8 = 6;
/// Precision of the `cny_per_unit` column.
pub const RATE_PRECISION: u8 = 18;
/// Rate units per CNY: a rate of 1.0 is 1,000,000.
pub const RATE_ONE: i64 = 1_000_000;
/// Amounts must be strictly below this many fen (10,000,000 yuan).
pub const AMOUNT_LIMIT_FEN: i64 = 10_000_000 * FEN_PER_UNIT;

/// Why an amount or rate text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    NotADecimal,
    TooManyFractionDigits(usize),
    NotPositive,
    TooLarge,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecimalError::NotADecimal => write!(f, "not a plain decimal number"),
            DecimalError::TooManyFractionDigits(n) => write!(f, "{n} fraction digits, too many"),
            DecimalError::NotPositive => write!(f, "must be greater than 0"),
            DecimalError::TooLarge => write!(f, "too large"),
        }
    }
}

/// Parses an unsigned plain decimal (`123`, `123.4`, `0.05`) with at most `scale` fraction
/// digits into an integer of `10^-scale` units. No sign, exponent, spaces or separators:
/// anything a float parser would "helpfully" accept is refused here.
pub fn parse_fixed(text: &str, scale: usize) -> Result<i64, DecimalError> {
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecimalError::NotADecimal);
    }
    let frac = frac_part.unwrap_or("");
    if frac_part.is_some() && frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecimalError::NotADecimal);
    }
    if frac.len() > scale {
        return Err(DecimalError::TooManyFractionDigits(frac.len()));
    }
    let digits = int_part.trim_start_matches('0');
    if digits.len() > 15 {
        return Err(DecimalError::TooLarge);
    }
    let mut value: i64 = 0;
    for b in digits.bytes().chain(frac.bytes()) {
        value = value * 10 + i64::from(b - b'0');
    }
    for _ in frac.len()..scale {
        value *= 10;
    }
    Ok(value)
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

/// Parses a `cny_per_unit` rate: more than 0, at most 6 fraction digits.
pub fn parse_rate(text: &str) -> Result<i64, DecimalError> {
    let units = parse_fixed(text, RATE_SCALE as usize)?;
    if units <= 0 {
        return Err(DecimalError::NotPositive);
    }
    Ok(units)
}

/// `amount × rate`, rounded to the fen half away from zero (the contract's rule).
pub fn convert_to_cny_fen(amount_fen: i64, rate: i64) -> i64 {
    let product = i128::from(amount_fen) * i128::from(rate);
    let one = i128::from(RATE_ONE);
    let half = one / 2;
    let rounded = if product >= 0 {
        (product + half) / one
    } else {
        (product - half) / one
    };
    // An amount below 10^9 fen times a rate below 10^18 units is far inside i64 only when the
    // rate is sane; clamp instead of wrapping so an absurd rate cannot corrupt a sum silently.
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// Formats integer units with `scale` fraction digits: `format_fixed(123456, 2)` is `1234.56`.
pub fn format_fixed(value: i128, scale: u32) -> String {
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
pub fn format_fen(fen: i128) -> String {
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
        assert_eq!(convert_to_cny_fen(1, 7_050_000), 7);
        // 0.10 at 0.005 = 0.0005 CNY, a twentieth of a fen -> 0.00
        assert_eq!(convert_to_cny_fen(10, 5_000), 0);
        // 1.00 at 0.005 = 0.005 -> half a fen -> away from zero -> 0.01
        assert_eq!(convert_to_cny_fen(100, 5_000), 1);
        // 3.00 at 0.004999 = 0.014997 -> 0.01
        assert_eq!(convert_to_cny_fen(300, 4_999), 1);
        assert_eq!(convert_to_cny_fen(-100, 5_000), -1);
        assert_eq!(convert_to_cny_fen(12345, RATE_ONE), 12345);
    }

    #[test]
    fn rates_take_six_fraction_digits() {
        assert_eq!(parse_rate("7.0512"), Ok(7_051_200));
        assert_eq!(parse_rate("0.006012"), Ok(6_012));
        assert!(parse_rate("0.0060121").is_err());
        assert!(parse_rate("0").is_err());
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
