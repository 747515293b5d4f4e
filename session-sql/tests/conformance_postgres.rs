//! The conformance suite against PostgreSQL: `SESSION_TEST_POSTGRES_URL`, or a container.
//! One table per case, one pool for the binary.

use std::time::Duration;

use session_conformance::{SetupError, Suite, provision};
use session_sql::PostgresStore;
use sqlx::PgPool;
use tokio::sync::OnceCell;

/// The operation limit in the cases: they check behaviour, not latency, and a machine running
/// every suite at once can take seconds per statement (the outage tests check the limit).
const CASE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn pool() -> Result<PgPool, SetupError> {
    static POOL: OnceCell<PgPool> = OnceCell::const_new();
    let url = provision::postgres().await?.url.clone();
    POOL.get_or_try_init(|| {
        provision::retry("connecting to PostgreSQL", Duration::from_secs(60), || {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(20)
                .connect(&url)
        })
    })
    .await
    .cloned()
}

fn main() -> std::process::ExitCode {
    Suite::new("postgres", |cx| async move {
        let store = PostgresStore::new(pool().await?, cx.namespace())?
            .with_codec(cx.codec())
            .with_timeout(CASE_LIMIT);
        store.migrate().await?;
        Ok(store)
    })
    .with_checklist(include_str!("../src/lib.rs"))
    .run()
}
