//! The exchange rates of a run: those the warehouse stored, reconciled with those given.
//!
//! A rate the warehouse already converted with may not change; new rates are added; with
//! neither stored nor given rates, the bundled sample rates are used. The `fx_rates` table is
//! replaced by one file holding every rate used so far, when that set changed.

use std::path::Path;

use crate::cst::date_from_days;
use crate::error::{Error, Result};
use crate::ingest::fx::{self, FxRates};
use crate::ingest::IngestOptions;
use crate::schema::FX_RATES;
use crate::warehouse::manifest::Manifest;
use crate::warehouse::parquet_files::{read_all, write_file};
use crate::warehouse::tables::FX_RATES_TABLE;
use crate::warehouse::txn::WriteTxn;
use crate::warehouse::Warehouse;

/// The rates of a run: those the warehouse holds, and those the run converts with.
pub(crate) struct RunRates {
    pub stored: FxRates,
    pub fx: FxRates,
}

/// The rates file given with `--fx-rates`, read before the warehouse is opened.
pub(crate) fn given(opts: &IngestOptions) -> Result<Option<FxRates>> {
    opts.fx_rates.as_deref().map(FxRates::from_file).transpose()
}

impl RunRates {
    /// The stored rates, with the `given` ones (from `opts.fx_rates`) added.
    pub fn reconcile(
        wh: &Warehouse,
        manifest: &Manifest,
        given: Option<FxRates>,
        opts: &IngestOptions,
    ) -> Result<Self> {
        let stored = load_stored(wh, manifest)?;
        let mut fx = stored.clone();
        match given {
            Some(rates) => {
                // A rate the warehouse already converted with may not change: the amounts
                // already ingested would disagree with the new ones and with the fx_rates
                // table.
                let text = |r: i64| {
                    crate::money::format_fixed(i128::from(r), crate::money::RATE_SCALE as u32)
                };
                for (currency, day, rate) in rates.iter() {
                    if let Some(stored) = fx.get(currency, day).filter(|s| *s != rate) {
                        return Err(Error::Data(format!(
                            "{}: {currency} on {} is {} here but {} in the warehouse's fx_rates, which earlier runs converted with; keep the stored rate",
                            opts.fx_rates.as_deref().unwrap_or(Path::new("rates")).display(),
                            date_from_days(day),
                            text(rate),
                            text(stored),
                        )));
                    }
                }
                fx.merge(&rates)
            }
            None if fx.is_empty() => {
                tracing::info!("no --fx-rates and none stored: using the bundled sample rates");
                fx = FxRates::parse(fx::BUNDLED_RATES.as_bytes(), "<bundled rates>")?;
            }
            None => {}
        }
        Ok(RunRates { stored, fx })
    }

    /// Whether the run must write the `fx_rates` table (its rates differ from the stored
    /// ones, or none are stored).
    pub fn changed(&self, manifest: &Manifest) -> bool {
        self.stored != self.fx || manifest.files_of(FX_RATES).next().is_none()
    }

    /// Replaces the `fx_rates` table, in the transaction, by one file of every rate.
    pub fn stage(&self, txn: &mut WriteTxn, manifest: &Manifest) -> Result<()> {
        let file = txn.new_file(&FX_RATES_TABLE, None);
        let batch = self.fx.to_batch()?;
        let rows = batch.num_rows() as u64;
        let sort = FX_RATES_TABLE.sort_columns()?;
        let bytes = write_file(&file.path, FX_RATES_TABLE.schema(), batch, &sort, 1)?;
        txn.record(file, rows, bytes);
        for old in manifest.files_of(FX_RATES) {
            txn.delete(old);
        }
        Ok(())
    }
}

/// The rates stored in the warehouse's `fx_rates` table.
fn load_stored(wh: &Warehouse, manifest: &Manifest) -> Result<FxRates> {
    let mut rates = FxRates::default();
    for file in manifest.files_of(FX_RATES) {
        for batch in read_all(&wh.storage().source(&file.path))? {
            rates.merge(&FxRates::from_batch(&batch, &file.path)?);
        }
    }
    Ok(rates)
}
