//! Sessions for tower and axum.
//!
//! [`SessionLayer`] gives every request a lazy [`Session`], commits it
//! once after the handler, and sets, refreshes or removes the cookie. Handlers take the session
//! as an axum extractor:
//!
//! ```
//! use axum::{Router, routing::{get, post}, response::Redirect};
//! use session_core::MemoryStore;
//! use session_tower::Session;
//! use session_tower::SessionLayer;
//!
//! async fn save(session: Session) -> Result<Redirect, session_core::Error> {
//!     session.flash("status", "Profile saved!").await?;
//!     Ok(Redirect::to("/"))
//! }
//!
//! async fn home(session: Session) -> Result<String, session_core::Error> {
//!     let status: Option<String> = session.flash_get("status").await?;
//!     Ok(status.unwrap_or_default())
//! }
//!
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .route("/save", post(save))
//!     .layer(SessionLayer::new(MemoryStore::new()).unwrap());
//! ```
//!
//! Deployments configure the layer from the environment and a settings file with
//! [`Settings`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cookie;
mod csrf;
mod layer;
mod options;
mod service;
mod session;
mod settings;
mod storage;

pub use crate::cookie::CookieConfig;
pub use crate::csrf::{CsrfLayer, CsrfService};
pub use crate::layer::SessionLayer;
pub use crate::options::{CommitOn, TokenTransport};
pub use crate::service::SessionService;
pub use crate::session::{
    CSRF_KEY, Committed, CookieAction, ERRORS_KEY, MissingSessionLayer, OLD_INPUT_KEY, OnLoadError,
    Session, SessionConfig, SessionQueue, SessionStats,
};
pub use crate::settings::{Driver, SecretList, Settings, StoreSettings};
pub use ::cookie::SameSite;
