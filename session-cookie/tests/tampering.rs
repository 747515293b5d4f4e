//! Bad cookies through the real layer: each kind gets a fresh session (and its cookie removed),
//! never an error or a panic. Key rotation and the size limit, too.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt;
use session_cookie::{CookieStore, Key};
use session_core::chrono::{Duration, Utc};
use session_core::{ClientSideStore, Opened, Record, SessionToken};
use session_tower::Session;
use session_tower::{CookieConfig, SessionLayer};
use tower::ServiceExt;

const COOKIE: &str = "id";

fn app(store: CookieStore) -> Router {
    let layer = SessionLayer::client_side(store)
        .and_then(|l| l.with_cookie(CookieConfig::default().with_name(COOKIE)))
        .unwrap();
    Router::new()
        .route(
            "/get",
            get(|s: Session| async move { s.get::<String>("user").await.unwrap().unwrap_or_default() }),
        )
        .route(
            "/set/{value}",
            get(
                |s: Session, axum::extract::Path(v): axum::extract::Path<String>| async move {
                    s.insert("user", v).await.unwrap();
                    "set"
                },
            ),
        )
        .route(
            "/big",
            get(|s: Session| async move {
                s.insert("big", "x".repeat(5000)).await.unwrap();
                "stored?"
            }),
        )
        .layer(layer)
}

struct Reply {
    status: StatusCode,
    body: String,
    set_cookie: Option<String>,
}

impl Reply {
    fn cookie_value(&self) -> Option<String> {
        let set = self.set_cookie.as_deref()?;
        let value = set.split(';').next()?.strip_prefix("id=")?;
        (!value.is_empty()).then(|| value.to_owned())
    }
}

async fn call(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(path);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, format!("{COOKIE}={c}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        set_cookie,
    }
}

/// A valid cookie holding user=ada, from `store`.
async fn valid_cookie(store: &CookieStore) -> String {
    call(&app(store.clone()), "/set/ada", None)
        .await
        .cookie_value()
        .expect("a session cookie")
}

