//! `Session` as an axum extractor (feature `axum`).

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::RETRY_AFTER;
use http::request::Parts;

use super::Session;
use crate::error::{Error, ErrorKind};

/// The rejection when a handler asks for a [`Session`] but no session layer runs in front of it.
#[derive(Debug, Clone, Copy)]
pub struct MissingSessionLayer;

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        tracing::error!("a handler asked for a Session, but no session layer wraps the route");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "session layer missing: add the session layer to the router",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(MissingSessionLayer)
    }
}

/// A session error as a response: `503 Service Unavailable` with `Retry-After: 1` when
/// temporary (contention included: [`ErrorKind::Busy`] and [`ErrorKind::Conflict`] are always
/// answered so), else `500 Internal Server Error`, with a short text body. The error is logged,
/// the body names no internals.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if matches!(self.kind(), ErrorKind::Busy | ErrorKind::Conflict) {
            tracing::warn!(error = %self, "session contended; answering 503 so the client retries");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, "1")],
                "session busy: other requests of this session are changing it; try again",
            )
                .into_response();
        }
        tracing::error!(error = %self, source = ?std::error::Error::source(&self), "session error");
        if self.is_temporary() {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, "1")],
                "session storage is unavailable",
            )
                .into_response()
        } else {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "session storage is unavailable",
            )
                .into_response()
        }
    }
}
