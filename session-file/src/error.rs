//! File-system errors as core errors: the one place native errors are mapped.

use std::io;
use std::path::Path;

use session_core::{Error, ErrorKind, Operation};

pub(crate) const NAME: &str = "file";

/// Maps an I/O error on `path` during `op`. Interrupted or would-block calls and a full disk
/// may pass; permissions and missing folders will not.
pub(crate) fn map(err: io::Error, op: Operation, path: &Path) -> Error {
    let temporary = matches!(
        err.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::StorageFull
            | io::ErrorKind::ResourceBusy
    );
    Error::new(ErrorKind::Backend, op)
        .with_store(NAME)
        .with_context(format!("{}", path.display()))
        .with_source(err)
        .temporary_if(temporary)
}

/// The error when a blocking task could not finish (the runtime is shutting down).
pub(crate) fn task_failed(op: Operation, err: tokio::task::JoinError) -> Error {
    Error::new(ErrorKind::Backend, op)
        .with_store(NAME)
        .with_context("the file operation did not complete")
        .with_source(err)
        .temporary()
}
