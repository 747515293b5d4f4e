//! Redis errors as core errors: the one place native errors are mapped.

use redis::{RedisError, ServerErrorKind};
use session_core::{Error, ErrorKind, Operation};

pub(crate) const NAME: &str = "redis";

/// Maps a Redis error during `op`: connection trouble, time-outs, and a cluster or replica set
/// changing hands (a failover: `CLUSTERDOWN`, `TRYAGAIN`, a redirection not yet followed,
/// `READONLY` from a primary just demoted, `MASTERDOWN`, `LOADING`) are temporary.
pub(crate) fn map(err: RedisError, op: Operation) -> Error {
    let changing_hands = err.is_cluster_error()
        || matches!(
            err.kind(),
            redis::ErrorKind::Server(
                ServerErrorKind::ReadOnly
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading
            )
        );
    let (kind, temporary) = if err.is_timeout() {
        (ErrorKind::Timeout, true)
    } else if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || changing_hands
    {
        (ErrorKind::Backend, true)
    } else {
        (ErrorKind::Backend, false)
    };
    Error::new(kind, op)
        .with_store(NAME)
        .with_source(err)
        .temporary_if(temporary)
}
