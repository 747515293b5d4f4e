//! A backend freezing or restarting under a store: the checks every server driver runs in its
//! outage test.
//!
//! Both checks follow one script on a container of the test's own
//! ([`crate::provision::own_container`]):
//!
//! 1. five records are written while the backend is up, and a browser-like client counts to two
//!    in a session through the layer (acknowledged writes);
//! 2. the backend goes away (frozen, or stopped), and load, save, create and delete each fail
//!    with a temporary error, every call within three times the store's operation limit; the
//!    client's requests get `503` with `Retry-After`, each within the same bound;
//! 3. the backend comes back (thawed, or started again on the same port); a probe (a newly
//!    connected client, or whatever readies the backend) tells when it answers, and the store
//!    under test must answer by itself within 1 s of that;
//! 4. every acknowledged write is still there (for a backend that keeps data across a restart),
//!    and the client's next request counts on from two.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use session_core::chrono::{Duration as Span, Utc};
use session_core::{ErrorKind, Record, SessionKey, SessionStore};
use session_tower::Session;
use session_tower::SessionLayer;
use tower::ServiceExt;

use crate::provision::Container;

/// How long after the backend answers a probe the store under test must answer too.
pub const RECOVERY: Duration = Duration::from_secs(1);

/// What an outage check measured.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// The longest call while the backend was away.
    pub longest_call: Duration,
    /// The longest request through the layer while the backend was away.
    pub longest_request: Duration,
    /// How long after the backend answered a probe the store answered again.
    pub recovered_after: Duration,
    /// How long after the thaw or the start the backend answered a probe.
    pub backend_ready_after: Duration,
}

/// The way the backend goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Paused: connections stay open and nothing answers.
    Freeze,
    /// Stopped, then started again on the same port; `keeps_data` when the backend persists
    /// what it acknowledged across a restart.
    Restart { keeps_data: bool },
}

/// Freezes `container` under `store` (whose operation limit is `limit`), then thaws it, and
/// checks the script in the [module docs](self): every call while frozen fails with a
/// temporary [`ErrorKind::Timeout`] within three times `limit`; after the thaw the store
/// answers within [`RECOVERY`] of `probe` first returning `true`; no acknowledged write is
/// lost. Panics with a message otherwise.
///
/// `probe` asks the backend through a new connection whether it answers (called every 25 ms,
/// each call bounded by 1 s).
pub async fn frozen_then_back<P, F>(
    container: &Container,
    store: Arc<dyn SessionStore>,
    limit: Duration,
    probe: P,
) -> Outage
where
    P: FnMut() -> F,
    F: Future<Output = bool>,
{
    outage(container, store, limit, Fault::Freeze, probe).await
}

/// Stops `container` under `store` (whose operation limit is `limit`), then starts it again on
/// the same port, and checks the script in the [module docs](self): every call while stopped
/// fails with a temporary error within three times `limit`; after the start the store answers
/// within [`RECOVERY`] of `probe` first returning `true`; when `keeps_data`, no acknowledged
/// write is lost. Panics with a message otherwise.
///
/// `probe` is as for [`frozen_then_back`]; for a backend that forgets everything on a restart
/// (an in-memory emulator, `keeps_data` false) it is also where the test re-creates what the
/// store needs (its table), as a deployment's provisioning would.
pub async fn stopped_then_back<P, F>(
    container: &Container,
    store: Arc<dyn SessionStore>,
    limit: Duration,
    keeps_data: bool,
    probe: P,
) -> Outage
where
    P: FnMut() -> F,
    F: Future<Output = bool>,
{
    outage(
        container,
        store,
        limit,
        Fault::Restart { keeps_data },
        probe,
    )
    .await
}

