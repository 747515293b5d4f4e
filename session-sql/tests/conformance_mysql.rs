//! The conformance suite against MySQL/MariaDB: `SESSION_TEST_MYSQL_URL`, or a container.
//! One table per case, one pool for the binary.

use std::time::Duration;

use session_conformance::{SetupError, Suite, provision};
use session_sql::MySqlStore;
use sqlx::MySqlPool;
use tokio::sync::OnceCell;

/// The operation limit in the cases: they check behaviour, not latency, and a machine running
/// every suite at once can take seconds per statement (the outage tests check the limit).
const CASE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn pool() -> Result<MySqlPool, SetupError> {
    static POOL: OnceCell<MySqlPool> = OnceCell::const_new();
    let url = provision::mysql().await?.url.clone();
    POOL.get_or_try_init(|| {
        provision::retry("connecting to MySQL", Duration::from_secs(60), || {
            sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(20)
                .connect(&url)
        })
    })
    .await
    .cloned()
}

fn main() -> std::process::ExitCode {
    Suite::new("mysql", |cx| async move {
        let store = MySqlStore::new(pool().await?, cx.namespace())?
            .with_codec(cx.codec())
            .with_timeout(CASE_LIMIT);
        store.migrate().await?;
        Ok(store)
    })
    .with_checklist(include_str!("../src/lib.rs"))
    .run()
}
