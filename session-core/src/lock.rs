//! Distributed session locks: one request of a session at a time across processes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::id::{SessionKey, SessionToken};
use crate::record::Record;
use crate::store::SessionStore;

/// A lock on one session, shared by every process that serves it.
///
/// The in-process `session_tower::SessionQueue` already runs the requests of a session
/// one after another inside a process. Across processes the store's version check keeps every
/// write safe, but a request whose reads were changed by another process has to be retried by
/// the client. A deployment that would rather wait than retry puts a lock in the queue
/// (`session_tower::SessionQueue::with_lock`): then a request of a session
/// waits, within a bounded time, until no request of that session runs in any process.
///
/// # Behavior
///
/// - `try_acquire` takes a free lock and answers `Some`; a lock another holder has, with a
///   lease not yet run out, answers `None` (case `lock::a_held_lock_is_not_taken_again`).
/// - A lock whose lease ran out is free again, so a crashed holder blocks its session for one
///   lease at most (case `lock::an_expired_lease_frees_the_lock`).
/// - `release` with the holder's lease frees the lock; `release` with any other lease changes
///   nothing, so a holder whose lease ran out cannot free its successor's lock
///   (case `lock::only_the_holder_releases`).
/// - Locks of different sessions are independent (case `lock::locks_of_sessions_are_independent`).
///
/// The lock is not a fence on its own: a holder whose lease ran out may still write, and the
/// store's version check is what rejects that write. Sessions keep it on.
#[async_trait]
pub trait SessionLock: Send + Sync + fmt::Debug + 'static {
    /// A short name for messages and logs.
    fn name(&self) -> &str;

    /// Tries once to take the lock on `key` for at most `lease`: `Some` when taken, `None`
    /// when another holder has it.
    async fn try_acquire(&self, key: &SessionKey, lease: Duration) -> Result<Option<LockLease>>;

    /// Gives up the lock `lease` holds. Releasing a lease that is no longer the holder's (it
    /// ran out and someone else took the lock) changes nothing and succeeds.
    async fn release(&self, key: &SessionKey, lease: &LockLease) -> Result<()>;
}

#[async_trait]
impl<L: SessionLock + ?Sized> SessionLock for Arc<L> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn try_acquire(&self, key: &SessionKey, lease: Duration) -> Result<Option<LockLease>> {
        (**self).try_acquire(key, lease).await
    }
    async fn release(&self, key: &SessionKey, lease: &LockLease) -> Result<()> {
        (**self).release(key, lease).await
    }
}

/// Proof of holding a session lock: who holds it, and what the lock needs to release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockLease {
    holder: String,
}

impl LockLease {
    /// A lease held by `holder`, a value no other holder uses (a lock makes it random).
    pub fn new(holder: impl Into<String>) -> Self {
        LockLease {
            holder: holder.into(),
        }
    }

    /// The holder's identity.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

/// A [`SessionLock`] kept in any [`SessionStore`], through the store contract alone.
///
/// The lock on a session is a record under a key derived from the session's key
/// ([`SessionKey::derived`]), holding a random holder id and living for the lease:
///
/// - taking it is `create` (which never overwrites a live record, and replaces an expired one),
/// - releasing it is a version-checked `save` that expires it at once, after checking the
///   holder, so only the holder's own, unchanged lock is released.
///
/// So it works on every store that passes the conformance suite and declares
/// [`Capabilities::shared`](crate::Capabilities::shared) and conditional writes: Redis, SQL,
/// DynamoDB, files. Lock records are ordinary records without an owner; they expire with their
/// lease, and a store's sweep removes them like expired sessions.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use session_core::{MemoryStore, SessionKey, SessionLock, StoreLock};
///
/// let lock = StoreLock::new(Arc::new(MemoryStore::new()));
/// let key = SessionKey::random();
/// let lease = lock.try_acquire(&key, Duration::from_secs(5)).await?.expect("free");
/// assert!(lock.try_acquire(&key, Duration::from_secs(5)).await?.is_none());
/// lock.release(&key, &lease).await?;
/// assert!(lock.try_acquire(&key, Duration::from_secs(5)).await?.is_some());
/// # Ok::<(), session_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct StoreLock<S> {
    store: S,
    name: String,
}

/// The data field a lock record names its holder in.
const HOLDER: &str = "session_lock_holder";

impl<S: SessionStore> StoreLock<S> {
    /// A lock kept in `store`.
    pub fn new(store: S) -> Self {
        let name = format!("{} lock", store.name());
        StoreLock { store, name }
    }

    /// The store the lock records live in.
    pub fn store(&self) -> &S {
        &self.store
    }
}

fn lock_key(key: &SessionKey) -> SessionKey {
    key.derived("session-lock")
}

#[async_trait]
impl<S: SessionStore> SessionLock for StoreLock<S> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn try_acquire(&self, key: &SessionKey, lease: Duration) -> Result<Option<LockLease>> {
        let holder = SessionToken::try_generate()
            .map_err(|e| {
                Error::new(ErrorKind::Backend, Operation::Other)
                    .with_context("cannot generate a lock holder id")
                    .with_source(e)
            })?
            .as_str()
            .to_owned();
        let now = crate::kit::now();
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let mut record = Record::new(lock_key(key), now.checked_add_signed(lease).unwrap_or(now));
        record.data.insert(HOLDER.to_owned(), holder.clone().into());
        match self.store.create(&record).await {
            Ok(()) => Ok(Some(LockLease::new(holder))),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn release(&self, key: &SessionKey, lease: &LockLease) -> Result<()> {
        let Some(mut record) = self.store.load(&lock_key(key)).await? else {
            return Ok(());
        };
        if record.data.get(HOLDER).and_then(|v| v.as_str()) != Some(lease.holder()) {
            return Ok(());
        }
        record.expires_at = crate::kit::now();
        match self.store.save(&record).await {
            Ok(_) => Ok(()),
            // Taken over or expired meanwhile: not ours to release any more.
            Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
