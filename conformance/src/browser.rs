//! Client-side stores seen as stores: a browser's cookie jar holding only sealed values.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use session_core::chrono::{DateTime, Utc};
use session_core::{
    Capabilities, ClientSideStore, Error, Opened, Operation, Record, Result, SessionKey,
    SessionStore, SessionToken, async_trait,
};

/// The cookie name the store-level cases seal under.
const COOKIE: &str = "id";

/// Cookie values by session key, shared by every store of one namespace.
pub(crate) type Cookies = Arc<Mutex<HashMap<SessionKey, String>>>;

/// A client-side store behind the `SessionStore` contract: every write seals the record into a
/// cookie value kept here, as a browser would keep it, and every load opens that value again.
/// The store-level cases thereby check sealing, opening, expiry and size limits.
pub(crate) struct Browser {
    storage: Arc<dyn ClientSideStore>,
    cookies: Cookies,
}

impl Browser {
    pub(crate) fn new(storage: Arc<dyn ClientSideStore>, cookies: Cookies) -> Self {
        Browser { storage, cookies }
    }

    fn cookie(&self, key: &SessionKey) -> Option<String> {
        self.cookies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn open(&self, key: &SessionKey) -> Option<Record> {
        let value = self.cookie(key)?;
        match self.storage.open(COOKIE, &value) {
            Opened::Valid { mut record, .. } => {
                record.key = key.clone();
                Some(record)
            }
            _ => None,
        }
    }

    fn keep(&self, record: &Record) -> Result<()> {
        // The store-level contract knows keys, not tokens: any token seals, and opening puts
        // the record back under its key.
        let value = self
            .storage
            .seal(COOKIE, &SessionToken::generate(), record)?;
        self.cookies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record.key.clone(), value);
        Ok(())
    }
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for Browser {
    fn name(&self) -> &str {
        self.storage.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.storage.capabilities()
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        Ok(self.open(key))
    }

    async fn create(&self, record: &Record) -> Result<()> {
        self.keep(record)
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        if self.open(&record.key).is_none() {
            return Err(Error::not_found(Operation::Save).with_store(self.name().to_owned()));
        }
        let mut next = record.clone();
        next.version += 1;
        self.keep(&next)?;
        Ok(next.version)
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        let Some(mut record) = self.open(key) else {
            return Err(Error::not_found(Operation::Touch).with_store(self.name().to_owned()));
        };
        record.expires_at = expires_at;
        self.keep(&record)
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.cookies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        Ok(())
    }

    async fn sweep(&self) -> Result<u64> {
        Err(
            Error::unsupported(Operation::Sweep, "cookies expire in the browser")
                .with_store(self.name().to_owned()),
        )
    }

    async fn list_by_owner(&self, _: &str) -> Result<Vec<SessionKey>> {
        Err(
            Error::unsupported(Operation::ListByOwner, "the server keeps no sessions")
                .with_store(self.name().to_owned()),
        )
    }

    async fn delete_by_owner(&self, _: &str) -> Result<u64> {
        Err(
            Error::unsupported(Operation::DeleteByOwner, "the server keeps no sessions")
                .with_store(self.name().to_owned()),
        )
    }

    async fn walk(
        &self,
        _: Option<&session_core::WalkCursor>,
        _: usize,
    ) -> Result<session_core::WalkPage> {
        Err(
            Error::unsupported(Operation::Walk, "the server keeps no sessions")
                .with_store(self.name().to_owned()),
        )
    }
}
