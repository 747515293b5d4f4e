//! The in-process queue per session: requests of one session run their session work one after
//! another, and a waiting request starts from what the previous one committed.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::batch::Saves;
use session_core::Record;
use session_core::SessionLock;
use session_core::{Error, Operation, Result};
use session_core::{KeyHashing, SessionKey};

/// Independent maps, so requests of different sessions rarely meet on one mutex.
const SHARDS: usize = 64;

/// Serialises the requests of each session inside one process.
///
/// A [`Session`](crate::Session) made with [`Session::queued`](crate::Session::queued) takes
/// its session's place in this queue when the handler first touches it, and gives it up after
/// its commit. So a handler may read a value and write it back (`get`, then `insert`) without
/// another request of the same session slipping in between: nothing is lost, whatever the
/// handler does with what it read.
///
/// - Only requests of the same session wait for each other; there is no global lock, and a
///   session without concurrent requests costs one short map insert and remove.
/// - A request that never touches its session never waits.
/// - Requests of a session run in the order they first touched it (the queue is fair).
/// - The wait is bounded by [`SessionConfig::wait_timeout`](crate::SessionConfig::wait_timeout);
///   past it the request fails with a temporary [`ErrorKind::Busy`](session_core::ErrorKind::Busy).
/// - A request that waited starts from the record the previous request committed, without
///   loading it again (see
///   [`SessionConfig::handoff_max_age`](crate::SessionConfig::handoff_max_age)).
///
/// Across processes the queue cannot reach; there the store's version check holds, and
/// [`SessionQueue::with_lock`] adds a distributed lock for strict serialisation.
///
/// The tower layer keeps one queue per layer; code that builds sessions itself shares one
/// queue among all sessions of one store.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use session_core::MemoryStore;
/// use session_tower::{Session, SessionConfig, SessionQueue};
///
/// let store = Arc::new(MemoryStore::new());
/// let config = Arc::new(SessionConfig::default());
/// let queue = SessionQueue::new();
///
/// let first = Session::queued(store.clone(), config.clone(), &queue, None);
/// first.insert("n", 1).await?;
/// let token = first.finish().await?.cookie.token().unwrap().as_str().to_owned();
///
/// // Two requests of that session at once: each reads n and writes n + 1.
/// let bump = |token: String| {
///     let (store, config, queue) = (store.clone(), config.clone(), queue.clone());
///     async move {
///         let session = Session::queued(store, config, &queue, Some(&token));
///         let n: i64 = session.get("n").await?.unwrap_or(0);
///         session.insert("n", n + 1).await?;
///         session.finish().await
///     }
/// };
/// let (a, b) = tokio::join!(bump(token.clone()), bump(token.clone()));
/// a?;
/// b?;
///
/// let last = Session::queued(store, config, &queue, Some(&token));
/// assert_eq!(last.get::<i64>("n").await?, Some(3));
/// # Ok::<(), session_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct SessionQueue {
    inner: Arc<QueueInner>,
}

struct QueueInner {
    shards: [Mutex<Slots>; SHARDS],
    lock: Option<Arc<dyn SessionLock>>,
    undecodable: AtomicU64,
    refused: AtomicU64,
}

/// What the sessions of one queue (one layer) met, for operators' metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SessionStats {
    /// Stored records that could not be decoded (corrupt, or written by a newer format); each
    /// visitor got a fresh session.
    pub undecodable_records: u64,
    /// Requests refused as busy or conflicting (answered `503` with `Retry-After`).
    pub refused_under_contention: u64,
}

