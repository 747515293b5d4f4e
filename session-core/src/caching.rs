//! Any store in front of any other.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use crate::error::{Error, ErrorKind, Result};
use crate::id::SessionKey;
use crate::record::Record;
use crate::store::{Capabilities, SessionStore};
use crate::walk::{WalkCursor, WalkPage};

/// A store that keeps copies of a backend's records in a faster store.
///
/// - `load` asks the cache first; on a miss it loads from the backend and fills the cache. The
///   cached copy expires with the record's idle expiry (and sooner if the cache has a lifetime
///   of its own, like [`MokaStoreBuilder::time_to_live`](crate::MokaStoreBuilder::time_to_live)).
/// - `create`, `save` and `touch` write the backend first, then the cache.
/// - `delete` deletes from the backend, then evicts.
/// - A cache failure is logged and never fails the call: the backend is the truth.
///
/// Within one process a load never returns an older copy than the last write it made or saw:
/// each cache write is checked against the backend writes that ran meanwhile.
///
/// Because every backend save is version-checked, a stale cached copy (another instance wrote
/// the backend since) can only make a save fail with `Conflict`; the cached copy is then evicted,
/// and the session's retry reloads from the backend. No update is lost. What a stale copy can do
/// is serve a read that is out of date, for at most the cache's lifetime: a session another
/// instance logged out may still read as logged in here until then. Keep that lifetime short
/// (seconds) when several instances share the backend; see the guide for sizing.
///
/// With the `moka` feature (the example's cache is a `MokaStore`):
///
#[cfg_attr(feature = "moka", doc = "```")]
#[cfg_attr(not(feature = "moka"), doc = "```ignore")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use session_core::chrono::{Duration as Span, Utc};
/// use session_core::{CachingStore, MemoryStore, MokaStore, Record, SessionKey, SessionStore};
///
/// let cache = MokaStore::builder().time_to_live(Duration::from_secs(5)).build();
/// let store = CachingStore::new(cache, MemoryStore::new());
///
/// let record = Record::new(SessionKey::random(), Utc::now() + Span::minutes(5));
/// store.create(&record).await.unwrap();
/// store.load(&record.key).await.unwrap();
/// assert_eq!(store.stats().hits, 1);
/// # });
/// ```
pub struct CachingStore<C, B> {
    cache: C,
    backend: B,
    stats: Arc<Counters>,
    /// Per key stripe: a generation bumped by every backend write. A cache write lands only if
    /// no backend write to the stripe happened since its own backend call began, so an older
    /// copy never replaces a newer one (or revives a deleted one) in this process.
    stripes: Arc<[Mutex<u64>]>,
}

const STRIPES: usize = 256;

/// The stripe of `key`: its first byte (keys are uniform SHA-256 hex).
fn stripe_of(key: &SessionKey) -> usize {
    usize::from_str_radix(&key.as_str()[..2], 16).unwrap_or(0) % STRIPES
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    cache_errors: AtomicU64,
}

/// How a [`CachingStore`]'s cache has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Loads answered by the cache.
    pub hits: u64,
    /// Loads that went to the backend.
    pub misses: u64,
    /// Cache calls that failed (and were ignored).
    pub cache_errors: u64,
}

impl CacheStats {
    /// Hits over all loads, or 0 before the first load.
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

impl<C: SessionStore, B: SessionStore> CachingStore<C, B> {
    /// `cache` in front of `backend`.
    pub fn new(cache: C, backend: B) -> Self {
        CachingStore {
            cache,
            backend,
            stats: Arc::default(),
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
        }
    }

    /// The generation of `key`'s stripe, taken before a backend call.
    async fn generation(&self, key: &SessionKey) -> u64 {
        *self.stripes[stripe_of(key)].lock().await
    }

    /// After a backend write that began at generation `seen`: puts `record` in the cache (or
    /// evicts `key` when `record` is `None`) if nothing else wrote meanwhile, else evicts; then
    /// moves the generation on.
    async fn after_write(&self, key: &SessionKey, seen: u64, record: Option<&Record>) {
        let mut generation = self.stripes[stripe_of(key)].lock().await;
        match record {
            Some(record) if *generation == seen => self.fill(record).await,
            _ => self.evict(key).await,
        }
        *generation += 1;
    }

