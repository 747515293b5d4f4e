//! The store a client-side request's session works on: what the request's cookie opened to,
//! and what the session writes before the layer seals it again. It lives for one request.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use session_core::chrono::{DateTime, Utc};
use session_core::{
    Capabilities, Error, Operation, Record, Result, SessionKey, SessionStore, WalkCursor, WalkPage,
    async_trait,
};

/// The records of one client-side request, by key. It holds the opened record and, after a
/// `regenerate` or a fresh start, the one that replaces it.
#[derive(Debug)]
pub(super) struct RequestJar {
    records: Mutex<HashMap<SessionKey, Record>>,
    name: String,
}

impl RequestJar {
    /// A jar for a request whose cookie held no session, for storage named `name`.
    pub(super) fn empty(name: &str) -> Self {
        RequestJar {
            records: Mutex::default(),
            name: name.to_owned(),
        }
    }

    /// A jar holding the record the request's cookie opened to.
    pub(super) fn holding(name: &str, record: Record) -> Self {
        let jar = RequestJar::empty(name);
        jar.lock().insert(record.key.clone(), record);
        jar
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionKey, Record>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, e: Error) -> Error {
        e.with_store(self.name.clone())
    }
}

#[async_trait]
impl SessionStore for RequestJar {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        let now = session_core::kit::now();
        Ok(self.lock().get(key).filter(|r| r.expires_at > now).cloned())
    }

    async fn create(&self, record: &Record) -> Result<()> {
        let mut records = self.lock();
        if records
            .get(&record.key)
            .is_some_and(|r| r.expires_at > session_core::kit::now())
        {
            return Err(self.err(Error::already_exists(Operation::Create)));
        }
        records.insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        let mut records = self.lock();
        match records.get_mut(&record.key) {
            Some(current) if current.version == record.version => {
                *current = record.clone();
                current.version += 1;
                Ok(current.version)
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

    async fn walk(&self, _: Option<&WalkCursor>, _: usize) -> Result<WalkPage> {
        Err(self.err(Error::unsupported(
            Operation::Walk,
            "client-side sessions live in the browsers, not on the server",
        )))
    }
}
