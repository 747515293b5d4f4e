//! Redis errors as core errors: the one place native errors are mapped.

use redis::RedisError;
use session_core::{Error, ErrorKind, Operation};

pub(crate) const NAME: &str = "redis";

/// Maps a Redis error during `op`: connection trouble and time-outs are temporary.
pub(crate) fn map(err: RedisError, op: Operation) -> Error {
    let (kind, temporary) = if err.is_timeout() {
        (ErrorKind::Timeout, true)
    } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
        (ErrorKind::Backend, true)
    } else {
        (ErrorKind::Backend, false)
    };
    Error::new(kind, op)
        .with_store(NAME)
        .with_source(err)
        .temporary_if(temporary)
}
