//! A store wrapper that counts calls, to prove what a request did or did not do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use session_core::chrono::{DateTime, Utc};
use session_core::{Capabilities, Record, Result, SessionKey, SessionStore, async_trait};

/// Call counts of a [`CountingStore`].
#[derive(Debug, Default)]
pub struct Counts {
    load: AtomicU64,
    create: AtomicU64,
    save: AtomicU64,
    touch: AtomicU64,
    delete: AtomicU64,
    other: AtomicU64,
}

/// A snapshot of [`Counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountSnapshot {
    /// `load` calls.
    pub load: u64,
    /// `create` calls.
    pub create: u64,
    /// `save` calls.
    pub save: u64,
    /// `touch` calls.
    pub touch: u64,
    /// `delete` calls.
    pub delete: u64,
    /// `sweep` and owner-index calls.
    pub other: u64,
}

impl CountSnapshot {
    /// Every call that can change the store.
    pub fn writes(&self) -> u64 {
        self.create + self.save + self.touch + self.delete + self.other
    }

    /// Every call.
    pub fn total(&self) -> u64 {
        self.load + self.writes()
    }
}

impl Counts {
    /// The counts so far.
    pub fn snapshot(&self) -> CountSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        CountSnapshot {
            load: get(&self.load),
            create: get(&self.create),
            save: get(&self.save),
            touch: get(&self.touch),
            delete: get(&self.delete),
            other: get(&self.other),
        }
    }
}

/// Wraps a store and counts every call by kind; otherwise changes nothing.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use session_conformance::CountingStore;
/// use session_core::{MemoryStore, SessionKey, SessionStore};
///
/// let store = CountingStore::new(MemoryStore::new());
/// store.load(&SessionKey::random()).await.unwrap();
/// assert_eq!(store.counts().snapshot().load, 1);
/// assert_eq!(store.counts().snapshot().writes(), 0);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct CountingStore<S> {
    inner: S,
    counts: Arc<Counts>,
}

impl<S: SessionStore> CountingStore<S> {
    /// Counts calls to `inner`.
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner,
            counts: Arc::default(),
        }
    }

    /// The live counters.
    pub fn counts(&self) -> &Arc<Counts> {
        &self.counts
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::SeqCst);
}

#[async_trait]
impl<S: SessionStore> SessionStore for CountingStore<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        bump(&self.counts.load);
        self.inner.load(key).await
    }
    async fn create(&self, record: &Record) -> Result<()> {
        bump(&self.counts.create);
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<u64> {
        bump(&self.counts.save);
        self.inner.save(record).await
    }
    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        bump(&self.counts.touch);
        self.inner.touch(key, expires_at).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<()> {
        bump(&self.counts.delete);
        self.inner.delete(key).await
    }
    async fn sweep(&self) -> Result<u64> {
        bump(&self.counts.other);
        self.inner.sweep().await
    }
    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        bump(&self.counts.other);
        self.inner.list_by_owner(owner).await
    }
    async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
        bump(&self.counts.other);
        self.inner.delete_by_owner(owner).await
    }

    async fn walk(
        &self,
        from: Option<&session_core::WalkCursor>,
        limit: usize,
    ) -> Result<session_core::WalkPage> {
        bump(&self.counts.other);
        self.inner.walk(from, limit).await
    }
}