async fn outage<P, F>(
    container: &Container,
    store: Arc<dyn SessionStore>,
    limit: Duration,
    fault: Fault,
    probe: P,
) -> Outage
where
    P: FnMut() -> F,
    F: Future<Output = bool>,
{
    let expires = Utc::now() + Span::minutes(10);
    let mut records = Vec::new();
    for _ in 0..5 {
        let record = Record::new(SessionKey::random(), expires);
        store.create(&record).await.expect("create while up");
        records.push(record);
    }
    let mut client = Client::new(store.clone());
    for expected in ["1", "2"] {
        let (status, body) = client.count().await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, expected));
    }

    match fault {
        Fault::Freeze => container.pause().await.expect("pause the container"),
        Fault::Restart { .. } => container.stop().await.expect("stop the container"),
    }
    let longest_call = calls_while_away(&*store, &records, limit, fault).await;
    let mut longest_request = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = client.count().await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            took < limit * 3,
            "a request took {took:?} against a {limit:?} limit"
        );
        longest_request = longest_request.max(took);
    }

    let back = Instant::now();
    match fault {
        Fault::Freeze => container.unpause().await.expect("unpause the container"),
        Fault::Restart { .. } => container.start().await.expect("start the container"),
    }
    let keeps_data = match fault {
        Fault::Freeze => true,
        Fault::Restart { keeps_data } => keeps_data,
    };
    let probe_key = records[4].key.clone();
    let (ready, answered) = tokio::time::timeout(Duration::from_secs(90), async {
        tokio::join!(first_true(probe), async {
            loop {
                match store.load(&probe_key).await {
                    Ok(Some(_)) => return Instant::now(),
                    Ok(None) if !keeps_data => return Instant::now(),
                    _ => tokio::time::sleep(Duration::from_millis(25)).await,
                }
            }
        })
    })
    .await
    .expect("neither the backend nor the store answered within 90 s of coming back");
    let recovered_after = answered.saturating_duration_since(ready);
    let backend_ready_after = ready.duration_since(back);
    assert!(
        recovered_after <= RECOVERY,
        "{}: the store answered {recovered_after:?} after the backend did",
        store.name()
    );

    let (status, body) = client.count().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    if keeps_data {
        assert_eq!(body, "3", "{}: the session did not count on", store.name());
        // The delete while away may or may not have reached the backend first.
        for record in [&records[0], &records[1], &records[3], &records[4]] {
            assert!(
                store.load(&record.key).await.expect("load").is_some(),
                "{}: an acknowledged write was lost",
                store.name()
            );
        }
    }
    let phase = match fault {
        Fault::Freeze => "frozen",
        Fault::Restart { .. } => "stopped",
    };
    eprintln!(
        "{}: longest call while {phase} {longest_call:?}, longest request {longest_request:?}; \
         backend answering {backend_ready_after:?} after coming back, the store \
         {recovered_after:?} after that",
        store.name()
    );
    Outage {
        longest_call,
        longest_request,
        recovered_after,
        backend_ready_after,
    }
}

/// Calls every operation against the absent backend: each must fail, temporarily, within three
/// times `limit`. Returns the longest call.
async fn calls_while_away(
    store: &dyn SessionStore,
    records: &[Record],
    limit: Duration,
    fault: Fault,
) -> Duration {
    let expires = records[0].expires_at;
    let fresh = Record::new(SessionKey::random(), expires);
    let mut longest = Duration::ZERO;
    for round in 0..3 {
        let calls = [
            ("load", timed(store.load(&records[3].key)).await),
            ("save", timed(store.save(&records[1])).await),
            ("create", timed(store.create(&fresh)).await),
            ("delete", timed(store.delete(&records[2].key)).await),
        ];
        for (what, (result, took)) in calls {
            let err = result.expect_err("an absent backend answered");
            assert!(err.is_temporary(), "{what} (round {round}): {err:?}");
            if fault == Fault::Freeze {
                assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err:?}");
            }
            assert!(
                took < limit * 3,
                "{what} took {took:?} against a {limit:?} limit"
            );
            longest = longest.max(took);
        }
    }
    longest
}

/// Awaits `call` and times it, panicking (rather than hanging the test) if the store does not
/// give up by itself within 15 s. Discards the call's value, keeping whether it failed.
async fn timed<T>(
    call: impl Future<Output = session_core::Result<T>>,
) -> (session_core::Result<()>, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(15), call)
        .await
        .expect("the store held the call for 15 s against an absent backend");
    (result.map(|_| ()), started.elapsed())
}

/// The moment `probe` first returns `true`, each call bounded by 1 s.
async fn first_true<P, F>(mut probe: P) -> Instant
where
    P: FnMut() -> F,
    F: Future<Output = bool>,
{
    loop {
        if let Ok(true) = tokio::time::timeout(Duration::from_secs(1), probe()).await {
            return Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A browser-like client of a counting app over the store: it keeps the session cookie.
struct Client {
    app: Router,
    cookie: Option<String>,
}

impl Client {
    fn new(store: Arc<dyn SessionStore>) -> Client {
        let layer = SessionLayer::new(store).expect("a layer over the store");
        let app = Router::new()
            .route(
                "/count",
                get(|session: Session| async move {
                    let n: i64 = session.get("n").await?.unwrap_or(0);
                    session.insert("n", n + 1).await?;
                    Ok::<_, session_core::Error>((n + 1).to_string())
                }),
            )
            .layer(layer);
        Client { app, cookie: None }
    }

    /// `GET /count`: the status and the body; a `503` must say when to retry.
    async fn count(&mut self) -> (StatusCode, String) {
        let mut request = Request::get("/count");
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let request = request.body(Body::empty()).expect("a request");
        let response =
            tokio::time::timeout(Duration::from_secs(15), self.app.clone().oneshot(request))
                .await
                .expect("the layer held a request for 15 s against an absent backend")
                .expect("the router answers");
        let status = response.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(
                response.headers().contains_key(header::RETRY_AFTER),
                "a 503 without Retry-After"
            );
        }
        if let Some(set) = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}
