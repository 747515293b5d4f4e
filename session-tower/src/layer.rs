//! The tower layer: a `Session` per request, committed once after the handler.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, RETRY_AFTER, SET_COOKIE, VARY};
use http::{HeaderValue, Request, Response, StatusCode};
use session_core::{
    ClientSideStore, CookieAction, CookieJar, Error, ErrorKind, Opened, Session, SessionConfig,
    SessionLock, SessionQueue, SessionStore, SessionToken,
};
use tower::{Layer, Service};

use crate::cookie::CookieConfig;

/// Which responses still commit the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CommitOn {
    /// Every response.
    Always,
    /// Every response but a 5xx (the default): a failed request leaves the session as it was,
    /// while a 4xx (a validation error that flashes input back) still commits.
    #[default]
    NotServerError,
    /// Only 1xx, 2xx and 3xx responses.
    Success,
}

impl CommitOn {
    fn allows(self, status: StatusCode) -> bool {
        match self {
            CommitOn::Always => true,
            CommitOn::NotServerError => !status.is_server_error(),
            CommitOn::Success => !status.is_client_error() && !status.is_server_error(),
        }
    }
}

/// Adds a [`Session`] to every request and commits it after the handler.
///
/// ```
/// use axum::{Router, routing::get};
/// use session_core::{MemoryStore, Session};
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
/// # What it does per request
///
/// - Reads the session token from the cookie; a malformed one is ignored before any store call.
/// - Puts a lazy [`Session`] in the request's extensions (the axum extractor takes it from
///   there). A handler that never touches it costs no store call and gets no `Set-Cookie`.
/// - Runs the requests of one session one after another (a [`SessionQueue`] per layer): a
///   request waits for the earlier requests of its session to commit when it first touches the
///   session, so a handler that reads a value and writes it back loses nothing under
///   concurrency. Requests that never touch the session never wait. With
///   [`SessionLayer::with_lock`] the same holds across processes.
/// - After the handler, if [`CommitOn`] allows the status, commits: writes what changed (or a
///   throttled touch), then sets, refreshes or removes the cookie.
/// - When the session was used, adds `Vary: Cookie` and, when setting a cookie, `Cache-Control:
///   private` unless the handler chose a cache policy, so no shared cache stores a response
///   holding someone's session.
/// - A store error at commit is logged with `tracing` and answered with a 500 (503 when the
///   error is temporary) instead of the handler's response.
/// - Contention is never a 500: a request that waited too long for its session, or whose
///   commit met writers in another process it could not merge with, gets `503` with
///   `Retry-After: 1` (see [`session_core::Session`]'s conflict rules).
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

/// Where sessions live.
#[derive(Clone)]
enum Storage {
    /// On the server; the cookie holds a token.
    Server(Arc<dyn SessionStore>),
    /// In the cookie itself, sealed.
    Client(Arc<dyn ClientSideStore>),
}

impl Storage {
    fn name(&self) -> &str {
        match self {
            Storage::Server(store) => store.name(),
            Storage::Client(storage) => storage.name(),
        }
    }
}

struct Shared {
    storage: Storage,
    queue: SessionQueue,
    config: Arc<SessionConfig>,
    cookie: CookieConfig,
    cookie_name: String,
    commit_on: CommitOn,
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
        Self::build_queued(storage, SessionQueue::new(), config, cookie, commit_on)
    }

    fn build_queued(
        storage: Storage,
        queue: SessionQueue,
        config: SessionConfig,
        cookie: CookieConfig,
        commit_on: CommitOn,
    ) -> Result<Self, Error> {
        cookie.validate()?;
        Ok(SessionLayer {
            shared: Arc::new(Shared {
                storage,
                queue,
                config: Arc::new(config),
                cookie_name: cookie.full_name(),
                cookie,
                commit_on,
            }),
        })
    }

    /// The same layer with other session settings.
    pub fn with_config(self, config: SessionConfig) -> Self {
        let s = &self.shared;
        Self::build_queued(
            s.storage.clone(),
            s.queue.clone(),
            config,
            s.cookie.clone(),
            s.commit_on,
        )
        .unwrap_or(self)
    }

    /// The same layer with other cookie settings; fails when they are invalid.
    pub fn with_cookie(self, cookie: CookieConfig) -> Result<Self, Error> {
        let s = &self.shared;
        Self::build_queued(
            s.storage.clone(),
            s.queue.clone(),
            (*s.config).clone(),
            cookie,
            s.commit_on,
        )
    }

    /// The same layer committing on other statuses.
    pub fn with_commit_on(self, commit_on: CommitOn) -> Self {
        let s = &self.shared;
        Self::build_queued(
            s.storage.clone(),
            s.queue.clone(),
            (*s.config).clone(),
            s.cookie.clone(),
            commit_on,
        )
        .unwrap_or(self)
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
        let s = &self.shared;
        Self::build_queued(
            s.storage.clone(),
            SessionQueue::with_lock(lock),
            (*s.config).clone(),
            s.cookie.clone(),
            s.commit_on,
        )
        .unwrap_or(self)
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
            .field("cookie", &self.shared.cookie)
            .field("commit_on", &self.shared.commit_on)
            .finish()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around a handler.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService")
            .field("storage", &self.shared.storage.name())
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<&'static str> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let shared = self.shared.clone();
        let cookie = shared.cookie.read(request.headers(), &shared.cookie_name);
        let (session, jar) = shared.start(cookie);
        request.extensions_mut().insert(session.clone());

        // The clone is the one that was not polled ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            // On an error the session is dropped with this future, which ends its turn.
            let mut response = inner.call(request).await?;
            if !shared.commit_on.allows(response.status()) {
                session.release().await;
                return Ok(response);
            }
            let committed = match session.finish().await {
                Ok(committed) => committed,
                Err(err) => return Ok(error_response(&shared, &err)),
            };
            let set_cookie = match shared.set_cookie(committed.cookie, jar) {
                Ok(value) => value,
                Err(err) => return Ok(error_response(&shared, &err)),
            };
            let headers = response.headers_mut();
            if committed.accessed {
                headers.append(VARY, HeaderValue::from_static("cookie"));
            }
            if let Some(value) = set_cookie {
                headers.append(SET_COOKIE, value);
                if !headers.contains_key(CACHE_CONTROL) {
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
                }
            }
            Ok(response)
        })
    }
}

