//! The display currency: `--currency KRW --rate 166.26` adds, next to every CNY money column
//! (a decimal column named `*_cny`), the same amount in KRW: `gmv_cny` gets `gmv_krw`.
//! Converted exactly with integers (rate with up to 6 fraction digits, rounded to 0.01 half
//! away from zero); the CNY figures stay as they are.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Decimal128Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::money::{parse_rate, RATE_ONE};

/// A display currency: its code and how many units of it one CNY buys (in 10^-6 units).
#[derive(Debug, Clone)]
pub struct DisplayCurrency {
    pub code: String,
    pub per_cny_micros: i64,
}

impl DisplayCurrency {
    pub fn parse(code: &str, rate: &str) -> Result<Self> {
        let code = code.trim().to_ascii_uppercase();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Error::Usage(format!(
                "--currency {code:?}: expected a 3-letter ISO 4217 code such as KRW"
            )));
        }
        let per_cny_micros = parse_rate(rate.trim()).map_err(|e| {
            Error::Usage(format!(
                "--rate {rate:?}: {e} (units of {code} per 1 CNY, up to 6 fraction digits)"
            ))
        })?;
        Ok(Self {
            code,
            per_cny_micros,
        })
    }

    fn convert(&self, value: i128, scale: i8) -> i128 {
        // value × 10^-scale CNY × rate → 10^-2 units of the display currency.
        let product = value * i128::from(self.per_cny_micros) * 100;
        let div = i128::from(RATE_ONE) * 10i128.pow(u32::try_from(scale).unwrap_or(0));
        let half = div / 2;
        if product >= 0 {
            (product + half) / div
        } else {
            (product - half) / div
        }
    }

    /// The schema with a converted column after each `*_cny` decimal column.
    pub fn schema(&self, schema: &SchemaRef) -> SchemaRef {
        let mut fields = Vec::new();
        for f in schema.fields() {
            fields.push(f.as_ref().clone());
            if let Some(name) = self.converted_name(f) {
                fields.push(Field::new(name, DataType::Decimal128(38, 2), true));
            }
        }
        Arc::new(Schema::new(fields))
    }

    fn converted_name(&self, f: &Field) -> Option<String> {
        let base = f.name().strip_suffix("_cny")?;
        match f.data_type() {
            DataType::Decimal128(_, s) if *s >= 0 => {
                Some(format!("{base}_{}", self.code.to_ascii_lowercase()))
            }
            _ => None,
        }
    }

    /// Adds the converted columns to `batch`.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = self.schema(&batch.schema());
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (f, col) in batch.schema().fields().iter().zip(batch.columns()) {
            columns.push(Arc::clone(col));
            if self.converted_name(f).is_some() {
                let DataType::Decimal128(_, scale) = f.data_type() else {
                    continue;
                };
                let values = col
                    .as_any()
                    .downcast_ref::<Decimal128Array>()
                    .ok_or_else(|| {
                        Error::Other(anyhow::anyhow!("{} is not a decimal", f.name()))
                    })?;
                let converted: Decimal128Array = values
                    .iter()
                    .map(|v| v.map(|v| self.convert(v, *scale)))
                    .collect::<Decimal128Array>()
                    .with_precision_and_scale(38, 2)?;
                columns.push(Arc::new(converted));
            }
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_exactly_half_away_from_zero() {
        let krw = DisplayCurrency::parse("krw", "166.26").expect("rate");
        // 268,400,000,000.00 CNY × 166.26 = 44,624,184,000,000.00 KRW
        assert_eq!(krw.convert(26_840_000_000_000, 2), 4_462_418_400_000_000);
        let half = DisplayCurrency::parse("USD", "0.005").expect("rate");
        // 1.00 CNY × 0.005 = 0.005 → 0.01; -1.00 → -0.01
        assert_eq!(half.convert(100, 2), 1);
        assert_eq!(half.convert(-100, 2), -1);
        assert!(DisplayCurrency::parse("KRWX", "1").is_err());
        assert!(DisplayCurrency::parse("KRW", "1e3").is_err());
    }
}
