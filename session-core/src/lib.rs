//! The storage contract of the session framework, for store authors.
//!
//! A web application keeps per-visitor state between requests: who is logged in, a cart, a
//! "Profile saved!" message shown once after a redirect. This crate defines how that state is
//! identified, shaped and stored; driver crates store it in Redis, SQL databases, DynamoDB,
//! files or the cookie itself. The per-request `Session`, its extractor and the layer are the
//! request side, in `session-tower`; an application adds the `sessions` crate, which brings
//! both.
//!
//! - [`SessionToken`] is the secret in the visitor's cookie; [`SessionKey`], its SHA-256, is
//!   all a store ever sees.
//! - [`Record`] is what a store keeps for one session: data, flash messages, timestamps, an
//!   optional owner and a version.
//! - [`SessionStore`] is the storage contract: load, create, version-checked save, touch,
//!   delete, and the optional sweep and owner index declared in [`Capabilities`].
//! - [`Codec`] turns records into bytes: [`MessagePack`] by default, or [`Json`]; either
//!   reads what the other wrote.
//! - [`Error`] is the one error type, with an [`ErrorKind`] to branch on.
//! - [`MemoryStore`] keeps sessions in process memory; [`MokaStore`] (feature `moka`) in a
//!   bounded concurrent cache.
//! - [`CachingStore`] puts any store in front of any other (moka in front of Postgres ...).
//! - [`kit`] holds what every driver needs (bounded calls, encoding, conflicts), and
//!   [`SessionLock`] / [`StoreLock`] a lock kept in a store; [`Sweeper`] sweeps any store.
//!
//! # Security
//!
//! Tokens carry 256 bits from the operating system's random source and are parsed strictly
//! ([`SessionToken::parse`]) before any store is asked about them. Stores are keyed by the
//! token's SHA-256, so reading a store's contents does not let anyone take over a session.
//!
//! # Concurrency
//!
//! Every record carries a version; [`SessionStore::save`] succeeds only if the stored version is
//! still the one the record was loaded at, and fails with [`ErrorKind::Conflict`] otherwise. A
//! save never brings back a record that was deleted in the meantime, which is what makes a
//! logout stick against a concurrent request.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "axum")]
mod axum;
mod caching;
mod client;
pub mod codec;
mod error;
mod id;
pub mod kit;
mod lock;
mod memory;
#[cfg(feature = "moka")]
mod moka;
mod record;
mod store;
mod stored;
mod sweeper;
mod walk;

pub use caching::{CacheStats, CachingStore};
pub use client::{ClientSideStore, Opened};
pub use codec::{Codec, Format, Json, MessagePack};
pub use error::{BoxError, Error, ErrorKind, Operation, Result};
pub use id::{IdError, KeyHasher, KeyHashing, SessionKey, SessionToken};
pub use lock::{LockLease, SessionLock, StoreLock};
pub use memory::MemoryStore;
#[cfg(feature = "moka")]
pub use moka::{MokaStore, MokaStoreBuilder};
pub use record::{Data, Lifetime, MAX_OWNER_BYTES, Record, Value};
pub use store::{Capabilities, SessionStore};
pub use sweeper::Sweeper;
pub use walk::{WalkCursor, WalkPage};

/// Re-exported so stores and users name the same time and trait-macro crates.
pub use async_trait::async_trait;
pub use chrono;
