//! Loading a request's session: waiting for its turn in the queue (and the distributed lock),
//! taking what the previous request handed on or reading the store, and deciding what a
//! missing, expired or undecodable record means for the visitor.

use std::time::Instant;

use session_core::{ErrorKind, Result, SessionKey};

use super::change::Change;
use super::held::{self, HeldLock};
use super::queue::Handoff;
use super::{OnLoadError, Presented, Session, State, View};

impl Session {
    pub(super) async fn load(&self, state: &mut State) -> Result<()> {
        let Some(store) = &self.inner.store else {
            state.loaded = true;
            return Ok(());
        };
        // Only the key is held across the waits below (the token is taken again at the end):
        // this future is moved whole into its box, so what it holds is copied on every load.
        let key = match &state.presented {
            Presented::Token(token) => token.key(),
            Presented::Nothing | Presented::Rejected => {
                state.loaded = true;
                state.stale_cookie = matches!(state.presented, Presented::Rejected);
                return Ok(());
            }
        };
        let handoff = match self.wait_for_turn(state, &key).await {
            Ok(handoff) => handoff,
            Err(err) => {
                state.load_failure =
                    Some(Box::new((err.kind(), err.is_temporary(), err.to_string())));
                return Err(err);
            }
        };
        let loaded = match handoff {
            Some(handoff) => {
                state.confirmed = Some(handoff.confirmed);
                state.base_pending = handoff.pending;
                Ok(handoff
                    .record
                    .filter(|r| !r.is_expired_at(session_core::kit::now())))
            }
            None => {
                state.confirmed = Some(Instant::now());
                store.load(&key).await
            }
        };
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(err) if err.kind() == ErrorKind::Decode => {
                // Corrupt, or written by a newer format: not an outage. The visitor starts
                // afresh, the cookie is replaced, and the unreadable record goes.
                tracing::warn!(
                    store = store.name(),
                    error = %err,
                    "session record cannot be decoded; starting a fresh session and deleting it"
                );
                if let Some(queue) = &self.inner.queue {
                    queue.count_undecodable();
                }
                if let Err(e) = store.delete(&key).await {
                    tracing::warn!(store = store.name(), error = %e, "could not delete an undecodable session record");
                }
                state.loaded = true;
                state.stale_cookie = true;
                return Ok(());
            }
            Err(err) if self.inner.config.on_load_error == OnLoadError::StartFresh => {
                tracing::warn!(store = store.name(), error = %err, "session load failed; starting a fresh session");
                state.loaded = true;
                return Ok(());
            }
            Err(err) => {
                state.load_failure =
                    Some(Box::new((err.kind(), err.is_temporary(), err.to_string())));
                return Err(err);
            }
        };
        state.loaded = true;
        // The key was made from the presented token, which nothing above replaced.
        let token = match &state.presented {
            Presented::Token(token) => Some(token),
            Presented::Nothing | Presented::Rejected => None,
        };
        match loaded.zip(token) {
            Some((record, token)) if !self.past_deadline(&record) => {
                let flash_in = record.flash.clone();
                state.base = Some((token.clone(), record));
                state.view = View::Base;
                if !flash_in.is_empty() {
                    let age = Change::AgeFlash(flash_in.clone());
                    age.apply(state.view_mut());
                    state.changes.push(age);
                }
                state.flash_in = flash_in;
            }
            Some(_) => {
                // Past its absolute deadline: end it now rather than wait for the idle expiry.
                store.delete(&key).await?;
                state.stale_cookie = true;
            }
            None => state.stale_cookie = true,
        }
        Ok(())
    }

    /// Takes this request's turn on `key` in the queue (and the distributed lock, if the queue
    /// has one), returning what the previous request left when it may be used instead of a load.
    pub(super) async fn wait_for_turn(
        &self,
        state: &mut State,
        key: &SessionKey,
    ) -> Result<Option<Handoff>> {
        let Some(queue) = &self.inner.queue else {
            return Ok(None);
        };
        let config = &self.inner.config;
        // The clock is read only when a lock's wait must share the limit with the queue's.
        let started = queue.lock().map(|_| Instant::now());
        let mut turn = queue.enter(key, config.wait_timeout).await?;
        let handoff = match queue.lock().zip(started) {
            // Another process may have written between the previous holder's release and now.
            Some((held, started)) => {
                let wait = config.wait_timeout.saturating_sub(started.elapsed());
                state.lock = Some(
                    Box::pin(held::acquire(&**held, key, config.lock_lease, wait))
                        .await
                        .map(|lease| Box::new(HeldLock::new(held.clone(), key.clone(), lease)))?,
                );
                None
            }
            None => turn.take_handoff(config.handoff_max_age),
        };
        state.turn = Some(turn);
        Ok(handoff)
    }

    /// Ends this request's turn: leaves `handoff` for the next request of the session, gives up
    /// the distributed lock, and lets the next request run.
    pub(super) async fn end_turn(
        &self,
        state: &mut State,
        handoff: impl FnOnce(&State) -> Option<Handoff>,
    ) {
        if let Some(held) = state.lock.take() {
            held.release().await;
        }
        if let Some(turn) = state.turn.take() {
            turn.end(|| handoff(state));
        }
    }
}
