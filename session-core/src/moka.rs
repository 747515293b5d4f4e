//! A store on moka's concurrent cache (feature `moka`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};

use crate::codec::{Codec, default_codec};
use crate::error::{Error, Operation, Result};
use crate::id::SessionKey;
use crate::record::Record;
use crate::store::{Capabilities, SessionStore};
use crate::stored::{OwnerIndex, Stored};
use crate::walk::{WalkCursor, WalkPage};

const NAME: &str = "moka";

/// The owner index, shared with the cache's eviction listener.
type Owners = Arc<Mutex<OwnerIndex>>;

/// Sessions in an in-process moka cache: bounded, concurrent, and expiring each record at its
/// own idle expiry.
///
/// Use it alone in a single-process deployment, or as the cache of a
/// [`CachingStore`](crate::CachingStore) in front of a shared backend, where
/// [`MokaStoreBuilder::time_to_live`] bounds how long another instance's write can go unseen.
///
/// Bounded by entries ([`MokaStoreBuilder::max_entries`]) or by encoded bytes
/// ([`MokaStoreBuilder::max_bytes`]); past the bound, the least useful sessions are evicted, as a
/// cache would. Alone it therefore suits sessions you can afford to lose under memory pressure.
///
/// | capability | |
/// |---|---|
/// | conditional writes | yes (the version checked in one atomic entry update) |
/// | revocable | yes |
/// | native expiry | yes: each entry expires at its record's idle expiry |
/// | sweep | no: not needed |
/// | owner index | yes |
/// | walk | yes (in key order; each page looks at every cached key) |
/// | shared across processes | no: one process's memory |
/// | maximum record | none |
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use session_core::chrono::{Duration as Span, Utc};
/// use session_core::{MokaStore, Record, SessionKey, SessionStore};
///
/// let store = MokaStore::builder()
///     .max_bytes(64 * 1024 * 1024)
///     .time_to_live(Duration::from_secs(30))
///     .build();
/// let record = Record::new(SessionKey::random(), Utc::now() + Span::minutes(5));
/// store.create(&record).await.unwrap();
/// assert!(store.load(&record.key).await.unwrap().is_some());
/// # });
/// ```
#[derive(Clone)]
pub struct MokaStore {
    cache: Cache<SessionKey, Arc<Entry>>,
    owners: Owners,
    codec: Arc<dyn Codec>,
    limit: Limit,
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    Entries(u64),
    Bytes(u64),
}

type Entry = Stored;

/// Each entry lives until its record's idle expiry; the cache's time-to-live may cut it shorter.
struct RecordExpiry;

impl RecordExpiry {
    fn remaining(entry: &Entry) -> Option<Duration> {
        Some(
            (entry.expires_at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO),
        )
    }
}

impl Expiry<SessionKey, Arc<Entry>> for RecordExpiry {
    fn expire_after_create(
        &self,
        _: &SessionKey,
        entry: &Arc<Entry>,
        _: Instant,
    ) -> Option<Duration> {
        Self::remaining(entry)
    }

    fn expire_after_update(
        &self,
        _: &SessionKey,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::remaining(entry)
    }
}

/// Builds a [`MokaStore`].
#[derive(Debug, Clone)]
pub struct MokaStoreBuilder {
    limit: Limit,
    time_to_live: Option<Duration>,
    codec: Option<Arc<dyn Codec>>,
}

impl MokaStoreBuilder {
    /// Holds at most `n` sessions (the default is 100,000).
    pub fn max_entries(mut self, n: u64) -> Self {
        self.limit = Limit::Entries(n);
        self
    }

