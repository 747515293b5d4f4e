//! How sessions behave: timeouts, touch throttling, queueing and conflict retries, form flashing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use session_core::{Lifetime, Record};

/// What a [`Session`](crate::Session) does on a load error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnLoadError {
    /// Return the error from the session call (the tower layer turns it into a 5xx). The default.
    #[default]
    Fail,
    /// Log it and carry on with a fresh, empty session; the visitor's cookie is left alone so the
    /// old session comes back once the store recovers.
    StartFresh,
}

/// Settings for [`Session`](crate::Session) handles.
///
/// ```
/// use std::time::Duration;
/// use session_tower::SessionConfig;
///
/// let config = SessionConfig::default()
///     .with_idle_timeout(Duration::from_secs(30 * 60))
///     .with_absolute_timeout(Some(Duration::from_secs(12 * 3600)));
/// assert_eq!(config.touch_interval, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// A session not used for this long expires. Default: 2 hours.
    pub idle_timeout: Duration,
    /// A session ends this long after it was created, however active. Default: none.
    pub absolute_timeout: Option<Duration>,
    /// A request that changes nothing refreshes the idle expiry only when it would move by at
    /// least this much, so most reads cost no write. Default: 60 seconds.
    pub touch_interval: Duration,
    /// How long a commit keeps retrying after version conflicts (reloading, re-applying its
    /// changes, backing off with jitter between attempts) before giving up with a temporary
    /// [`ErrorKind::Busy`](session_core::ErrorKind::Busy) error, which the tower layer answers with
    /// `503` and `Retry-After`. Conflicts only come from writers outside this process (requests
    /// of one session inside one process run one after another). Default: 2 seconds.
    pub retry_budget: Duration,
    /// How long a request may wait for the earlier requests of the same session (the
    /// in-process queue, and the distributed lock where one is configured) before it fails with
    /// a temporary [`ErrorKind::Busy`](session_core::ErrorKind::Busy) error. Default: 10 seconds.
    pub wait_timeout: Duration,
    /// A request that waited in the in-process queue starts from the record the previous
    /// request of the same session committed, instead of loading it again, when that record
    /// was read from or written to the store at most this long ago. A write based on it is
    /// still version-checked, so a change made meanwhile by another process is never
    /// overwritten; only a read-only request can see data this much older than the store's.
    /// `Duration::ZERO` always reloads. Default: 1 second.
    pub handoff_max_age: Duration,
    /// How long a distributed session lock is held at most when its holder never releases it
    /// (a crashed process). Only used with a lock (see
    /// [`SessionQueue::with_lock`](crate::SessionQueue::with_lock)). Default: 30 seconds.
    pub lock_lease: Duration,
    /// What to do when loading fails.
    pub on_load_error: OnLoadError,
    /// Refresh the session's expiry and re-send its cookie on every request that uses it,
    /// even when nothing changed (Django's `SESSION_SAVE_EVERY_REQUEST`, tower-sessions'
    /// `always_save`). Costs a store write per such request. Default: off (a read refreshes
    /// the expiry at most once per [`SessionConfig::touch_interval`]).
    pub save_every_request: bool,
    /// Form fields never flashed by [`Session::flash_input`](crate::Session::flash_input) and
    /// its variants, in addition to any field whose name contains `password` or `passwd`.
    /// Default: `["_token", "csrf_token"]`.
    pub never_flash: Vec<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout: Duration::from_secs(2 * 3600),
            absolute_timeout: None,
            touch_interval: Duration::from_secs(60),
            retry_budget: Duration::from_secs(2),
            wait_timeout: Duration::from_secs(10),
            handoff_max_age: Duration::from_secs(1),
            lock_lease: Duration::from_secs(30),
            on_load_error: OnLoadError::Fail,
            save_every_request: false,
            never_flash: vec!["_token".into(), "csrf_token".into()],
        }
    }
}

impl SessionConfig {
    /// Sets [`SessionConfig::idle_timeout`].
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`SessionConfig::absolute_timeout`].
    pub fn with_absolute_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.absolute_timeout = timeout;
        self
    }

    /// Sets [`SessionConfig::touch_interval`].
    pub fn with_touch_interval(mut self, interval: Duration) -> Self {
        self.touch_interval = interval;
        self
    }

    /// Sets [`SessionConfig::retry_budget`].
    pub fn with_retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }

    /// Sets [`SessionConfig::wait_timeout`].
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Sets [`SessionConfig::handoff_max_age`].
    pub fn with_handoff_max_age(mut self, age: Duration) -> Self {
        self.handoff_max_age = age;
        self
    }

    /// Sets [`SessionConfig::lock_lease`].
    pub fn with_lock_lease(mut self, lease: Duration) -> Self {
        self.lock_lease = lease;
        self
    }

    /// Sets [`SessionConfig::save_every_request`].
    pub fn with_save_every_request(mut self, on: bool) -> Self {
        self.save_every_request = on;
        self
    }

    /// Sets [`SessionConfig::on_load_error`].
    pub fn with_on_load_error(mut self, policy: OnLoadError) -> Self {
        self.on_load_error = policy;
        self
    }

    /// The instant `record`'s session ends however active it is, if any: its own deadline or
    /// the configured absolute timeout, whichever comes first; for a session whose handler
    /// chose its lifetime, its own deadline alone.
    pub(crate) fn deadline(&self, record: &Record) -> Option<DateTime<Utc>> {
        if record.lifetime.is_some() {
            return record.deadline;
        }
        let configured = self
            .absolute_timeout
            .and_then(|t| chrono::Duration::from_std(t).ok())
            .map(|t| record.created_at + t);
        match (record.deadline, configured) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `record`'s session is past its deadline now.
    pub(crate) fn past_deadline(&self, record: &Record) -> bool {
        // The clock is read only for a session that has a deadline (none by default).
        self.deadline(record)
            .is_some_and(|d| d <= session_core::kit::now())
    }

    /// The idle expiry a write at `now` gives `record`, capped by its deadline.
    pub(crate) fn expiry(&self, record: &Record, now: DateTime<Utc>) -> DateTime<Utc> {
        let idle = chrono::Duration::from_std(self.idle(record)).unwrap_or(chrono::Duration::MAX);
        let idle_expiry = now
            .checked_add_signed(idle)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        match self.deadline(record) {
            Some(deadline) => idle_expiry.min(deadline),
            None => idle_expiry,
        }
    }

    /// The idle timeout of `record`'s session: its own lifetime's, or the configured one.
    pub(crate) fn idle(&self, record: &Record) -> std::time::Duration {
        match record.lifetime {
            Some(Lifetime::Idle(idle)) => idle,
            _ => self.idle_timeout,
        }
    }

    /// Whether a form field may be flashed back as old input.
    pub(crate) fn may_flash(&self, field: &str) -> bool {
        let lower = field.to_ascii_lowercase();
        !(lower.contains("password")
            || lower.contains("passwd")
            || self
                .never_flash
                .iter()
                .any(|f| f.eq_ignore_ascii_case(field)))
    }
}
