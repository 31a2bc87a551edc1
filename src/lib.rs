//! double11: ingest e-commerce transaction logs into a Parquet warehouse and answer
//! Singles' Day questions about them with DataFusion SQL.
//!
//! The modules follow the pipeline: [`ingest`] → [`warehouse`] → [`sql`] →
//! [`reports`] / [`export`] / [`shell`]; [`jobs`] runs them on a schedule, and [`cluster`]
//! runs the same queries on a Ballista cluster. [`cli`] is the
//! command line (all the clap types) and [`settings`] the sizes and limits they all share.
//! [`schema`], [`cst`] and [`money`] are the single sources of truth for the columns, the
//! China Standard Time day and exact money.

pub mod cli;
pub mod cluster;
pub mod cst;
pub mod error;
pub mod export;
pub(crate) mod faults;
pub mod generate;
pub mod ingest;
pub mod jobs;
pub mod money;
pub(crate) mod output;
pub mod reports;
pub mod schema;
pub mod settings;
pub mod shell;
pub mod sql;
pub mod warehouse;
