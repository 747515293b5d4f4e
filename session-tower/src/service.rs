//! What the layer does per request: open the session from the cookie (or header), run the
//! handler, commit, and answer with the cookie and cache headers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, CACHE_CONTROL, RETRY_AFTER, SET_COOKIE, VARY};
use http::{HeaderValue, Request, Response, StatusCode};
use session_core::Error;
use tower::Service;

use crate::cookie::SetCookie;
use crate::options::{CommitOn, TokenTransport};
use crate::session::{SessionConfig, SessionQueue};
use crate::storage::{Outgoing, Storage};

/// What every request of a layer shares: where sessions live and how they travel.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) storage: Storage,
    pub(crate) queue: SessionQueue,
    pub(crate) config: Arc<SessionConfig>,
    pub(crate) cookie: SetCookie,
    pub(crate) commit_on: CommitOn,
    pub(crate) no_store_when_signed_in: bool,
    pub(crate) transport: TokenTransport,
}

/// The service [`SessionLayer`](crate::SessionLayer) wraps around a handler.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        SessionService { inner, shared }
    }
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
        let token = shared.transport.read(
            request.headers(),
            shared.cookie.config(),
            shared.cookie.name(),
        );
        let started =
            shared
                .storage
                .start(&shared.config, &shared.queue, shared.cookie.name(), token);
        let session = started.session.clone();
        request.extensions_mut().insert(session.clone());

        // The clone is the one that was not polled ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            // On an error the session is dropped with this future, which ends its turn.
            let mut response = inner.call(request).await?;
            if !shared.commit_on.allows(response.status()) {
                Box::pin(session.release()).await;
                return Ok(response);
            }
            // A session the handler never touched has nothing to commit: answered in place,
            // without building the commit's future.
            let committed = match session.finish_untouched() {
                Some(committed) => committed,
                // Boxed: inline, the commit's future would make this one, made and boxed for
                // every request, larger than the allocator's per-thread cache serves.
                None => match Box::pin(session.finish()).await {
                    Ok(committed) => committed,
                    Err(err) => return Ok(error_response(&err)),
                },
            };
            let headers = response.headers_mut();
            let (vary, token_header) = match &shared.transport {
                TokenTransport::Cookie => (HeaderValue::from_static("cookie"), None),
                TokenTransport::Header(name) => (HeaderValue::from(name.clone()), Some(name)),
                TokenTransport::Bearer(name) => (HeaderValue::from(AUTHORIZATION), Some(name)),
            };
            let outgoing = match shared.storage.outgoing(&started, committed.cookie) {
                Some(outgoing) => outgoing,
                // Boxed, as the commit is: only client-side storage seals.
                None => {
                    match Box::pin(shared.storage.sealed(shared.cookie.name(), &started)).await {
                        Ok(outgoing) => outgoing,
                        Err(err) => return Ok(error_response(&err)),
                    }
                }
            };
            let value = match (&outgoing, token_header) {
                (Outgoing::Nothing, _) => None,
                (Outgoing::Set { value, .. }, Some(_)) => HeaderValue::from_str(value).ok(),
                (Outgoing::Remove, Some(_)) => Some(HeaderValue::from_static("")),
                (
                    Outgoing::Set {
                        value,
                        expires_at,
                        lifetime,
                    },
                    None,
                ) => shared.cookie.set(value, *expires_at, *lifetime),
                (Outgoing::Remove, None) => shared.cookie.removal(),
            };
            let sent = value.is_some();
            if let Some(value) = value {
                match token_header {
                    Some(name) => headers.insert(name.clone(), value),
                    None => {
                        headers.append(SET_COOKIE, value);
                        None
                    }
                };
            }
            if committed.accessed {
                headers.append(VARY, vary);
            }
            if !headers.contains_key(CACHE_CONTROL) {
                if committed.signed_in && shared.no_store_when_signed_in {
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                } else if sent {
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
                }
            }
            Ok(response)
        })
    }
}

/// The response for a session error, as [`Error::response`] says, logged with [`Error::report`].
pub(crate) fn error_response<B: From<&'static str>>(err: &Error) -> Response<B> {
    err.report();
    let (code, message) = err.response();
    let mut response = Response::new(B::from(message));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
mod tests {
    use session_core::MemoryStore;
    use tower::{Layer, Service};

    use crate::SessionLayer;

    /// The future the layer makes for each request is boxed, and stays under a kilobyte around
    /// a plain router, so the allocator serves it from its per-thread cache: it was 1,656 bytes
    /// while the commit and the sealing were inline in it, and every request took the
    /// allocator's slower path.
    #[tokio::test]
    async fn the_per_request_future_stays_under_a_kilobyte() {
        let layer = SessionLayer::new(MemoryStore::new()).expect("a layer");
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let mut service = layer.layer(router);
        let request = http::Request::get("/")
            .body(axum::body::Body::empty())
            .expect("a request");
        let future = service.call(request);
        let size = std::mem::size_of_val(&*future);
        assert!(
            size <= session_core::kit::SMALL_FUTURE_BYTES,
            "the layer's future is {size} bytes"
        );
    }
}
