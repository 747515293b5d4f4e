//! Where a SQL store keeps sessions, and how.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use session_core::Codec;
use session_core::codec::default_codec;
use session_core::kit::redacted_url;

/// How long an operation may take by default: waiting for a connection and its statements.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings for the SQL stores ([`PostgresStore`](crate::PostgresStore),
/// [`MySqlStore`](crate::MySqlStore), [`SqliteStore`](crate::SqliteStore)): the database URL,
/// the table, the pool size and sweep batch, and the options every driver has (codec, time
/// limit).
///
/// URLs: `postgres://user:password@host/db`, `mysql://user:password@host/db` (MariaDB too),
/// `sqlite://path/to/sessions.db` (created if missing, parent folders included) or
/// `sqlite::memory:` (a private database living as long as the store).
///
/// ```
/// use std::time::Duration;
/// use session_sql::SqlConfig;
///
/// let config = SqlConfig::new("postgres://app:hunter2@db/app")
///     .with_table("web_sessions")
///     .with_max_connections(20)
///     .with_timeout(Duration::from_secs(1));
/// assert_eq!(config.table(), "web_sessions");
/// // The password never shows in logs.
/// assert!(!format!("{config:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct SqlConfig {
    pub(crate) url: String,
    pub(crate) table: String,
    pub(crate) max_connections: u32,
    pub(crate) sweep_batch: u32,
    pub(crate) timeout: Duration,
    pub(crate) codec: Arc<dyn Codec>,
}

impl SqlConfig {
    /// Sessions in the database at `url`, with the defaults: table `sessions`, at most 10
    /// connections, sweeps of 1000 rows per statement, a 2 second limit per operation
    /// ([`DEFAULT_TIMEOUT`]) and the MessagePack codec.
    pub fn new(url: impl Into<String>) -> Self {
        SqlConfig {
            url: url.into(),
            table: "sessions".into(),
            max_connections: 10,
            sweep_batch: 1000,
            timeout: DEFAULT_TIMEOUT,
            codec: default_codec(),
        }
    }

    /// Keeps sessions in `table`: a plain identifier (a letter or `_`, then letters, digits or
    /// `_`), checked when the store is made.
    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Opens at most `connections` connections (SQLite in memory always uses one).
    pub fn with_max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Deletes at most `rows` expired rows per statement when sweeping, so a sweep never holds
    /// long locks.
    pub fn with_sweep_batch(mut self, rows: u32) -> Self {
        self.sweep_batch = rows.max(1);
        self
    }

    /// Bounds every operation (waiting for a connection, and the statements it runs) by
    /// `timeout`. An operation that takes longer fails with a temporary
    /// [`ErrorKind::Timeout`](session_core::ErrorKind::Timeout), which the session layer
    /// answers with `503`: a database that stopped answering never holds a request longer than
    /// this. A sweep bounds each of its batches.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Writes the `data` column with `codec` (MessagePack by default); rows written with the
    /// other codec stay readable.
    pub fn with_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// The table sessions are kept in.
    pub fn table(&self) -> &str {
        &self.table
    }
}

impl fmt::Debug for SqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConfig")
            .field("url", &redacted_url(&self.url))
            .field("table", &self.table)
            .field("max_connections", &self.max_connections)
            .field("sweep_batch", &self.sweep_batch)
            .field("timeout", &self.timeout)
            .field("codec", &self.codec.name())
            .finish()
    }
}
