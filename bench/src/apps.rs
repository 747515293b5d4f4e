//! The same routes on our layer and on the peer's, so a run compares like with like.
//!
//! - `/none`: never touches the session.
//! - `/read`: reads the counter `n`.
//! - `/rmw`: reads `n`, then writes `n + 1` and answers it: the way most handlers write a
//!   counter, a cart or a wizard step.
//!
//! Ours also serves, for the soak run, `/login/{user}` (a new token, the owner set, the data
//! kept) and `/logout` (the session ended).

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use session_core::{SessionStore, StoreLock};
use session_tower::{CommitOn, CookieConfig, SessionLayer};
use session_tower::{Session, SessionConfig};

/// The cookie both apps use.
pub const COOKIE: &str = "id";

/// Our app over `store`, taking the session lock kept in it when `lock` is set.
pub fn ours(store: Arc<dyn SessionStore>, lock: bool) -> Result<Router, String> {
    let mut layer = SessionLayer::from_parts(
        store.clone(),
        SessionConfig::default(),
        CookieConfig::default().with_name(COOKIE).with_secure(false),
        CommitOn::default(),
    )
    .map_err(|e| e.to_string())?;
    if lock {
        layer = layer.with_lock(Arc::new(StoreLock::new(store)));
    }
    Ok(Router::new()
        .route("/none", get(|| async { "none" }))
        .route(
            "/read",
            get(|s: Session| async move {
                Ok::<_, session_core::Error>(s.get::<i64>("n").await?.unwrap_or(0).to_string())
            }),
        )
        .route(
            "/rmw",
            get(|s: Session| async move {
                let n: i64 = s.get("n").await?.unwrap_or(0);
                s.insert("n", n + 1).await?;
                Ok::<_, session_core::Error>((n + 1).to_string())
            }),
        )
        .route(
            "/login/{user}",
            get(|s: Session, Path(user): Path<String>| async move {
                s.regenerate().await?;
                s.set_owner(Some(&user)).await?;
                s.insert("user", &user).await?;
                Ok::<_, session_core::Error>(user)
            }),
        )
        .route(
            "/logout",
            get(|s: Session| async move {
                s.invalidate().await?;
                Ok::<_, session_core::Error>("bye")
            }),
        )
        .layer(layer))
}

/// The peer's stores this benchmark runs.
#[derive(Debug, Clone)]
pub enum PeerStore {
    /// Its in-memory store.
    Memory(tower_sessions::MemoryStore),
    /// Its moka store.
    Moka(tower_sessions_moka_store::MokaStore),
    /// Its Redis store.
    Redis(tower_sessions_redis_store::RedisStore<tower_sessions_redis_store::fred::prelude::Pool>),
    /// Its PostgreSQL store.
    Postgres(tower_sessions_sqlx_store::PostgresStore),
}

/// The peer's app over `store`.
pub fn peer(store: PeerStore) -> Router {
    let routes = Router::new()
        .route("/none", get(|| async { "none" }))
        .route(
            "/read",
            get(|s: tower_sessions::Session| async move {
                let n: i64 = s.get("n").await.map_err(internal)?.unwrap_or(0);
                Ok::<_, StatusCode>(n.to_string())
            }),
        )
        .route(
            "/rmw",
            get(|s: tower_sessions::Session| async move {
                let n: i64 = s.get("n").await.map_err(internal)?.unwrap_or(0);
                s.insert("n", n + 1).await.map_err(internal)?;
                Ok::<_, StatusCode>((n + 1).to_string())
            }),
        );
    fn with<S: tower_sessions::SessionStore + Clone>(routes: Router, store: S) -> Router {
        routes.layer(
            tower_sessions::SessionManagerLayer::new(store)
                .with_name(COOKIE)
                .with_secure(false),
        )
    }
    match store {
        PeerStore::Memory(s) => with(routes, s),
        PeerStore::Moka(s) => with(routes, s),
        PeerStore::Redis(s) => with(routes, s),
        PeerStore::Postgres(s) => with(routes, s),
    }
}

fn internal<E: std::fmt::Display>(e: E) -> StatusCode {
    eprintln!("peer session error: {e}");
    StatusCode::INTERNAL_SERVER_ERROR
}
