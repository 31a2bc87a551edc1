//! Exchange rates: CNY per unit of a currency on a CST date.
//!
//! Rates come from a CSV file (`currency,date,cny_per_unit`) or from the warehouse's
//! `fx_rates` table, which keeps every rate any ingest used so figures can be re-derived.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Date32Array, Date32Builder, Decimal128Array, Decimal128Builder, RecordBatch, StringArray,
    StringBuilder,
};

use chrono::NaiveDate;

use crate::cst::{date_from_days, days_from_date};
use crate::error::{Error, Result};
use crate::ingest::read::csv_records::CsvRecords;
use crate::money::{format_fixed, parse_rate, RATE_MAX, RATE_SCALE};
use crate::schema::FX_RATES_SCHEMA;

/// The rates bundled for the sample data, used when nothing else is given.
pub(crate) const BUNDLED_RATES: &str = include_str!("../../sample-data/fx_rates.csv");

/// Rates keyed by (currency, CST day as days since the epoch), in rate units (10^-6 CNY).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FxRates {
    rates: BTreeMap<(String, i32), i64>,
}

impl FxRates {
    pub fn get(&self, currency: &str, day: i32) -> Option<i64> {
        self.rates.get(&(currency.to_string(), day)).copied()
    }

    pub fn insert(&mut self, currency: String, day: i32, rate: i64) {
        self.rates.insert((currency, day), rate);
    }

    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }

    /// Rates in a stable order: currency, then date.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.rates.iter().map(|((c, d), r)| (c.as_str(), *d, *r))
    }

    /// Adds `other`'s rates; a rate for the same currency and date replaces the old one.
    pub fn merge(&mut self, other: &FxRates) {
        for (c, d, r) in other.iter() {
            self.insert(c.to_string(), d, r);
        }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| Error::io(&name, e))?;
        Self::parse(std::io::BufReader::new(file), &name)
    }

    /// Parses a rates CSV. Unlike log lines, a bad rate is an error: converting money with a
    /// guessed or skipped rate would silently change every figure.
    pub fn parse(reader: impl BufRead, name: &str) -> Result<Self> {
        let mut records = CsvRecords::new(reader);
        let io_err = |e| Error::io(name, e);
        if !records.advance().map_err(io_err)? {
            return Ok(FxRates::default());
        }
        let header: Vec<String> = (0..records.field_count())
            .map(|i| String::from_utf8_lossy(records.field(i)).trim().to_string())
            .collect();
        let col = |n: &str| {
            header.iter().position(|h| h == n).ok_or_else(|| {
                Error::Data(format!(
                    "{name}: the rates file needs a column {n:?} (header is currency,date,cny_per_unit)"
                ))
            })
        };
        let (ci, di, ri) = (col("currency")?, col("date")?, col("cny_per_unit")?);
        let mut rates = FxRates::default();
        while records.advance().map_err(io_err)? {
            let line = records.line();
            let bad = |what: String| Error::Data(format!("{name}:{line}: {what}"));
            if records.field_count() != header.len() {
                return Err(bad(format!(
                    "expected {} fields, found {}",
                    header.len(),
                    records.field_count()
                )));
            }
            let text = |i| std::str::from_utf8(records.field(i)).map(str::trim);
            let (Ok(currency), Ok(date), Ok(rate)) = (text(ci), text(di), text(ri)) else {
                return Err(bad("not valid UTF-8".into()));
            };
            if !is_currency_code(currency) {
                return Err(bad(format!(
                    "{currency:?} is not an ISO 4217 currency code"
                )));
            }
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|_| bad(format!("{date:?} is not a date (YYYY-MM-DD)")))?;
            let rate = parse_rate(rate).map_err(|e| bad(format!("cny_per_unit {rate:?}: {e}")))?;
            let day = days_from_date(date);
            if let Some(old) = rates.get(currency, day) {
                if old != rate {
                    return Err(bad(format!(
                        "a second, different rate for {currency} on {date}"
                    )));
                }
            }
            rates.insert(currency.to_string(), day, rate);
        }
        Ok(rates)
    }

    /// The rates as a batch of the `fx_rates` table.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut currency = StringBuilder::new();
        let mut date = Date32Builder::new();
        let mut rate =
            Decimal128Builder::new().with_data_type(FX_RATES_SCHEMA.field(2).data_type().clone());
        for (c, d, r) in self.iter() {
            currency.append_value(c);
            date.append_value(d);
            rate.append_value(i128::from(r));
        }
        Ok(RecordBatch::try_new(
            Arc::clone(&FX_RATES_SCHEMA),
            vec![
                Arc::new(currency.finish()),
                Arc::new(date.finish()),
                Arc::new(rate.finish()),
            ],
        )?)
    }

    /// Reads rates back from a batch of the `fx_rates` table.
    pub fn from_batch(batch: &RecordBatch, name: &str) -> Result<Self> {
        let bad = || Error::Data(format!("{name}: not an fx_rates file of this version"));
        let currency = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(bad)?;
        let date = batch
            .column(1)
            .as_any()
            .downcast_ref::<Date32Array>()
            .ok_or_else(bad)?;
        let rate = batch
            .column(2)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .ok_or_else(bad)?;
        let mut rates = FxRates::default();
        for i in 0..batch.num_rows() {
            // The same bounds as a rates file: a damaged or foreign file cannot smuggle in a
            // rate whose products overflow.
            let r = i64::try_from(rate.value(i))
                .ok()
                .filter(|r| (1..=RATE_MAX).contains(r))
                .ok_or_else(|| {
                    Error::Data(format!(
                        "{name}: row {}: rate {} is not between 0.000001 and {}",
                        i + 1,
                        format_fixed(rate.value(i), RATE_SCALE as u32),
                        format_fixed(i128::from(RATE_MAX), RATE_SCALE as u32)
                    ))
                })?;
            rates.insert(currency.value(i).to_string(), date.value(i), r);
        }
        Ok(rates)
    }

    /// The rates as CSV text, the same format `parse` reads.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("currency,date,cny_per_unit\n");
        for (c, d, r) in self.iter() {
            out.push_str(&format!(
                "{c},{},{}\n",
                date_from_days(d),
                format_fixed(i128::from(r), RATE_SCALE as u32)
            ));
        }
        out
    }
}

