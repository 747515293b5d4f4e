//! A store in process memory, for development, tests and single-process deployments.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::codec::{Codec, default_codec};
use crate::error::{Error, Operation, Result};
use crate::id::{KeyHashing, SessionKey};
use crate::record::Record;
use crate::store::{Capabilities, SessionStore};
use crate::stored::{OwnerIndex, Stored};
use crate::walk::{WalkCursor, WalkPage};

const NAME: &str = "memory";

/// Sessions kept in this process's memory.
///
/// Records are stored encoded, exactly as a remote store would hold them, so what works here
/// (sizes, value types, isolation between loads) works against a real backend. Beside the
/// bytes it keeps the record as written, and a load with this crate's codecs (which read each
/// other's bytes back to the same record) copies that instead of decoding; bytes written by
/// another codec are always decoded. It offers every
/// capability but sharing across processes: the owner index, a sweep of expired records, version
/// checks, and an optional size limit. Expired records are never returned and are removed when
/// met or swept.
///
/// Clones share the same sessions; [`MemoryStore::with_codec`] changes only the clone's codec.
///
/// | capability | |
/// |---|---|
/// | conditional writes | yes (the version checked under the store's lock) |
/// | revocable | yes |
/// | native expiry | no: expired records are dropped when met or swept |
/// | sweep | yes |
/// | owner index | yes |
/// | walk | yes (in key order; each page looks at every key) |
/// | shared across processes | no: one process's memory |
/// | maximum record | none, unless [`MemoryStore::with_max_record_size`] sets one |
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use chrono::{Duration, Utc};
/// use session_core::{MemoryStore, Record, SessionKey, SessionStore};
///
/// let store = MemoryStore::new();
/// let mut record = Record::new(SessionKey::random(), Utc::now() + Duration::minutes(30));
/// record.insert("user", 7).unwrap();
/// store.create(&record).await.unwrap();
///
/// let loaded = store.load(&record.key).await.unwrap().unwrap();
/// assert_eq!(loaded.get::<u32>("user").unwrap(), Some(7));
/// let v = store.save(&loaded).await.unwrap();
/// assert_eq!(v, 1);
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    codec: Arc<dyn Codec>,
    max_record_size: Option<usize>,
}

#[derive(Default)]
struct State {
    entries: HashMap<SessionKey, Entry, KeyHashing>,
    owners: OwnerIndex,
}

type Entry = Stored;

impl State {
    /// The live entry under `key`; an expired one is removed on the way.
    fn live(&mut self, key: &SessionKey, now: DateTime<Utc>) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.is_live(now)) {
            self.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn insert(&mut self, key: SessionKey, entry: Entry) {
        let owner = entry.owner.clone();
        let old = self.entries.insert(key.clone(), entry);
        let old_owner = old.and_then(|old| old.owner);
        self.owners
            .moved(&key, old_owner.as_deref(), owner.as_deref());
    }

    fn remove(&mut self, key: &SessionKey) -> bool {
        match self.entries.remove(key) {
            Some(old) => {
                if let Some(owner) = &old.owner {
                    self.owners.remove(owner, key);
                }
                true
            }
            None => false,
        }
    }
}

impl MemoryStore {
    /// An empty store using the default codec (MessagePack).
    pub fn new() -> Self {
        MemoryStore {
            state: Arc::default(),
            codec: default_codec(),
            max_record_size: None,
        }
    }

    /// This store's sessions, read and written through `codec`.
    pub fn with_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// Refuses records whose encoding passes `bytes` with [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge).
    pub fn with_max_record_size(mut self, bytes: usize) -> Self {
        self.max_record_size = Some(bytes);
        self
    }

    /// How many records are held, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock, and every update leaves the maps
        // consistent before the next statement, so a poisoned lock still holds good state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn encode(&self, record: &Record, operation: Operation) -> Result<Entry> {
        Stored::encode(
            record,
            &*self.codec,
            self.max_record_size,
            NAME,
            operation,
            true,
        )
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("codec", &self.codec.name())
            .field("max_record_size", &self.max_record_size)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .with_owner_index(true)
            .with_sweep(true)
            .with_walk(true)
            .with_max_record_size(self.max_record_size)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        // Decode outside the lock: copy the entry (its bytes are shared, not copied) first.
        let entry = match self.lock().live(key, crate::kit::now()) {
            Some(entry) => entry.clone(),
            None => return Ok(None),
        };
        entry.record(&*self.codec, NAME).map(Some)
    }

    async fn create(&self, record: &Record) -> Result<()> {
        let entry = self.encode(record, Operation::Create)?;
        let mut state = self.lock();
        if state.live(&record.key, crate::kit::now()).is_some() {
            return Err(Error::already_exists(Operation::Create).with_store(NAME));
        }
        state.insert(record.key.clone(), entry);
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        let mut entry = self.encode(record, Operation::Save)?;
        let mut state = self.lock();
        let Some(current) = state.live(&record.key, crate::kit::now()) else {
            return Err(Error::not_found(Operation::Save).with_store(NAME));
        };
        if current.version != record.version {
            return Err(crate::kit::version_conflict(
                NAME,
                Operation::Save,
                current.version,
                record.version,
            ));
        }
        entry.version = current.version + 1;
        let version = entry.version;
        state.insert(record.key.clone(), entry);
        Ok(version)
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        let mut state = self.lock();
        match state.live(key, crate::kit::now()) {
            Some(entry) => {
                entry.expiring(expires_at);
                Ok(())
            }
            None => Err(Error::not_found(Operation::Touch).with_store(NAME)),
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.lock().remove(key);
        Ok(())
    }

    async fn sweep(&self) -> Result<u64> {
        let now = crate::kit::now();
        let mut state = self.lock();
        let expired: Vec<SessionKey> = state
            .entries
            .iter()
            .filter(|(_, e)| !e.is_live(now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            state.remove(key);
        }
        Ok(expired.len() as u64)
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        let now = crate::kit::now();
        let state = self.lock();
        let mut live: Vec<SessionKey> = state
            .owners
            .keys(owner)
            .into_iter()
            .filter(|k| state.entries.get(k).is_some_and(|e| e.is_live(now)))
            .collect();
        live.sort();
        Ok(live)
    }

    async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage> {
        let after = from.map(|c| c.key(NAME)).transpose()?;
        let now = crate::kit::now();
        let (entries, more) = {
            let state = self.lock();
            let live = state
                .entries
                .iter()
                .filter(|(_, e)| e.is_live(now))
                .map(|(k, _)| k.clone());
            let (keys, more) = crate::walk::keys_after(live, after.as_ref(), limit);
            let entries: Vec<Entry> = keys
                .iter()
                .filter_map(|k| state.entries.get(k).cloned())
                .collect();
            (entries, more)
        };
        // Decode outside the lock, as `load` does.
        let records = entries
            .iter()
            .map(|e| e.record(&*self.codec, NAME))
            .collect::<Result<Vec<Record>>>()?;
        let next = match records.last() {
            Some(last) if more => Some(WalkCursor::after(&last.key)),
            _ => None,
        };
        Ok(WalkPage { records, next })
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
        let now = crate::kit::now();
        let mut state = self.lock();
        let keys = state.owners.keys(owner);
        let mut live = 0;
        for key in keys {
            if state.entries.get(&key).is_some_and(|e| e.is_live(now)) {
                live += 1;
            }
            state.remove(&key);
        }
        Ok(live)
    }
}
