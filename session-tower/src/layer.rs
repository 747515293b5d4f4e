//! The tower layer: a `Session` per request, committed once after the handler.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderValue, Request, Response, StatusCode};
use session_core::{Error, Session, SessionConfig, SessionStore};
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
/// - After the handler, if [`CommitOn`] allows the status, commits: writes what changed (or a
///   throttled touch), then sets, refreshes or removes the cookie.
/// - When the session was used, adds `Vary: Cookie` and, when setting a cookie, `Cache-Control:
///   private` unless the handler chose a cache policy, so no shared cache stores a response
///   holding someone's session.
/// - A store error at commit is logged with `tracing` and answered with a 500 (503 when the
///   error is temporary) instead of the handler's response.
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn SessionStore>,
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
        cookie.validate()?;
        Ok(SessionLayer {
            shared: Arc::new(Shared {
                store,
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
        SessionLayer {
            shared: Arc::new(Shared {
                store: s.store.clone(),
                config: Arc::new(config),
                cookie: s.cookie.clone(),
                cookie_name: s.cookie_name.clone(),
                commit_on: s.commit_on,
            }),
        }
    }

    /// The same layer with other cookie settings; fails when they are invalid.
    pub fn with_cookie(self, cookie: CookieConfig) -> Result<Self, Error> {
        let s = &self.shared;
        Self::from_parts(s.store.clone(), (*s.config).clone(), cookie, s.commit_on)
    }

    /// The same layer committing on other statuses.
    pub fn with_commit_on(self, commit_on: CommitOn) -> Self {
        let s = &self.shared;
        SessionLayer {
            shared: Arc::new(Shared {
                store: s.store.clone(),
                config: s.config.clone(),
                cookie: s.cookie.clone(),
                cookie_name: s.cookie_name.clone(),
                commit_on,
            }),
        }
    }

    /// The store sessions are kept in.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.shared.store
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("store", &self.shared.store.name())
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
            .field("store", &self.shared.store.name())
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
        let session = Session::new(shared.store.clone(), shared.config.clone(), cookie);
        request.extensions_mut().insert(session.clone());

        // The clone is the one that was not polled ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            if !shared.commit_on.allows(response.status()) {
                return Ok(response);
            }
            match session.finish().await {
                Ok(committed) => {
                    let headers = response.headers_mut();
                    if committed.accessed {
                        headers.append(VARY, HeaderValue::from_static("cookie"));
                    }
                    if let Some(value) =
                        shared.cookie.header(&shared.cookie_name, &committed.cookie)
                    {
                        headers.append(SET_COOKIE, value);
                        if !headers.contains_key(CACHE_CONTROL) {
                            headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
                        }
                    }
                    Ok(response)
                }
                Err(err) => Ok(error_response(&shared, &err)),
            }
        })
    }
}

fn error_response<B: From<&'static str>>(shared: &Shared, err: &Error) -> Response<B> {
    tracing::error!(
        store = shared.store.name(),
        error = %err,
        source = ?std::error::Error::source(err),
        "session commit failed; answering with an error instead of the handler's response"
    );
    let status = if err.is_temporary() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let mut response = Response::new(B::from("session storage is unavailable"));
    *response.status_mut() = status;
    response
}