/// Presents `cookie` and checks the visitor got a fresh session and the cookie was dropped.
async fn assert_fresh(store: &CookieStore, cookie: &str, kind: &str) {
    let reply = call(&app(store.clone()), "/get", Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{kind}: {}", reply.body);
    assert_eq!(reply.body, "", "{kind}: data came through");
    let removal = reply.set_cookie.unwrap_or_default();
    assert!(
        removal.contains("Max-Age=0"),
        "{kind}: cookie not removed: {removal:?}"
    );
}

fn store() -> CookieStore {
    CookieStore::new(vec![Key::generate()]).unwrap()
}

#[tokio::test]
async fn a_valid_cookie_round_trips() {
    let store = store();
    let cookie = valid_cookie(&store).await;
    // Token (43 bytes) and record, sealed and in base64url.
    assert!(
        cookie.len() < 360,
        "a small session makes a small cookie: {}",
        cookie.len()
    );
    let reply = call(&app(store), "/get", Some(&cookie)).await;
    assert_eq!(reply.body, "ada");
    assert!(reply.set_cookie.is_none(), "a read re-sent the cookie");
}

#[tokio::test]
async fn a_tampered_cookie_gets_a_fresh_session() {
    let store = store();
    let cookie = valid_cookie(&store).await;
    let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    assert_fresh(&store, &URL_SAFE_NO_PAD.encode(bytes), "tampered").await;
}

#[tokio::test]
async fn a_truncated_cookie_gets_a_fresh_session() {
    let store = store();
    let cookie = valid_cookie(&store).await;
    assert_fresh(&store, &cookie[..cookie.len() - 10], "truncated").await;
    assert_fresh(&store, &cookie[..20], "cut to a stub").await;
}

#[tokio::test]
async fn a_reordered_cookie_gets_a_fresh_session() {
    let store = store();
    let cookie = valid_cookie(&store).await;
    let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
    // Move a block of the ciphertext to the end: same bytes, another order.
    bytes[25..].rotate_left(8);
    assert_fresh(&store, &URL_SAFE_NO_PAD.encode(bytes), "re-ordered").await;
    // Nonce of one cookie with the ciphertext of another.
    let other = URL_SAFE_NO_PAD.decode(valid_cookie(&store).await).unwrap();
    let mut spliced = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
    spliced[1..25].copy_from_slice(&other[1..25]);
    assert_fresh(&store, &URL_SAFE_NO_PAD.encode(spliced), "spliced").await;
}

#[tokio::test]
async fn an_oversized_cookie_gets_a_fresh_session() {
    let store = store();
    assert_fresh(&store, &"A".repeat(64 * 1024), "oversized").await;
}

#[tokio::test]
async fn a_cookie_sealed_with_another_key_gets_a_fresh_session() {
    let (ours, theirs) = (store(), store());
    let foreign = valid_cookie(&theirs).await;
    assert_fresh(&ours, &foreign, "wrong key").await;
}

#[tokio::test]
async fn an_expired_cookie_gets_a_fresh_session() {
    let store = store();
    let token = SessionToken::generate();
    let mut record = Record::new(token.key(), Utc::now() - Duration::seconds(1));
    record.insert("user", "ada").unwrap();
    let expired = store.seal(COOKIE, &token, &record).unwrap();
    assert_fresh(&store, &expired, "idle-expired").await;

    let token = SessionToken::generate();

    let mut record = Record::new(token.key(), Utc::now() + Duration::hours(1));
    record.insert("user", "ada").unwrap();
    record.deadline = Some(Utc::now() - Duration::seconds(1));
    let past_deadline = store.seal(COOKIE, &token, &record).unwrap();
    assert_fresh(&store, &past_deadline, "past its absolute deadline").await;
}

#[tokio::test]
async fn a_cookie_moved_to_another_name_does_not_open() {
    let store = store();
    let token = SessionToken::generate();
    let mut record = Record::new(token.key(), Utc::now() + Duration::hours(1));
    record.insert("user", "ada").unwrap();
    let sealed_for_other = store.seal("remember_me", &token, &record).unwrap();
    assert!(matches!(
        store.open("remember_me", &sealed_for_other),
        Opened::Valid { .. }
    ));
    assert_fresh(&store, &sealed_for_other, "sealed for another cookie name").await;
}

#[test]
fn opening_gives_back_the_sealed_token_and_record() {
    let store = store();
    let token = SessionToken::generate();
    let mut record = Record::new(token.key(), Utc::now() + Duration::hours(1));
    record.insert("user", "ada").unwrap();
    let sealed = store.seal(COOKIE, &token, &record).unwrap();
    match store.open(COOKIE, &sealed) {
        Opened::Valid {
            token: opened,
            record: back,
            reseal,
        } => {
            assert_eq!(opened, token);
            assert_eq!(back.key, token.key());
            assert_eq!(back.get::<String>("user").unwrap().as_deref(), Some("ada"));
            assert!(!reseal);
        }
        other => panic!("a fresh seal did not open: {other:?}"),
    }
}

#[tokio::test]
async fn garbage_never_panics() {
    let store = store();
    for garbage in ["", "=", "%%%", "AAAA", "!!", "\u{1F600}", &"_".repeat(5000)] {
        assert!(
            matches!(store.open(COOKIE, garbage), Opened::Invalid(_)),
            "{garbage:?}"
        );
    }
}

#[tokio::test]
async fn an_old_key_still_opens_and_the_cookie_is_resealed_with_the_new_one() {
    let (old, new) = (Key::generate(), Key::generate());
    let before = CookieStore::new(vec![old.clone()]).unwrap();
    let cookie = valid_cookie(&before).await;

    let rotated = CookieStore::new(vec![new.clone(), old]).unwrap();
    let reply = call(&app(rotated), "/get", Some(&cookie)).await;
    assert_eq!(
        reply.body, "ada",
        "a cookie sealed with the older key still opens"
    );
    let resealed = reply.cookie_value().expect("the cookie is sealed again");

    let new_only = CookieStore::new(vec![new]).unwrap();
    let reply = call(&app(new_only), "/get", Some(&resealed)).await;
    assert_eq!(
        reply.body, "ada",
        "the resealed cookie opens with the new key alone"
    );
}

#[tokio::test]
async fn a_session_too_large_for_a_cookie_is_an_error_not_a_dropped_cookie() {
    let store = store();
    let reply = call(&app(store.clone()), "/big", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        reply.body.starts_with("session too large"),
        "the answer does not say the session is too large: {}",
        reply.body
    );
    assert!(reply.set_cookie.is_none());

    let token = SessionToken::generate();

    let mut record = Record::new(token.key(), Utc::now() + Duration::hours(1));
    record.insert("big", "x".repeat(5000)).unwrap();
    let err = store.seal(COOKIE, &token, &record).unwrap_err();
    assert_eq!(err.kind(), session_core::ErrorKind::TooLarge);
    assert!(err.to_string().contains("4096"), "{err}");
}

#[test]
fn keys_are_required() {
    let err = CookieStore::new(Vec::new()).unwrap_err();
    assert_eq!(err.kind(), session_core::ErrorKind::Config);
}

/// Sealed as earlier releases of this crate sealed (the portable XChaCha20-Poly1305 over the
/// token and the encoded record): cookies already in browsers keep opening.
#[test]
fn cookies_sealed_by_the_portable_cipher_open_with_any_of_three_keys() {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use session_core::{Codec, MessagePack};

    let keys = [[1u8; 32], [2u8; 32], [3u8; 32]];
    let token = SessionToken::generate();
    let mut record = Record::new(token.key(), Utc::now() + Duration::hours(1));
    record.insert("user", "ada").unwrap();
    let mut plaintext = token.as_str().as_bytes().to_vec();
    plaintext.extend_from_slice(&MessagePack.encode(&record).unwrap());
    let store = CookieStore::new(keys.iter().map(|k| Key::from_bytes(*k)).collect()).unwrap();

    for (index, key) in keys.iter().enumerate() {
        let nonce = [index as u8 + 40; 24];
        let sealed = XChaCha20Poly1305::new(key.into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: COOKIE.as_bytes(),
                },
            )
            .unwrap();
        let mut bytes = vec![2u8];
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        let value = URL_SAFE_NO_PAD.encode(&bytes);
        match store.open(COOKIE, &value) {
            Opened::Valid {
                token: opened,
                record: back,
                reseal,
            } => {
                assert_eq!(opened, token);
                assert_eq!(back.get::<String>("user").unwrap().as_deref(), Some("ada"));
                assert_eq!(reseal, index > 0, "key {index}");
            }
            other => panic!("key {index}: {other:?}"),
        }
        // The same bytes under another cookie's name open with no key.
        assert!(matches!(store.open("other", &value), Opened::Invalid(_)));
    }
}
