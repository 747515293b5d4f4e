//! `Session` as an axum extractor (feature `axum`).

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::RETRY_AFTER;
use http::request::Parts;

use super::Session;
use crate::error::Error;

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

/// A session error as a response: the status and public message of [`Error::response`]
/// (`503` with `Retry-After: 1` for contention and temporary failures, `500` otherwise). The
/// error is logged with its cause; the body names no internals.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.report();
        let (code, message) = self.response();
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            (status, [(RETRY_AFTER, "1")], message).into_response()
        } else {
            (status, message).into_response()
        }
    }
}
