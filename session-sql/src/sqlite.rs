//! SQLite (feature `sqlite`).

use std::str::FromStr;
use std::time::Duration;

use session_core::kit::redacted_url;
use session_core::{Error, Operation, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::SqlConfig;
use crate::dialect::Dialect;
use crate::store::sql_store;

sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::SqlitePool,
    open,
    Dialect::Sqlite,
    "sqlite"
);

/// The pool for `config.url`: a database file (created if missing, parent folders included) in
/// WAL mode, waiting up to five seconds for a busy database; or, for `sqlite::memory:`, one
/// connection that holds a private in-memory database for as long as the store lives.
async fn open(config: &SqlConfig) -> Result<sqlx::SqlitePool> {
    let url = &config.url;
    let options = SqliteConnectOptions::from_str(url).map_err(|e| {
        Error::config(format!("{} is not a SQLite URL", redacted_url(url)))
            .with_store("sqlite")
            .with_source(e)
    })?;
    let path = options.get_filename().to_path_buf();
    let in_memory =
        path.as_os_str() == ":memory:" || url.contains(":memory:") || url.contains("mode=memory");
    let pool = if in_memory {
        SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
    } else {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir).map_err(|e| (dir, e))
            })
            .await
            .map_err(|e| Error::config("the SQLite folder was not created").with_source(e))?
            .map_err(|(dir, e)| {
                Error::config(format!("cannot create {}", dir.display()))
                    .with_store("sqlite")
                    .with_source(e)
            })?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .connect_with(options)
            .await
    };
    pool.map_err(|e| {
        crate::error::map(e, Operation::Connect, "sqlite").with_context(format!(
            "cannot open the session database {}",
            redacted_url(url)
        ))
    })
}
