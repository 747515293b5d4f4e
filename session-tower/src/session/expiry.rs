//! A session's own lifetime: "remember me", browser-session cookies, and deadlines.

use chrono::{DateTime, Utc};

use super::Session;
use super::change::Change;
use session_core::Lifetime;
use session_core::Result;

impl Session {
    /// Gives this session its own lifetime, kept in its record so later requests honour it
    /// (tower-sessions' and Django's `set_expiry`): `Some(Lifetime::Idle(d))` keeps it for `d`
    /// of inactivity with a cookie that outlives the browser ("remember me");
    /// `Some(Lifetime::BrowserSession)` makes the cookie end with the browser; `None` goes back
    /// to the settings. The cookie's `Max-Age` follows.
    ///
    /// Once a session has its own lifetime, its own deadline ([`Session::set_deadline`], none
    /// by default) replaces the configured absolute timeout.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use session_core::Lifetime;
    /// use session_tower::Session;
    /// # let session = Session::new(std::sync::Arc::new(session_core::MemoryStore::new()), Default::default(), None);
    /// // On login with "remember me" ticked:
    /// session.set_lifetime(Some(Lifetime::Idle(Duration::from_secs(30 * 24 * 3600)))).await?;
    /// assert!(matches!(session.lifetime().await?, Some(Lifetime::Idle(_))));
    /// # Ok::<(), session_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn set_lifetime(&self, lifetime: Option<Lifetime>) -> Result<()> {
        self.change(Change::Lifetime(lifetime)).await
    }

    /// The lifetime this session chose, if any.
    pub async fn lifetime(&self) -> Result<Option<Lifetime>> {
        let state = self.loaded().await?;
        Ok(state.view().and_then(|r| r.lifetime))
    }

    /// Sets the instant this session ends however active it is (`None`: no deadline of its
    /// own). For a session without its own lifetime the configured absolute timeout still
    /// applies too, whichever comes first.
    pub async fn set_deadline(&self, deadline: Option<DateTime<Utc>>) -> Result<()> {
        self.change(Change::Deadline(deadline)).await
    }

    /// When this session ends however active it is, if it does.
    pub async fn deadline(&self) -> Result<Option<DateTime<Utc>>> {
        let state = self.loaded().await?;
        Ok(state.view().and_then(|r| self.inner.config.deadline(r)))
    }
}
