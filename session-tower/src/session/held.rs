//! Taking the session lock for a request, and giving it up when the request is done.

use std::sync::Arc;
use std::time::Duration;

use session_core::{Error, LockLease, Operation, Result, SessionKey, SessionLock};

/// Waits for the lock on `key`, polling with jittered backoff, for at most `wait`.
pub(crate) async fn acquire(
    lock: &dyn SessionLock,
    key: &SessionKey,
    lease: Duration,
    wait: Duration,
) -> Result<LockLease> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut attempt = 0u32;
    loop {
        if let Some(held) = lock.try_acquire(key, lease).await? {
            return Ok(held);
        }
        let pause = backoff(
            attempt,
            Duration::from_millis(2),
            Duration::from_millis(100),
        );
        if tokio::time::Instant::now() + pause >= deadline {
            return Err(Error::busy(
                Operation::Other,
                format!(
                    "the session lock ({}) stayed held by another process for longer than the wait limit ({wait:?})",
                    lock.name()
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        attempt = attempt.saturating_add(1);
    }
}

/// A random pause between `first` and an exponentially growing bound capped at `cap` ("full
/// jitter"), so competing retries spread out instead of colliding again.
pub(crate) fn backoff(attempt: u32, first: Duration, cap: Duration) -> Duration {
    let bound = first
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(cap);
    let random = getrandom::u64().unwrap_or(u64::from(attempt) * 0x9e37_79b9);
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX).max(1);
    (first / 2).max(Duration::from_nanos(random % nanos))
}

/// A lock a request holds; released by [`HeldLock::release`], or in the background if the
/// request is dropped first.
pub(crate) struct HeldLock {
    lock: Arc<dyn SessionLock>,
    key: SessionKey,
    lease: Option<LockLease>,
}

impl HeldLock {
    pub(crate) fn new(lock: Arc<dyn SessionLock>, key: SessionKey, lease: LockLease) -> Self {
        HeldLock {
            lock,
            key,
            lease: Some(lease),
        }
    }

    /// Gives the lock up; a failure is logged (the lease still ends it).
    pub(crate) async fn release(mut self) {
        if let Some(lease) = self.lease.take() {
            release_logged(&*self.lock, &self.key, &lease).await;
        }
    }
}

async fn release_logged(lock: &dyn SessionLock, key: &SessionKey, lease: &LockLease) {
    if let Err(err) = lock.release(key, lease).await {
        tracing::warn!(lock = lock.name(), error = %err, "could not release a session lock; it ends with its lease");
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let (lock, key) = (self.lock.clone(), self.key.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { release_logged(&*lock, &key, &lease).await });
            }
            Err(_) => tracing::warn!(
                lock = lock.name(),
                "a session lock was dropped outside a runtime; it ends with its lease"
            ),
        }
    }
}
