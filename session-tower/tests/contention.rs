//! Contention through the layer: a request that waits too long for its session is a 503 with
//! `Retry-After`, never a 500; every way a request ends frees its session for the next one.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Response, StatusCode, header};
use axum::routing::get;
use std::sync::atomic::{AtomicUsize, Ordering};

use session_core::chrono::{DateTime, Utc};
use session_core::{
    Capabilities, Error, ErrorKind, MemoryStore, Operation, Record, Result, SessionKey,
    SessionStore, async_trait,
};
use session_tower::{CommitOn, CookieConfig, SessionLayer};
use session_tower::{Session, SessionConfig};
use tokio::sync::Notify;
use tower::ServiceExt;

#[derive(Default)]
struct Gate {
    held: Notify,
    go: Notify,
}

fn app(config: SessionConfig, commit_on: CommitOn, gate: Arc<Gate>) -> Router {
    app_over(Arc::new(MemoryStore::new()), config, commit_on, gate)
}

fn app_over(
    store: Arc<dyn SessionStore>,
    config: SessionConfig,
    commit_on: CommitOn,
    gate: Arc<Gate>,
) -> Router {
    let layer = SessionLayer::from_parts(
        store,
        config,
        CookieConfig::default().with_name("id"),
        commit_on,
    )
    .unwrap();
    Router::new()
        .route(
            "/start",
            get(|s: Session| async move {
                s.insert("n", 0).await?;
                Ok::<_, session_core::Error>("started")
            }),
        )
        .route(
            "/hold",
            get(|s: Session, State(gate): State<Arc<Gate>>| async move {
                s.get::<i64>("n").await?;
                gate.held.notify_one();
                gate.go.notified().await;
                Ok::<_, session_core::Error>("held")
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
            "/rejected",
            get(|s: Session| async move {
                s.insert("draft", "x").await?;
                Ok::<_, session_core::Error>((StatusCode::BAD_REQUEST, "no"))
            }),
        )
        .with_state(gate)
        .layer(layer)
}

async fn send(app: &Router, path: &str, cookie: Option<&str>) -> Response<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, format!("id={cookie}"));
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn cookie_of(response: &Response<Body>) -> String {
    let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';')
        .next()
        .unwrap()
        .trim_start_matches("id=")
        .to_owned()
}

