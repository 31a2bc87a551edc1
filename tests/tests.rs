//! The integration tests, one test binary with one module per area (ripgrep's layout): each
//! test binary links DataFusion, Arrow and Polars, so one link instead of sixteen makes
//! `cargo test` build faster (BENCHMARKS.md, "Build and link time of the test suite"). Run one
//! area with `cargo test --test integration hostile_input::`.
//!
//! All areas share one process: a test must not change the process (environment, current
//! directory, global logging); it sets those on the child `Command`s it runs instead.

mod common;

mod bad_input;
mod cluster;
mod corrupt_warehouse;
mod crash;
mod delta_readers;
mod exactly_once;
mod generated_logs;
mod hostile_input;
mod job_crash;
mod jobs;
mod optimize;
mod properties;
mod report_html;
mod reports;
mod rollups;
mod s3;
mod s3_write;
mod sample_data;
mod shell_export;
mod shell_interactive;
mod timestamp_literals;
mod upgrade;
