//! The one error type every store, codec and wrapper returns.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// A boxed source error, kept as the [`Error::source`] of an [`Error`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Result alias used across the workspace.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the store that reported it.
///
/// Callers branch on the kind; the message and the source are for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The record does not exist (never stored, deleted, or expired).
    NotFound,
    /// `create` found the key already taken.
    AlreadyExists,
    /// A version-conditional write found a different version stored.
    Conflict,
    /// A value or record could not be encoded.
    Encode,
    /// Stored bytes could not be decoded into a record.
    Decode,
    /// The backend failed (connection, protocol, I/O, server error).
    Backend,
    /// The store or the request was configured wrongly.
    Config,
    /// The store does not offer this operation; see [`crate::Capabilities`].
    Unsupported,
    /// The record is larger than the store accepts.
    TooLarge,
    /// The backend did not answer within the configured time.
    Timeout,
    /// The session is busy: earlier requests of the same session held it for longer than this
    /// request may wait, or concurrent writers kept changing it for longer than the retry budget.
    /// Always temporary: the request can be retried (the tower layer answers `503` with
    /// `Retry-After`).
    Busy,
    /// A value the session cannot hold, refused before any store call: an owner longer than
    /// [`MAX_OWNER_BYTES`](crate::MAX_OWNER_BYTES).
    Invalid,
}

impl ErrorKind {
    /// A short lowercase name, as used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Conflict => "version conflict",
            ErrorKind::Encode => "encode error",
            ErrorKind::Decode => "decode error",
            ErrorKind::Backend => "backend error",
            ErrorKind::Config => "configuration error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::TooLarge => "too large",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Busy => "session busy",
            ErrorKind::Invalid => "invalid value",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operation during which an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`crate::SessionStore::load`].
    Load,
    /// [`crate::SessionStore::create`].
    Create,
    /// [`crate::SessionStore::save`].
    Save,
    /// [`crate::SessionStore::touch`].
    Touch,
    /// [`crate::SessionStore::delete`].
    Delete,
    /// [`crate::SessionStore::sweep`].
    Sweep,
    /// [`crate::SessionStore::list_by_owner`].
    ListByOwner,
    /// [`crate::SessionStore::delete_by_owner`].
    DeleteByOwner,
    /// [`crate::SessionStore::walk`].
    Walk,
    /// Turning a record into bytes.
    Encode,
    /// Turning bytes into a record.
    Decode,
    /// Connecting to or setting up a backend.
    Connect,
    /// Creating or migrating a backend's schema.
    Migrate,
    /// Anything a custom store does that has no name above.
    Other,
}

impl Operation {
    /// A short lowercase name, as used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Load => "load",
            Operation::Create => "create",
            Operation::Save => "save",
            Operation::Touch => "touch",
            Operation::Delete => "delete",
            Operation::Sweep => "sweep",
            Operation::ListByOwner => "list by owner",
            Operation::DeleteByOwner => "delete by owner",
            Operation::Walk => "walk",
            Operation::Encode => "encode",
            Operation::Decode => "decode",
            Operation::Connect => "connect",
            Operation::Migrate => "migrate",
            Operation::Other => "operation",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every fallible operation in the framework.
///
/// It carries a [`kind`](Error::kind) to branch on, whether retrying may help
/// ([`is_temporary`](Error::is_temporary)), the [`store`](Error::store) and
/// [`operation`](Error::operation) it came from, an optional context message, and the
/// underlying error as its [`source`](StdError::source), never flattened to a string.
///
/// ```
/// use session_core::{Error, ErrorKind, Operation};
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
/// let err = Error::new(ErrorKind::Backend, Operation::Load)
///     .with_store("redis")
///     .with_context("reading session")
///     .with_source(io)
///     .temporary();
/// assert_eq!(err.kind(), ErrorKind::Backend);
/// assert!(err.is_temporary());
/// assert!(std::error::Error::source(&err).is_some());
/// assert_eq!(
///     err.to_string(),
///     "redis store: load failed: backend error: reading session (temporary)"
/// );
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    operation: Operation,
    temporary: bool,
    store: Cow<'static, str>,
    context: Option<Cow<'static, str>>,
    source: Option<BoxError>,
}