async fn body(response: Response<Body>) -> String {
    use http_body_util::BodyExt;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn a_request_that_waits_too_long_for_its_session_gets_503_with_retry_after() {
    let gate = Arc::new(Gate::default());
    let config = SessionConfig::default().with_wait_timeout(Duration::from_millis(200));
    let app = app(config, CommitOn::default(), gate.clone());
    let cookie = cookie_of(&send(&app, "/start", None).await);

    let holder = {
        let (app, cookie) = (app.clone(), cookie.clone());
        tokio::spawn(async move { send(&app, "/hold", Some(&cookie)).await })
    };
    gate.held.notified().await;
    let refused = send(&app, "/rmw", Some(&cookie)).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    assert!(
        body(refused).await.contains("session busy"),
        "the body does not say the session was busy"
    );

    gate.go.notify_one();
    assert_eq!(holder.await.unwrap().status(), StatusCode::OK);
    // The refused request changed nothing; the session works again at once.
    let next = send(&app, "/rmw", Some(&cookie)).await;
    assert_eq!(next.status(), StatusCode::OK);
    assert_eq!(body(next).await, "1");
}

#[tokio::test]
async fn a_response_that_does_not_commit_frees_the_session() {
    let gate = Arc::new(Gate::default());
    let config = SessionConfig::default().with_wait_timeout(Duration::from_secs(5));
    let app = app(config, CommitOn::Success, gate);
    let cookie = cookie_of(&send(&app, "/start", None).await);
    for _ in 0..3 {
        let rejected = send(&app, "/rejected", Some(&cookie)).await;
        assert_eq!(rejected.status(), StatusCode::BAD_REQUEST);
    }
    // Each rejected request gave up its turn: this one runs without waiting out the limit.
    let next = tokio::time::timeout(Duration::from_secs(2), send(&app, "/rmw", Some(&cookie)))
        .await
        .expect("the session stayed held after a response that did not commit");
    assert_eq!(next.status(), StatusCode::OK);
    assert_eq!(body(next).await, "1");
}

#[tokio::test]
async fn many_read_modify_write_requests_on_one_session_lose_nothing_and_all_succeed() {
    let gate = Arc::new(Gate::default());
    let app = app(SessionConfig::default(), CommitOn::default(), gate);
    let cookie = cookie_of(&send(&app, "/start", None).await);
    let mut requests = Vec::new();
    for _ in 0..256 {
        let (app, cookie) = (app.clone(), cookie.clone());
        requests.push(tokio::spawn(async move {
            send(&app, "/rmw", Some(&cookie)).await
        }));
    }
    let mut returned = Vec::new();
    for request in requests {
        let response = request.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        returned.push(body(response).await.parse::<i64>().unwrap());
    }
    returned.sort_unstable();
    assert_eq!(
        returned,
        (1..=256).collect::<Vec<_>>(),
        "each request saw its own n"
    );
}

/// A memory store whose saves fail, as a backend that drops out, for the saves numbered in
/// `failing` (counting from 1).
#[derive(Debug)]
struct FailingSaves {
    inner: MemoryStore,
    saves: AtomicUsize,
    failing: std::ops::Range<usize>,
}

#[async_trait]
impl SessionStore for FailingSaves {
    fn name(&self) -> &str {
        "failing-saves"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        self.inner.load(key).await
    }
    async fn create(&self, record: &Record) -> Result<()> {
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<u64> {
        let n = self.saves.fetch_add(1, Ordering::SeqCst) + 1;
        // Give the requests behind time to queue up for the next save.
        tokio::time::sleep(Duration::from_millis(2)).await;
        if self.failing.contains(&n) {
            return Err(Error::new(ErrorKind::Backend, Operation::Save)
                .with_store("failing-saves")
                .with_context("backend dropped out")
                .temporary());
        }
        self.inner.save(record).await
    }
    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        self.inner.touch(key, expires_at).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<()> {
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

#[tokio::test]
async fn a_failed_save_fails_only_its_requests_and_those_built_on_them_and_loses_nothing() {
    let store = Arc::new(FailingSaves {
        inner: MemoryStore::new(),
        saves: AtomicUsize::new(0),
        failing: 3..5,
    });
    let gate = Arc::new(Gate::default());
    let app = app_over(
        store.clone(),
        SessionConfig::default(),
        CommitOn::default(),
        gate,
    );
    let cookie = cookie_of(&send(&app, "/start", None).await);
    // Requests arrive in waves, so several saves run, some of them failing.
    let mut requests = Vec::new();
    for _ in 0..16 {
        for _ in 0..8 {
            let (app, cookie) = (app.clone(), cookie.clone());
            requests.push(tokio::spawn(async move {
                send(&app, "/rmw", Some(&cookie)).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let (mut succeeded, mut refused) = (Vec::new(), 0);
    for request in requests {
        let response = request.await.unwrap();
        match response.status() {
            StatusCode::OK => succeeded.push(body(response).await.parse::<i64>().unwrap()),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(response.headers()[header::RETRY_AFTER], "1");
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(refused > 0, "the failing saves failed no request");
    assert!(
        !succeeded.is_empty(),
        "no request succeeded around the failing saves"
    );
    // Every acknowledged value is distinct, and the stored counter is exactly the number of
    // acknowledged increments: nothing acknowledged was lost, nothing refused was stored.
    succeeded.sort_unstable();
    succeeded.dedup();
    let acknowledged = succeeded.len() as i64;
    let stored = send(&app, "/rmw", Some(&cookie)).await;
    assert_eq!(stored.status(), StatusCode::OK);
    assert_eq!(body(stored).await.parse::<i64>().unwrap(), acknowledged + 1);
    assert_eq!(
        succeeded.last().copied(),
        Some(acknowledged),
        "{succeeded:?}"
    );
    assert!(
        store.saves.load(Ordering::SeqCst) < 128,
        "the requests were not saved together"
    );
}
