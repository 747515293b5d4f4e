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
//! record, `o` owner, and on one server `e`, the instant the owner's set is kept live until. An
//! owner's sessions are a set under `{prefix}o:{owner}`, kept live one idle period past its
//! longest-lived session, so a save that keeps the owner touches the set only about once per idle
//! period (when the session's new expiry passes `e`), not on every save.
//!
//! # Redis Cluster
//!
//! [`RedisConfig::cluster`] runs the same store on a Redis Cluster, with the same contract
//! (the conformance suite runs on three primaries with replicas). The layout is the same; every
//! server-side script touches one key, so none crosses slots, and the owner index is kept by
//! calls of its own, ordered so that a live session is always in its owner's set. A save or
//! touch that keeps the owner and stays within the set's life (`e`) is one round trip, as on
//! one server; one that needs the owner's set extended first (a new owner, or about once per
//! idle period) costs two more. A walk goes slot by slot.
//! The client follows `MOVED`/`ASK` redirections and loads scripts wherever `NOSCRIPT`
//! answers; when a primary stops answering, the store connects afresh from the configured nodes
//! so the replica that took over is found. During a failover calls fail with temporary errors
//! (the session layer answers `503` with `Retry-After`) and recover by themselves.
//!
//! [`RedisConfig::with_replica_acks`] makes each write wait for replicas (`WAIT`), so a
//! failover loses no write the store acknowledged; it costs a round trip per write.
//!
//! Redis Sentinel is not supported yet: the `redis` crate's Sentinel client hands out a
//! connection to the primary of the moment and does not follow a failover by itself. Point the
//! store at an address that follows the primary, or use Redis Cluster, which finds the new
//! primary by itself.
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
mod conn;
mod error;
mod scripts;
mod store;

pub use config::RedisConfig;
pub use store::RedisStore;
