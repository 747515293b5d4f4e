//! CSRF protection bound to the session: unsafe requests must present the session's token.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::session::Session;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tower::{Layer, Service};

use crate::service::error_response;

/// Rejects unsafe requests (`POST`, `PUT`, `PATCH`, `DELETE` and any other method but `GET`,
/// `HEAD`, `OPTIONS` and `TRACE`) that do not present the session's CSRF token
/// ([`Session::csrf_token`]), with `403 Forbidden`.
///
/// The token is looked for in the `X-CSRF-Token` header (for scripts), then in the `_token`
/// field of a `application/x-www-form-urlencoded` body (for HTML forms; the body is read, up to
/// a limit, and handed on unchanged). Comparison is in constant time. A session that never made
/// a token matches nothing. Safe methods always pass: they must not change anything.
///
/// Place it inside the [`SessionLayer`](crate::SessionLayer) (added before it), so it finds
/// the request's session:
///
/// ```
/// use axum::{Form, Router, routing::get};
/// use session_core::MemoryStore;
/// use session_tower::Session;
/// use session_tower::{CsrfLayer, SessionLayer};
///
/// async fn form(session: Session) -> Result<String, session_core::Error> {
///     let token = session.csrf_token().await?;
///     Ok(format!(r#"<form method="post"><input type="hidden" name="_token" value="{token}"></form>"#))
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(form).post(|| async { "saved" }))
///     .layer(CsrfLayer::new())
///     .layer(SessionLayer::new(MemoryStore::new())?);
/// # Ok::<(), session_core::Error>(())
/// ```
///
/// # Behavior
///
/// - A safe method passes untouched (case `request::csrf_rejects_unsafe_requests_without_the_token`).
/// - An unsafe request whose header or form field matches the session's token passes, its body
///   intact; any other unsafe request gets `403`
///   (case `request::csrf_rejects_unsafe_requests_without_the_token`).
/// - After `regenerate`, the old token no longer passes
///   (case `request::csrf_token_rotates_on_regenerate`).
#[derive(Clone)]
pub struct CsrfLayer {
    header: HeaderName,
    field: String,
    body_limit: usize,
}

impl CsrfLayer {
    /// The layer with the `X-CSRF-Token` header, the `_token` form field, and a 1 MiB limit on
    /// form bodies it reads.
    pub fn new() -> Self {
        CsrfLayer {
            header: HeaderName::from_static("x-csrf-token"),
            field: "_token".to_owned(),
            body_limit: 1 << 20,
        }
    }

    /// Looks for the token in `header` instead.
    pub fn with_header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Looks for the token in the form field `field` instead.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }

    /// Reads at most `bytes` of a form body looking for the field (a larger body is refused
    /// with `413`).
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }
}

impl Default for CsrfLayer {
    fn default() -> Self {
        CsrfLayer::new()
    }
}

impl fmt::Debug for CsrfLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfLayer")
            .field("header", &self.header)
            .field("field", &self.field)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            config: self.clone(),
        }
    }
}

/// The service [`CsrfLayer`] wraps around a handler.
#[derive(Clone, Debug)]
pub struct CsrfService<S> {
    inner: S,
    config: CsrfLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn refuse<B: From<&'static str>>(status: StatusCode, message: &'static str) -> Response<B> {
    let mut response = Response::new(B::from(message));
    *response.status_mut() = status;
    response
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CsrfService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ReqBody::Error: Into<session_core::BoxError> + Send,
    ResBody: From<&'static str> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if is_safe(request.method()) {
            return Box::pin(inner.call(request));
        }
        let config = self.config.clone();
        Box::pin(async move {
            let Some(session) = request.extensions().get::<Session>().cloned() else {
                tracing::error!("the CSRF layer found no session: add it inside the session layer");
                return Ok(refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "CSRF protection needs the session layer around it",
                ));
            };
            let (parts, body) = request.into_parts();
            let header = parts
                .headers
                .get(&config.header)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let is_form = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            let (presented, body) = match header {
                Some(token) => (Some(token), body),
                None if is_form => {
                    let bytes = match Limited::new(body, config.body_limit).collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(_) => {
                            return Ok(refuse(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "form body too large or unreadable",
                            ));
                        }
                    };
                    let token = form_urlencoded::parse(&bytes)
                        .find(|(name, _)| *name == config.field)
                        .map(|(_, value)| value.into_owned());
                    (token, ReqBody::from(bytes))
                }
                None => (None, body),
            };
            let matches = match presented {
                Some(token) => match session.csrf_matches(&token).await {
                    Ok(matches) => matches,
                    Err(err) => return Ok(error_response(&err)),
                },
                None => false,
            };
            if !matches {
                tracing::info!(method = %parts.method, path = %parts.uri.path(), "CSRF token missing or wrong; refused");
                return Ok(refuse(
                    StatusCode::FORBIDDEN,
                    "CSRF token missing or wrong: reload the page and try again",
                ));
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
