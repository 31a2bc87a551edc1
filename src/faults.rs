//! Fault injection for the crash tests.
//!
//! `DOUBLE11_CRASH_AT=move:2` kills the process with SIGKILL (as `kill -9` or a power cut
//! would: no destructor, no flush) when it reaches the third `move` step. Points are placed
//! between every two durable steps of ingest, reports, exports and job runs; the tests kill at
//! each and check that a re-run gives exactly the figures of an uninterrupted one. Unset, a
//! point costs one environment lookup.
//!
//! The points are in every build, test or not: one binary is built, tested and run (one cargo
//! feature set, so CI compiles the crate once, not once for the tests and again for `cargo run`),
//! and the kill tests exercise exactly the binary users run. Nothing sets `DOUBLE11_CRASH_AT` but
//! the tests; it is a testing hook, not a setting, and is not documented for users.

/// The environment variable naming the point to die at.
pub const CRASH_AT: &str = "DOUBLE11_CRASH_AT";

/// Dies here if `DOUBLE11_CRASH_AT` names this point (`step:n`).
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
