//! SQL sessions on sqlx: PostgreSQL, MySQL/MariaDB and SQLite.
//!
//! One store type per database, each behind its feature (all on by default):
//! [`PostgresStore`], [`MySqlStore`], [`SqliteStore`]. They keep the same table and run the same
//! statements, in each database's dialect:
//!
//! | operation | statement |
//! |---|---|
//! | load | `SELECT version, expires_at, data ... WHERE session_key = ? AND expires_at > now` |
//! | create | `INSERT`; a unique violation is `AlreadyExists` unless the row had expired |
//! | save | `UPDATE ... SET version = version + 1 ... WHERE session_key = ? AND version = ? AND expires_at > now`; no row → a probe tells `NotFound` from `Conflict` |
//! | touch | `UPDATE ... SET expires_at = ? WHERE session_key = ? AND expires_at > now` |
//! | sweep | `DELETE` of at most 1000 expired rows per statement, repeated |
//!
//! Times are epoch milliseconds from the application's clock, so database clocks never matter.
//! Start a [`session_core::Sweeper`] to delete expired rows in the background.
//!
//! Every store of this crate declares the same capabilities:
//!
//! | capability | |
//! |---|---|
//! | conditional writes | yes (`UPDATE ... WHERE version = ?`, one statement) |
//! | revocable | yes |
//! | native expiry | no: expired rows stay until swept (they are never returned) |
//! | sweep | yes, in bounded batches |
//! | owner index | yes (an index on `owner`) |
//! | walk | yes (keyset pages on the primary key) |
//! | shared across processes | yes (SQLite: processes on one machine) |
//! | maximum record | none |
//!
//! # Schema
//!
//! [`PostgresStore::migrate`] (and its siblings) create it; teams that run their own
//! migrations take the statements from `schema("sessions")`. PostgreSQL:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS sessions (
//!     session_key TEXT PRIMARY KEY,
//!     version BIGINT NOT NULL,
//!     expires_at BIGINT NOT NULL,
//!     owner TEXT NULL,
//!     data BYTEA NOT NULL
//! );
//! CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
//! CREATE INDEX IF NOT EXISTS sessions_owner ON sessions (owner);
//! ```
//!
//! MySQL/MariaDB (`session_key CHAR(64) CHARACTER SET ascii`, `owner VARCHAR(255)`, `data
//! LONGBLOB`, indexes inline, `utf8mb4_bin`) and SQLite (`TEXT`, `INTEGER`, `BLOB`) have the same
//! columns. `session_key` is the SHA-256 of the visitor's token, never the token. `owner` holds
//! any owner within `session_core::MAX_OWNER_BYTES` (255 bytes of UTF-8; MySQL's
//! `VARCHAR(255)` counts characters, so it holds them all); a longer one is refused before the
//! database sees it.
//!
//! ```no_run
//! # async fn run() -> Result<(), session_core::Error> {
//! use session_sql::{PostgresStore, SqlConfig};
//! use session_tower::SessionLayer;
//!
//! let store = PostgresStore::connect(SqlConfig::new("postgres://app@db/app")).await?;
//! store.migrate().await?;
//! let layer = SessionLayer::new(store)?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod dialect;
mod error;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

pub use config::{DEFAULT_TIMEOUT, SqlConfig};
#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
