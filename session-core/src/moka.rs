//! A store on moka's concurrent cache (feature `moka`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache;

use crate::codec::{Codec, default_codec};
use crate::error::{Error, Operation, Result};
use crate::id::SessionKey;
use crate::record::Record;
use crate::store::{Capabilities, SessionStore};
use crate::stored::OwnerIndex;
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
    cache: Cache<Slot, Entry>,
    owners: Owners,
    codec: Arc<dyn Codec>,
    limit: Limit,
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    Entries(u64),
    Bytes(u64),
}

/// A session's key as the cache holds it: the 32 bytes its hex spells, kept inline.
type Slot = [u8; 32];

/// Bytes of an entry's header: version, then expiry (epoch milliseconds), then the owner's
/// length; the owner's bytes and the encoded record follow.
const HEADER: usize = 8 + 8 + 1;

/// One cached session in a single allocation: `version ‖ expires ‖ owner length ‖ owner ‖
/// encoded record`. Cloning shares it.
#[derive(Clone)]
struct Entry(Arc<[u8]>);

impl Entry {
    fn new(encoded: &[u8], version: u64, expires_at: DateTime<Utc>, owner: Option<&str>) -> Self {
        let owner = owner.unwrap_or("").as_bytes();
        // Owners are at most MAX_OWNER_BYTES (255) bytes: `encode` refuses longer ones.
        let owner = &owner[..owner.len().min(usize::from(u8::MAX))];
        let mut bytes = Vec::with_capacity(HEADER + owner.len() + encoded.len());
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&expires_at.timestamp_millis().to_le_bytes());
        bytes.push(owner.len() as u8);
        bytes.extend_from_slice(owner);
        bytes.extend_from_slice(encoded);
        Entry(bytes.into())
    }

    fn encode(record: &Record, codec: &dyn Codec, version: u64, op: Operation) -> Result<Self> {
        // Whatever the codec, an owner the entry's header can hold.
        crate::record::check_owner(record.owner.as_deref(), op)?;
        let encoded = crate::kit::encode(codec, record, None, NAME, op)?;
        Ok(Entry::new(
            &encoded,
            version,
            record.expires_at,
            record.owner.as_deref(),
        ))
    }

    fn word(&self, at: usize) -> [u8; 8] {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[at..at + 8]);
        word
    }

    fn version(&self) -> u64 {
        u64::from_le_bytes(self.word(0))
    }

    fn expires_millis(&self) -> i64 {
        i64::from_le_bytes(self.word(8))
    }

    fn owner_len(&self) -> usize {
        usize::from(self.0[16])
    }

    fn owner(&self) -> Option<&str> {
        let owner = &self.0[HEADER..HEADER + self.owner_len()];
        // Written from a `&str` above.
        std::str::from_utf8(owner).ok().filter(|o| !o.is_empty())
    }

    fn encoded(&self) -> &[u8] {
        &self.0[HEADER + self.owner_len()..]
    }

    fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_millis() > now.timestamp_millis()
    }

    /// The same session with another version or expiry (the encoded record is copied).
    fn with(&self, version: u64, expires_at: DateTime<Utc>) -> Self {
        Entry::new(self.encoded(), version, expires_at, self.owner())
    }

    fn record(&self, codec: &dyn Codec) -> Result<Record> {
        crate::kit::decode(
            codec,
            self.encoded(),
            self.version(),
            self.expires_millis(),
            NAME,
        )
    }
}

/// Each entry lives until its record's idle expiry; the cache's time-to-live may cut it shorter.
struct RecordExpiry;

impl RecordExpiry {
    fn remaining(entry: &Entry) -> Option<Duration> {
        let left = entry.expires_millis() - crate::kit::now_millis();
        Some(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
    }
}

impl Expiry<Slot, Entry> for RecordExpiry {
    fn expire_after_create(&self, _: &Slot, entry: &Entry, _: Instant) -> Option<Duration> {
        Self::remaining(entry)
    }

