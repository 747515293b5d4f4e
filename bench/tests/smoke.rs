//! A short run of the benchmark binary, as CI does it: it starts its servers, loads one session
//! on our layer and the peer's, and reports. Speed is not asserted; correctness is: ours fails
//! no request and loses no update.

use std::process::Command;

/// Runs the benchmark binary with `args` and returns its table; fails the test when the run
/// fails.
fn run(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_session-bench"))
        .args(args)
        .output()
        .expect("the benchmark binary runs");
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the run {args:?} failed: {}\n{table}",
        String::from_utf8_lossy(&output.stderr)
    );
    table
}

#[test]
fn a_short_one_session_run_reports_no_failure_and_no_lost_update_for_ours() {
    let table = run(&[
        "one-session",
        "--stores",
        "memory,file",
        "--requests",
        "200",
        "--in-flight",
        "32",
        "--peer",
    ]);
    let ours: Vec<&str> = table.lines().filter(|l| l.contains("| ours |")).collect();
    assert_eq!(ours.len(), 2, "one row per store for ours:\n{table}");
    for row in ours {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | store | app | req/s | p50 | p99 | failed | lost | cpu |
        assert_eq!(cells[6], "0", "ours failed requests: {row}");
        assert_eq!(cells[7], "0", "ours lost updates: {row}");
    }
    assert!(
        table.contains("| memory | tower-sessions |"),
        "the peer did not run:\n{table}"
    );
}

#[test]
fn a_short_soak_on_memory_reports_no_error_and_no_wrong_answer() {
    let table = run(&[
        "soak",
        "--stores",
        "memory",
        "--seconds",
        "2",
        "--clients",
        "8",
    ]);
    let row = table
        .lines()
        .find(|l| l.starts_with("| memory |"))
        .unwrap_or_else(|| panic!("no row for the memory store:\n{table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | store | requests | req/s | p50 | p99 | max | errors | wrong | rss start | warm | end | peak |
    assert!(
        cells[2].parse::<u64>().unwrap() > 0,
        "no request ran: {row}"
    );
    assert_eq!(cells[7], "0", "errors: {row}");
    assert_eq!(cells[8], "0", "wrong answers: {row}");
    assert!(cells[9].parse::<f64>().is_ok(), "no memory figure: {row}");
}

#[test]
fn a_short_routes_run_reports_every_route_for_both_apps_and_no_failure_for_ours() {
    let table = run(&[
        "routes",
        "--stores",
        "memory",
        "--seconds",
        "1",
        "--rounds",
        "1",
        "--clients",
        "4",
    ]);
    for route in ["none", "read", "write", "shared"] {
        for app in ["ours", "tower-sessions"] {
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("| memory | {route} | {app} |")))
                .unwrap_or_else(|| panic!("no row for {app} on {route}:\n{table}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            // | store | route | app | req/s | p50 | p99 | cpu | calls | failed | lost |
            assert!(
                cells[4].parse::<f64>().is_ok_and(|r| r > 0.0),
                "no request ran: {row}"
            );
            if app == "ours" {
                assert_eq!(cells[9], "0", "ours failed requests: {row}");
                assert_eq!(cells[10], "0", "ours lost updates: {row}");
            }
        }
    }
    assert!(
        table.contains("| memory | write |") && table.contains("ours / peer"),
        "no summary of the session's share:\n{table}"
    );
}
