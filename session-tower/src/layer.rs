//! The tower layer: where sessions live, and the options it is built with (the options every
//! request consults, which responses commit and how the token travels, are in `options`). What
//! runs per request is in `service`.

use std::fmt;
use std::sync::Arc;

use session_core::{ClientSideStore, Error, SessionLock, SessionStore};
use tower::Layer;

use crate::cookie::{CookieConfig, SetCookie};
use crate::options::{CommitOn, TokenTransport};
use crate::service::{SessionService, Shared};
use crate::session::{SessionConfig, SessionQueue};
use crate::storage::Storage;

/// Adds a [`Session`](crate::Session) to every request and commits it after the handler.
///
/// ```
/// use axum::{Router, routing::get};
/// use session_core::MemoryStore;
/// use session_tower::Session;
/// use session_tower::SessionLayer;
///
/// async fn visits(session: Session) -> Result<String, session_core::Error> {
///     let n = session.increment("visits", 1).await?;
///     Ok(format!("visit number {n}"))
/// }
///
/// let layer = SessionLayer::new(MemoryStore::new()).expect("valid defaults");
/// let app: Router = Router::new().route("/", get(visits)).layer(layer);
/// ```
///
/// # Behavior
///
/// - Reads the session token from the cookie; a malformed, unknown or tampered one is never
///   adopted, and a malformed one never reaches the store
///   (case `request::unknown_or_tampered_token_gets_a_fresh_session_and_no_write`).
/// - Puts a lazy [`Session`](crate::Session) in the request's extensions (the axum extractor takes it from
///   there). A handler that never touches it costs no store call and gets no `Set-Cookie`
///   (case `request::untouched_request_calls_no_store_and_sets_no_cookie`).
/// - Runs the requests of one session one after another (a [`SessionQueue`] per layer): a
///   request waits for the earlier requests of its session to commit when it first touches the
///   session, so a handler that reads a value and writes it back loses nothing under
///   concurrency (cases `request::parallel_read_modify_write_requests_lose_nothing`,
///   `request::parallel_increments_all_count`, `request::parallel_increments_return_distinct_values`,
///   `request::concurrent_writes_to_different_keys_both_stick`).
/// - Requests that never touch the session never wait
///   (case `request::untouched_request_is_not_delayed_by_a_slow_request_of_its_session`).
/// - Across processes every commit is version-checked and merged or refused, never lost; with
///   [`SessionLayer::with_lock`] requests of a session also wait for each other across
///   processes, and none fails for contention
///   (cases `request::two_instances_read_modify_write_lose_nothing`,
///   `request::two_instances_with_the_session_lock_never_fail`).
/// - A logout wins against a request of the same session running beside it: the late commit
///   does not bring the session back
///   (case `request::logout_racing_a_concurrent_request_does_not_come_back`).
/// - After the handler, if [`CommitOn`] allows the status, commits: writes what changed, and
///   nothing when nothing did, not even a value set to what it was
///   (cases `request::read_only_request_writes_nothing`,
///   `request::writing_an_equal_value_writes_nothing`); a read past the touch interval
///   refreshes the idle expiry (case `request::read_after_touch_interval_refreshes_expiry`).
/// - Sets the cookie `HttpOnly`, `SameSite=Lax`, `Path=/`, with the idle expiry as its
///   `Max-Age`, and reads it back on the next request
///   (case `request::cookie_is_set_with_safe_attributes_and_read_back`); a removal cookie
///   expires in the past (case `request::removal_cookie_expires_in_the_past`); with
///   `save_every_request` every request that uses the session re-sends it
///   (case `request::save_every_request_refreshes_the_cookie`).
/// - When the session was used, adds `Vary: Cookie` and, unless the handler chose a cache
///   policy, `Cache-Control: no-store` for a signed-in session (one with an owner; see
///   [`SessionLayer::with_no_store_when_signed_in`]) or `Cache-Control: private` when setting a
///   cookie, so no shared cache stores a response holding someone's session and the browser
///   keeps no signed-in page after logout (case `request::signed_in_pages_are_not_cached`).
///
/// A store error at commit is logged with `tracing` and answered, instead of the handler's
/// response, as [`Error::response`] says: `503` with `Retry-After` when the storage is down or
/// the session contended (a request that waited too long for its session, or whose commit met
/// writers in another process it could not merge with), `500` for a session too large for its
/// storage or another permanent error. Contention is never a 500.
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl SessionLayer {
    /// A layer over `store` with the default session and cookie settings.
    pub fn new(store: impl SessionStore) -> Result<Self, Error> {
        Self::from_parts(
            Arc::new(store),
            SessionConfig::default(),
            CookieConfig::default(),
            CommitOn::default(),
        )
    }

    /// A layer from every part; fails when the cookie settings are invalid.
    pub fn from_parts(
        store: Arc<dyn SessionStore>,
        config: SessionConfig,
        cookie: CookieConfig,
        commit_on: CommitOn,
    ) -> Result<Self, Error> {
        Self::build(Storage::Server(store), config, cookie, commit_on)
    }

    /// A layer keeping sessions in the cookie itself, sealed by `storage` (see the
    /// `session-cookie` crate), with the default session and cookie settings.
    pub fn client_side(storage: impl ClientSideStore) -> Result<Self, Error> {
        Self::client_side_from_parts(
            Arc::new(storage),
            SessionConfig::default(),
            CookieConfig::default(),
            CommitOn::default(),
        )
    }

    /// A client-side layer from every part; fails when the cookie settings are invalid.
    pub fn client_side_from_parts(
        storage: Arc<dyn ClientSideStore>,
        config: SessionConfig,
        cookie: CookieConfig,
        commit_on: CommitOn,
    ) -> Result<Self, Error> {
        Self::build(Storage::Client(storage), config, cookie, commit_on)
    }

    fn build(
        storage: Storage,
        config: SessionConfig,
        cookie: CookieConfig,
        commit_on: CommitOn,
    ) -> Result<Self, Error> {
        cookie.validate()?;
        Ok(SessionLayer {
            shared: Arc::new(Shared {
                storage,
                queue: SessionQueue::new(),
                config: Arc::new(config),
                cookie: SetCookie::new(cookie),
                commit_on,
                no_store_when_signed_in: true,
                transport: TokenTransport::Cookie,
            }),
        })
    }

    /// The same layer with `change` made to its parts (the queue stays shared).
    fn with(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = (*self.shared).clone();
        change(&mut shared);
        SessionLayer {
            shared: Arc::new(shared),
        }
    }

    /// The same layer with other session settings.
    pub fn with_config(self, config: SessionConfig) -> Self {
        self.with(|s| s.config = Arc::new(config))
    }

    /// The same layer with other cookie settings; fails when they are invalid.
    pub fn with_cookie(self, cookie: CookieConfig) -> Result<Self, Error> {
        cookie.validate()?;
        Ok(self.with(|s| {
            s.cookie = SetCookie::new(cookie);
        }))
    }

    /// The same layer committing on other statuses.
    pub fn with_commit_on(self, commit_on: CommitOn) -> Self {
        self.with(|s| s.commit_on = commit_on)
    }

    /// Whether responses of a signed-in session (one with an owner, see
    /// [`Session::set_owner`](crate::Session::set_owner)) get `Cache-Control: no-store` when the handler set no cache
    /// policy, so that after logout the browser's Back button cannot show the previous user's
    /// pages from its cache. Default: on.
    pub fn with_no_store_when_signed_in(self, on: bool) -> Self {
        self.with(|s| s.no_store_when_signed_in = on)
    }

    /// The same layer carrying the session token in a header instead of a cookie, for API
    /// clients (see [`TokenTransport`]).
    ///
    /// ```
    /// use session_core::MemoryStore;
    /// use session_tower::{SessionLayer, TokenTransport};
    ///
    /// let api = SessionLayer::new(MemoryStore::new())?
    ///     .with_transport(TokenTransport::bearer("x-session-token")?);
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn with_transport(self, transport: TokenTransport) -> Self {
        self.with(|s| s.transport = transport)
    }

    /// The same layer, also holding `lock` on a session while a request works on it, so the
    /// requests of one session run one after another across every process sharing the lock
    /// (see [`SessionQueue::with_lock`]). Without it, requests are queued within this process,
    /// and a request whose reads another process changed before its commit gets a retryable
    /// `503`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use session_core::{MemoryStore, StoreLock};
    /// use session_tower::SessionLayer;
    ///
    /// let store = Arc::new(MemoryStore::new());
    /// let layer = SessionLayer::new(store.clone())?.with_lock(Arc::new(StoreLock::new(store)));
    /// assert!(layer.queue().lock().is_some());
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn with_lock(self, lock: Arc<dyn SessionLock>) -> Self {
        self.with(|s| s.queue = SessionQueue::with_lock(lock))
    }

    /// The queue this layer runs each session's requests in.
    pub fn queue(&self) -> &SessionQueue {
        &self.shared.queue
    }

    /// The server-side store sessions are kept in, if they are kept on the server.
    pub fn store(&self) -> Option<&Arc<dyn SessionStore>> {
        match &self.shared.storage {
            Storage::Server(store) => Some(store),
            Storage::Client(_) => None,
        }
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("storage", &self.shared.storage.name())
            .field("config", &self.shared.config)
            .field("cookie", self.shared.cookie.config())
            .field("commit_on", &self.shared.commit_on)
            .finish()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.shared.clone())
    }
}
