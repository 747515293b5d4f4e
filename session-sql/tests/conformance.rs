//! The conformance suite against every database of this crate, in one test binary: PostgreSQL
//! and MySQL/MariaDB (`SESSION_TEST_POSTGRES_URL` / `SESSION_TEST_MYSQL_URL`, or containers),
//! SQLite in a file and in memory. One table (or database) per case; the case names start with
//! the suite's (`postgres::store::...`).

use std::time::Duration;

use session_conformance::Suite;
#[allow(unused_imports)]
use session_conformance::{SetupError, provision};
#[allow(unused_imports)]
use session_sql::SqlConfig;

/// The operation limit in the cases: they check behaviour, not latency, and a machine running
/// every suite at once can take seconds per statement (the outage tests check the limit).
const CASE_LIMIT: Duration = Duration::from_secs(30);

/// The checklist every store of this crate documents.
const CHECKLIST: &str = include_str!("../src/lib.rs");

/// A case's settings: its namespace as the table, its codec, and the case limit. The URL is
/// not used: each suite shares one pool per database.
#[allow(dead_code)]
fn config(cx: &session_conformance::StoreContext) -> SqlConfig {
    SqlConfig::new("")
        .with_table(cx.namespace())
        .with_codec(cx.codec())
        .with_timeout(CASE_LIMIT)
}

/// One pool for the binary, to the server `url` names, made once.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn shared_pool<DB: sqlx::Database>(
    cell: &'static tokio::sync::OnceCell<sqlx::Pool<DB>>,
    what: &str,
    url: &str,
) -> Result<sqlx::Pool<DB>, SetupError> {
    cell.get_or_try_init(|| {
        provision::retry(what, Duration::from_secs(60), || {
            sqlx::pool::PoolOptions::<DB>::new()
                .max_connections(20)
                .connect(url)
        })
    })
    .await
    .cloned()
}

#[cfg(feature = "postgres")]
fn postgres() -> Suite {
    static POOL: tokio::sync::OnceCell<sqlx::PgPool> = tokio::sync::OnceCell::const_new();
    Suite::new("postgres", |cx| async move {
        let url = provision::postgres().await?.url.clone();
        let pool = shared_pool(&POOL, "connecting to PostgreSQL", &url).await?;
        let store = session_sql::PostgresStore::with_pool(pool, config(&cx))?;
        store.migrate().await?;
        Ok(store)
    })
    .with_checklist(CHECKLIST)
}

#[cfg(feature = "mysql")]
fn mysql() -> Suite {
    static POOL: tokio::sync::OnceCell<sqlx::MySqlPool> = tokio::sync::OnceCell::const_new();
    Suite::new("mysql", |cx| async move {
        let url = provision::mysql().await?.url.clone();
        let pool = shared_pool(&POOL, "connecting to MySQL", &url).await?;
        let store = session_sql::MySqlStore::with_pool(pool, config(&cx))?;
        store.migrate().await?;
        Ok(store)
    })
    .with_checklist(CHECKLIST)
}

#[cfg(feature = "sqlite")]
fn sqlite_file() -> Suite {
    use std::sync::Arc;
    use tokio::sync::OnceCell;
    Suite::new("sqlite-file", |cx| async move {
        // Calls with one namespace share one store (one pool on one file).
        let cell = cx.shared(|| Arc::new(OnceCell::<session_sql::SqliteStore>::new()));
        let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{}.db", cx.namespace()));
        let url = format!("sqlite://{}", path.display());
        let store = cell
            .get_or_try_init(|| async {
                let store = session_sql::SqliteStore::connect(SqlConfig::new(url)).await?;
                store.migrate().await?;
                Ok::<_, session_core::Error>(store)
            })
            .await?;
        // Each case's codec and limit, on the namespace's one pool.
        Ok(session_sql::SqliteStore::with_pool(
            store.pool().clone(),
            config(&cx).with_table("sessions"),
        )?)
    })
    .with_checklist(CHECKLIST)
}

#[cfg(feature = "sqlite")]
fn sqlite_memory() -> Suite {
    use std::sync::Arc;
    use tokio::sync::OnceCell;
    Suite::new("sqlite-memory", |cx| async move {
        let cell = cx.shared(|| Arc::new(OnceCell::<session_sql::SqliteStore>::new()));
        let store = cell
            .get_or_try_init(|| async {
                let store =
                    session_sql::SqliteStore::connect(SqlConfig::new("sqlite::memory:")).await?;
                store.migrate().await?;
                Ok::<_, session_core::Error>(store)
            })
            .await?;
        Ok(session_sql::SqliteStore::with_pool(
            store.pool().clone(),
            config(&cx).with_table("sessions"),
        )?)
    })
    .with_checklist(CHECKLIST)
}

fn main() -> std::process::ExitCode {
    let suites: Vec<Suite> = vec![
        #[cfg(feature = "postgres")]
        postgres(),
        #[cfg(feature = "mysql")]
        mysql(),
        #[cfg(feature = "sqlite")]
        sqlite_file(),
        #[cfg(feature = "sqlite")]
        sqlite_memory(),
    ];
    Suite::run_all(suites)
}
