//! What the session layer costs per request, over `MemoryStore`.
//!
//! Each scenario runs the same router with and without the layer; the difference is the
//! layer's overhead. `untouched`: the handler never uses the session. `read_write`: the handler
//! reads a value and writes it back incremented, so every request loads and saves.

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use session_core::MemoryStore;
use session_tower::Session;
use session_tower::{CookieConfig, SessionLayer};
use tower::ServiceExt;

async fn untouched() -> &'static str {
    "ok"
}

async fn read_write(session: Session) -> Result<String, session_core::Error> {
    let n = session.increment("n", 1).await?;
    Ok(n.to_string())
}

fn layer() -> SessionLayer {
    SessionLayer::new(MemoryStore::new())
        .and_then(|l| l.with_cookie(CookieConfig::default().with_secure(false)))
        .expect("valid settings")
}

fn request(cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, format!("id={cookie}"));
    }
    builder.body(Body::empty()).expect("valid request")
}

fn bench(c: &mut Criterion) {
    // As `#[tokio::main]` builds it: the layer bounds its waits with the runtime's timers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let mut group = c.benchmark_group("untouched");
    let bare = Router::new().route("/", get(untouched));
    let layered = Router::new().route("/", get(untouched)).layer(layer());
    group.bench_function("without_layer", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(bare.clone().oneshot(request(None)).await) })
    });
    group.bench_function("with_layer", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(layered.clone().oneshot(request(None)).await) })
    });
    group.finish();

    let mut group = c.benchmark_group("read_write");
    // The baseline does the same routing and response work, with no session to read or write.
    let bare = Router::new().route("/", get(|| async { 1.to_string() }));
    let layered = Router::new().route("/", get(read_write)).layer(layer());
    let cookie = rt.block_on(async {
        let response = layered
            .clone()
            .oneshot(request(None))
            .await
            .expect("first request");
        let set = response.headers()[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .to_owned();
        set.split(';')
            .next()
            .and_then(|p| p.strip_prefix("id="))
            .map(str::to_owned)
            .expect("cookie")
    });
    group.bench_function("without_layer", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(bare.clone().oneshot(request(Some(&cookie))).await) })
    });
    group.bench_function("with_layer", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(layered.clone().oneshot(request(Some(&cookie))).await) })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
