//! Two application instances, each with its own moka cache, over one shared backend: writes
//! through a stale cache lose nothing (a request whose reads turn out stale fails as retryable,
//! and its retry counts), and a stale read lasts no longer than the cache lifetime.

use std::sync::Arc;
use std::time::Duration;

use session_core::{
    CachingStore, Error, ErrorKind, MemoryStore, MokaStore, SessionStore, SessionToken,
};
use session_tower::{CookieAction, Session, SessionConfig};

const CACHE_LIFETIME: Duration = Duration::from_millis(800);
/// Scheduling slack on a loaded machine; the bound under test is the lifetime itself.
const SLACK: Duration = Duration::from_millis(1000);

type Instance = Arc<CachingStore<MokaStore, MemoryStore>>;

fn instance(backend: &MemoryStore) -> Instance {
    let cache = MokaStore::builder().time_to_live(CACHE_LIFETIME).build();
    Arc::new(CachingStore::new(cache, backend.clone()))
}

fn config() -> Arc<SessionConfig> {
    Arc::new(SessionConfig::default().with_retry_budget(Duration::from_secs(10)))
}

/// One request on `instance` with the session cookie `token`, running `handler`.
async fn request<F, Fut, T>(instance: &Instance, token: &str, handler: F) -> T
where
    F: FnOnce(Session) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    try_request(instance, token, handler).await.expect("commit")
}

/// One request, with the commit's error: a request whose reads another instance changed
/// fails with a temporary error rather than store what followed from them.
async fn try_request<F, Fut, T>(instance: &Instance, token: &str, handler: F) -> Result<T, Error>
where
    F: FnOnce(Session) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let session = Session::new(instance.clone(), config(), Some(token));
    let out = handler(session.clone()).await;
    session.finish().await?;
    Ok(out)
}

async fn counter(instance: &Instance, token: &str) -> i64 {
    request(instance, token, |s| async move {
        s.get::<i64>("n").await.unwrap().unwrap_or(0)
    })
    .await
}

/// An increment, repeated (as a client repeats a request answered `503`) while it fails with a
/// temporary error; says how many attempts failed.
async fn increment(instance: &Instance, token: &str) -> u32 {
    let mut refused = 0;
    loop {
        let attempt = try_request(instance, token, |s| async move {
            s.increment("n", 1).await.unwrap()
        })
        .await;
        match attempt {
            Ok(_) => return refused,
            Err(e) => {
                assert!(e.is_temporary(), "a permanent error: {e}");
                assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
                refused += 1;
                assert!(refused < 100, "refused 100 times: {e}");
            }
        }
    }
}

async fn start_session(instance: &Instance) -> String {
    let session = Session::new(instance.clone(), Arc::default(), None);
    session.insert("n", 0).await.unwrap();
    session.insert("user", "ada").await.unwrap();
    match session.finish().await.unwrap().cookie {
        CookieAction::Set { token, .. } => token.as_str().to_owned(),
        other => panic!("no session was created: {other:?}"),
    }
}

#[tokio::test]
async fn a_write_through_a_stale_cache_loses_nothing() {
    let backend = MemoryStore::new();
    let (a, b) = (instance(&backend), instance(&backend));
    let token = start_session(&a).await;
    assert_eq!(counter(&a, &token).await, 0); // A's cache now holds n = 0

    increment(&b, &token).await; // the backend moves to n = 1; A's copy is stale
    assert_eq!(
        counter(&a, &token).await,
        0,
        "A serves its cached copy within the lifetime"
    );

    // A increments from its stale copy: the backend refuses the stale version, A reloads, sees
    // that n (which the increment returned) changed, and fails the request as retryable rather
    // than store a value other than the one it returned. The retry counts.
    let refused = increment(&a, &token).await;
    assert_eq!(refused, 1, "the stale attempt was not refused");
    let key = SessionToken::parse(&token).unwrap().key();
    let stored = backend.load(&key).await.unwrap().unwrap();
    assert_eq!(
        stored.get::<i64>("n").unwrap(),
        Some(2),
        "an increment was lost"
    );
    assert!(a.stats().hits >= 1 && a.stats().misses >= 1);
}

#[tokio::test]
async fn concurrent_writers_on_two_instances_lose_nothing() {
    let backend = MemoryStore::new();
    let (a, b) = (instance(&backend), instance(&backend));
    let token = start_session(&a).await;
    counter(&a, &token).await;
    counter(&b, &token).await; // both caches hold n = 0

    let mut requests = Vec::new();
    for i in 0..40 {
        let (instance, token) = (
            if i % 2 == 0 { a.clone() } else { b.clone() },
            token.clone(),
        );
        requests.push(tokio::spawn(
            async move { increment(&instance, &token).await },
        ));
    }
    for r in requests {
        r.await.unwrap();
    }
    let key = SessionToken::parse(&token).unwrap().key();
    let stored = backend.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.get::<i64>("n").unwrap(), Some(40));
}

#[tokio::test]
async fn a_stale_read_lasts_no_longer_than_the_cache_lifetime() {
    let backend = MemoryStore::new();
    let (a, b) = (instance(&backend), instance(&backend));
    let token = start_session(&a).await;
    assert_eq!(counter(&a, &token).await, 0);
    increment(&b, &token).await;

    let started = std::time::Instant::now();
    let mut last = counter(&a, &token).await;
    while last != 1 {
        assert!(
            started.elapsed() < CACHE_LIFETIME + SLACK,
            "A still read the stale value after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        last = counter(&a, &token).await;
    }
    assert!(started.elapsed() <= CACHE_LIFETIME + SLACK);
}

#[tokio::test]
async fn a_logout_on_one_instance_stops_writes_on_the_other_at_once() {
    let backend = MemoryStore::new();
    let (a, b) = (instance(&backend), instance(&backend));
    let token = start_session(&a).await;
    counter(&a, &token).await;

    request(&b, &token, |s| async move { s.invalidate().await.unwrap() }).await;
    // A's cached copy may still be read, but a write through it cannot bring the session back.
    increment(&a, &token).await;
    let key = SessionToken::parse(&token).unwrap().key();
    assert!(
        backend.load(&key).await.unwrap().is_none(),
        "the session came back"
    );
    tokio::time::sleep(CACHE_LIFETIME + Duration::from_millis(100)).await;
    let user = request(&a, &token, |s| async move {
        s.get::<String>("user").await.unwrap()
    })
    .await;
    assert_eq!(
        user, None,
        "A still reads the ended session after the cache lifetime"
    );
}
