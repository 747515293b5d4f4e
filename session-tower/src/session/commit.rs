//! Writing a session back: save with replay on conflict, regenerate, invalidate, touch.
//!
//! # Conflicts
//!
//! Inside one process a session's requests are queued, so a commit meets a version conflict
//! only when another process wrote the session since this request loaded it. The commit then
//! reloads the record and:
//!
//! - if everything the handler read (values through `get`, `has`, `all`, `remove`, `pull`,
//!   `increment`, the owner through `owner`) still holds in the reloaded record, re-applies its
//!   change set there and saves again: nothing either request did is lost;
//! - otherwise, if the handler wrote anything, nothing is written and the commit fails with a
//!   temporary [`ErrorKind::Conflict`]: its writes were computed from values that no longer
//!   hold, and replaying them would silently undo the other process's write. The tower layer
//!   answers `503` with `Retry-After`, so the client can repeat the request.
//!
//! Retries back off with jitter and stop after
//! [`SessionConfig::retry_budget`](crate::SessionConfig::retry_budget) with a temporary
//! [`ErrorKind::Busy`].

use std::sync::PoisonError;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::batch::Member;
use super::pipeline::{flush, pause_before_retry};
use super::{Handoff, Session, State};
use crate::session::change::Change;
use crate::session::reads::Reads;
use session_core::SessionStore;
use session_core::SessionToken;
use session_core::{Error, ErrorKind, Operation, Result};
use session_core::{Lifetime, Record};

/// What the response must do with the session cookie.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CookieAction {
    /// Send no `Set-Cookie`: the browser's cookie is still right (or there is none).
    #[default]
    Unchanged,
    /// Set the cookie to `token`, expiring with the session at `expires_at`.
    Set {
        /// The token to send.
        token: SessionToken,
        /// When the session's idle expiry (or absolute deadline) falls.
        expires_at: DateTime<Utc>,
        /// The lifetime the session chose for itself, if any: it decides whether the cookie
        /// outlives the browser.
        lifetime: Option<Lifetime>,
    },
    /// Remove the cookie: the session ended, or the presented token named no live session.
    Remove,
}

impl CookieAction {
    /// The token to set, for [`CookieAction::Set`].
    pub fn token(&self) -> Option<&SessionToken> {
        match self {
            CookieAction::Set { token, .. } => Some(token),
            _ => None,
        }
    }

    /// `later` unless it leaves the cookie unchanged, in which case `self`.
    fn then(self, later: CookieAction) -> CookieAction {
        match later {
            CookieAction::Unchanged => self,
            later => later,
        }
    }
}

/// The result of [`Session::finish`], for the middleware that writes the response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Committed {
    /// What to do with the cookie.
    pub cookie: CookieAction,
    /// Whether the handler used the session at all (the response then varies by cookie).
    pub accessed: bool,
    /// Whether the session belongs to a user (it has an owner) after the commit: a signed-in
    /// page, which browsers should not keep.
    pub signed_in: bool,
}

/// How a write attempt ended when the session vanished under it.
enum Written {
    Stored(SessionToken, Record),
    Gone,
}

impl Session {
    /// Writes the session now, as the end of the request would, for handlers that must
    /// persist before the response is sent. The end of the request then writes only what
    /// changed after this call.
    pub async fn commit(&self) -> Result<()> {
        let mut state = self.inner.state.lock().await;
        let action = self.commit_locked(&mut state).await?;
        let pending = std::mem::take(&mut state.pending_cookie);
        state.pending_cookie = pending.then(action);
        Ok(())
    }

    /// Commits at the end of a request and says what to do with the cookie. Middleware calls
    /// this once, after the handler.
    ///
    /// Fails when the commit fails, and also when the session could not be loaded during the
    /// request (even if the handler ignored that error), so the response never claims a
    /// success the session did not have.
    ///
    /// Ends the request's turn in the session's queue either way.
    pub async fn finish(&self) -> Result<Committed> {
        let result = self.finish_inner().await;
        if let (Err(e), Some(queue)) = (&result, &self.inner.queue)
            && matches!(e.kind(), ErrorKind::Busy | ErrorKind::Conflict)
        {
            queue.count_refused();
        }
        result
    }

