//! How the HTML page shows a number to a person: money and counts with thousands separators,
//! shares and growth as percentages, large sums with a unit (2.07 B, 20.66 亿). Only the page
//! does this; CSV, JSON, NDJSON and Parquet keep the exact raw values, and every reformatted
//! table cell keeps its raw text in a `title` the browser shows on hover.
//!
//! Exact: every figure is worked out from the decimal digits the CSV format shows (Arrow's
//! display), with integer arithmetic and rounding half away from zero; no float touches a
//! figure on its way to the page.

use arrow::datatypes::DataType;

/// How the cells of one column are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// As the CSV format shows it.
    Raw,
    /// Thousands separators: `1,081,388.03`, `5,075`.
    Grouped,
    /// A fraction as a percentage with 2 decimals: `0.180310` -> `18.03 %`.
    Percent,
    /// A change as a signed percentage: `0.256652` -> `+25.67 %`.
    Growth,
}

impl Style {
    /// The style of a column from its name and type: `*_growth` and `*_share` columns are
    /// fractions; decimals (money) and integer counts are grouped, except ids, ranks, hours
    /// and years, which are labels.
    pub(crate) fn of(name: &str, data_type: &DataType) -> Style {
        let numeric = data_type.is_numeric();
        if numeric && (name == "growth" || name.ends_with("_growth")) {
            Style::Growth
        } else if numeric && (name == "share" || name.ends_with("_share")) {
            Style::Percent
        } else if matches!(
            data_type,
            DataType::Decimal128(..) | DataType::Decimal256(..)
        ) || (data_type.is_integer() && !is_label(name))
        {
            Style::Grouped
        } else {
            Style::Raw
        }
    }

    /// `text` (a cell as the CSV format shows it) in this style; text that is not a plain
    /// decimal number (empty, `NaN`, `1e-7`) stays as it is.
    pub(crate) fn show(self, text: &str) -> String {
        let shown = match self {
            Style::Raw => None,
            Style::Grouped => Decimal::parse(text).map(|d| d.grouped()),
            Style::Percent => Decimal::parse(text).map(|d| format!("{} %", d.percent())),
            Style::Growth => Decimal::parse(text).map(|d| {
                let p = d.percent();
                if p.starts_with('-') || p == "0.00" {
                    format!("{p} %")
                } else {
                    format!("+{p} %")
                }
            }),
        };
        shown.unwrap_or_else(|| text.to_string())
    }
}

fn is_label(name: &str) -> bool {
    name == "id"
        || name.ends_with("_id")
        || name.contains("rank")
        || name.contains("hour")
        || name.contains("year")
}

/// A decimal number held exactly: `units` × 10^-`scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub units: i128,
    pub scale: u32,
}

