//! Contention through the layer: a request that waits too long for its session is a 503 with
//! `Retry-After`, never a 500; every way a request ends frees its session for the next one.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Response, StatusCode, header};
use axum::routing::get;
use session_core::{MemoryStore, Session, SessionConfig};
use session_tower::{CommitOn, CookieConfig, SessionLayer};
use tokio::sync::Notify;
use tower::ServiceExt;

#[derive(Default)]
struct Gate {
    held: Notify,
    go: Notify,
}

fn app(config: SessionConfig, commit_on: CommitOn, gate: Arc<Gate>) -> Router {
    let layer = SessionLayer::from_parts(
        Arc::new(MemoryStore::new()),
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
