//! Fault injection for the crash tests.
//!
//! `DOUBLE11_CRASH_AT=move:2` kills the process with SIGKILL (as `kill -9` or a power cut
//! would: no destructor, no flush) when it reaches the third `move` step. Points are placed
//! between every two durable steps of ingest, reports, exports and job runs; the tests kill at
//! each and check that a re-run gives exactly the figures of an uninterrupted one. Unset, a
//! point costs one environment lookup.
//!
//! Only test builds can crash on purpose. The points are compiled in only with the cargo
//! feature `fault-injection`, which nothing but the package's dev-dependency on itself
//! (`[dev-dependencies] double11 = { path = ".", features = ["fault-injection"] }`) turns on.
//! Cargo's feature resolver (version 2, edition 2021) activates a dev-dependency's features
//! only for builds that include tests or examples, so `cargo test` builds the library and the
//! binary the integration tests run (`CARGO_BIN_EXE_double11`) with the points, while
//! `cargo build`, `cargo run`, `cargo build --release` and `cargo install` build them without:
//! there `point` is an empty inline function and `DOUBLE11_CRASH_AT` is never read. (Right after
//! `cargo test`, `target/debug/double11` is that test build; `cargo build` replaces it.)

/// The environment variable naming the point to die at.
#[cfg(feature = "fault-injection")]
pub const CRASH_AT: &str = "DOUBLE11_CRASH_AT";

/// Whether this build has the crash points (the `fault-injection` feature: test builds only).
#[cfg(test)]
pub const ENABLED: bool = cfg!(feature = "fault-injection");

/// Dies here if `DOUBLE11_CRASH_AT` names this point (`step:n`).
#[cfg(feature = "fault-injection")]
pub fn point(step: &str, n: usize) {
    let Ok(at) = std::env::var(CRASH_AT) else {
        return;
    };
    if at.split_once(':') == Some((step, n.to_string().as_str())) {
        tracing::debug!("injected crash at {at}");
        // SIGKILL from outside the process, exactly what the tests claim to survive (the
        // shell's built-in `kill`, so no procps is needed).
        let _ = std::process::Command::new("sh")
            .args(["-c", &format!("kill -9 {}", std::process::id())])
            .status();
        // Should the shell fail, die almost as abruptly.
        std::process::abort();
    }
}

/// A production build: no crash point, `DOUBLE11_CRASH_AT` is not even read.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_step: &str, _n: usize) {}

#[cfg(test)]
mod tests {
    /// `cargo test` must build with the crash points, or the kill tests (`tests/crash.rs`,
    /// `tests/job_crash.rs`) would pass without ever killing anything.
    #[test]
    // The constant is the point: it differs between test and production builds.
    #[allow(clippy::assertions_on_constants)]
    fn test_builds_have_the_crash_points() {
        assert!(
            super::ENABLED,
            "the `fault-injection` feature is off under `cargo test`: is the dev-dependency of \
             double11 on itself still in Cargo.toml?"
        );
    }
}