impl Default for QueueInner {
    fn default() -> Self {
        QueueInner {
            shards: std::array::from_fn(|_| Mutex::default()),
            lock: None,
            undecodable: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }
}

/// The sessions of one shard with a request running or waiting.
type Slots = HashMap<SessionKey, Arc<Slot>, KeyHashing>;

/// One session's place in the queue: whoever holds `turn`'s one permit runs, and `handoff` is
/// what the last holder left for the next one. `saves` holds the changes of requests that have
/// passed their turn on and wait for them to be stored together (see [`super::pipeline`]).
pub(crate) struct Slot {
    key: SessionKey,
    /// One permit, handed on in the order requests asked for it (the semaphore is fair).
    turn: tokio::sync::Semaphore,
    /// Read and written only by the permit's holder.
    handoff: Mutex<Option<Handoff>>,
    pub(crate) saves: Mutex<Saves>,
    /// Woken when the saves in flight are all done.
    pub(crate) drained: tokio::sync::Notify,
}

/// What a request that held the session leaves for the next one in the queue.
#[derive(Clone)]
pub(crate) struct Handoff {
    /// The record as the request left it, or `None` when the request ended the session.
    pub(crate) record: Option<Record>,
    /// When the store last confirmed this state (a load, or a successful write).
    pub(crate) confirmed: Instant,
    /// `Some(epoch)` when the record holds changes still being saved: it is valid while no
    /// save of the slot has failed since (the slot's epoch is unchanged).
    pub(crate) pending: Option<u64>,
}

impl SessionQueue {
    /// An empty queue.
    pub fn new() -> Self {
        SessionQueue::default()
    }

    /// The same queue, also holding `lock` for a session while a request works on it, so that
    /// requests of one session in different processes run one after another too.
    ///
    /// The lock is taken after the in-process turn (so one process holds it once per session at
    /// a time) and given up after the commit. Its wait counts against
    /// [`SessionConfig::wait_timeout`](crate::SessionConfig::wait_timeout); its lease is
    /// [`SessionConfig::lock_lease`](crate::SessionConfig::lock_lease). The store's version check
    /// stays on, so a holder whose lease ran out still cannot overwrite a newer write.
    pub fn with_lock(lock: Arc<dyn SessionLock>) -> Self {
        SessionQueue {
            inner: Arc::new(QueueInner {
                lock: Some(lock),
                ..QueueInner::default()
            }),
        }
    }

    /// The distributed lock this queue takes, if any.
    pub fn lock(&self) -> Option<&Arc<dyn SessionLock>> {
        self.inner.lock.as_ref()
    }

