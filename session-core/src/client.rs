//! Sessions kept by the client: the record travels sealed in the cookie.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{Error, Operation, Result};
use crate::id::{SessionKey, SessionToken};
use crate::record::Record;
use crate::store::{Capabilities, SessionStore};

/// What opening a cookie value gave.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Opened {
    /// A record this server sealed, still live. `reseal` asks for it to be sealed again (it was
    /// sealed with an older key).
    Valid {
        /// The record.
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
/// `session_tower::Session` work on the record in a per-request [`CookieJar`], and writes
/// back what [`ClientSideStore::seal`] makes of the result.
pub trait ClientSideStore: Send + Sync + fmt::Debug + 'static {
    /// A short name for messages and logs.
    fn name(&self) -> &str;

    /// What this storage can do; a client-side store cannot revoke a session or check versions
    /// across requests.
    fn capabilities(&self) -> Capabilities;

    /// Opens a cookie value named `cookie_name`. Never panics on any input.
    fn open(&self, cookie_name: &str, value: &str) -> Opened;

    /// Seals `record` into a value for the cookie named `cookie_name`.
    ///
    /// Fails with [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge) when the cookie would pass
    /// the size browsers keep, rather than letting the browser drop it silently.
    fn seal(&self, cookie_name: &str, record: &Record) -> Result<String>;
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
    fn seal(&self, cookie_name: &str, record: &Record) -> Result<String> {
        (**self).seal(cookie_name, record)
    }
}

/// The records of one request under client-side storage: what the cookie held, and what the
/// session writes before it is sealed again.
///
/// The layer opens the cookie into a jar under a fresh, throwaway token, so the
/// `session_tower::Session` works exactly as with a server-side store; afterwards it seals
/// the record the session left under the token its commit chose.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    records: Arc<Mutex<HashMap<SessionKey, Record>>>,
    name: Arc<str>,
}

impl CookieJar {
    /// An empty jar for storage named `name`.
    pub fn new(name: &str) -> Self {
        CookieJar {
            records: Arc::default(),
            name: name.into(),
        }
    }

    /// A jar holding `record` under a fresh token, which is returned for the session to use.
    pub fn holding(name: &str, mut record: Record) -> (Self, SessionToken) {
        let jar = CookieJar::new(name);
        let token = SessionToken::generate();
        record.key = token.key();
        jar.lock().insert(record.key.clone(), record);
        (jar, token)
    }

    /// The record under `token` after the request, to seal into the cookie.
    pub fn record(&self, token: &SessionToken) -> Option<Record> {
        self.lock().get(&token.key()).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Record>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, e: Error) -> Error {
        e.with_store(self.name.to_string())
    }
}

#[async_trait]
impl SessionStore for CookieJar {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        let now = Utc::now();
        Ok(self.lock().get(key).filter(|r| r.expires_at > now).cloned())
    }

    async fn create(&self, record: &Record) -> Result<()> {
        let mut records = self.lock();
        if records
            .get(&record.key)
            .is_some_and(|r| r.expires_at > Utc::now())
        {
            return Err(self.err(Error::already_exists(Operation::Create)));
        }
        records.insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        let mut records = self.lock();
        match records.get(&record.key) {
            Some(current) if current.version == record.version => {
                let mut next = record.clone();
                next.version += 1;
                let version = next.version;
                records.insert(record.key.clone(), next);
                Ok(version)
            }
            Some(_) => Err(self.err(Error::conflict(Operation::Save))),
            None => Err(self.err(Error::not_found(Operation::Save))),
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        match self.lock().get_mut(key) {
            Some(record) => {
                record.expires_at = expires_at;
                Ok(())
            }
            None => Err(self.err(Error::not_found(Operation::Touch))),
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.lock().remove(key);
        Ok(())
    }

    async fn sweep(&self) -> Result<u64> {
        Err(self.err(Error::unsupported(
            Operation::Sweep,
            "client-side sessions expire in the browser",
        )))
    }

    async fn list_by_owner(&self, _: &str) -> Result<Vec<SessionKey>> {
        Err(self.err(Error::unsupported(
            Operation::ListByOwner,
            "client-side sessions cannot be listed by the server",
        )))
    }

    async fn delete_by_owner(&self, _: &str) -> Result<u64> {
        Err(self.err(Error::unsupported(
            Operation::DeleteByOwner,
            "client-side sessions cannot be revoked by the server",
        )))
    }
}
