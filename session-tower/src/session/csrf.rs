//! A CSRF token bound to the session (Laravel's `token()`, AdonisJS's `csrfField()`).

use subtle::ConstantTimeEq;

use super::Session;
use super::change::Change;
use session_core::SessionToken;
use session_core::{Error, ErrorKind, Operation, Result};

/// The data key the session keeps its CSRF token under.
pub const CSRF_KEY: &str = "_csrf_token";

fn fresh_token() -> Result<String> {
    SessionToken::try_generate()
        .map(|t| t.as_str().to_owned())
        .map_err(|e| {
            Error::new(ErrorKind::Backend, Operation::Other)
                .with_context("cannot generate a CSRF token")
                .with_source(e)
        })
}

impl Session {
    /// This session's CSRF token, created (and stored) on first use, for forms (a hidden
    /// `_token` field) and scripts (an `X-CSRF-Token` header). [`Session::regenerate`] replaces
    /// it, so a token seen before login is useless after.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let session = session_tower::Session::new(std::sync::Arc::new(session_core::MemoryStore::new()), Default::default(), None);
    /// let token = session.csrf_token().await?;
    /// assert_eq!(session.csrf_token().await?, token);
    /// assert!(session.csrf_matches(&token).await?);
    /// assert!(!session.csrf_matches("forged").await?);
    /// # Ok::<(), session_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn csrf_token(&self) -> Result<String> {
        let mut state = self.loaded().await?;
        if let Some(token) = state
            .view()
            .and_then(|r| r.data.get(CSRF_KEY))
            .and_then(|v| v.as_str())
        {
            return Ok(token.to_owned());
        }
        let token = fresh_token()?;
        self.record_change(
            &mut state,
            Change::Set(CSRF_KEY.to_owned(), token.clone().into()),
        );
        Ok(token)
    }

    /// Replaces this session's CSRF token with a new one (Laravel's `regenerateToken`).
    pub async fn regenerate_csrf_token(&self) -> Result<String> {
        let token = fresh_token()?;
        self.change(Change::Set(CSRF_KEY.to_owned(), token.clone().into()))
            .await?;
        Ok(token)
    }

    /// Whether `presented` is this session's CSRF token, compared in constant time. A session
    /// without a token matches nothing (and none is created).
    pub async fn csrf_matches(&self, presented: &str) -> Result<bool> {
        let state = self.loaded().await?;
        let expected = state
            .view()
            .and_then(|r| r.data.get(CSRF_KEY))
            .and_then(|v| v.as_str());
        Ok(expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(presented.as_bytes()))))
    }
}