    fn expire_after_update(
        &self,
        _: &Slot,
        entry: &Entry,
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
            .eviction_listener(move |key: Arc<Slot>, entry: Entry, cause| {
                // A replaced entry's index is kept up to date by the write that replaced it.
                if cause != RemovalCause::Replaced
                    && let Some(owner) = entry.owner()
                {
                    lock(&listener_owners).remove(owner, &SessionKey::from_bytes(&key));
                }
            });
        builder = match self.limit {
            Limit::Entries(n) => builder.max_capacity(n),
            Limit::Bytes(n) => builder.max_capacity(n).weigher(|_key, entry: &Entry| {
                // The key and the cache's bookkeeping, on top of the entry (owner and record).
                u32::try_from(entry.0.len() + 160).unwrap_or(u32::MAX)
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
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// The total weight held: sessions, or bytes with [`MokaStoreBuilder::max_bytes`].
    pub async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
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
        let Some(entry) = self.cache.get(&key.to_bytes()) else {
            return Ok(None);
        };
        if !entry.is_live(crate::kit::now()) {
            return Ok(None);
        }
        entry.record(&*self.codec).map(Some)
    }

    async fn create(&self, record: &Record) -> Result<()> {
        let new = Entry::encode(record, &*self.codec, record.version, Operation::Create)?;
        let mut outcome = Outcome::Done;
        let mut replaced_owner = None;
        self.cache
            .entry(record.key.to_bytes())
            .and_compute_with(|current| match current {
                Some(e) if e.value().is_live(crate::kit::now()) => {
                    outcome = Outcome::Taken;
                    Op::Nop
                }
                other => {
                    replaced_owner = other.and_then(|e| e.into_value().owner().map(str::to_owned));
                    Op::Put(new)
                }
            });
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
        let next = crate::kit::next_version(NAME, Operation::Save, record.version)?;
        let new = Entry::encode(record, &*self.codec, next, Operation::Save)?;
        let mut outcome = Outcome::Done;
        let mut old_owner = None;
        self.cache
            .entry(record.key.to_bytes())
            .and_compute_with(|current| match current.map(|e| e.into_value()) {
                Some(e) if !e.is_live(crate::kit::now()) => {
                    outcome = Outcome::Missing;
                    Op::Remove
                }
                None => {
                    outcome = Outcome::Missing;
                    Op::Nop
                }
                Some(e) if e.version() != record.version => {
                    outcome = Outcome::Conflict(e.version());
                    Op::Nop
                }
                Some(e) => {
                    old_owner = e.owner().map(str::to_owned);
                    Op::Put(new)
                }
            });
        match outcome {
            Outcome::Done => {
                self.reindex(&record.key, old_owner.as_deref(), record.owner.as_deref());
                Ok(next)
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
            .entry(key.to_bytes())
            .and_compute_with(|current| match current.map(|e| e.into_value()) {
                Some(e) if e.is_live(crate::kit::now()) => Op::Put(e.with(e.version(), expires_at)),
                Some(_) => {
                    outcome = Outcome::Missing;
                    Op::Remove
                }
                None => {
                    outcome = Outcome::Missing;
                    Op::Nop
                }
            });
        match (outcome, result) {
            (Outcome::Done, CompResult::ReplacedWith(_)) => Ok(()),
            _ => Err(Error::not_found(Operation::Touch).with_store(NAME)),
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        // The eviction listener drops the key from its owner's set.
        self.cache.invalidate(&key.to_bytes());
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
        let now = crate::kit::now();
        let mut live = Vec::with_capacity(candidates.len());
        for key in candidates {
            match self.cache.get(&key.to_bytes()) {
                Some(e) if e.is_live(now) && e.owner() == Some(owner) => live.push(key),
                _ => lock(&self.owners).remove(owner, &key),
            }
        }
        live.sort();
        Ok(live)
    }

    async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage> {
        let after = from.map(|c| c.key(NAME)).transpose()?;
        let now = crate::kit::now();
        let live = self
            .cache
            .iter()
            .filter(|(_, e)| e.is_live(now))
            .map(|(k, _)| SessionKey::from_bytes(&k));
        let (keys, more) = crate::walk::keys_after(live, after.as_ref(), limit);
        let mut records = Vec::with_capacity(keys.len());
        for key in &keys {
            match self.cache.get(&key.to_bytes()) {
                Some(e) if e.is_live(now) => records.push(e.record(&*self.codec)?),
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
            self.cache.invalidate(&key.to_bytes());
        }
        lock(&self.owners).forget(owner);
        Ok(keys.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache's calls run in place, so the store's futures stay small enough for the
    /// allocator's per-thread cache (a save's was 1,528 bytes on the cache's async interface).
    #[test]
    fn every_calls_future_stays_under_a_kilobyte() {
        for (call, size) in crate::kit::future_sizes(&MokaStore::new()) {
            assert!(
                size <= crate::kit::SMALL_FUTURE_BYTES,
                "the future of a {call} is {size} bytes"
            );
        }
    }
}
