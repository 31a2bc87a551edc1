//! The interactive shell, driven through a real terminal (tmux): multi-line statements,
//! backslash commands, an error that does not end the session, and the timing line. Without
//! tmux it is skipped with a message, and fails under `CI=true`.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the pane's text (with 200 lines of history) satisfies `done`, or gives up
/// after a few seconds; returns the last text seen.
fn wait_until(session: &str, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let screen = tmux(&["capture-pane", "-t", session, "-p", "-S", "-200"]);
        if done(&screen) || start.elapsed() > Duration::from_secs(20) {
            return screen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the pane shows `needle` (or gives up after a few seconds).
fn wait_for(session: &str, needle: &str) -> String {
    wait_until(session, |screen| screen.contains(needle))
}

/// Waits until the shell waits for a line: the pane's last line is a bare prompt (`double11>`,
/// or `->` inside a statement). A line typed while the shell was still busy with the one
/// before lost its text under load (CI, stop 36: the screen showed two empty `->` lines).
fn wait_for_prompt(session: &str) {
    wait_until(session, |screen| {
        let last = screen.lines().rev().find(|l| !l.trim().is_empty());
        matches!(last.map(str::trim), Some("double11>" | "->"))
    });
}

fn type_line(session: &str, text: &str) {
    wait_for_prompt(session);
    // tmux reads a trailing ';' as its own command separator: escape it.
    let text = text.replace(';', "\\;");
    tmux(&["send-keys", "-t", session, "-l", &text]);
    tmux(&["send-keys", "-t", session, "Enter"]);
}

#[test]
fn the_interactive_shell_runs_statements_and_commands() {
    if !Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        common::cannot_run_here(
            "the_interactive_shell_runs_statements_and_commands",
            "tmux is not installed",
            "install tmux (apt-get install tmux)",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    let session = format!("double11-test-{}", std::process::id());
    let command = format!(
        "HOME={} {} sql --warehouse {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_double11"),
        wh.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "50",
        &command,
    ]);
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .output();
        }
    }
    let _kill = Kill(session.clone());
    wait_for(&session, "double11>");
    type_line(
        &session,
        "SELECT count(*) FILTER (WHERE event_type = 'paid') AS orders",
    );
    type_line(
        &session,
        "FROM transactions WHERE cst_date = DATE '2019-11-11';",
    );
    let screen = wait_for(&session, "row in");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("sample-data/expected.json")).expect("read"),
    )
    .expect("json");
    let orders = expected["days"]["2019-11-11"]["orders"].to_string();
    assert!(screen.contains(&format!("| {orders}")), "{screen}");
    assert!(
        screen.contains("      -> "),
        "continuation prompt: {screen}"
    );
    type_line(&session, "SELECT nope;");
    let screen = wait_for(&session, "error:");
    assert!(screen.contains("nope"), "{screen}");
    type_line(&session, "\\d rejects");
    let screen = wait_for(&session, "reason");
    assert!(screen.contains("raw"), "{screen}");
    type_line(&session, "\\q");
    // The history is written as the shell exits: wait until it holds the statement.
    let path = dir.path().join(".double11_history");
    let start = Instant::now();
    let mut history = String::new();
    while !history.contains("SELECT nope;") && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        history = std::fs::read_to_string(&path).unwrap_or_default();
    }
    assert!(history.contains("SELECT nope;"), "history: {history:?}");
}
