//! Cookies in and out, store calls per request, flash across redirects, timeouts.

use std::time::Duration;

use serde_json::json;

use super::app::{Client, app, config};
use crate::case::{Fixture, cases};
use crate::check::{CaseResult, ensure, ensure_eq};

cases!("request":
    cookie_is_set_with_safe_attributes_and_read_back => Nothing,
    untouched_request_calls_no_store_and_sets_no_cookie => Revocable,
    read_only_request_writes_nothing => Revocable,
    read_after_touch_interval_refreshes_expiry => Revocable,
    flash_survives_exactly_one_redirect => Nothing,
    now_is_not_seen_by_the_next_request => Nothing,
    reflash_and_keep_carry_messages_one_more_request => Nothing,
    form_input_and_errors_come_back_once => Nothing,
    templates_read_flash_input_errors_and_the_csrf_token_once => Nothing,
    idle_timeout_is_enforced_server_side => Nothing,
    absolute_timeout_is_enforced_server_side => Nothing,
);

async fn cookie_is_set_with_safe_attributes_and_read_back(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    let first = client.get("/set/colour/blue").await?;
    let set = first.set_cookie().unwrap_or_default().to_owned();
    ensure!(!set.is_empty(), "a session that holds data sent no cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        ensure!(
            set.contains(attribute),
            "Set-Cookie {set:?} lacks {attribute}"
        );
    }
    let max_age = set
        .split(';')
        .find_map(|a| a.trim().strip_prefix("Max-Age="))
        .and_then(|v| v.parse::<u64>().ok());
    // The default idle timeout is two hours; a slow backend may shave a second off.
    ensure!(
        max_age.is_some_and(|s| (7190..=7200).contains(&s)),
        "Max-Age should follow the two-hour idle expiry: {set:?}"
    );
    let second = client.get("/get/colour").await?;
    ensure_eq!(
        second.json()?,
        json!("blue"),
        "value read back with the cookie"
    );
    ensure!(
        second.set_cookie().is_none(),
        "a read-only request re-sent the cookie"
    );
    let vary = second
        .headers
        .get("vary")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ensure!(
        vary.eq_ignore_ascii_case("cookie"),
        "a response that read the session lacks Vary: Cookie ({vary:?})"
    );
    Ok(())
}

