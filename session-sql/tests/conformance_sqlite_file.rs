//! The conformance suite against SQLite in a file, one database per case.

use std::path::PathBuf;
use std::sync::Arc;

use session_conformance::Suite;
use session_sql::SqliteStore;
use tokio::sync::OnceCell;

/// The operation limit in the cases: they check behaviour, not latency, and a machine running
/// every suite at once can take seconds per statement (the outage tests check the limit).
const CASE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

fn main() -> std::process::ExitCode {
    Suite::new("sqlite-file", |cx| async move {
        // Calls with one namespace share one store (one pool on one file).
        let cell = cx.shared(|| Arc::new(OnceCell::<SqliteStore>::new()));
        let path =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.db", cx.namespace()));
        let store = cell
            .get_or_try_init(|| SqliteStore::open(path, "sessions"))
            .await?;
        Ok(store
            .clone()
            .with_codec(cx.codec())
            .with_timeout(CASE_LIMIT))
    })
    .with_checklist(include_str!("../src/lib.rs"))
    .run()
}
