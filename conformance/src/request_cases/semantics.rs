//! What users of Laravel, Django and tower-sessions expect of a session, request by request:
//! unreadable records, `has` and `exists`, writes that change nothing, flash carried on, the
//! removal cookie, the collection verbs, per-session lifetimes, saving on every request,
//! signed-in pages kept out of caches, CSRF tokens, and tokens in headers.

use axum::http::{StatusCode, header};
use serde_json::json;
use session_core::codec::{Codec, MessagePack, decode_any};
use session_core::{Error, Record};

use super::app::{Client, REMEMBER_FOR, app, config};
use super::identity::token_of;
use crate::case::{Fixture, cases};
use crate::check::{CaseError, CaseResult, ensure, ensure_eq};

cases!("request":
    undecodable_record_gives_a_fresh_session => Revocable,
    has_is_false_for_null_and_exists_is_true => Nothing,
    writing_an_equal_value_writes_nothing => Revocable,
    reflash_and_keep_carry_now_messages => Nothing,
    removal_cookie_expires_in_the_past => Nothing,
    collection_verbs_persist_across_requests => Nothing,
    remember_me_lifetime_persists_and_sets_max_age => Nothing,
    browser_session_lifetime_sends_no_max_age => Nothing,
    save_every_request_refreshes_the_cookie => Nothing,
    signed_in_pages_are_not_cached => Nothing,
    csrf_rejects_unsafe_requests_without_the_token => Nothing,
    csrf_token_rotates_on_regenerate => Nothing,
);

/// A codec from a newer build: its records carry a format version this build cannot read.
#[derive(Debug)]
struct NewerFormat;

impl Codec for NewerFormat {
    fn name(&self) -> &'static str {
        "msgpack-from-a-newer-build"
    }
    fn encode(&self, record: &Record) -> Result<Vec<u8>, Error> {
        let mut bytes = MessagePack.encode(record)?;
        if let Some(version) = bytes.get_mut(2) {
            *version = version.wrapping_add(1);
        }
        Ok(bytes)
    }
    fn decode(&self, bytes: &[u8]) -> Result<Record, Error> {
        decode_any(bytes)
    }
}

async fn undecodable_record_gives_a_fresh_session(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/user/ada").await?;
    let token = token_of(&client)?;

    // A newer build (a rolling deploy, a rollback) rewrites the record in its format.
    let store = fx.store().await?;
    let newer = fx
        .store_with_codec(std::sync::Arc::new(NewerFormat))
        .await?;
    let record = store
        .load(&token.key())
        .await?
        .ok_or_else(|| CaseError::new("the session was not stored"))?;
    newer.save(&record).await?;

    let answer = client.get("/get/user").await?;
    ensure_eq!(
        answer.status,
        StatusCode::OK,
        "status with an unreadable record: {}",
        answer.body
    );
    ensure_eq!(
        answer.json()?,
        json!(null),
        "data seen from an unreadable record"
    );
    let replaced = answer.set_cookie().unwrap_or_default();
    ensure!(
        replaced.contains("Max-Age=0"),
        "the cookie naming the unreadable record was not removed: {replaced:?}"
    );
    ensure!(
        store.load(&token.key()).await.is_ok_and(|r| r.is_none()),
        "the unreadable record was not deleted"
    );
    // The visitor carries on with a new session.
    client.get("/set/user/grace").await?;
    ensure!(
        token_of(&client)? != token,
        "the old token was adopted again"
    );
    ensure_eq!(
        client.get("/get/user").await?.json()?,
        json!("grace"),
        "the fresh session"
    );
    Ok(())
}

async fn has_is_false_for_null_and_exists_is_true(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set-null/nothing").await?;
    client.get("/set/thing/x").await?;
    ensure_eq!(
        client.get("/presence/nothing").await?.json()?,
        json!({"has": false, "exists": true, "missing": false}),
        "a key holding null"
    );
    ensure_eq!(
        client.get("/presence/thing").await?.json()?,
        json!({"has": true, "exists": true, "missing": false}),
        "a key holding a value"
    );
    ensure_eq!(
        client.get("/presence/absent").await?.json()?,
        json!({"has": false, "exists": false, "missing": true}),
        "an absent key"
    );
    Ok(())
}