async fn untouched_request_calls_no_store_and_sets_no_cookie(fx: Fixture) -> CaseResult {
    let (router, counting, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/a/b").await?;
    let before = counting.counts().snapshot();
    let answer = client.get("/untouched").await?;
    let after = counting.counts().snapshot();
    ensure_eq!(
        after,
        before,
        "store calls made by a request that never touched the session"
    );
    ensure!(
        answer.set_cookie().is_none(),
        "an untouched session sent Set-Cookie"
    );
    ensure!(
        answer.headers.get("vary").is_none(),
        "an untouched session added Vary"
    );

    let mut stranger = client.clone();
    stranger.cookie = None;
    let answer = stranger.get("/untouched").await?;
    ensure!(
        answer.set_cookie().is_none(),
        "a visitor without a session got a cookie"
    );
    ensure_eq!(
        counting.counts().snapshot(),
        before,
        "store calls for a visitor without a session"
    );
    Ok(())
}

async fn read_only_request_writes_nothing(fx: Fixture) -> CaseResult {
    let (router, counting, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/a/b").await?;
    let before = counting.counts().snapshot();
    client.get("/get/a").await?;
    client.get("/get/a").await?;
    let after = counting.counts().snapshot();
    ensure_eq!(after.load - before.load, 2, "loads for two reads");
    ensure_eq!(
        after.writes(),
        before.writes(),
        "store writes made by read-only requests"
    );
    Ok(())
}

async fn read_after_touch_interval_refreshes_expiry(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let (router, counting, _) = app(&fx, config().with_touch_interval(Duration::ZERO)).await?;
    let mut client = Client::new(router);
    client.get("/set/a/b").await?;
    let token = client
        .token()
        .ok_or_else(|| crate::check::CaseError::new("no cookie"))?;
    let before_expiry = store.load(&token.key()).await?.map(|r| r.expires_at);
    tokio::time::sleep(Duration::from_millis(20)).await;

    let before = counting.counts().snapshot();
    let answer = client.get("/get/a").await?;
    let after = counting.counts().snapshot();
    ensure_eq!(
        after.touch - before.touch,
        1,
        "touches for a read once the interval passed"
    );
    ensure_eq!(after.save - before.save, 0, "a read rewrote the record");
    ensure!(
        answer.set_cookie().is_some(),
        "a touch did not refresh the cookie's Max-Age"
    );
    let after_expiry = store.load(&token.key()).await?.map(|r| r.expires_at);
    ensure!(
        after_expiry > before_expiry,
        "the touch did not move the stored expiry"
    );
    Ok(())
}

async fn flash_survives_exactly_one_redirect(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    let redirect = client.get("/flash/status/saved").await?;
    ensure!(
        redirect.status.is_redirection(),
        "flash route status {}",
        redirect.status
    );
    ensure_eq!(
        client.get("/show/status").await?.json()?,
        json!("saved"),
        "flash after the redirect"
    );
    ensure_eq!(
        client.get("/show/status").await?.json()?,
        json!(null),
        "flash one request later"
    );
    Ok(())
}

async fn now_is_not_seen_by_the_next_request(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/a/b").await?;
    ensure_eq!(
        client.get("/now/alert/heads-up").await?.json()?,
        json!("heads-up"),
        "now in its own request"
    );
    ensure_eq!(
        client.get("/show/alert").await?.json()?,
        json!(null),
        "now in the next request"
    );
    Ok(())
}

async fn reflash_and_keep_carry_messages_one_more_request(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);

    client.get("/flash-many?a=1&b=2").await?;
    client.get("/reflash").await?;
    ensure_eq!(
        client.get("/show-all").await?.json()?,
        json!({"a": "1", "b": "2"}),
        "after reflash"
    );
    ensure_eq!(
        client.get("/show-all").await?.json()?,
        json!({}),
        "one request after the reflashed one"
    );

    client.get("/flash-many?a=1&b=2").await?;
    client.get("/keep/a").await?;
    ensure_eq!(
        client.get("/show-all").await?.json()?,
        json!({"a": "1"}),
        "after keep(a)"
    );
    ensure_eq!(
        client.get("/show-all").await?.json()?,
        json!({}),
        "one request after the kept one"
    );
    Ok(())
}

async fn form_input_and_errors_come_back_once(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    let answer = client
        .post_form(
            "/form",
            "email=ada%40example.com&name=Ada&password=hunter2&password_confirmation=hunter2",
        )
        .await?;
    ensure!(
        answer.status.is_redirection(),
        "form status {}",
        answer.status
    );
    // One request reads everything: flash lasts for exactly the next request.
    let old = client.get("/show/_old_input").await?.json()?;
    ensure_eq!(
        old,
        json!({"email": "ada@example.com", "name": "Ada"}),
        "flashed input (never passwords)"
    );
    ensure_eq!(
        client.get("/errors/email").await?.json()?,
        json!([]),
        "errors two requests later"
    );

    client
        .post_form("/form", "email=ada%40example.com&password=hunter2")
        .await?;
    ensure_eq!(
        client.get("/errors/email").await?.json()?,
        json!(["is already taken"]),
        "flashed errors"
    );
    client.post_form("/form", "email=x%40y.z").await?;
    ensure_eq!(
        client.get("/old/email").await?.json()?,
        json!("x@y.z"),
        "old(email)"
    );
    client
        .post_form("/form", "email=x%40y.z&password=p")
        .await?;
    ensure_eq!(
        client.get("/old/password").await?.json()?,
        json!(null),
        "old(password)"
    );
    Ok(())
}

async fn idle_timeout_is_enforced_server_side(fx: Fixture) -> CaseResult {
    let config = config().with_idle_timeout(Duration::from_secs(1));
    let (router, _, _) = app(&fx, config).await?;
    let mut client = Client::new(router);
    client.get("/set/a/b").await?;
    tokio::time::sleep(Duration::from_millis(1400)).await;
    // The browser would have dropped the cookie; a client that kept it must not get the data.
    let answer = client.get("/get/a").await?;
    ensure_eq!(answer.json()?, json!(null), "data after the idle timeout");
    Ok(())
}

async fn absolute_timeout_is_enforced_server_side(fx: Fixture) -> CaseResult {
    let config = config()
        .with_idle_timeout(Duration::from_secs(3600))
        .with_absolute_timeout(Some(Duration::from_secs(1)))
        .with_touch_interval(Duration::ZERO);
    let (router, _, _) = app(&fx, config).await?;
    let mut client = Client::new(router);
    client.get("/set/a/b").await?;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.get("/get/a").await?;
    }
    let answer = client.get("/get/a").await?;
    ensure_eq!(
        answer.json()?,
        json!(null),
        "data past the absolute timeout of an active session"
    );
    Ok(())
}

/// The same flow seen from a template: what the store kept comes back through the template
/// functions on the next request only, escaped, and the CSRF field carries the session's token.
async fn templates_read_flash_input_errors_and_the_csrf_token_once(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/colour/blue").await?;
    client.get("/flash/status/saved").await?;
    let page = client.get("/rendered").await?;
    ensure_eq!(page.status.as_u16(), 200, "render status: {}", page.body);
    ensure!(
        page.body.contains("<p id=status>saved</p>") && page.body.contains("<p id=colour>blue</p>"),
        "flash and session value: {}",
        page.body
    );
    let token = client.get("/csrf/token").await?.json()?;
    let field = format!(
        r#"<input type="hidden" name="_token" value="{}">"#,
        token.as_str().unwrap_or_default()
    );
    ensure!(
        page.body.contains(&field),
        "CSRF field {field} in {}",
        page.body
    );

    client
        .post_form("/form", "email=%3Cb%3Eada%40example.com&password=hunter2")
        .await?;
    let page = client.get("/rendered").await?;
    ensure!(
        page.body.contains(r#"value="&lt;b&gt;ada@example.com""#),
        "old input, escaped: {}",
        page.body
    );
    ensure!(
        page.body.contains("<p id=errors>is already taken</p>")
            && page.body.contains("<p id=invalid>True</p>"),
        "errors: {}",
        page.body
    );
    ensure!(
        !page.body.contains("hunter2"),
        "the password came back: {}",
        page.body
    );
    let page = client.get("/rendered").await?;
    ensure!(
        page.body.contains(r#"value="-""#)
            && page.body.contains("<p id=errors></p>")
            && page.body.contains("<p id=status>-</p>"),
        "flash, input and errors one request later: {}",
        page.body
    );
    Ok(())
}
