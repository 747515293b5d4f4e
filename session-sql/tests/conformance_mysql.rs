//! The conformance suite against MySQL/MariaDB: `SESSION_TEST_MYSQL_URL`, or a container.
//! One table per case, one pool for the binary.

use std::time::Duration;

use session_conformance::{SetupError, Suite, provision};
use session_sql::MySqlStore;
use sqlx::MySqlPool;
use tokio::sync::OnceCell;

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
        let store = MySqlStore::new(pool().await?, cx.namespace())?.with_codec(cx.codec());
        store.migrate().await?;
        Ok(store)
    })
    .run()
}
