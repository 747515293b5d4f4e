//! Redis sessions.
//!
//! [`RedisStore`] keeps each session in a Redis hash that expires with the session. Every
//! operation is one round trip; saves are version-checked by a server-side script, so concurrent
//! requests never overwrite each other and a deleted session never comes back.
//!
//! ```no_run
//! # async fn run() -> Result<(), session_core::Error> {
//! use session_redis::{RedisConfig, RedisStore};
//! use session_tower::SessionLayer;
//!
//! let store = RedisStore::connect(
//!     RedisConfig::new("redis://127.0.0.1:6379/").with_prefix("myapp:"),
//! )
//! .await?;
//! let layer = SessionLayer::new(store)?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! A session lives under `{prefix}s:{key}` (the key is the SHA-256 of the visitor's token, never
//! the token) as a hash: `v` version, `x` idle expiry in epoch milliseconds, `d` the encoded
//! record, `o` owner. An owner's sessions are a set under `{prefix}o:{owner}`.
//!
//! # Errors
//!
//! Connection failures and time-outs are temporary (`Error::is_temporary`); every operation
//! gives up after [`RedisConfig::with_timeout`] (2 seconds by default) instead of hanging on a
//! server that went away.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cluster;
mod config;
mod error;
mod scripts;
mod store;

pub use config::RedisConfig;
pub use store::RedisStore;
