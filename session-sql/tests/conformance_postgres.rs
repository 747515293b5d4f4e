//! The conformance suite against PostgreSQL: `SESSION_TEST_POSTGRES_URL`, or a container.
//! One table per case, one pool for the binary.

use std::time::Duration;

use session_conformance::{SetupError, Suite, provision};
use session_sql::PostgresStore;
use sqlx::PgPool;
use tokio::sync::OnceCell;

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
        let store = PostgresStore::new(pool().await?, cx.namespace())?.with_codec(cx.codec());
        store.migrate().await?;
        Ok(store)
    })
    .run()
}
