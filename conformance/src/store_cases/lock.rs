//! The session lock: one holder at a time, freed by its holder or by its lease running out.

use std::time::Duration;

use session_core::SessionKey;

use crate::case::{Fixture, SHORT_TTL, cases, now, to_chrono, wait_past};
use crate::check::{CaseError, CaseResult, ensure};

cases!("lock":
    a_held_lock_is_not_taken_again => ConditionalWrites,
    an_expired_lease_frees_the_lock => ConditionalWrites,
    only_the_holder_releases => ConditionalWrites,
    locks_of_sessions_are_independent => ConditionalWrites,
);

const LONG: Duration = Duration::from_secs(60);

async fn a_held_lock_is_not_taken_again(fx: Fixture) -> CaseResult {
    let (lock, other_process) = (fx.lock().await?, fx.lock().await?);
    let key = SessionKey::random();
    let lease = lock
        .try_acquire(&key, LONG)
        .await?
        .ok_or_else(|| CaseError::new("a free lock was not taken"))?;
    ensure!(
        other_process.try_acquire(&key, LONG).await?.is_none(),
        "a held lock was taken by a second holder"
    );
    ensure!(
        lock.try_acquire(&key, LONG).await?.is_none(),
        "a held lock was taken again through the same lock"
    );
    lock.release(&key, &lease).await?;
    ensure!(
        other_process.try_acquire(&key, LONG).await?.is_some(),
        "a released lock could not be taken"
    );
    Ok(())
}

async fn an_expired_lease_frees_the_lock(fx: Fixture) -> CaseResult {
    let (crashed, other) = (fx.lock().await?, fx.lock().await?);
    let key = SessionKey::random();
    let started = now();
    crashed
        .try_acquire(&key, SHORT_TTL)
        .await?
        .ok_or_else(|| CaseError::new("a free lock was not taken"))?;
    // The holder never releases it, as if its process had died.
    ensure!(
        other.try_acquire(&key, LONG).await?.is_none(),
        "a lock was taken before its lease ran out"
    );
    wait_past(started + to_chrono(SHORT_TTL)).await;
    ensure!(
        other.try_acquire(&key, LONG).await?.is_some(),
        "a lock whose lease ran out could not be taken"
    );
    Ok(())
}

async fn only_the_holder_releases(fx: Fixture) -> CaseResult {
    let (first, second) = (fx.lock().await?, fx.lock().await?);
    let key = SessionKey::random();
    let started = now();
    let stale = first
        .try_acquire(&key, SHORT_TTL)
        .await?
        .ok_or_else(|| CaseError::new("a free lock was not taken"))?;
    wait_past(started + to_chrono(SHORT_TTL)).await;
    let current = second
        .try_acquire(&key, LONG)
        .await?
        .ok_or_else(|| CaseError::new("a lock whose lease ran out could not be taken"))?;

    // The first holder wakes up late and releases what it thinks is its lock.
    first.release(&key, &stale).await?;
    ensure!(
        first.try_acquire(&key, LONG).await?.is_none(),
        "a holder whose lease ran out released its successor's lock"
    );
    second.release(&key, &current).await?;
    ensure!(
        first.try_acquire(&key, LONG).await?.is_some(),
        "the holder's release did not free the lock"
    );
    Ok(())
}

async fn locks_of_sessions_are_independent(fx: Fixture) -> CaseResult {
    let lock = fx.lock().await?;
    let (a, b) = (SessionKey::random(), SessionKey::random());
    let lease = lock
        .try_acquire(&a, LONG)
        .await?
        .ok_or_else(|| CaseError::new("a free lock was not taken"))?;
    ensure!(
        lock.try_acquire(&b, LONG).await?.is_some(),
        "holding one session's lock blocked another session's"
    );
    // The lock is no session: the session's own key stays free for its record.
    let store = fx.store().await?;
    ensure!(
        store.load(&a).await?.is_none(),
        "the lock shows up as the session's record"
    );
    lock.release(&a, &lease).await?;
    Ok(())
}
