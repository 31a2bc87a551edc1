//! The display currency: `--currency KRW --rate 166.26` adds, next to every CNY money column
//! (a decimal column named `*_cny`), the same amount in KRW: `gmv_cny` gets `gmv_krw`.
//! Converted exactly with integers (rate with up to 6 fraction digits, rounded to 0.01 half
//! away from zero); the CNY figures stay as they are.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Decimal128Array, RecordBatch};
use arrow::datatypes::{i256, DataType, Field, Schema, SchemaRef};

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

    /// `value × 10^-scale` CNY in hundredths of the display currency, rounded half away from
    /// zero; `None` when the result is beyond `decimal(38, 2)` (a huge sum times an absurd
    /// `--rate`), never a wrapped figure. Computed in 256 bits, so every result that fits is
    /// exact (a `decimal(28, 2)` sum times a rate of 10^12 needs ~10^46 on the way).
    fn convert(&self, value: i128, scale: i8) -> Option<i128> {
        let product = i256::from_i128(value)
            .checked_mul(i256::from_i128(i128::from(self.per_cny_micros)))?
            .checked_mul(i256::from_i128(100))?;
        let div = i256::from_i128(i128::from(RATE_ONE))
            .checked_mul(i256::from_i128(10).checked_pow(u32::try_from(scale).ok()?)?)?;
        let half = div.checked_div(i256::from_i128(2))?;
        let rounded = if product.is_negative() {
            product.checked_sub(half)?
        } else {
            product.checked_add(half)?
        }
        .checked_div(div)?
        .to_i128()?;
        (rounded.unsigned_abs() < 10u128.pow(38)).then_some(rounded)
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
                    .map(|v| {
                        v.map(|v| {
                            self.convert(v, *scale).ok_or_else(|| {
                                Error::Usage(format!(
                                    "{} {} in {} at --rate {} does not fit decimal(38, 2); \
                                     use a smaller rate",
                                    f.name(),
                                    crate::money::format_fixed(v, u32::from(scale.unsigned_abs())),
                                    self.code,
                                    crate::money::format_fixed(
                                        i128::from(self.per_cny_micros),
                                        crate::money::RATE_SCALE as u32
                                    )
                                ))
                            })
                        })
                        .transpose()
                    })
                    .collect::<Result<Decimal128Array>>()?
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
        assert_eq!(
            krw.convert(26_840_000_000_000, 2),
            Some(4_462_418_400_000_000)
        );
        let half = DisplayCurrency::parse("USD", "0.005").expect("rate");
        // 1.00 CNY × 0.005 = 0.005 → 0.01; -1.00 → -0.01
        assert_eq!(half.convert(100, 2), Some(1));
        assert_eq!(half.convert(-100, 2), Some(-1));
        assert!(DisplayCurrency::parse("KRWX", "1").is_err());
        assert!(DisplayCurrency::parse("KRW", "1e3").is_err());
    }

    #[test]
    fn a_conversion_that_does_not_fit_is_an_error_not_a_wrap() {
        let max = DisplayCurrency::parse("XAU", "999999999999.999999").expect("largest rate");
        assert!(DisplayCurrency::parse("XAU", "1000000000000").is_err());
        // A decimal(28, 2) sum near its top times the largest rate: beyond decimal(38, 2).
        let sum = 10i128.pow(28) - 1;
        assert_eq!(max.convert(sum, 2), None);
        assert_eq!(max.convert(-sum, 2), None);
        // 10^22 CNY at 10^11 = 10^33 CNY (10^35 hundredths) fits decimal(38, 2) ...
        let big = DisplayCurrency::parse("XAU", "100000000000").expect("10^11");
        assert_eq!(big.convert(10i128.pow(24), 2), Some(10i128.pow(35)));
        // ... up to the top, and past it is refused: 10^27 fen × 10^11 = 10^38 hundredths.
        assert_eq!(big.convert(10i128.pow(26), 2), Some(10i128.pow(37)));
        assert_eq!(big.convert(10i128.pow(27), 2), None);
        // Any scale a decimal128 has converts: 1.000…(38 digits) CNY at 10^11.
        assert_eq!(big.convert(10i128.pow(37), 37), Some(10i128.pow(13)));
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "gmv_cny",
                DataType::Decimal128(38, 2),
                false,
            )])),
            vec![Arc::new(
                Decimal128Array::from(vec![sum])
                    .with_precision_and_scale(38, 2)
                    .expect("decimal"),
            )],
        )
        .expect("batch");
        let err = max.apply(&batch).expect_err("too large").to_string();
        assert!(err.contains("gmv_cny") && err.contains("XAU"), "{err}");
    }
}
