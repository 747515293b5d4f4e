//! Tokens in headers for API clients, and records this build cannot read.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use session_core::codec::{Codec, MessagePack, decode_any};
use session_core::{Error, MemoryStore, Record, SessionStore, SessionToken};
use session_tower::Session;
use session_tower::{SessionLayer, TokenTransport};
use tower::ServiceExt;

fn routes(layer: SessionLayer) -> Router {
    Router::new()
        .route(
            "/set",
            get(|s: Session| async move {
                s.insert("user", "ada").await?;
                Ok::<_, Error>("set")
            }),
        )
        .route(
            "/get",
            get(|s: Session| async move {
                Ok::<_, Error>(s.get::<String>("user").await?.unwrap_or_default())
            }),
        )
        .route(
            "/logout",
            get(|s: Session| async move {
                s.invalidate().await?;
                Ok::<_, Error>("bye")
            }),
        )
        .layer(layer)
}

async fn send(app: &Router, path: &str, headers: &[(&str, &str)]) -> (Response<Body>, String) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, Body::empty()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn an_api_client_carries_the_token_in_a_bearer_header() {
    let layer = SessionLayer::new(MemoryStore::new())
        .unwrap()
        .with_transport(TokenTransport::bearer("x-session-token").unwrap());
    let app = routes(layer);

    let (response, _) = send(&app, "/set", &[]).await;
    assert!(
        response.headers().get(header::SET_COOKIE).is_none(),
        "a cookie was set"
    );
    let token = response.headers()["x-session-token"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        SessionToken::parse(&token).is_ok(),
        "{token:?} is not a token"
    );
    assert_eq!(response.headers()[header::VARY], "authorization");

    let bearer = format!("Bearer {token}");
    let (response, body) = send(&app, "/get", &[("authorization", &bearer)]).await;
    assert_eq!(body, "ada");
    assert!(
        response.headers().get("x-session-token").is_none(),
        "an unchanged token was re-sent"
    );
    // A cookie with the token means nothing to this layer.
    let (_, body) = send(&app, "/get", &[("cookie", &format!("id={token}"))]).await;
    assert_eq!(body, "");

    let (response, _) = send(&app, "/logout", &[("authorization", &bearer)]).await;
    assert_eq!(
        response.headers()["x-session-token"],
        "",
        "logout did not clear the token"
    );
    let (_, body) = send(&app, "/get", &[("authorization", &bearer)]).await;
    assert_eq!(body, "", "the session outlived logout");
}

#[tokio::test]
async fn a_plain_header_carries_the_token_both_ways() {
    let layer = SessionLayer::new(MemoryStore::new())
        .unwrap()
        .with_transport(TokenTransport::header("x-session").unwrap());
    let app = routes(layer);
    let (response, _) = send(&app, "/set", &[]).await;
    let token = response.headers()["x-session"].to_str().unwrap().to_owned();
    let (_, body) = send(&app, "/get", &[("x-session", &token)]).await;
    assert_eq!(body, "ada");
    assert!(TokenTransport::header("not a header").is_err());
}

/// Writes records the way a newer build would: a format version this build cannot read.
#[derive(Debug)]
struct NewerFormat;

impl Codec for NewerFormat {
    fn name(&self) -> &'static str {
        "newer"
    }
    fn encode(&self, record: &Record) -> Result<Vec<u8>, Error> {
        let mut bytes = MessagePack.encode(record)?;
        bytes[2] += 1;
        Ok(bytes)
    }
    fn decode(&self, bytes: &[u8]) -> Result<Record, Error> {
        decode_any(bytes)
    }
}

#[tokio::test]
async fn an_unreadable_record_starts_a_fresh_session_and_is_counted() {
    let memory = MemoryStore::new();
    let layer = SessionLayer::new(memory.clone()).unwrap();
    let queue = layer.queue().clone();
    let app = routes(layer);
    let (response, _) = send(&app, "/set", &[]).await;
    let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
    let token: SessionToken = set.split(';').next().unwrap()[3..].parse().unwrap();

    let record = memory.load(&token.key()).await.unwrap().unwrap();
    memory
        .clone()
        .with_codec(Arc::new(NewerFormat))
        .save(&record)
        .await
        .unwrap();
    assert!(
        memory.load(&token.key()).await.is_err(),
        "the record still reads"
    );

    let cookie = format!("id={}", token.as_str());
    let (response, body) = send(&app, "/get", &[("cookie", &cookie)]).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "an unreadable record is not an outage"
    );
    assert_eq!(body, "");
    let removal = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(queue.stats().undecodable_records, 1);
    assert!(
        memory.load(&token.key()).await.unwrap().is_none(),
        "the record was kept"
    );
}
