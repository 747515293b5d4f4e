//! Web sessions for Rust, in one dependency: the [`Session`] extractor, the tower
//! [`SessionLayer`], and every storage driver behind a feature, set up from settings in one
//! call.
//!
//! ```
//! use axum::{Router, routing::get};
//! use sessions::{Session, Sessions};
//!
//! # async fn run() -> Result<(), sessions::Error> {
//! let sessions = Sessions::from_env().await?; // SESSION_* settings; in memory by default
//! let app: Router = Router::new()
//!     .route("/", get(|session: Session| async move {
//!         let visits = session.get::<u64>("visits").await?.unwrap_or(0) + 1;
//!         session.insert("visits", visits).await?;
//!         Ok::<_, sessions::Error>(format!("visit {visits}"))
//!     }))
//!     .layer(sessions.layer());
//! # Ok(()) }
//! ```
//!
//! # What is where
//!
//! - **Applications** use [`Sessions`] (or [`Settings`] and [`store`]), [`Session`] in
//!   handlers, and [`SessionLayer`], [`CsrfLayer`] and their configuration.
//! - **Store authors** implement [`SessionStore`] (or [`ClientSideStore`]) with the pieces in
//!   [`kit`], and run the conformance suite (the `session-conformance` crate) on their store.
//! - **Middleware** that wraps a store ([`CachingStore`]) or takes part in a request
//!   ([`SessionQueue`], [`SessionLock`]) finds them here too.
//!
//! # Drivers
//!
//! The memory store is always here. Each other driver is a feature, so an application builds
//! only the ones it uses:
//!
//! | feature | `SESSION_DRIVER` | module |
//! |---|---|---|
//! | (always) | `memory` | [`MemoryStore`] |
//! | `moka` | | `MokaStore` (a bounded cache store, or a cache in front of another) |
//! | `file` | `file` | `file` |
//! | `redis` | `redis` | `redis` |
//! | `postgres`, `mysql`, `sqlite` | `database` (the URL picks the database) | `sql` |
//! | `dynamodb` | `dynamodb` | `dynamodb` |
//! | `cookie` | `cookie` | `cookie` |
//! | `full` | every one | |
//!
//! The feature `minijinja` adds the module `templates`: the session in minijinja templates (`flash`,
//! `old`, `errors`, `csrf_field` ...).
//!
//! A driver named in the settings but not built in is a configuration error that names the
//! feature to turn on.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ready;

/// The repository's README, whose Rust examples run as tests here.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

pub use ready::{SWEEP_EVERY, Sessions, store};

// For applications.
pub use session_core::{Error, ErrorKind, Lifetime, Value};
pub use session_tower::{
    CSRF_KEY, CommitOn, CookieConfig, CsrfLayer, Driver, ERRORS_KEY, MissingSessionLayer,
    OLD_INPUT_KEY, OnLoadError, SameSite, SecretList, Session, SessionConfig, SessionLayer,
    SessionStats, Settings, StoreSettings, TokenTransport,
};

// For store authors and middleware.
pub use session_core::{
    CacheStats, CachingStore, Capabilities, ClientSideStore, Codec, Data, Format, Json, LockLease,
    MAX_OWNER_BYTES, MemoryStore, MessagePack, Opened, Operation, Record, Result, SessionKey,
    SessionLock, SessionStore, SessionToken, StoreLock, Sweeper, WalkCursor, WalkPage, async_trait,
    chrono, codec, kit,
};
pub use session_tower::{Committed, CookieAction, SessionQueue};

#[cfg(feature = "moka")]
pub use session_core::{MokaStore, MokaStoreBuilder};

/// The cookie driver: the whole session sealed in the cookie (feature `cookie`).
#[cfg(feature = "cookie")]
pub use session_cookie as cookie;
/// The DynamoDB driver (feature `dynamodb`).
#[cfg(feature = "dynamodb")]
pub use session_dynamo as dynamodb;
/// The file driver (feature `file`).
#[cfg(feature = "file")]
pub use session_file as file;
/// The session in minijinja templates: `flash`, `old`, `errors`, `csrf_field` ... (feature
/// `minijinja`).
#[cfg(feature = "minijinja")]
pub use session_minijinja as templates;
/// The Redis driver (feature `redis`).
#[cfg(feature = "redis")]
pub use session_redis as redis;
/// The SQL driver: PostgreSQL, MySQL/MariaDB, SQLite (features `postgres`, `mysql`, `sqlite`).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use session_sql as sql;