    async fn finish_inner(&self) -> Result<Committed> {
        let mut state = self.inner.state.lock().await;
        if let Some((kind, temporary, message)) = state.load_failure.take()
            && !state.loaded
        {
            self.end_turn(&mut state, |_| None).await;
            let err = Error::new(kind, Operation::Load)
                .with_context(format!("the session could not be loaded: {message}"));
            return Err(err.temporary_if(temporary));
        }
        let accessed = state.loaded && !self.is_detached();
        if let Some(action) = self.commit_in_batch(&mut state).await {
            let action = action?;
            let pending = std::mem::take(&mut state.pending_cookie);
            return Ok(Committed {
                cookie: pending.then(action),
                accessed,
                signed_in: state.signed_in(),
            });
        }
        let action = match self.commit_locked(&mut state).await {
            Ok(action) => action,
            Err(err) => {
                self.end_turn(&mut state, |_| None).await;
                return Err(err);
            }
        };
        self.end_turn(&mut state, |state| self.handoff(state)).await;
        let pending = std::mem::take(&mut state.pending_cookie);
        Ok(Committed {
            cookie: pending.then(action),
            accessed,
            signed_in: state.signed_in(),
        })
    }

    /// Ends the request's turn in the session's queue without committing, for middleware that
    /// decided not to write the session (see [`Session::queued`]). Changes not yet committed
    /// are dropped; the next request of the session starts from the record this one started
    /// from.
    pub async fn release(&self) {
        let mut state = self.inner.state.lock().await;
        // An uncommitted logout changed nothing stored, but left no record to hand on.
        self.end_turn(&mut state, |state| {
            if state.delete_on_commit.is_some() {
                None
            } else {
                self.handoff(state)
            }
        })
        .await;
    }

    /// What the next request of this session may start from: the record as this request left
    /// it, or the knowledge that the session ended.
    fn handoff(&self, state: &State) -> Option<Handoff> {
        let incoming = state.incoming.as_ref()?;
        match (&state.base, state.confirmed) {
            (Some((token, record)), Some(confirmed)) if token == incoming => Some(Handoff {
                record: Some(record.clone()),
                confirmed,
                pending: state.base_pending,
            }),
            // Regenerated, invalidated or never live: the presented token names no session.
            (Some(_), _) | (None, _) => Some(Handoff {
                record: None,
                confirmed: Instant::now(),
                pending: None,
            }),
        }
    }

