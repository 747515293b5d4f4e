//! The classic commit, under the session's turn: save with replay on conflict, regenerate,
//! create, touch. [`super::commit`] decides when it runs; this file holds how each write is made.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::commit::CookieAction;
use super::pipeline::pause_before_retry;
use super::{Session, State, View};
use crate::session::change::Change;
use crate::session::reads::Reads;
use session_core::SessionStore;
use session_core::SessionToken;
use session_core::{Error, ErrorKind, Operation, Result};
use session_core::{Record, SessionKey};

/// How a write attempt ended when the session vanished under it.
// Made once per commit and matched at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Written {
    Stored(SessionToken, Record),
    Gone,
}

impl Session {
    /// Writes what the request changed, under its turn. Each kind of write runs as a boxed
    /// future of its own: they hold records across the store's calls, and inline they would make
    /// this future, and every future holding it, large enough that creating them (on every
    /// request, most of which write nothing) cost more than the boxes.
    pub(super) async fn commit_locked(&self, state: &mut State) -> Result<CookieAction> {
        let Some(store) = self.inner.store.clone() else {
            return Ok(CookieAction::Unchanged);
        };
        if !state.loaded {
            return Ok(CookieAction::Unchanged);
        }
        self.settle_base(state).await?;
        let mut action = CookieAction::Unchanged;
        if let Some(key) = state.delete_on_commit.take() {
            store.delete(&key).await?;
            action = CookieAction::Remove;
        }
        // A request that changed nothing writes only a touch, when one is due; when none is,
        // the browser's cookie is still right, decided in place without moving the loaded
        // record out and back.
        let touch = match &state.base {
            Some((_, base)) if !state.regenerate && state.changes.is_empty() => {
                match self.touch_due(base) {
                    Some(next) => Some(next),
                    None => return Ok(action),
                }
            }
            _ => None,
        };
        let written = match (state.base.take(), touch) {
            (Some((token, base)), _) if state.regenerate => Some(
                Box::pin(self.regenerate_now(&*store, &token, base, &state.changes, &state.reads))
                    .await?,
            ),
            (Some((token, base)), Some(next)) => {
                Some(Box::pin(self.touch(&*store, token, base, next)).await?)
            }
            (Some((token, base)), None) => {
                let next = match state.take_view() {
                    Some(mut view) => {
                        view.version = base.version;
                        view.expires_at = self.expiry(&view, session_core::kit::now());
                        view
                    }
                    None => self.replay(base, &state.changes),
                };
                Some(
                    Box::pin(self.save_with_replay(
                        &*store,
                        token,
                        next,
                        &state.changes,
                        &state.reads,
                    ))
                    .await?,
                )
            }
            (None, _) if !state.changes.is_empty() => {
                Box::pin(self.create_fresh(&*store, &state.changes)).await?
            }
            (None, _) => None,
        };
        state.changes.clear();
        state.reads = Reads::default();
        state.regenerate = false;
        match written {
            Some(Written::Stored(token, record)) => {
                state.confirmed = Some(Instant::now());
                // The stored flash is for the next request; this request's reads are unaffected.
                state.view = View::Base;
                state.stale_cookie = false;
                action = action.then(CookieAction::Set {
                    token: token.clone(),
                    expires_at: record.expires_at,
                    lifetime: record.lifetime,
                });
                state.base = Some((token, record));
            }
            Some(Written::Gone) => {
                tracing::info!(
                    store = store.name(),
                    "session ended by a concurrent request; this request's changes were dropped"
                );
                state.view = View::Gone;
                action = action.then(CookieAction::Remove);
            }
            None if state.stale_cookie => {
                state.stale_cookie = false;
                action = action.then(CookieAction::Remove);
            }
            None => {}
        }
        Ok(action)
    }

    pub(super) fn expiry(&self, record: &Record, now: DateTime<Utc>) -> DateTime<Utc> {
        self.inner.config.expiry(record, now)
    }

    pub(super) fn replay(&self, mut record: Record, changes: &[Change]) -> Record {
        for change in changes {
            change.apply(&mut record);
        }
        record.expires_at = self.expiry(&record, session_core::kit::now());
        record
    }