async fn writing_an_equal_value_writes_nothing(fx: Fixture) -> CaseResult {
    let (router, counting, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/colour/blue").await?;
    let before = counting.counts().snapshot();
    let again = client.get("/set/colour/blue").await?;
    let after = counting.counts().snapshot();
    ensure_eq!(
        after.writes(),
        before.writes(),
        "store writes for an equal value"
    );
    ensure!(
        again.set_cookie().is_none(),
        "Set-Cookie re-sent for an equal value: {:?}",
        again.set_cookie()
    );
    client.get("/set/colour/green").await?;
    ensure!(
        counting.counts().snapshot().writes() > after.writes(),
        "a different value was not written"
    );
    ensure_eq!(
        client.get("/get/colour").await?.json()?,
        json!("green"),
        "the new value"
    );
    Ok(())
}

async fn reflash_and_keep_carry_now_messages(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/started/yes").await?;
    client.get("/now-then-reflash/notice/hello").await?;
    ensure_eq!(
        client.get("/show/notice").await?.json()?,
        json!("hello"),
        "a now() message after reflash, in the next request"
    );
    ensure_eq!(
        client.get("/show/notice").await?.json()?,
        json!(null),
        "the reflashed message one request later"
    );
    client.get("/now-then-keep/alert/careful").await?;
    ensure_eq!(
        client.get("/show/alert").await?.json()?,
        json!("careful"),
        "a now() message after keep, in the next request"
    );
    Ok(())
}

async fn removal_cookie_expires_in_the_past(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/user/ada").await?;
    let answer = client.get("/logout").await?;
    let removal = answer
        .set_cookie()
        .ok_or_else(|| CaseError::new("logout sent no cookie"))?;
    ensure!(removal.contains("Max-Age=0"), "no Max-Age=0: {removal}");
    let expires = removal
        .split(';')
        .find_map(|a| a.trim().strip_prefix("Expires="))
        .ok_or_else(|| CaseError::new(format!("no Expires in the removal cookie: {removal}")))?;
    let when = session_core::chrono::DateTime::parse_from_rfc2822(expires)
        .map_err(|e| CaseError::new(format!("Expires {expires:?} does not parse: {e}")))?;
    ensure!(
        when < session_core::chrono::Utc::now(),
        "the removal cookie expires in the future: {expires}"
    );
    Ok(())
}

async fn collection_verbs_persist_across_requests(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/collection/write").await?;
    client.get("/collection/write").await?;
    ensure_eq!(
        client.get("/collection/read").await?.json()?,
        json!({
            "has_all_a": true,
            "has_all_a_b": false,
            "has_any_b_a": true,
            "has_any_b_c": false,
            "only_a": {"a": 1},
            "except": {"b": null},
            "list": [1, 2, 1, 2],
            "remembered": [5, 5],
        }),
        "the collection verbs over two requests"
    );
    ensure_eq!(
        client.get("/get/r").await?.json()?,
        json!(5),
        "the remembered value"
    );
    ensure_eq!(
        client.get("/collection/replace").await?.json()?,
        json!({"y": 2}),
        "data after replace"
    );
    ensure_eq!(
        client.get("/get/a").await?.json()?,
        json!(null),
        "a key replace dropped"
    );
    Ok(())
}

fn max_age(set_cookie: &str) -> Option<i64> {
    set_cookie
        .split(';')
        .find_map(|a| a.trim().strip_prefix("Max-Age="))
        .and_then(|v| v.parse().ok())
}

async fn remember_me_lifetime_persists_and_sets_max_age(fx: Fixture) -> CaseResult {
    // The settings say: idle for two hours; this session chose thirty days.
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    let answer = client.get("/lifetime/remember").await?;
    let set = answer
        .set_cookie()
        .ok_or_else(|| CaseError::new("remember me set no cookie"))?;
    let wanted = REMEMBER_FOR.as_secs() as i64;
    let age = max_age(set).ok_or_else(|| CaseError::new(format!("no Max-Age: {set}")))?;
    ensure!(
        (wanted - 5..=wanted).contains(&age),
        "Max-Age {age} for a {wanted} s lifetime"
    );

    // A later write keeps the session's own lifetime.
    let later = client.get("/set/theme/dark").await?;
    let set = later
        .set_cookie()
        .ok_or_else(|| CaseError::new("a write set no cookie"))?;
    let age = max_age(set).ok_or_else(|| CaseError::new(format!("no Max-Age: {set}")))?;
    ensure!(
        (wanted - 5..=wanted).contains(&age),
        "Max-Age {age} after a later write; the session forgot its lifetime"
    );
    Ok(())
}

async fn browser_session_lifetime_sends_no_max_age(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    let answer = client.get("/lifetime/browser").await?;
    let set = answer
        .set_cookie()
        .ok_or_else(|| CaseError::new("no cookie was set"))?;
    ensure!(
        max_age(set).is_none(),
        "a browser-session cookie with Max-Age: {set}"
    );
    ensure!(
        !set.contains("Expires="),
        "a browser-session cookie with Expires: {set}"
    );
    let later = client.get("/set/theme/dark").await?;
    let set = later.set_cookie().unwrap_or_default();
    ensure!(
        max_age(set).is_none(),
        "Max-Age came back after a later write: {set}"
    );
    ensure_eq!(
        client.get("/get/user").await?.json()?,
        json!("ada"),
        "the session's data"
    );
    Ok(())
}

async fn save_every_request_refreshes_the_cookie(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config().with_save_every_request(true)).await?;
    let mut client = Client::new(router);
    client.get("/set/user/ada").await?;
    for _ in 0..2 {
        let read = client.get("/get/user").await?;
        ensure!(
            read.set_cookie().is_some_and(|c| max_age(c).is_some()),
            "a read with save-every-request sent no fresh cookie"
        );
        ensure_eq!(read.json()?, json!("ada"), "data on a read");
    }
    let (plain, _, _) = app(&fx, config()).await?;
    let mut other = Client::new(plain);
    other.get("/set/user/grace").await?;
    ensure!(
        other.get("/get/user").await?.set_cookie().is_none(),
        "a plain read re-sent the cookie"
    );
    Ok(())
}