    /// Commits through the session's batched saves when other requests of the session are
    /// being saved, or could be while this one's save is in flight: the turn passes on at
    /// once, and this request waits for the save that holds its changes. `None` when the commit
    /// must run under the turn instead (no queue, a lock, regenerate, invalidate, a new
    /// session, or nothing to write and nothing pending).
    async fn commit_in_batch(&self, state: &mut State) -> Option<Result<CookieAction>> {
        let store = self.inner.store.clone()?;
        let queue = self.inner.queue.as_ref()?;
        if queue.lock().is_some()
            || !state.loaded
            || state.regenerate
            || state.delete_on_commit.is_some()
        {
            return None;
        }
        let token = state.base.as_ref()?.0.clone();
        let turn = state.turn.take()?;
        let writes = !state.changes.is_empty();
        let alone = !turn.others_here();
        let leader = {
            let slot = turn.place().slot().clone();
            let mut saves = slot.saves.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(epoch) = state.base_pending
                && epoch != saves.epoch
            {
                drop(saves);
                drop(turn.pass(None));
                return Some(Err(stale_base(&*store)));
            }
            let leader = !saves.flushing;
            if leader && (!writes || alone) {
                // Nothing in flight, and nothing to write or no one to share a save with: the
                // commit runs under the turn. What this request read is stored.
                if state.base_pending.take().is_some()
                    && let (Some(current), Some((_, base))) = (&saves.current, &mut state.base)
                {
                    base.version = current.version;
                }
                drop(saves);
                state.turn = Some(turn);
                return None;
            }
            if leader {
                let base = state.base.take().map(|(_, r)| r);
                if state.base_pending.is_none() || saves.current.is_none() {
                    saves.current = base;
                }
                saves.flushing = true;
            }
            let (reply, receiver) = tokio::sync::oneshot::channel();
            saves.open.push(Member {
                changes: std::mem::take(&mut state.changes),
                reads: std::mem::take(&mut state.reads),
                reply,
            });
            (leader, saves.epoch, receiver)
        };
        let (leader, epoch, receiver) = leader;
        // The next request starts from this one's result, as it will be stored.
        let handoff = state.view.take().map(|view| Handoff {
            record: Some(view),
            confirmed: Instant::now(),
            pending: Some(epoch),
        });
        let place = turn.pass(handoff);
        if leader {
            flush(place, store.clone(), self.inner.config.clone()).await;
        } else {
            drop(place);
        }
        let limit = self.inner.config.wait_timeout + self.inner.config.retry_budget;
        let mut receiver = receiver;
        // A leader's own save is done by now: no timer needed.
        let answered = receiver.try_recv().ok();
        let waited = match answered {
            Some(reply) => Ok(Ok(reply)),
            None => tokio::time::timeout(limit, receiver).await,
        };
        let outcome = match waited {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(Error::busy(
                Operation::Save,
                "the save holding this request's changes was abandoned",
            )),
            Err(_) => Err(Error::busy(
                Operation::Save,
                format!("the save holding this request's changes did not finish within {limit:?}"),
            )),
        };
        state.regenerate = false;
        state.base_pending = None;
        Some(match outcome {
            Ok(Some(record)) if writes || self.inner.config.save_every_request => {
                let record = Record::clone(&record);
                state.view = Some(record.clone());
                state.confirmed = Some(Instant::now());
                state.stale_cookie = false;
                let action = CookieAction::Set {
                    token: token.clone(),
                    expires_at: record.expires_at,
                    lifetime: record.lifetime,
                };
                state.base = Some((token, record));
                Ok(action)
            }
            Ok(Some(_)) => Ok(CookieAction::Unchanged),
            Ok(None) => {
                tracing::info!(
                    store = store.name(),
                    "session ended by a concurrent request; this request's changes were dropped"
                );
                state.view = None;
                state.base = None;
                Ok(CookieAction::Remove)
            }
            Err(e) => Err(e),
        })
    }

