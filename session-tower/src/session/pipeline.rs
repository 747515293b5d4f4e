//! Saving the changes of a session's queued requests together.
//!
//! A request that has run its handler passes its turn on at once and waits for its changes to
//! be stored. While one save of a session is in flight, the requests behind it run their
//! handlers on the record as it will be, and their changes join the next save. So a session
//! under load pays one store round trip per batch of requests, not one per request, and each
//! response still waits until its own changes are stored.
//!
//! Every save re-applies each request's change set, in queue order, to the record as last
//! stored, after checking that what the request read still holds there. Without other
//! processes it always does; when another process wrote the session meanwhile, a request whose
//! reads no longer hold fails with a temporary [`ErrorKind::Conflict`], and only its changes
//! are left out.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::batch::{Member, Reply};
use super::config::SessionConfig;
use super::held::backoff;
use super::queue::Place;
use session_core::Record;
use session_core::SessionStore;
use session_core::{Error, ErrorKind, Operation, Result};

/// An error told to every request of a failed save (errors are not `Clone`: each gets its own,
/// naming the first).
fn shared(err: &Error) -> Error {
    Error::new(err.kind(), err.operation())
        .with_store(err.store().to_owned())
        .with_context(err.to_string())
        .temporary_if(err.is_temporary())
}

/// Stores the waiting requests of `place`'s session, batch after batch, until none waits; the
/// first batch in this task, the rest in a task of their own so the caller's response is not
/// held up by later requests.
pub(crate) async fn flush(place: Place, store: Arc<dyn SessionStore>, config: Arc<SessionConfig>) {
    if save_batch(&place, &*store, &config).await {
        tokio::spawn(async move { while save_batch(&place, &*store, &config).await {} });
    }
}

/// Saves the open batch; says whether another batch is waiting (and this caller keeps
/// flushing).
async fn save_batch(place: &Place, store: &dyn SessionStore, config: &SessionConfig) -> bool {
    let slot = place.slot();
    let (members, current) = {
        let mut saves = slot.saves.lock().unwrap_or_else(PoisonError::into_inner);
        (std::mem::take(&mut saves.open), saves.current.clone())
    };
    let outcome = match current {
        Some(current) => store_members(place, store, config, current, &members).await,
        None => Err(Error::new(ErrorKind::Backend, Operation::Save)
            .with_context("a session save had no record to start from")),
    };
    let (more, replies) = {
        let mut saves = slot.saves.lock().unwrap_or_else(PoisonError::into_inner);
        let replies: Vec<Reply> = match &outcome {
            Ok((stored, verdicts)) => {
                if verdicts.iter().any(Result::is_err) {
                    saves.epoch += 1;
                }
                saves.current = stored.clone();
                if stored.is_none() {
                    saves.epoch += 1;
                }
                verdicts
                    .iter()
                    .map(|v| match v {
                        Ok(()) => Ok(stored.clone()),
                        Err(e) => Err(shared(e)),
                    })
                    .collect()
            }
            Err(e) => {
                saves.epoch += 1;
                saves.current = None;
                members.iter().map(|_| Err(shared(e))).collect()
            }
        };
        // After a failure the requests behind started from a record that was never stored.
        let mut failed_behind = Vec::new();
        if outcome.is_err() {
            failed_behind = std::mem::take(&mut saves.open);
        }
        let more = !saves.open.is_empty();
        if !more {
            saves.flushing = false;
        }
        if let Err(e) = &outcome {
            for member in failed_behind {
                let _ = member.reply.send(Err(shared(e)));
            }
        }
        (more, replies)
    };
    if !more {
        slot.drained.notify_waiters();
    }
    for (member, reply) in members.into_iter().zip(replies) {
        // A request that went away no longer listens.
        let _ = member.reply.send(reply);
    }
    more
}

/// Applies the members' changes, in order, to the record as stored, skipping (with a conflict
/// error) each member whose reads no longer hold, and saves; on a version conflict reloads and
/// does it again, within the retry budget. Returns the stored record (`None`: the session is
/// gone) and each member's verdict.
async fn store_members(
    place: &Place,
    store: &dyn SessionStore,
    config: &SessionConfig,
    mut current: Arc<Record>,
    members: &[Member],
) -> Result<(Option<Arc<Record>>, Vec<Result<()>>)> {
    let started = Instant::now();
    let budget = config.retry_budget;
    let mut attempt = 0u32;
    loop {
        let mut next = Record::clone(&current);
        let verdicts: Vec<Result<()>> = members
            .iter()
            .map(|m| match m.reads.changed_in(&next) {
                Some(what) => Err(Error::conflict(Operation::Save)
                    .with_store(store.name().to_owned())
                    .with_context(format!(
                        "another process changed {what}, which this request read; its changes were not applied, and the request can be retried"
                    ))
                    .temporary()),
                None => {
                    for change in &m.changes {
                        change.apply(&mut next);
                    }
                    Ok(())
                }
            })
            .collect();
        if verdicts.iter().all(Result::is_err) {
            return Ok((Some(current), verdicts));
        }
        next.expires_at = config.expiry(&next, session_core::kit::now());
        match store.save(&next).await {
            Ok(version) => {
                next.version = version;
                return Ok((Some(Arc::new(next)), verdicts));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok((None, verdicts)),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                current = match store.load(place.key()).await? {
                    Some(latest) if !config.past_deadline(&latest) => Arc::new(latest),
                    _ => return Ok((None, verdicts)),
                };
                pause_before_retry(started, budget, &mut attempt, store).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits before another attempt after a version conflict: a jittered, growing pause within
/// what is left of `budget`. Fails with [`ErrorKind::Busy`] once the budget is spent.
pub(crate) async fn pause_before_retry(
    started: Instant,
    budget: Duration,
    attempt: &mut u32,
    store: &dyn SessionStore,
) -> Result<()> {
    let elapsed = started.elapsed();
    if elapsed >= budget {
        return Err(Error::busy(
            Operation::Save,
            format!(
                "concurrent writers kept changing the session for longer than the retry budget ({budget:?}, {attempt} retries)"
            ),
        )
        .with_store(store.name().to_owned()));
    }
    let pause = backoff(
        *attempt,
        Duration::from_millis(1),
        Duration::from_millis(50),
    )
    .min(budget - elapsed);
    tokio::time::sleep(pause).await;
    *attempt = attempt.saturating_add(1);
    Ok(())
}
