//! The session layer's own cost, in process: one request through each app's router (no HTTP,
//! no sockets), on the in-memory and moka stores, for each route. The difference between a route and
//! `none` is what the session costs per request.

use std::hint::black_box;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use session_bench::apps::{self, COOKIE, PeerStore};
use session_core::MemoryStore;
use tower::ServiceExt;

async fn call(router: &Router, path: &str, cookie: Option<&str>) -> Option<String> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, format!("{COOKIE}={cookie}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("a request"))
        .await
        .expect("infallible");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.strip_prefix(&format!("{COOKIE}=")))
        .map(str::to_owned);
    black_box(response.into_body().collect().await.expect("a body"));
    cookie
}

/// The two apps on their in-memory stores, and on their moka stores.
fn apps() -> [(&'static str, Router); 4] {
    [
        (
            "ours",
            apps::ours(Arc::new(MemoryStore::new()), false).expect("our app"),
        ),
        (
            "peer",
            apps::peer(PeerStore::Memory(tower_sessions::MemoryStore::default())),
        ),
        (
            "ours-moka",
            apps::ours(Arc::new(session_core::MokaStore::new()), false).expect("our app"),
        ),
        (
            "peer-moka",
            apps::peer(PeerStore::Moka(tower_sessions_moka_store::MokaStore::new(
                Some(100_000),
            ))),
        ),
    ]
}

/// `SESSION_LAYER_COUNT=app:path:n` runs `n` requests of one app on one route and exits, for
/// counting instructions (`perf stat -e instructions:u`), which, unlike time, a busy machine
/// does not blur: the difference between two counts is what the extra requests cost.
fn count(spec: &str, rt: &tokio::runtime::Runtime) {
    let mut parts = spec.split(':');
    let (Some(app), Some(path), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("SESSION_LAYER_COUNT is app:path:n, as ours:/read:100000");
    };
    let n: usize = n.parse().expect("a count");
    let (_, router) = apps()
        .into_iter()
        .find(|(name, _)| *name == app)
        .expect("ours or peer");
    rt.block_on(async {
        let cookie = call(&router, "/rmw", None).await.expect("a session cookie");
        for _ in 0..n {
            call(&router, path, Some(&cookie)).await;
        }
    });
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(spec) = std::env::var("SESSION_LAYER_COUNT") {
        count(&spec, &rt);
        std::process::exit(0);
    }
    for (name, router) in &apps() {
        let cookie = rt
            .block_on(call(router, "/rmw", None))
            .expect("a session cookie");
        let mut group = c.benchmark_group(format!("layer_{name}"));
        for (route, path) in [("none", "/none"), ("read", "/read"), ("write", "/rmw")] {
            group.bench_function(route, |b| {
                b.to_async(&rt).iter(|| call(router, path, Some(&cookie)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