async fn signed_in_pages_are_not_cached(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    let anonymous = client.get("/set/theme/dark").await?;
    let policy = |a: &super::app::Answer| {
        a.headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    ensure_eq!(
        policy(&anonymous),
        "private",
        "an anonymous session's response"
    );
    let signed_in = client.get("/sign-in/ada").await?;
    ensure_eq!(policy(&signed_in), "no-store", "the sign-in response");
    let page = client.get("/get/user").await?;
    ensure_eq!(policy(&page), "no-store", "a signed-in read");
    ensure_eq!(page.json()?, json!("ada"), "the signed-in user");
    let untouched = client.get("/untouched").await?;
    ensure_eq!(
        policy(&untouched),
        "",
        "a response that never used the session"
    );
    Ok(())
}

async fn csrf_rejects_unsafe_requests_without_the_token(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    let token = client.get("/csrf/token").await?.json()?;
    let token = token
        .as_str()
        .ok_or_else(|| CaseError::new(format!("the token is {token}")))?
        .to_owned();

    let none = client.post_with("/csrf/protected", &[]).await?;
    ensure_eq!(none.status, StatusCode::FORBIDDEN, "a POST without a token");
    let forged = client
        .post_with("/csrf/protected", &[("x-csrf-token", "forged")])
        .await?;
    ensure_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "a POST with a wrong token"
    );
    let header = client
        .post_with("/csrf/protected", &[("x-csrf-token", &token)])
        .await?;
    ensure_eq!(
        header.status,
        StatusCode::OK,
        "a POST with the token in the header"
    );
    let form = client
        .post_form("/csrf/protected", &format!("name=ada&_token={token}"))
        .await?;
    ensure_eq!(
        form.status,
        StatusCode::OK,
        "a POST with the token in the form"
    );
    ensure_eq!(form.body, "accepted", "the handler's answer");
    let wrong_form = client
        .post_form("/csrf/protected", "name=ada&_token=forged")
        .await?;
    ensure_eq!(
        wrong_form.status,
        StatusCode::FORBIDDEN,
        "a form with a wrong token"
    );

    // Another visitor's token is no good either.
    let mut stranger = client.clone();
    stranger.cookie = None;
    stranger.get("/set/x/1").await?;
    let foreign = stranger
        .post_with("/csrf/protected", &[("x-csrf-token", &token)])
        .await?;
    ensure_eq!(
        foreign.status,
        StatusCode::FORBIDDEN,
        "another session's token"
    );
    Ok(())
}

async fn csrf_token_rotates_on_regenerate(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/user/ada").await?;
    let before = client.get("/csrf/token").await?.json()?;
    client.get("/regenerate").await?;
    let after = client.get("/csrf/token").await?.json()?;
    ensure!(before != after, "regenerate kept the CSRF token");
    let before = before.as_str().unwrap_or_default().to_owned();
    let stale = client
        .post_with("/csrf/protected", &[("x-csrf-token", &before)])
        .await?;
    ensure_eq!(
        stale.status,
        StatusCode::FORBIDDEN,
        "the token from before regenerate"
    );
    let fresh = client
        .post_with(
            "/csrf/protected",
            &[("x-csrf-token", after.as_str().unwrap_or_default())],
        )
        .await?;
    ensure_eq!(fresh.status, StatusCode::OK, "the token after regenerate");
    Ok(())
}
