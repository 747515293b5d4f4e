//! Why a render failed, and how an axum handler answers it.

use std::fmt;

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;

/// Why [`render`](crate::render) failed.
#[derive(Debug)]
pub enum RenderError {
    /// The session could not be read (its store is down, say).
    Session(session_core::Error),
    /// The template is missing or failed to render.
    Template(minijinja::Error),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Session(err) => write!(f, "cannot read the session to render: {err}"),
            RenderError::Template(err) => write!(f, "template failed: {err:#}"),
        }
    }
}

impl std::error::Error for RenderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RenderError::Session(err) => Some(err),
            RenderError::Template(err) => Some(err),
        }
    }
}

impl From<session_core::Error> for RenderError {
    fn from(err: session_core::Error) -> Self {
        RenderError::Session(err)
    }
}

impl From<minijinja::Error> for RenderError {
    fn from(err: minijinja::Error) -> Self {
        RenderError::Template(err)
    }
}

/// A session error answers as the session layer answers it (`503` with `Retry-After` when
/// the store is away, `500` otherwise); a template error is logged with its cause and answers
/// `500` with a message that names no internals.
impl IntoResponse for RenderError {
    fn into_response(self) -> Response {
        match self {
            RenderError::Session(err) => err.into_response(),
            RenderError::Template(err) => {
                tracing::error!(error = %format!("{err:#}"), "template failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
            }
        }
    }
}
