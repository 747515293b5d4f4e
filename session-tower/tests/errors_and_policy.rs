//! Store failures become clear 5xx responses, commit policy by status, and a missing layer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use session_core::chrono::{DateTime, Utc};
use session_core::{
    Capabilities, Error, ErrorKind, MemoryStore, Operation, Record, Result, SessionKey,
    SessionStore, async_trait,
};
use session_tower::{CommitOn, CookieConfig, SessionLayer};
use session_tower::{Session, SessionConfig};
use tower::ServiceExt;

/// A memory store whose writes fail while `down` is set, like a backend that went away.
#[derive(Debug, Clone, Default)]
struct Flaky {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
    temporary: bool,
}

impl Flaky {
    fn check(&self, op: Operation) -> Result<()> {
        if !self.down.load(Ordering::SeqCst) {
            return Ok(());
        }
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "backend down");
        let err = Error::new(ErrorKind::Backend, op)
            .with_store("flaky")
            .with_source(io);
        Err(if self.temporary { err.temporary() } else { err })
    }
}

#[async_trait]
impl SessionStore for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        self.check(Operation::Load)?;
        self.inner.load(key).await
    }
    async fn create(&self, record: &Record) -> Result<()> {
        self.check(Operation::Create)?;
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<u64> {
        self.check(Operation::Save)?;
        self.inner.save(record).await
    }
    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        self.check(Operation::Touch)?;
        self.inner.touch(key, expires_at).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.check(Operation::Delete)?;
        self.inner.delete(key).await
    }
    async fn sweep(&self) -> Result<u64> {
        self.inner.sweep().await
    }
    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        self.inner.list_by_owner(owner).await
    }
    async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
        self.inner.delete_by_owner(owner).await
    }
    async fn walk(
        &self,
        from: Option<&session_core::WalkCursor>,
        limit: usize,
    ) -> Result<session_core::WalkPage> {
        self.inner.walk(from, limit).await
    }
}

async fn write(session: Session) -> &'static str {
    // The handler ignores errors on purpose: the commit must still report them.
    let _ = session.insert("k", "v").await;
    "written"
}

async fn read(session: Session) -> std::result::Result<String, Error> {
    Ok(session.get::<String>("k").await?.unwrap_or_default())
}

async fn fail_after_write(session: Session) -> (StatusCode, &'static str) {
    let _ = session.insert("k", "v").await;
    (StatusCode::INTERNAL_SERVER_ERROR, "handler failed")
}

fn app(store: Flaky, commit_on: CommitOn) -> Router {
    let layer = SessionLayer::from_parts(
        Arc::new(store),
        SessionConfig::default(),
        CookieConfig::default(),
        commit_on,
    )
    .unwrap();
    Router::new()
        .route("/write", get(write))
        .route("/read", get(read))
        .route("/fail", get(fail_after_write))
        .layer(layer)
}

async fn call(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut request = Request::get(path);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, format!("id={c}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, cookie, String::from_utf8_lossy(&body).into_owned())
}

fn token(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("id=")
        .to_owned()
}

#[tokio::test]
async fn a_failed_commit_is_a_500_not_the_handlers_response() {
    let store = Flaky::default();
    let app = app(store.clone(), CommitOn::default());
    store.down.store(true, Ordering::SeqCst);
    // A fresh visitor's write creates a record: that fails, so no success is claimed.
    let (status, cookie, body) = call(&app, "/write", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(cookie.is_none());

    store.down.store(false, Ordering::SeqCst);
    let (_, cookie, _) = call(&app, "/write", None).await;
    let token = token(&cookie.unwrap());
    store.down.store(true, Ordering::SeqCst);
    let (status, cookie, body) = call(&app, "/write", Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, "session error");
    assert!(cookie.is_none(), "no cookie on a failed commit");
}

#[tokio::test]
async fn a_temporary_failure_is_a_503() {
    let store = Flaky {
        temporary: true,
        ..Flaky::default()
    };
    let app = app(store.clone(), CommitOn::default());
    let (_, cookie, _) = call(&app, "/write", None).await;
    let token = token(&cookie.unwrap());
    store.down.store(true, Ordering::SeqCst);
    let (status, _, body) = call(&app, "/read", Some(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn server_errors_do_not_commit_by_default_but_can() {
    let store = Flaky::default();
    let (status, cookie, _) = call(&app(store.clone(), CommitOn::default()), "/fail", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(cookie.is_none(), "a 5xx committed under the default policy");
    assert!(store.inner.is_empty());

    let (_, cookie, _) = call(&app(store.clone(), CommitOn::Always), "/fail", None).await;
    assert!(cookie.is_some(), "CommitOn::Always did not commit a 5xx");
    assert_eq!(store.inner.len(), 1);
}

#[tokio::test]
async fn a_handler_without_the_layer_gets_a_clear_500() {
    let app = Router::new().route("/read", get(read));
    let response = app
        .oneshot(Request::get("/read").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("session layer missing"));
}
