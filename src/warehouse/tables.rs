//! The table registry: every table of the warehouse described once.
//!
//! A [`Table`] names its folder, its columns (from [`crate::schema`], the single source of
//! truth), its Hive partition column, the order of the rows in each file (by column name)
//! and how its files are named. Folder creation, the write path, the sorts and the SQL
//! registration all read these descriptors, so a new table is one entry in [`ALL`].

use std::sync::LazyLock;

use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::schema::{
    DUPLICATES, DUPLICATES_SCHEMA, FX_RATES, FX_RATES_SCHEMA, LOW_CARDINALITY_TEXT_COLUMNS,
    PARTITION_COLUMN, PER_HOUR, PER_HOUR_FILE_SCHEMA, PER_SECOND, PER_SECOND_FILE_SCHEMA, REJECTS,
    REJECTS_SCHEMA, TRANSACTIONS, TRANSACTIONS_FILE_SCHEMA,
};

/// The order of the rows in each file of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrder {
    /// As the rows were written (input order): no sort, none recorded in the file.
    AsWritten,
    /// Sorted ascending by these columns, in this order, and recorded in the file.
    SortedBy(&'static [&'static str]),
}

/// How a table's files are named within their (partition) folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileNaming {
    /// `<prefix>-<run>-<nnnn>.parquet`: a run writes any number of files.
    Numbered(&'static str),
    /// `<prefix>-<run>.parquet`: a run writes at most one file (it replaces the table).
    OnePerRun(&'static str),
}

/// One table of the warehouse.
#[derive(Debug)]
pub struct Table {
    /// The folder under the warehouse root, and the name SQL sees.
    pub name: &'static str,
    /// The columns stored in each file (a partition column lives in the path instead).
    pub schema: &'static LazyLock<SchemaRef>,
    /// The Hive partition column (the CST day), for a table partitioned by day.
    pub partition: Option<&'static str>,
    pub order: RowOrder,
    /// How many leading columns of [`Self::order`] the query engine is told each file is
    /// sorted by (so it can skip a sort); the rest of the order is not declared.
    pub declared_columns: usize,
    pub naming: FileNaming,
    /// Text columns of a few values each (a dictionary per page) that SQL reads as views into
    /// the page's dictionary and casts back to `Utf8` above the scan (`sql::register`).
    pub dictionary_text: &'static [&'static str],
}

pub static TRANSACTIONS_TABLE: Table = Table {
    name: TRANSACTIONS,
    schema: &TRANSACTIONS_FILE_SCHEMA,
    partition: Some(PARTITION_COLUMN),
    // The same files whatever the input order.
    order: RowOrder::SortedBy(&["event_time", "event_id"]),
    declared_columns: 1,
    naming: FileNaming::Numbered("part"),
    dictionary_text: &LOW_CARDINALITY_TEXT_COLUMNS,
};

pub static REJECTS_TABLE: Table = Table {
    name: REJECTS,
    schema: &REJECTS_SCHEMA,
    partition: None,
    order: RowOrder::AsWritten,
    declared_columns: 0,
    naming: FileNaming::Numbered(REJECTS),
    dictionary_text: &[],
};

pub static DUPLICATES_TABLE: Table = Table {
    name: DUPLICATES,
    schema: &DUPLICATES_SCHEMA,
    partition: None,
    order: RowOrder::AsWritten,
    declared_columns: 0,
    naming: FileNaming::Numbered(DUPLICATES),
    dictionary_text: &[],
};

pub static FX_RATES_TABLE: Table = Table {
    name: FX_RATES,
    schema: &FX_RATES_SCHEMA,
    partition: None,
    order: RowOrder::SortedBy(&["currency", "date"]),
    declared_columns: 0,
    naming: FileNaming::OnePerRun(FX_RATES),
    dictionary_text: &[],
};

pub static PER_SECOND_TABLE: Table = Table {
    name: PER_SECOND,
    schema: &PER_SECOND_FILE_SCHEMA,
    partition: Some(PARTITION_COLUMN),
    order: RowOrder::SortedBy(&["second_cst", "platform", "event_type"]),
    declared_columns: 0,
    naming: FileNaming::Numbered(PER_SECOND),
    dictionary_text: &[],
};

pub static PER_HOUR_TABLE: Table = Table {
    name: PER_HOUR,
    schema: &PER_HOUR_FILE_SCHEMA,
    partition: Some(PARTITION_COLUMN),
    order: RowOrder::SortedBy(&["hour_cst", "event_type", "dimension"]),
    declared_columns: 0,
    naming: FileNaming::Numbered(PER_HOUR),
    dictionary_text: &[],
};

/// Every table, in the order they are created and registered.
pub static ALL: [&Table; 6] = [
    &TRANSACTIONS_TABLE,
    &PER_SECOND_TABLE,
    &PER_HOUR_TABLE,
    &REJECTS_TABLE,
    &FX_RATES_TABLE,
    &DUPLICATES_TABLE,
];

/// The order a write transaction commits changed tables in: `transactions`, the table users
/// query, last, right before the warehouse version that makes the run visible.
pub static COMMIT_ORDER: [&Table; 6] = [
    &REJECTS_TABLE,
    &DUPLICATES_TABLE,
    &FX_RATES_TABLE,
    &PER_SECOND_TABLE,
    &PER_HOUR_TABLE,
    &TRANSACTIONS_TABLE,
];

