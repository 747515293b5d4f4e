//! A short run of the benchmark binary, as CI does it: it starts its servers, loads one session
//! on our layer and the peer's, and reports. Speed is not asserted; correctness is: ours fails
//! no request and loses no update.

use std::process::Command;

#[test]
fn a_short_one_session_run_reports_no_failure_and_no_lost_update_for_ours() {
    let output = Command::new(env!("CARGO_BIN_EXE_session-bench"))
        .args([
            "one-session",
            "--stores",
            "memory,file",
            "--requests",
            "200",
        ])
        .args(["--in-flight", "32", "--peer"])
        .output()
        .expect("the benchmark binary runs");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the run failed: {}\n{table}",
        String::from_utf8_lossy(&output.stderr)
    );
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
