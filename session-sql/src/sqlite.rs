//! SQLite (feature `sqlite`).

use std::path::Path;
use std::time::Duration;

use session_core::{Operation, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::dialect::Dialect;
use crate::store::sql_store;

sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::SqlitePool,
    sqlx::sqlite::SqlitePoolOptions,
    Dialect::Sqlite,
    "sqlite"
);

impl SqliteStore {
    /// A store in the database file at `path` (created if missing), in WAL mode, waiting up to
    /// five seconds for a busy database, with the table created if missing.
    pub async fn open(path: impl AsRef<Path>, table: &str) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| {
                crate::error::map(e, Operation::Connect, "sqlite").with_context(format!(
                    "cannot open the session database {}",
                    path.as_ref().display()
                ))
            })?;
        let store = Self::new(pool, table)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A store in a private in-memory database, with the table created; the sessions live as
    /// long as the store (one connection holds the database, so it is never dropped).
    pub async fn in_memory(table: &str) -> Result<Self> {
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await
            .map_err(|e| crate::error::map(e, Operation::Connect, "sqlite"))?;
        let store = Self::new(pool, table)?;
        store.migrate().await?;
        Ok(store)
    }
}
