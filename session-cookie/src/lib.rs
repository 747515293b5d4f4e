//! Client-side sessions: the whole session sealed in the cookie.
//!
//! [`CookieStore`] seals each session with XChaCha20-Poly1305 into the cookie itself, so the
//! server keeps nothing. It plugs into the same `SessionLayer` (crate `session-tower`) and
//! `Session` API as the server-side stores, through
//! `SessionLayer::client_side`. Read [`CookieStore`]'s notes on what a client-side store cannot
//! do (revoke on logout above all) before choosing it.
//!
//! ```
//! use axum::{Router, routing::get};
//! use session_cookie::{CookieStore, Key};
//! use session_tower::Session;
//! use session_tower::SessionLayer;
//!
//! async fn visits(session: Session) -> Result<String, session_core::Error> {
//!     Ok(session.increment("visits", 1).await?.to_string())
//! }
//!
//! // In production, read the keys from a secret: `Key::from_base64(...)`; list the new key first.
//! let store = CookieStore::new(vec![Key::generate()])?;
//! let app: Router = Router::new()
//!     .route("/", get(visits))
//!     .layer(SessionLayer::client_side(store)?);
//! # Ok::<(), session_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod nonce;
mod store;
mod xchacha;

pub use config::Key;
pub use store::{CookieStore, MAX_COOKIE_BYTES};