impl Error {
    /// A permanent error of `kind` during `operation`, with no store name, context or source yet.
    pub fn new(kind: ErrorKind, operation: Operation) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                operation,
                temporary: false,
                store: Cow::Borrowed(""),
                context: None,
                source: None,
            }),
        }
    }

    /// Names the store the error came from (`"redis"`, `"memory"` ...).
    pub fn with_store(mut self, store: impl Into<Cow<'static, str>>) -> Self {
        self.inner.store = store.into();
        self
    }

    /// Adds a message for people saying what was being done.
    pub fn with_context(mut self, context: impl Into<Cow<'static, str>>) -> Self {
        self.inner.context = Some(context.into());
        self
    }

    /// Keeps `source` as the cause of this error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Marks the error as temporary: the same call may succeed if retried later.
    pub fn temporary(mut self) -> Self {
        self.inner.temporary = true;
        self
    }

    /// Marks the error as temporary when `temporary` holds: for mapping a backend's errors,
    /// where the backend says which are worth a retry.
    pub fn temporary_if(self, temporary: bool) -> Self {
        if temporary { self.temporary() } else { self }
    }

    /// Sets the operation, for wrappers that report on behalf of an inner call.
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.inner.operation = operation;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        self.inner.operation
    }

    /// Whether retrying the same call later may succeed (a dropped connection, a timeout).
    pub fn is_temporary(&self) -> bool {
        self.inner.temporary
    }

    /// The name of the store that reported the error; empty when not set.
    pub fn store(&self) -> &str {
        &self.inner.store
    }

    /// The context message, if any.
    pub fn context(&self) -> Option<&str> {
        self.inner.context.as_deref()
    }

    /// How a web layer answers this error, as an HTTP status code and a short public message
    /// (naming no internals), so every layer answers each kind the same way:
    ///
    /// | what | status | message |
    /// |---|---|---|
    /// | contention: [`ErrorKind::Busy`], [`ErrorKind::Conflict`] | 503 (retry) | session busy |
    /// | [`ErrorKind::TooLarge`]: the application stored more than the store takes | 500 | session too large |
    /// | any other temporary error: the store is down or slow | 503 (retry) | storage unavailable |
    /// | any other permanent error | 500 | session error |
    ///
    /// Answers with 503 carry `Retry-After`.
    ///
    /// ```
    /// use session_core::{Error, ErrorKind, Operation};
    ///
    /// let busy = Error::busy(Operation::Load, "queue wait");
    /// assert_eq!(busy.response().0, 503);
    /// let big = Error::new(ErrorKind::TooLarge, Operation::Save);
    /// assert_eq!(big.response().0, 500);
    /// ```
    pub fn response(&self) -> (u16, &'static str) {
        match self.kind() {
            ErrorKind::Busy | ErrorKind::Conflict => (
                503,
                "session busy: other requests of this session are changing it; try again",
            ),
            ErrorKind::TooLarge => (
                500,
                "session too large: the application stored more than the session storage takes",
            ),
            _ if self.is_temporary() => (503, "session storage is unavailable; try again"),
            _ => (500, "session error"),
        }
    }

    /// Logs this error with `tracing` as a web layer does when it answers with
    /// [`Error::response`]: contention as a warning, anything else as an error with its cause,
    /// each with a line saying what it means.
    pub fn report(&self) {
        let source = StdError::source(self);
        match self.kind() {
            ErrorKind::Busy | ErrorKind::Conflict => tracing::warn!(
                store = self.store(),
                error = %self,
                "session contended; answering 503 so the client retries"
            ),
            ErrorKind::TooLarge => tracing::error!(
                store = self.store(),
                error = %self,
                "the session is too large for its storage: the application stores too much in it"
            ),
            _ if self.is_temporary() => tracing::error!(
                store = self.store(),
                error = %self,
                source = ?source,
                "session storage unavailable; answering 503"
            ),
            _ => {
                tracing::error!(store = self.store(), error = %self, source = ?source, "session error")
            }
        }
    }

    /// True for [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// True for [`ErrorKind::Conflict`].
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }

    /// Shorthand for a [`ErrorKind::NotFound`] error.
    pub fn not_found(operation: Operation) -> Self {
        Error::new(ErrorKind::NotFound, operation)
    }

    /// Shorthand for a [`ErrorKind::Conflict`] error.
    pub fn conflict(operation: Operation) -> Self {
        Error::new(ErrorKind::Conflict, operation)
    }

    /// Shorthand for a temporary [`ErrorKind::Busy`] error saying why.
    pub fn busy(operation: Operation, why: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Busy, operation)
            .with_context(why)
            .temporary()
    }

    /// Shorthand for a [`ErrorKind::AlreadyExists`] error.
    pub fn already_exists(operation: Operation) -> Self {
        Error::new(ErrorKind::AlreadyExists, operation)
    }

    /// Shorthand for an [`ErrorKind::Unsupported`] error naming what is missing.
    pub fn unsupported(operation: Operation, what: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Unsupported, operation).with_context(what)
    }

    /// Shorthand for a [`ErrorKind::Config`] error with a message.
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Config, Operation::Connect).with_context(message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("operation", &self.inner.operation)
            .field("temporary", &self.inner.temporary);
        if !self.inner.store.is_empty() {
            d.field("store", &self.inner.store);
        }
        if let Some(context) = &self.inner.context {
            d.field("context", context);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.inner.store.is_empty() {
            write!(f, "{} store: ", self.inner.store)?;
        }
        write!(f, "{} failed: {}", self.inner.operation, self.inner.kind)?;
        if let Some(context) = &self.inner.context {
            write!(f, ": {context}")?;
        }
        if self.inner.temporary {
            f.write_str(" (temporary)")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_store_operation_kind_and_context() {
        let err = Error::conflict(Operation::Save)
            .with_store("memory")
            .with_context("stored version is 4, expected 3");
        assert_eq!(
            err.to_string(),
            "memory store: save failed: version conflict: stored version is 4, expected 3"
        );
        assert!(!err.is_temporary());
        assert!(err.is_conflict());
    }

    #[test]
    fn source_is_kept_not_flattened() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow");
        let err = Error::new(ErrorKind::Timeout, Operation::Load)
            .with_source(io)
            .temporary();
        let source = StdError::source(&err).expect("source kept");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("source keeps its type");
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        assert!(err.to_string().ends_with("(temporary)"));
    }

    #[test]
    fn error_is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