    /// Waits until the saves this request's record depends on are stored, and takes the
    /// stored version; fails when one of them was left out.
    async fn settle_base(&self, state: &mut State) -> Result<()> {
        let Some(epoch) = state.base_pending else {
            return Ok(());
        };
        let (Some(turn), Some(store)) = (&state.turn, &self.inner.store) else {
            return Ok(());
        };
        let slot = turn.place().slot().clone();
        loop {
            let drained = slot.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let saves = slot.saves.lock().unwrap_or_else(PoisonError::into_inner);
                if !saves.flushing {
                    if saves.epoch != epoch {
                        return Err(stale_base(&**store));
                    }
                    if let (Some(current), Some((_, base))) = (&saves.current, &mut state.base) {
                        base.version = current.version;
                    }
                    state.base_pending = None;
                    return Ok(());
                }
            }
            drained.await;
        }
    }

    async fn commit_locked(&self, state: &mut State) -> Result<CookieAction> {
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
        let written = match state.base.take() {
            Some((token, base)) if state.regenerate => Some(
                self.regenerate_now(&*store, &token, base, &state.changes, &state.reads)
                    .await?,
            ),
            Some((token, base)) if !state.changes.is_empty() => {
                let view = state.view.take();
                Some(
                    self.save_with_replay(&*store, token, base, view, &state.changes, &state.reads)
                        .await?,
                )
            }
            Some((token, base)) => {
                let (written, touched) = self.touch_if_due(&*store, token, base).await?;
                if !touched {
                    // Nothing was written: the browser's cookie is still right.
                    if let Written::Stored(token, record) = written {
                        state.base = Some((token, record));
                    }
                    return Ok(action);
                }
                Some(written)
            }
            None if !state.changes.is_empty() => self.create_fresh(&*store, &state.changes).await?,
            None => None,
        };
        state.changes.clear();
        state.reads = Reads::default();
        state.regenerate = false;
        match written {
            Some(Written::Stored(token, record)) => {
                state.confirmed = Some(Instant::now());
                // The stored flash is for the next request; this request's reads are unaffected.
                state.view = Some(record.clone());
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
                state.view = None;
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

    fn expiry(&self, record: &Record, now: DateTime<Utc>) -> DateTime<Utc> {
        self.inner.config.expiry(record, now)
    }

    fn replay(&self, mut record: Record, changes: &[Change]) -> Record {
        for change in changes {
            change.apply(&mut record);
        }
        record.expires_at = self.expiry(&record, Utc::now());
        record
    }

    /// Saves `base` with `changes` (`view` is `base` with them applied already, when at hand);
    /// on a conflict reloads and, if the handler's reads still hold, replays and tries again
    /// with jittered backoff, within the retry budget.
    async fn save_with_replay(
        &self,
        store: &dyn SessionStore,
        token: SessionToken,
        base: Record,
        view: Option<Record>,
        changes: &[Change],
        reads: &Reads,
    ) -> Result<Written> {
        let started = Instant::now();
        let budget = self.inner.config.retry_budget;
        let mut next = match view {
            Some(mut view) => {
                view.version = base.version;
                view.expires_at = self.expiry(&view, Utc::now());
                view
            }
            None => self.replay(base.clone(), changes),
        };
        let mut attempt = 0u32;
        loop {
            match store.save(&next).await {
                Ok(version) => {
                    next.version = version;
                    return Ok(Written::Stored(token, next));
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    let latest = match store.load(&base.key).await? {
                        Some(latest) if !self.past_deadline(&latest, Utc::now()) => latest,
                        _ => return Ok(Written::Gone),
                    };
                    self.check_reads(store, reads, &latest, changes)?;
                    pause_before_retry(started, budget, &mut attempt, store).await?;
                    next = self.replay(latest, changes);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Written::Gone),
                Err(e) => return Err(e),
            }
        }
    }

    /// Fails when another writer changed something the handler read and the handler wrote
    /// anything: its writes may follow from values that no longer hold.
    fn check_reads(
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
    async fn regenerate_now(
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
            Some(latest) if !self.past_deadline(&latest, Utc::now()) => latest,
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
    async fn create_fresh(
        &self,
        store: &dyn SessionStore,
        changes: &[Change],
    ) -> Result<Option<Written>> {
        let now = Utc::now();
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

    async fn create_with_new_token(
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

    /// Refreshes the idle expiry when it would move by at least the touch interval.
    /// Returns whether the store was written.
    async fn touch_if_due(
        &self,
        store: &dyn SessionStore,
        token: SessionToken,
        mut base: Record,
    ) -> Result<(Written, bool)> {
        let next = self.expiry(&base, Utc::now());
        let interval = chrono::Duration::from_std(self.inner.config.touch_interval)
            .unwrap_or(chrono::Duration::MAX);
        if next - base.expires_at < interval && !self.inner.config.save_every_request {
            return Ok((Written::Stored(token, base), false));
        }
        match store.touch(&token.key(), next).await {
            Ok(()) => {
                base.expires_at = next;
                Ok((Written::Stored(token, base), true))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok((Written::Gone, true)),
            Err(e) => Err(e),
        }
    }
}

/// The error of a request that started from changes an earlier request of its session could
/// not store.
fn stale_base(store: &dyn SessionStore) -> Error {
    Error::conflict(Operation::Save)
        .with_store(store.name().to_owned())
        .with_context(
            "an earlier request of this session could not store its changes, and this request started from them; it can be retried",
        )
        .temporary()
}

impl State {
    /// Whether the session as it stands has an owner.
    fn signed_in(&self) -> bool {
        let record = self.view.as_ref().or(self.base.as_ref().map(|(_, r)| r));
        record.is_some_and(|r| r.owner.is_some())
    }
}
