//! The conformance suite against SQLite in memory, one database per case.

use std::sync::Arc;

use session_conformance::Suite;
use session_sql::SqliteStore;
use tokio::sync::OnceCell;

fn main() -> std::process::ExitCode {
    Suite::new("sqlite-memory", |cx| async move {
        let cell = cx.shared(|| Arc::new(OnceCell::<SqliteStore>::new()));
        let store = cell
            .get_or_try_init(|| SqliteStore::in_memory("sessions"))
            .await?;
        Ok(store.clone().with_codec(cx.codec()))
    })
    .run()
}
