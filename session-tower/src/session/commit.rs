//! Ending a request's session: whether its changes are written alone under its turn (`write`) or
//! join a batch (`pipeline`), and what the cookie must do.
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

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::batch::Member;
use super::pipeline::flush;
use super::{Handoff, Session, State, View};
use session_core::Lifetime;
use session_core::SessionStore;
use session_core::SessionToken;
use session_core::{Error, ErrorKind, Operation, Result};

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
    pub(super) fn then(self, later: CookieAction) -> CookieAction {
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

impl Session {
    /// Writes the session now, as the end of the request would, for handlers that must
    /// persist before the response is sent. The end of the request then writes only what
    /// changed after this call.
    pub async fn commit(&self) -> Result<()> {
        let mut state = self.inner.state.lock().await;
        let action = self.commit_locked(&mut state).await?;
        let pending = state.take_pending_cookie();
        state.pending_cookie = match pending.then(action) {
            CookieAction::Unchanged => None,
            action => Some(Box::new(action)),
        };
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

    /// What [`Session::finish`] answers for a session the request never touched, decided in
    /// place: nothing to commit and no turn to end. `None` when the session was touched, or is
    /// in use right now, and must be finished.
    pub(crate) fn finish_untouched(&self) -> Option<Committed> {
        let state = self.inner.state.try_lock().ok()?;
        let untouched = !state.loaded
            && state.load_failure.is_none()
            && state.turn.is_none()
            && state.lock.is_none()
            && state.pending_cookie.is_none();
        untouched.then(|| Committed {
            cookie: CookieAction::Unchanged,
            accessed: false,
            signed_in: false,
        })
    }

    async fn finish_inner(&self) -> Result<Committed> {
        let mut state = self.inner.state.lock().await;
        if let Some(failure) = state.load_failure.take()
            && !state.loaded
        {
            let (kind, temporary, message) = *failure;
            self.end_turn(&mut state, |_| None).await;
            let err = Error::new(kind, Operation::Load)
                .with_context(format!("the session could not be loaded: {message}"));
            return Err(err.temporary_if(temporary));
        }
        let accessed = state.loaded && !self.is_detached();
        if let Some(action) = self.commit_in_batch(&mut state).await {
            let action = action?;
            let pending = state.take_pending_cookie();
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
        let pending = state.take_pending_cookie();
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
        let super::Presented::Token(incoming) = &state.presented else {
            return None;
        };
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
        state.base.as_ref()?;
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
            // Taken only here, as most commits return above without it; `base` was checked
            // at the start, so the `else` is never taken.
            let Some(token) = state.base.as_ref().map(|(token, _)| token.clone()) else {
                drop(saves);
                state.turn = Some(turn);
                return None;
            };
            if leader {
                let base = state.base.take().map(|(_, r)| Arc::new(r));
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
            (leader, saves.epoch, receiver, token)
        };
        let (leader, epoch, receiver, token) = leader;
        // The next request starts from this one's result, as it will be stored.
        let handoff = state.take_view().map(|view| Handoff {
            record: Some(view),
            confirmed: Instant::now(),
            pending: Some(epoch),
        });
        let place = turn.pass(handoff);
        if leader {
            // Boxed, as the commit's other writes are (see `commit_locked`).
            Box::pin(flush(place, store.clone(), self.inner.config.clone())).await;
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
                let record = Arc::unwrap_or_clone(record);
                state.view = View::Base;
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
                state.view = View::Gone;
                state.base = None;
                Ok(CookieAction::Remove)
            }
            Err(e) => Err(e),
        })
    }

    /// Waits until the saves this request's record depends on are stored, and takes the
    /// stored version; fails when one of them was left out.
    pub(super) async fn settle_base(&self, state: &mut State) -> Result<()> {
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
    /// What an explicit commit decided about the cookie, taken.
    fn take_pending_cookie(&mut self) -> CookieAction {
        self.pending_cookie
            .take()
            .map_or(CookieAction::Unchanged, |action| *action)
    }

    /// Whether the session as it stands has an owner.
    fn signed_in(&self) -> bool {
        let record = self.view().or(self.base.as_ref().map(|(_, r)| r));
        record.is_some_and(|r| r.owner.is_some())
    }
}