/// A client-side request's jar, the token its record went in under, and whether the cookie
/// must be sealed again even if nothing changed.
struct JarState {
    jar: CookieJar,
    token: Option<SessionToken>,
    reseal: bool,
}

impl Shared {
    /// The request's session (and, for client-side storage, its jar) from its cookie.
    fn start(&self, cookie: Option<&str>) -> (Session, Option<JarState>) {
        let storage = match &self.storage {
            Storage::Server(store) => {
                return (
                    Session::queued(store.clone(), self.config.clone(), &self.queue, cookie),
                    None,
                );
            }
            Storage::Client(storage) => storage,
        };
        let opened = cookie.map(|value| storage.open(&self.cookie_name, value));
        let (jar, token, reseal) = match opened {
            Some(Opened::Valid { record, reseal }) => {
                let (jar, token) = CookieJar::holding(storage.name(), record);
                (jar, Some(token), reseal)
            }
            Some(Opened::Invalid(reason)) => {
                tracing::debug!(reason, "session cookie rejected; starting a fresh session");
                (CookieJar::new(storage.name()), None, false)
            }
            _ => (CookieJar::new(storage.name()), None, false),
        };
        // A rejected cookie is passed on as present-but-invalid, so the session drops it.
        let presented = match (&token, cookie) {
            (Some(token), _) => Some(token.as_str().to_owned()),
            (None, Some(_)) => Some(String::new()),
            (None, None) => None,
        };
        let session = Session::new(
            Arc::new(jar.clone()),
            self.config.clone(),
            presented.as_deref(),
        );
        (session, Some(JarState { jar, token, reseal }))
    }

    /// The `Set-Cookie` value for what the commit decided.
    fn set_cookie(
        &self,
        action: CookieAction,
        jar: Option<JarState>,
    ) -> Result<Option<HeaderValue>, Error> {
        let (Storage::Client(storage), Some(jar)) = (&self.storage, jar) else {
            return Ok(self.cookie.header(&self.cookie_name, &action));
        };
        let token = match action {
            CookieAction::Set { token, .. } => token,
            CookieAction::Unchanged if jar.reseal => match jar.token {
                Some(token) => token,
                None => return Ok(None),
            },
            CookieAction::Remove => return Ok(self.cookie.removal_header(&self.cookie_name)),
            _ => return Ok(None),
        };
        let Some(record) = jar.jar.record(&token) else {
            return Ok(None);
        };
        let sealed = storage.seal(&self.cookie_name, &record)?;
        Ok(self
            .cookie
            .set_header(&self.cookie_name, &sealed, record.expires_at))
    }
}

fn error_response<B: From<&'static str>>(shared: &Shared, err: &Error) -> Response<B> {
    let contended = matches!(err.kind(), ErrorKind::Busy | ErrorKind::Conflict);
    if contended {
        tracing::warn!(
            store = shared.storage.name(),
            error = %err,
            "session contended; answering 503 so the client retries"
        );
    } else {
        tracing::error!(
            store = shared.storage.name(),
            error = %err,
            source = ?std::error::Error::source(err),
            "session commit failed; answering with an error instead of the handler's response"
        );
    }
    let (status, body) = if contended {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "session busy: other requests of this session are changing it; try again",
        )
    } else if err.is_temporary() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "session storage is unavailable",
        )
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "session storage is unavailable",
        )
    };
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