    /// Holds at most `bytes` of encoded sessions (plus a fixed overhead per entry).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.limit = Limit::Bytes(bytes);
        self
    }

    /// Forgets an entry this long after it was written here, even if the record lives longer:
    /// the bound on how stale a cached copy can be.
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = Some(ttl);
        self
    }

    /// Encodes records with `codec` (MessagePack by default).
    pub fn codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = Some(codec);
        self
    }

    /// The store.
    pub fn build(self) -> MokaStore {
        let owners: Owners = Arc::default();
        let listener_owners = owners.clone();
        let mut builder = Cache::builder()
            .expire_after(RecordExpiry)
            .eviction_listener(move |key: Arc<SessionKey>, entry: Arc<Entry>, cause| {
                // A replaced entry's index is kept up to date by the write that replaced it.
                if cause != RemovalCause::Replaced
                    && let Some(owner) = &entry.owner
                {
                    lock(&listener_owners).remove(owner, &key);
                }
            });
        builder = match self.limit {
            Limit::Entries(n) => builder.max_capacity(n),
            Limit::Bytes(n) => builder.max_capacity(n).weigher(|_key, entry: &Arc<Entry>| {
                // Key, bookkeeping and owner, on top of the encoded record.
                let overhead = 160 + entry.owner.as_ref().map_or(0, String::len);
                u32::try_from(entry.bytes.len() + overhead).unwrap_or(u32::MAX)
            }),
        };
        if let Some(ttl) = self.time_to_live {
            builder = builder.time_to_live(ttl);
        }
        MokaStore {
            cache: builder.build(),
            owners,
            codec: self.codec.unwrap_or_else(default_codec),
            limit: self.limit,
        }
    }
}

fn lock(owners: &Owners) -> MutexGuard<'_, OwnerIndex> {
    // Every update leaves the index consistent, so a poisoned lock still holds good state.
    owners.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MokaStore {
    /// A store holding at most 100,000 sessions, with the default codec.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to set bounds, a time-to-live or a codec.
    pub fn builder() -> MokaStoreBuilder {
        MokaStoreBuilder {
            limit: Limit::Entries(100_000),
            time_to_live: None,
            codec: None,
        }
    }

    /// This store's sessions, read and written through `codec`.
    pub fn with_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// How many sessions are held (approximate while writes are in flight).
    pub async fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// The total weight held: sessions, or bytes with [`MokaStoreBuilder::max_bytes`].
    pub async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }

    fn entry(&self, record: &Record, operation: Operation) -> Result<Entry> {
        Stored::encode(record, &*self.codec, None, NAME, operation, false)
    }

    /// Moves `key` in the owner index from `old` to `new`.
    fn reindex(&self, key: &SessionKey, old: Option<&str>, new: Option<&str>) {
        lock(&self.owners).moved(key, old, new);
    }
}

impl Default for MokaStore {
    fn default() -> Self {
        MokaStore::new()
    }
}

impl fmt::Debug for MokaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MokaStore")
            .field("limit", &self.limit)
            .field("codec", &self.codec.name())
            .finish_non_exhaustive()
    }
}

/// What a compute closure decided, for the caller to report.
enum Outcome {
    Done,
    Missing,
    Taken,
    Conflict(u64),
}

