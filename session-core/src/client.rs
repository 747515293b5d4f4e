//! Sessions kept by the client: the record travels sealed in the cookie.

use std::fmt;
use std::sync::Arc;

use crate::error::Result;
use crate::id::SessionToken;
use crate::record::Record;
use crate::store::Capabilities;

/// What opening a cookie value gave.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// Made once per request and taken apart at once: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Opened {
    /// A record this server sealed, still live, with the session's token sealed beside it.
    /// `reseal` asks for it to be sealed again (it was sealed with an older key).
    Valid {
        /// The session's token: the identity the `Session` works under, as with a server-side
        /// store. It never leaves the seal.
        token: SessionToken,
        /// The record; its key is the token's key.
        record: Record,
        /// Seal it again even if nothing changed.
        reseal: bool,
    },
    /// Not a live record this server sealed (tampered, truncated, another key, expired ...),
    /// with the reason, for logs. The visitor gets a fresh session.
    Invalid(&'static str),
}

/// Storage whose records live in the cookie, sealed by the server, rather than on the server.
///
/// The tower layer opens the request's cookie with [`ClientSideStore::open`], lets the
/// `session_tower::Session` work on the opened record (under the token sealed with it), and
/// writes back what [`ClientSideStore::seal`] makes of the session the commit left.
///
/// # Behavior
///
/// - Opening a value it sealed gives back the token and the record it was given, the record's
///   key being the token's key; the token is not readable in the value, and two seals of one
///   record differ (case `store::sealed_cookie_opens_to_the_token_and_record_it_sealed`), on
///   any thread (case `store::seals_on_many_threads_never_repeat`).
/// - A value with any character changed, cut short, moved to another cookie name, or holding
///   an expired session (idle or past its absolute deadline) does not open, and no input makes
///   it panic (case `store::edited_moved_or_expired_cookie_never_opens`).
pub trait ClientSideStore: Send + Sync + fmt::Debug + 'static {
    /// A short name for messages and logs.
    fn name(&self) -> &str;

    /// What this storage can do; a client-side store cannot revoke a session or check versions
    /// across requests.
    fn capabilities(&self) -> Capabilities;

    /// Opens a cookie value named `cookie_name`. Never panics on any input.
    ///
    /// A valid value gives back the token and record [`ClientSideStore::seal`] was given, the
    /// record's key set to the token's key.
    fn open(&self, cookie_name: &str, value: &str) -> Opened;

    /// Seals the session `token` names, `record`, into a value for the cookie named
    /// `cookie_name`.
    ///
    /// Fails with [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge) when the cookie would pass
    /// the size browsers keep, rather than letting the browser drop it silently.
    fn seal(&self, cookie_name: &str, token: &SessionToken, record: &Record) -> Result<String>;
}

impl<S: ClientSideStore + ?Sized> ClientSideStore for Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn open(&self, cookie_name: &str, value: &str) -> Opened {
        (**self).open(cookie_name, value)
    }
    fn seal(&self, cookie_name: &str, token: &SessionToken, record: &Record) -> Result<String> {
        (**self).seal(cookie_name, token, record)
    }
}
