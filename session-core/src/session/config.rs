//! How sessions behave: timeouts, touch throttling, conflict retries, form flashing.

use std::time::Duration;

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
/// use session_core::SessionConfig;
///
/// let config = SessionConfig::default()
///     .with_idle_timeout(Duration::from_secs(30 * 60))
///     .with_absolute_timeout(Some(Duration::from_secs(12 * 3600)));
/// assert_eq!(config.touch_interval, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// A session not used for this long expires. Default: 2 hours.
    pub idle_timeout: Duration,
    /// A session ends this long after it was created, however active. Default: none.
    pub absolute_timeout: Option<Duration>,
    /// A request that changes nothing refreshes the idle expiry only when it would move by at
    /// least this much, so most reads cost no write. Default: 60 seconds.
    pub touch_interval: Duration,
    /// How many times a commit reloads and re-applies its changes after a version conflict
    /// before giving up with [`ErrorKind::Conflict`](crate::ErrorKind::Conflict). Default: 16.
    pub max_retries: u32,
    /// What to do when loading fails.
    pub on_load_error: OnLoadError,
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
            max_retries: 16,
            on_load_error: OnLoadError::Fail,
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

    /// Sets [`SessionConfig::max_retries`].
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets [`SessionConfig::on_load_error`].
    pub fn with_on_load_error(mut self, policy: OnLoadError) -> Self {
        self.on_load_error = policy;
        self
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
