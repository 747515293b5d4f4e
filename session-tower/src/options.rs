//! The layer's options that every request consults: which responses commit, and how the token
//! travels.

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderMap, StatusCode};
use session_core::Error;

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
    pub(crate) fn allows(self, status: StatusCode) -> bool {
        match self {
            CommitOn::Always => true,
            CommitOn::NotServerError => !status.is_server_error(),
            CommitOn::Success => !status.is_client_error() && !status.is_server_error(),
        }
    }
}

/// How the session token travels between client and server.
///
/// - [`TokenTransport::Cookie`] (the default): the session cookie, as browsers keep it.
/// - [`TokenTransport::Header`]: a request header carries the token; when the token changes
///   (a new session, `regenerate`), the response carries the new one in the same header, and an
///   empty value when the session ended. For API clients that keep no cookies.
/// - [`TokenTransport::Bearer`]: as `Header`, but requests send `Authorization: Bearer <token>`.
///
/// Trade-offs of the header forms: nothing is sent automatically, so cross-site requests carry
/// no session (CSRF does not apply), but the client must store the token itself (never in
/// storage that page scripts from other origins can read), and it gets none of the cookie's
/// `HttpOnly` protection. Use one transport per layer; a router can nest a cookie layer for its
/// pages and a header layer for its API, made from one another so they share a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenTransport {
    /// The session cookie.
    Cookie,
    /// This request and response header.
    Header(HeaderName),
    /// `Authorization: Bearer` in requests; this header in responses.
    Bearer(HeaderName),
}

impl TokenTransport {
    /// The token in the header named `name`, both ways.
    pub fn header(name: &str) -> Result<Self, Error> {
        Ok(TokenTransport::Header(header_name(name)?))
    }

    /// The token in `Authorization: Bearer` requests, and in the header named `response`
    /// in responses.
    pub fn bearer(response: &str) -> Result<Self, Error> {
        Ok(TokenTransport::Bearer(header_name(response)?))
    }

    /// The token a request presents, if any.
    pub(crate) fn read<'a>(
        &self,
        headers: &'a HeaderMap,
        cookie: &CookieConfig,
        cookie_name: &str,
    ) -> Option<&'a str> {
        match self {
            TokenTransport::Cookie => cookie.read(headers, cookie_name),
            TokenTransport::Header(name) => headers.get(name)?.to_str().ok().map(str::trim),
            TokenTransport::Bearer(_) => {
                let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            }
        }
    }
}

fn header_name(name: &str) -> Result<HeaderName, Error> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| Error::config(format!("{name:?} is not a header name")).with_source(e))
}