impl Decimal {
    /// `-1234.5600`, `17`, `0.25`; `None` for anything else or more than 36 digits.
    pub(crate) fn parse(text: &str) -> Option<Decimal> {
        let (neg, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits_ok(int) || !digits_ok(frac) || int.len() + frac.len() > 36 {
            return None;
        }
        let units: i128 = format!("{int}{frac}").parse().ok()?;
        Some(Decimal {
            units: if neg { -units } else { units },
            scale: frac.len() as u32,
        })
    }

    /// This number rounded half away from zero to `scale` fraction digits, as units of
    /// 10^-`scale`.
    pub(crate) fn units_at(self, scale: u32) -> i128 {
        if scale >= self.scale {
            return self.units * 10i128.pow(scale - self.scale);
        }
        let div = 10i128.pow(self.scale - scale);
        let (q, r) = (self.units / div, self.units % div);
        if 2 * r.abs() >= div {
            q + self.units.signum()
        } else {
            q
        }
    }

    /// With thousands separators and its own fraction digits: `-1,234.56`.
    pub(crate) fn grouped(self) -> String {
        fixed(self.units, self.scale)
    }

    /// × 100 with 2 decimals (no sign for positives, no `%`): `0.256652` -> `25.67`.
    pub(crate) fn percent(self) -> String {
        // Percent with 2 decimals = the fraction in units of 10^-4.
        fixed(self.units_at(4), 2)
    }

    /// In units of `unit` (e.g. 10^8 for 亿) with 2 decimals and separators: 2,066,432,586.02
    /// in 亿 is `20.66`.
    pub(crate) fn in_units_of(self, unit: i128) -> String {
        // value / unit with 2 decimals = (value in hundredths) / unit, rounded.
        let scaled = self.units_at(2);
        let (q, r) = (scaled / unit, scaled % unit);
        let rounded = if 2 * r.abs() >= unit {
            q + scaled.signum()
        } else {
            q
        };
        fixed(rounded, 2)
    }
}

/// `units` × 10^-`scale` written out with thousands separators.
fn fixed(units: i128, scale: u32) -> String {
    let digits = units.unsigned_abs().to_string();
    let scale = scale as usize;
    let digits = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = digits.split_at(digits.len() - scale);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 2);
    if units < 0 {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A sum of money in yuan with the unit a reader of the seed's figures expects: `20.66 亿`
/// (10^8) or `108.14 万` (10^4), else the grouped figure.
pub(crate) fn yuan_cn(d: Decimal) -> String {
    let abs = d.units.unsigned_abs() / 10u128.pow(d.scale);
    if abs >= 100_000_000 {
        format!("{} 亿", d.in_units_of(100_000_000))
    } else if abs >= 10_000 {
        format!("{} 万", d.in_units_of(10_000))
    } else {
        d.grouped()
    }
}

/// The same sum with an English unit: `2.07 B`, `1.08 M`, `12.50 k`.
pub(crate) fn short_en(d: Decimal) -> String {
    let abs = d.units.unsigned_abs() / 10u128.pow(d.scale);
    match abs {
        a if a >= 1_000_000_000 => format!("{} B", d.in_units_of(1_000_000_000)),
        a if a >= 1_000_000 => format!("{} M", d.in_units_of(1_000_000)),
        a if a >= 1_000 => format!("{} k", d.in_units_of(1_000)),
        _ => d.grouped(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).expect("a decimal")
    }

    #[test]
    fn money_and_counts_get_separators_and_keep_every_digit() {
        assert_eq!(Style::Grouped.show("1081388.03"), "1,081,388.03");
        assert_eq!(Style::Grouped.show("-1234.5"), "-1,234.5");
        assert_eq!(Style::Grouped.show("999"), "999");
        assert_eq!(Style::Grouped.show("5075"), "5,075");
        assert_eq!(Style::Grouped.show("0.07"), "0.07");
        assert_eq!(Style::Grouped.show("-0.07"), "-0.07");
        assert_eq!(
            Style::Grouped.show("268400000000000.00"),
            "268,400,000,000,000.00"
        );
        assert_eq!(Style::Grouped.show(""), "");
        assert_eq!(Style::Grouped.show("1e-7"), "1e-7");
    }

    #[test]
    fn shares_and_growth_are_percentages_rounded_half_away_from_zero() {
        assert_eq!(Style::Percent.show("0.180310"), "18.03 %");
        assert_eq!(Style::Percent.show("1"), "100.00 %");
        assert_eq!(Style::Growth.show("0.256652"), "+25.67 %");
        assert_eq!(Style::Growth.show("-0.223891"), "-22.39 %");
        assert_eq!(Style::Growth.show("0.00005"), "+0.01 %");
        assert_eq!(Style::Growth.show("-0.00005"), "-0.01 %");
        assert_eq!(Style::Growth.show("0.000049"), "0.00 %");
        assert_eq!(Style::Growth.show("12.5"), "+1,250.00 %");
        assert_eq!(Style::Growth.show(""), "");
        assert_eq!(Style::Growth.show("NaN"), "NaN");
    }

    #[test]
    fn columns_get_their_style_from_name_and_type() {
        let money = DataType::Decimal128(28, 2);
        assert_eq!(Style::of("gmv_cny", &money), Style::Grouped);
        assert_eq!(Style::of("orders", &DataType::Int64), Style::Grouped);
        assert_eq!(Style::of("hour", &DataType::Int32), Style::Raw);
        assert_eq!(Style::of("rank", &DataType::UInt64), Style::Raw);
        assert_eq!(Style::of("buyer_id", &DataType::Int64), Style::Raw);
        assert_eq!(Style::of("gmv_share", &DataType::Float64), Style::Percent);
        assert_eq!(Style::of("gmv_growth", &DataType::Float64), Style::Growth);
        assert_eq!(Style::of("gmv_growth", &DataType::Utf8), Style::Raw);
        assert_eq!(Style::of("category", &DataType::Utf8), Style::Raw);
    }

    #[test]
    fn large_sums_read_in_yi_and_billions() {
        // The seed: 268.4 billion yuan.
        let seed = d("268400000000.00");
        assert_eq!(yuan_cn(seed), "2,684.00 亿");
        assert_eq!(short_en(seed), "268.40 B");
        let day = d("2066432586.02");
        assert_eq!(yuan_cn(day), "20.66 亿");
        assert_eq!(short_en(day), "2.07 B");
        assert_eq!(yuan_cn(d("1081388.03")), "108.14 万");
        assert_eq!(short_en(d("1081388.03")), "1.08 M");
        assert_eq!(yuan_cn(d("9999.99")), "9,999.99");
        assert_eq!(short_en(d("999.99")), "999.99");
        // Half away from zero, at the second decimal of the unit.
        assert_eq!(d("1005000").in_units_of(1_000_000), "1.01");
        assert_eq!(d("1004999.99").in_units_of(1_000_000), "1.00");
        assert_eq!(d("-1005000").in_units_of(1_000_000), "-1.01");
    }
}