/// An ISO 4217 alphabetic code has the shape of three capital letters.
pub(crate) fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_rates_parse() {
        let rates = FxRates::parse(BUNDLED_RATES.as_bytes(), "bundled").expect("bundled rates");
        assert!(!rates.is_empty());
        let round_trip = FxRates::parse(rates.to_csv().as_bytes(), "again").expect("round trip");
        assert_eq!(rates, round_trip);
        let batch = rates.to_batch().expect("batch");
        assert_eq!(FxRates::from_batch(&batch, "b").expect("from batch"), rates);
    }

    #[test]
    fn bad_rates_are_errors_with_a_line() {
        let err = FxRates::parse(
            "currency,date,cny_per_unit\nUSD,2019-11-11,7.1\nUSD,2019-11-11,abc\n".as_bytes(),
            "r.csv",
        )
        .expect_err("bad rate");
        assert!(err.to_string().starts_with("r.csv:3:"), "{err}");
        let err = FxRates::parse("currency,day\n".as_bytes(), "r.csv").expect_err("bad header");
        assert!(err.to_string().contains("date"), "{err}");
    }

    #[test]
    fn a_rate_beyond_cny_per_unit_is_an_error_naming_file_line_and_value() {
        let file = |rate: &str| {
            format!("currency,date,cny_per_unit\nUSD,2019-11-10,7.1\nXAU,2019-11-11,{rate}\n")
        };
        // The largest rate decimal(18, 6) holds is accepted and survives the fx_rates table.
        let rates =
            FxRates::parse(file("999999999999.999999").as_bytes(), "r.csv").expect("largest rate");
        assert_eq!(rates.get("XAU", 18_211), Some(RATE_MAX));
        let batch = rates.to_batch().expect("batch");
        assert_eq!(FxRates::from_batch(&batch, "b").expect("from batch"), rates);
        // The first one past it, and the ~1e13 that used to overflow i64.
        for rate in [
            "1000000000000",
            "10000000000000.5",
            "99999999999999999999999",
        ] {
            let err = FxRates::parse(file(rate).as_bytes(), "r.csv").expect_err(rate);
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("r.csv:3: cny_per_unit {rate:?}: too large"))
                    && msg.contains("999999999999.999999"),
                "{msg}"
            );
        }
    }

    #[test]
    fn a_stored_rate_out_of_range_is_an_error() {
        let mut rates = FxRates::default();
        rates.insert("XAU".into(), 18_211, RATE_MAX);
        let batch = rates.to_batch().expect("batch");
        // The same batch with the rate one unit larger, as a damaged file might hold it.
        let bigger: arrow::array::ArrayRef = Arc::new(
            Decimal128Array::from(vec![i128::from(RATE_MAX) + 1])
                .with_data_type(FX_RATES_SCHEMA.field(2).data_type().clone()),
        );
        let batch = RecordBatch::try_new(
            batch.schema(),
            vec![
                Arc::clone(batch.column(0)),
                Arc::clone(batch.column(1)),
                bigger,
            ],
        )
        .expect("batch");
        let err = FxRates::from_batch(&batch, "fx.parquet").expect_err("too large");
        assert!(
            err.to_string()
                .starts_with("fx.parquet: row 1: rate 1000000000000.000000"),
            "{err}"
        );
    }
}