impl Table {
    /// Whether the file called `file_name` (in this table's folders) was written by the run
    /// `run_id` (see [`Self::file_path`]).
    pub fn written_by(&self, file_name: &str, run_id: &str) -> bool {
        let prefix = match self.naming {
            FileNaming::Numbered(p) | FileNaming::OnePerRun(p) => p,
        };
        file_name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_prefix(run_id))
            .is_some_and(|rest| rest.starts_with('-') || rest == ".parquet")
    }

    /// The table's file schema.
    pub fn schema(&self) -> &SchemaRef {
        self.schema
    }

    /// Where the run's `seq`-th file of this table (of the CST day `cst_date`, for a
    /// partitioned table) goes, relative to the warehouse root.
    pub fn file_path(&self, cst_date: Option<&str>, run_id: &str, seq: usize) -> String {
        let folder = match (self.partition, cst_date) {
            (Some(column), Some(date)) => format!("{}/{column}={date}", self.name),
            _ => self.name.to_string(),
        };
        match self.naming {
            FileNaming::Numbered(prefix) => format!("{folder}/{prefix}-{run_id}-{seq:04}.parquet"),
            FileNaming::OnePerRun(prefix) => format!("{folder}/{prefix}-{run_id}.parquet"),
        }
    }

    /// The columns of [`Self::order`] declared to the query engine.
    pub fn declared_order(&self) -> &'static [&'static str] {
        match self.order {
            RowOrder::AsWritten => &[],
            RowOrder::SortedBy(names) => &names[..self.declared_columns.min(names.len())],
        }
    }

    /// The positions in [`Self::schema`] of the columns the rows are sorted by (none for
    /// rows kept as written).
    pub fn sort_columns(&self) -> Result<Vec<usize>> {
        let RowOrder::SortedBy(names) = self.order else {
            return Ok(Vec::new());
        };
        names
            .iter()
            .map(|name| {
                self.schema.index_of(name).map_err(|_| {
                    Error::Data(format!(
                        "table {}: sort column {name} is not one of its columns; fix the table registry (src/warehouse/tables.rs)",
                        self.name
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_column_exists() {
        for table in ALL {
            let columns = table.sort_columns().unwrap();
            if let RowOrder::SortedBy(names) = table.order {
                assert_eq!(columns.len(), names.len(), "{}", table.name);
            }
        }
        assert_eq!(TRANSACTIONS_TABLE.sort_columns().unwrap(), [1, 0]);
        assert_eq!(PER_SECOND_TABLE.sort_columns().unwrap(), [0, 1, 2]);
        assert_eq!(PER_HOUR_TABLE.sort_columns().unwrap(), [0, 1, 2]);
        assert_eq!(FX_RATES_TABLE.sort_columns().unwrap(), [0, 1]);
        assert!(REJECTS_TABLE.sort_columns().unwrap().is_empty());
        assert_eq!(TRANSACTIONS_TABLE.declared_order(), ["event_time"]);
        assert!(PER_SECOND_TABLE.declared_order().is_empty());
    }

    #[test]
    fn a_file_name_tells_its_run() {
        assert!(TRANSACTIONS_TABLE.written_by("part-r000007-0003.parquet", "r000007"));
        assert!(!TRANSACTIONS_TABLE.written_by("part-r0000070-0003.parquet", "r000007"));
        assert!(!TRANSACTIONS_TABLE.written_by("part-r000008-0003.parquet", "r000007"));
        assert!(FX_RATES_TABLE.written_by("fx_rates-r000007.parquet", "r000007"));
        assert!(PER_HOUR_TABLE.written_by("per_hour-upgrade-0000.parquet", "upgrade"));
        assert!(!PER_HOUR_TABLE.written_by("00000000000000000000.json", "r000007"));
        for table in ALL {
            assert!(COMMIT_ORDER.iter().any(|t| t.name == table.name));
        }
    }

    #[test]
    fn file_names_are_those_of_earlier_versions() {
        let d = Some("2019-11-11");
        assert_eq!(
            TRANSACTIONS_TABLE.file_path(d, "r000001", 2),
            "transactions/cst_date=2019-11-11/part-r000001-0002.parquet"
        );
        assert_eq!(
            PER_SECOND_TABLE.file_path(d, "upgrade", 0),
            "per_second/cst_date=2019-11-11/per_second-upgrade-0000.parquet"
        );
        assert_eq!(
            PER_HOUR_TABLE.file_path(d, "r000003", 1),
            "per_hour/cst_date=2019-11-11/per_hour-r000003-0001.parquet"
        );
        assert_eq!(
            REJECTS_TABLE.file_path(None, "r000001", 0),
            "rejects/rejects-r000001-0000.parquet"
        );
        assert_eq!(
            DUPLICATES_TABLE.file_path(None, "r000001", 3),
            "duplicates/duplicates-r000001-0003.parquet"
        );
        assert_eq!(
            FX_RATES_TABLE.file_path(None, "r000001", 0),
            "fx_rates/fx_rates-r000001.parquet"
        );
    }
}