    /// What the sessions of this queue met so far.
    pub fn stats(&self) -> SessionStats {
        SessionStats {
            undecodable_records: self.inner.undecodable.load(Ordering::Relaxed),
            refused_under_contention: self.inner.refused.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count_undecodable(&self) {
        self.inner.undecodable.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_refused(&self) {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// How many sessions have a request running or waiting right now.
    pub fn busy_sessions(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    fn shard(&self, key: &SessionKey) -> &Mutex<Slots> {
        // Middle bits: each shard's map takes its buckets from the low bits and its tags from
        // the top ones, which must still differ among the keys of one shard.
        let mixed = KeyHashing::default().hash_one(key);
        &self.inner.shards[(mixed >> 32) as usize % SHARDS]
    }

    /// Waits for `key`'s turn, at most `wait`.
    pub(crate) async fn enter(&self, key: &SessionKey, wait: Duration) -> Result<Turn> {
        let slot = {
            let mut shard = self
                .shard(key)
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match shard.get(key) {
                Some(slot) => slot.clone(),
                None => {
                    let slot = Arc::new(Slot {
                        key: key.clone(),
                        turn: tokio::sync::Semaphore::new(1),
                        handoff: Mutex::default(),
                        saves: Mutex::default(),
                        drained: tokio::sync::Notify::new(),
                    });
                    shard.insert(key.clone(), slot.clone());
                    slot
                }
            }
        };
        // From here on, dropping `place` (a timeout included) tidies the map.
        let place = Place {
            queue: self.clone(),
            slot,
        };
        // The permit is forgotten once taken and given back when the turn ends (`Turn::drop`):
        // a turn owns its place, which the permit's borrow could not outlive.
        // No one ahead: no timer needed.
        let free = place.slot.turn.try_acquire().map(|permit| permit.forget());
        if free.is_ok() {
            return Ok(Turn { held: true, place });
        }
        // Boxed: the timed wait's future is most of this one's size, and it is needed only
        // when requests of one session meet.
        Box::pin(Self::wait_for(place, wait)).await
    }

    /// Waits, at most `wait`, for the turn of the session `place` holds a place in.
    async fn wait_for(place: Place, wait: Duration) -> Result<Turn> {
        let waited = tokio::time::timeout(wait, place.slot.turn.acquire())
            .await
            .map(|acquired| acquired.map(|permit| permit.forget()));
        match waited {
            Ok(Ok(())) => Ok(Turn { held: true, place }),
            Ok(Err(_)) => Err(Error::busy(
                Operation::Load,
                "this session's queue was closed while the request waited in it",
            )),
            Err(_) => Err(Error::busy(
                Operation::Load,
                format!(
                    "earlier requests of this session held it for longer than the wait limit ({wait:?})"
                ),
            )),
        }
    }
}

impl fmt::Debug for SessionQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionQueue")
            .field("busy_sessions", &self.busy_sessions())
            .field("lock", &self.inner.lock)
            .finish()
    }
}

/// A request's place in one session's queue; leaving it removes the session's entry once no
/// one else holds or waits for it (or saves for it).
pub(crate) struct Place {
    queue: SessionQueue,
    slot: Arc<Slot>,
}

impl Place {
    /// The session's slot.
    pub(crate) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// Another place in the same slot, keeping it alive (for a save that outlives its turn).
    pub(crate) fn another(&self) -> Place {
        let _shard = self
            .queue
            .shard(&self.slot.key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Place {
            queue: self.queue.clone(),
            slot: self.slot.clone(),
        }
    }

    /// The session's key.
    pub(crate) fn key(&self) -> &SessionKey {
        &self.slot.key
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut shard = self
            .queue
            .shard(&self.slot.key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map holds one reference and this place another: no one else is here.
        if Arc::strong_count(&self.slot) == 2 {
            shard.remove(&self.slot.key);
        }
    }
}

/// A request's turn on its session: while it lives, no other request of the session (in this
/// process) runs its session work.
pub(crate) struct Turn {
    /// Whether this turn still holds the slot's permit: until it is passed on or ended.
    held: bool,
    place: Place,
}

impl Drop for Turn {
    fn drop(&mut self) {
        // The turn passes on before the place (a field, dropped after this) is tidied.
        self.give_back();
    }
}

impl Turn {
    /// Gives the slot's permit back, if this turn still holds it: the next request runs.
    fn give_back(&mut self) {
        if std::mem::take(&mut self.held) {
            self.place.slot.turn.add_permits(1);
        }
    }

    /// The handoff cell, which only the permit's holder uses.
    fn handoff_cell(&self) -> std::sync::MutexGuard<'_, Option<Handoff>> {
        self.place
            .slot
            .handoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes what the previous holder left, if it is recent enough to use and no save it
    /// depends on has failed.
    pub(crate) fn take_handoff(&mut self, max_age: Duration) -> Option<Handoff> {
        let handoff = self.handoff_cell().take()?;
        if let Some(epoch) = handoff.pending
            && epoch != self.epoch()
        {
            return None;
        }
        (handoff.pending.is_some() || handoff.confirmed.elapsed() <= max_age).then_some(handoff)
    }

    /// The slot's save epoch now.
    pub(crate) fn epoch(&self) -> u64 {
        self.place
            .slot
            .saves
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .epoch
    }

    /// Leaves `handoff` for the next holder (or nothing, so it loads afresh) and passes the
    /// turn on; the returned place keeps the session's slot alive while this request waits
    /// for its save.
    pub(crate) fn pass(mut self, handoff: Option<Handoff>) -> Place {
        *self.handoff_cell() = handoff;
        self.give_back();
        self.place.another()
    }

    /// Ends the turn, leaving what `handoff` makes for the next holder when another request
    /// of the session is here to take it (made only then: with no one waiting, the session's
    /// slot goes with this turn).
    pub(crate) fn end(mut self, handoff: impl FnOnce() -> Option<Handoff>) {
        // With no one else here, whatever is left goes with the slot.
        *self.handoff_cell() = if self.others_here() { handoff() } else { None };
        self.give_back();
    }

    /// Whether another request holds a place in this session's slot (waiting, or saving).
    pub(crate) fn others_here(&self) -> bool {
        // The map's reference and this turn's.
        Arc::strong_count(&self.place.slot) > 2
    }

    /// The place this turn holds.
    pub(crate) fn place(&self) -> &Place {
        &self.place
    }
}