#[async_trait]
impl SessionStore for MokaStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .with_owner_index(true)
            .with_native_ttl(true)
            .with_walk(true)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        let Some(entry) = self.cache.get(key).await else {
            return Ok(None);
        };
        if !entry.is_live(Utc::now()) {
            return Ok(None);
        }
        entry.record(&*self.codec, NAME).map(Some)
    }

    async fn create(&self, record: &Record) -> Result<()> {
        let new = Arc::new(self.entry(record, Operation::Create)?);
        let mut outcome = Outcome::Done;
        let mut replaced_owner = None;
        self.cache
            .entry(record.key.clone())
            .and_compute_with(|current| {
                let op = match current {
                    Some(e) if e.value().is_live(Utc::now()) => {
                        outcome = Outcome::Taken;
                        Op::Nop
                    }
                    other => {
                        replaced_owner = other.and_then(|e| e.into_value().owner.clone());
                        Op::Put(new.clone())
                    }
                };
                std::future::ready(op)
            })
            .await;
        match outcome {
            Outcome::Taken => Err(Error::already_exists(Operation::Create).with_store(NAME)),
            _ => {
                self.reindex(
                    &record.key,
                    replaced_owner.as_deref(),
                    record.owner.as_deref(),
                );
                Ok(())
            }
        }
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        let mut new = self.entry(record, Operation::Save)?;
        new.version = record.version + 1;
        let new = Arc::new(new);
        let mut outcome = Outcome::Done;
        let mut old_owner = None;
        self.cache
            .entry(record.key.clone())
            .and_compute_with(|current| {
                let op = match current.map(|e| e.into_value()) {
                    Some(e) if !e.is_live(Utc::now()) => {
                        outcome = Outcome::Missing;
                        Op::Remove
                    }
                    None => {
                        outcome = Outcome::Missing;
                        Op::Nop
                    }
                    Some(e) if e.version != record.version => {
                        outcome = Outcome::Conflict(e.version);
                        Op::Nop
                    }
                    Some(e) => {
                        old_owner = e.owner.clone();
                        Op::Put(new.clone())
                    }
                };
                std::future::ready(op)
            })
            .await;
        match outcome {
            Outcome::Done => {
                self.reindex(&record.key, old_owner.as_deref(), record.owner.as_deref());
                Ok(new.version)
            }
            Outcome::Conflict(stored) => Err(crate::kit::version_conflict(
                NAME,
                Operation::Save,
                stored,
                record.version,
            )),
            _ => Err(Error::not_found(Operation::Save).with_store(NAME)),
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        let mut outcome = Outcome::Done;
        let result = self
            .cache
            .entry(key.clone())
            .and_compute_with(|current| {
                let op = match current.map(|e| e.into_value()) {
                    Some(e) if e.is_live(Utc::now()) => Op::Put(Arc::new(Entry {
                        bytes: e.bytes.clone(),
                        written: e.written.clone(),
                        version: e.version,
                        expires_at,
                        owner: e.owner.clone(),
                    })),
                    Some(_) => {
                        outcome = Outcome::Missing;
                        Op::Remove
                    }
                    None => {
                        outcome = Outcome::Missing;
                        Op::Nop
                    }
                };
                std::future::ready(op)
            })
            .await;
        match (outcome, result) {
            (Outcome::Done, CompResult::ReplacedWith(_)) => Ok(()),
            _ => Err(Error::not_found(Operation::Touch).with_store(NAME)),
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        // The eviction listener drops the key from its owner's set.
        self.cache.invalidate(key).await;
        Ok(())
    }

    async fn sweep(&self) -> Result<u64> {
        Err(
            Error::unsupported(Operation::Sweep, "moka expires sessions by itself")
                .with_store(NAME),
        )
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        let candidates = lock(&self.owners).keys(owner);
        let now = Utc::now();
        let mut live = Vec::with_capacity(candidates.len());
        for key in candidates {
            match self.cache.get(&key).await {
                Some(e) if e.is_live(now) && e.owner.as_deref() == Some(owner) => live.push(key),
                _ => lock(&self.owners).remove(owner, &key),
            }
        }
        live.sort();
        Ok(live)
    }

    async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage> {
        let after = from.map(|c| c.key(NAME)).transpose()?;
        let now = Utc::now();
        let live = self
            .cache
            .iter()
            .filter(|(_, e)| e.is_live(now))
            .map(|(k, _)| (*k).clone());
        let (keys, more) = crate::walk::keys_after(live, after.as_ref(), limit);
        let mut records = Vec::with_capacity(keys.len());
        for key in &keys {
            match self.cache.get(key).await {
                Some(e) if e.is_live(now) => records.push(e.record(&*self.codec, NAME)?),
                _ => {}
            }
        }
        let next = match keys.last() {
            Some(last) if more => Some(WalkCursor::after(last)),
            _ => None,
        };
        Ok(WalkPage { records, next })
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
        let keys = self.list_by_owner(owner).await?;
        for key in &keys {
            self.cache.invalidate(key).await;
        }
        lock(&self.owners).forget(owner);
        Ok(keys.len() as u64)
    }
}
