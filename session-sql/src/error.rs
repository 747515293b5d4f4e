//! sqlx errors as core errors: the one place native errors are mapped.

use session_core::{Error, ErrorKind, Operation};

/// Maps a sqlx error during `op` on the store named `store`.
///
/// A unique violation is [`ErrorKind::AlreadyExists`]; lost connections, pool time-outs,
/// deadlocks and busy databases are temporary; configuration problems are
/// [`ErrorKind::Config`].
pub(crate) fn map(err: sqlx::Error, op: Operation, store: &'static str) -> Error {
    let (kind, temporary) = match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => (ErrorKind::AlreadyExists, false),
        sqlx::Error::Database(db) => (ErrorKind::Backend, is_transient(db.code().as_deref())),
        sqlx::Error::PoolTimedOut => (ErrorKind::Timeout, true),
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            (ErrorKind::Backend, true)
        }
        sqlx::Error::Tls(_) => (ErrorKind::Backend, true),
        sqlx::Error::Configuration(_) => (ErrorKind::Config, false),
        _ => (ErrorKind::Backend, false),
    };
    Error::new(kind, op)
        .with_store(store)
        .with_source(err)
        .temporary_if(temporary)
}

/// Database error codes that mean "try again": serialization failures and deadlocks
/// (PostgreSQL 40001, 40P01; MySQL 1205, 1213) and a busy or locked SQLite database (5, 6).
fn is_transient(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("40001" | "40P01" | "1205" | "1213" | "5" | "6" | "517" | "262")
    )
}
