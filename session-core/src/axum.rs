//! `Error` as an axum response (feature `axum`).

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::RETRY_AFTER;

use crate::error::Error;

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