    /// Hit, miss and error counts so far.
    pub fn stats(&self) -> CacheStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&self.stats.hits),
            misses: get(&self.stats.misses),
            cache_errors: get(&self.stats.cache_errors),
        }
    }

    /// The cache.
    pub fn cache(&self) -> &C {
        &self.cache
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Logs a cache failure; the call goes on without the cache.
    fn cache_failed(&self, err: &Error) {
        self.stats.cache_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            cache = self.cache.name(),
            backend = self.backend.name(),
            error = %err,
            "session cache call failed; using the backend alone"
        );
    }

    /// Puts `record` in the cache, replacing any copy.
    async fn fill(&self, record: &Record) {
        let result = match self.cache.create(record).await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // Replace the old copy. A concurrent fill may win the race; its copy is at most
                // as stale as ours, and version checks make staleness safe.
                match self.cache.delete(&record.key).await {
                    Ok(()) => match self.cache.create(record).await {
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                        other => other,
                    },
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        if let Err(err) = result {
            self.cache_failed(&err);
        }
    }

    async fn evict(&self, key: &SessionKey) {
        if let Err(err) = self.cache.delete(key).await {
            self.cache_failed(&err);
        }
    }
}

impl<C: SessionStore, B: SessionStore> fmt::Debug for CachingStore<C, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingStore")
            .field("cache", &self.cache)
            .field("backend", &self.backend)
            .field("stats", &self.stats())
            .finish()
    }
}

#[async_trait]
impl<C: SessionStore, B: SessionStore> SessionStore for CachingStore<C, B> {
    fn name(&self) -> &str {
        self.backend.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.backend.capabilities()
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        match self.cache.load(key).await {
            Ok(Some(record)) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(record));
            }
            Ok(None) => {}
            Err(err) => self.cache_failed(&err),
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let seen = self.generation(key).await;
        let loaded = self.backend.load(key).await?;
        if let Some(record) = &loaded {
            // Fill only if no write happened while the backend answered: the copy could be
            // older than what a concurrent save or delete left.
            let generation = self.stripes[stripe_of(key)].lock().await;
            if *generation == seen {
                self.fill(record).await;
            }
        }
        Ok(loaded)
    }

    async fn create(&self, record: &Record) -> Result<()> {
        let seen = self.generation(&record.key).await;
        self.backend.create(record).await?;
        self.after_write(&record.key, seen, Some(record)).await;
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        let seen = self.generation(&record.key).await;
        match self.backend.save(record).await {
            Ok(version) => {
                let mut stored = record.clone();
                stored.version = version;
                self.after_write(&record.key, seen, Some(&stored)).await;
                Ok(version)
            }
            Err(err) => {
                // The cached copy is stale (conflict) or gone (not found): drop it.
                if matches!(err.kind(), ErrorKind::Conflict | ErrorKind::NotFound) {
                    self.after_write(&record.key, seen, None).await;
                }
                Err(err)
            }
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        let seen = self.generation(key).await;
        if let Err(err) = self.backend.touch(key, expires_at).await {
            if err.kind() == ErrorKind::NotFound {
                self.after_write(key, seen, None).await;
            }
            return Err(err);
        }
        let mut generation = self.stripes[stripe_of(key)].lock().await;
        if *generation == seen {
            match self.cache.touch(key, expires_at).await {
                Ok(()) => {}
                // Not cached here: nothing to refresh.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => self.cache_failed(&e),
            }
        } else {
            self.evict(key).await;
        }
        *generation += 1;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        let seen = self.generation(key).await;
        self.backend.delete(key).await?;
        self.after_write(key, seen, None).await;
        Ok(())
    }

    async fn sweep(&self) -> Result<u64> {
        self.backend.sweep().await
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        self.backend.list_by_owner(owner).await
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
        let keys = self.backend.list_by_owner(owner).await?;
        let deleted = self.backend.delete_by_owner(owner).await?;
        for key in &keys {
            let mut generation = self.stripes[stripe_of(key)].lock().await;
            self.evict(key).await;
            *generation += 1;
        }
        Ok(deleted)
    }

    /// Walks the backend, which holds every session; the cache holds only some.
    async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage> {
        self.backend.walk(from, limit).await
    }
}