    /// Saves `next` (the loaded record with `changes` applied); on a conflict reloads and, if
    /// the handler's reads still hold, replays the changes there and tries again with jittered
    /// backoff, within the retry budget.
    ///
    /// This future stays under a kilobyte (776 bytes, from 1,824): it is made and boxed on
    /// every write, and the allocator serves small boxes from its per-thread cache, where one
    /// past a kilobyte took its slower path each time. The rare conflict runs in a box of its
    /// own.
    pub(super) async fn save_with_replay(
        &self,
        store: &dyn SessionStore,
        token: SessionToken,
        mut next: Record,
        changes: &[Change],
        reads: &Reads,
    ) -> Result<Written> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            match store.save(&next).await {
                Ok(version) => {
                    next.version = version;
                    return Ok(Written::Stored(token, next));
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    let retry = Box::pin(self.after_conflict(
                        store,
                        &next.key,
                        (started, &mut attempt),
                        changes,
                        reads,
                    ));
                    match retry.await? {
                        Some(replayed) => next = replayed,
                        None => return Ok(Written::Gone),
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Written::Gone),
                Err(e) => return Err(e),
            }
        }
    }

    /// After a conflicting save: the latest record with `changes` replayed, once the pause
    /// before the retry is over; `None` when the session ended meanwhile. Fails when what the
    /// handler read no longer holds, or the retry budget (counted from `started`) is spent.
    async fn after_conflict(
        &self,
        store: &dyn SessionStore,
        key: &SessionKey,
        (started, attempt): (Instant, &mut u32),
        changes: &[Change],
        reads: &Reads,
    ) -> Result<Option<Record>> {
        let latest = match store.load(key).await? {
            Some(latest) if !self.past_deadline(&latest) => latest,
            _ => return Ok(None),
        };
        self.check_reads(store, reads, &latest, changes)?;
        pause_before_retry(started, self.inner.config.retry_budget, attempt, store).await?;
        Ok(Some(self.replay(latest, changes)))
    }

    /// Fails when another writer changed something the handler read and the handler wrote
    /// anything: its writes may follow from values that no longer hold.
    pub(super) fn check_reads(
        &self,
        store: &dyn SessionStore,
        reads: &Reads,
        latest: &Record,
        changes: &[Change],
    ) -> Result<()> {
        if !State::writes(changes) {
            return Ok(());
        }
        match reads.changed_in(latest) {
            None => Ok(()),
            Some(what) => {
                tracing::info!(
                    store = store.name(),
                    changed = %what,
                    "another process changed what this request read; its changes were not applied"
                );
                Err(Error::conflict(Operation::Save)
                    .with_store(store.name().to_owned())
                    .with_context(format!(
                        "another process changed {what}, which this request read; its changes were not applied, and the request can be retried"
                    ))
                    .temporary())
            }
        }
    }

    /// Moves the session to a new token: the new record is created before the old is deleted.
    pub(super) async fn regenerate_now(
        &self,
        store: &dyn SessionStore,
        old: &SessionToken,
        base: Record,
        changes: &[Change],
        reads: &Reads,
    ) -> Result<Written> {
        let old_key = old.key();
        // Start from the latest stored data, and respect a logout that happened meanwhile.
        let latest = match store.load(&old_key).await? {
            Some(latest) if !self.past_deadline(&latest) => latest,
            _ => return Ok(Written::Gone),
        };
        self.check_reads(store, reads, &latest, changes)?;
        let mut next = self.replay(latest, changes);
        next.created_at = base.created_at;
        let written = self.create_with_new_token(store, next).await?;
        store.delete(&old_key).await?;
        Ok(written)
    }

    /// Creates a new session holding `changes`, unless they leave nothing worth storing.
    pub(super) async fn create_fresh(
        &self,
        store: &dyn SessionStore,
        changes: &[Change],
    ) -> Result<Option<Written>> {
        let now = session_core::kit::now();
        let mut record = Record::new(SessionToken::generate().key(), now);
        record.deadline = self
            .inner
            .config
            .absolute_timeout
            .and_then(|t| chrono::Duration::from_std(t).ok())
            .map(|t| now + t);
        let record = self.replay(record, changes);
        if !Change::stores_something(&record) {
            return Ok(None);
        }
        self.create_with_new_token(store, record).await.map(Some)
    }

    pub(super) async fn create_with_new_token(
        &self,
        store: &dyn SessionStore,
        mut record: Record,
    ) -> Result<Written> {
        // A collision of 256-bit random tokens does not happen; the loop only keeps a broken
        // random source from turning into an overwrite.
        for _ in 0..3 {
            let token = SessionToken::try_generate().map_err(|e| {
                Error::new(ErrorKind::Backend, Operation::Create)
                    .with_context("cannot generate a session token")
                    .with_source(e)
            })?;
            record.key = token.key();
            record.version = 0;
            match store.create(&record).await {
                Ok(()) => return Ok(Written::Stored(token, record)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::already_exists(Operation::Create)
            .with_store(store.name().to_owned())
            .with_context("three fresh session tokens collided; the random source is broken"))
    }

    /// The new expiry when `base`, unchanged by this request, is due to be touched: its expiry
    /// would move by at least the touch interval, or every request saves.
    fn touch_due(&self, base: &Record) -> Option<DateTime<Utc>> {
        let config = &self.inner.config;
        if !config.save_every_request {
            // A write now gives at most `now + idle`; when even that moves the stored expiry by
            // less than the interval (with two milliseconds spared, as the clock and the
            // timeout are rounded down), no touch is due. Most requests end here, in integer
            // milliseconds, without the calendar arithmetic below.
            let millis =
                |d: std::time::Duration| i128::try_from(d.as_millis()).unwrap_or(i128::MAX);
            let latest =
                i128::from(session_core::kit::now_millis()) + millis(config.idle(base)) + 2;
            let moved = latest - i128::from(base.expires_at.timestamp_millis());
            if moved < millis(config.touch_interval) {
                return None;
            }
        }
        let next = self.expiry(base, session_core::kit::now());
        let interval =
            chrono::Duration::from_std(config.touch_interval).unwrap_or(chrono::Duration::MAX);
        (next - base.expires_at >= interval || config.save_every_request).then_some(next)
    }

    /// Moves the idle expiry of `base`, unchanged by this request, to `next` in the store.
    async fn touch(
        &self,
        store: &dyn SessionStore,
        token: SessionToken,
        mut base: Record,
        next: DateTime<Utc>,
    ) -> Result<Written> {
        match store.touch(&token.key(), next).await {
            Ok(()) => {
                base.expires_at = next;
                Ok(Written::Stored(token, base))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Written::Gone),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::TimeDelta;
    use session_core::{Lifetime, MemoryStore, Record, SessionKey, SessionStore};

    use crate::session::{Session, SessionConfig};

    /// The boxed futures of a load and of each kind of write stay under a kilobyte: boxed on
    /// every request that loads or writes, a larger one leaves the allocator's per-thread cache
    /// for its slower path (the save's was 1,824 bytes before its conflict path was boxed apart).
    #[tokio::test]
    async fn load_and_write_futures_stay_under_a_kilobyte() {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        let session = Session::new(store.clone(), Arc::new(SessionConfig::default()), None);
        let token = session_core::SessionToken::generate();
        let record = Record::new(SessionKey::random(), session_core::kit::now());
        let reads = crate::session::reads::Reads::default();
        let mut state = session.inner.state.lock().await;
        let sizes = [
            ("load", std::mem::size_of_val(&session.load(&mut state))),
            (
                "save",
                std::mem::size_of_val(&session.save_with_replay(
                    &*store,
                    token.clone(),
                    record.clone(),
                    &[],
                    &reads,
                )),
            ),
            (
                "touch",
                std::mem::size_of_val(&session.touch(
                    &*store,
                    token.clone(),
                    record.clone(),
                    record.expires_at,
                )),
            ),
            (
                "create",
                std::mem::size_of_val(&session.create_fresh(&*store, &[])),
            ),
        ];
        for (what, size) in sizes {
            assert!(
                size <= session_core::kit::SMALL_FUTURE_BYTES,
                "the future of a {what} is {size} bytes"
            );
        }
    }

    /// A touch is due exactly when the expiry a write now gives moves the stored one by the
    /// touch interval or more; the quick answer in milliseconds must agree near the edge, for
    /// the configured idle timeout and a session's own.
    #[test]
    fn a_touch_is_due_once_the_expiry_would_move_by_the_interval() {
        let idle = Duration::from_secs(30 * 60);
        let interval = Duration::from_secs(60);
        let config = SessionConfig::default()
            .with_idle_timeout(idle)
            .with_touch_interval(interval);
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        let session = Session::new(store.clone(), Arc::new(config.clone()), None);
        let span = |d: Duration| TimeDelta::from_std(d).unwrap();
        for own in [None, Some(Duration::from_secs(7 * 24 * 3600))] {
            let idle = own.unwrap_or(idle);
            let record = |moved_by: TimeDelta| {
                let now = session_core::kit::now();
                let mut record = Record::new(SessionKey::random(), now + span(idle) - moved_by);
                record.lifetime = own.map(Lifetime::Idle);
                record
            };
            // Well short of the interval, just short of it (by more than the clock moves
            // between here and the decision), and past it.
            for (moved_by, due) in [
                (TimeDelta::zero(), false),
                (span(interval) - TimeDelta::milliseconds(500), false),
                (span(interval) + TimeDelta::milliseconds(1), true),
                (span(interval) * 3, true),
            ] {
                let base = record(moved_by);
                let next = session.touch_due(&base);
                assert_eq!(next.is_some(), due, "own {own:?}, moved by {moved_by}");
                if let Some(next) = next {
                    assert!(next - base.expires_at >= span(interval));
                }
            }
        }
        // Saving every request touches whatever moved.
        let every = Session::new(store, Arc::new(config.with_save_every_request(true)), None);
        let now = session_core::kit::now();
        let base = Record::new(SessionKey::random(), now + span(idle));
        assert!(every.touch_due(&base).is_some());
    }
}
