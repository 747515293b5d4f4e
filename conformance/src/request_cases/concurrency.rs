//! Many requests of one session at once: nothing lost, nothing failed, nothing delayed that
//! need not wait; across two instances, no lost update and only retryable failures.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use serde_json::json;

use super::app::{Answer, Client, app, config, two_instances};
use super::identity::token_of;
use crate::case::{Fixture, cases};
use crate::check::{CaseError, CaseResult, ensure, ensure_eq};

cases!("request":
    logout_racing_a_concurrent_request_does_not_come_back => Revocable,
    parallel_increments_all_count => ConditionalWrites,
    concurrent_writes_to_different_keys_both_stick => ConditionalWrites,
    parallel_read_modify_write_requests_lose_nothing => Revocable,
    parallel_increments_return_distinct_values => Revocable,
    untouched_request_is_not_delayed_by_a_slow_request_of_its_session => Nothing,
    two_instances_read_modify_write_lose_nothing => ConditionalWrites,
    two_instances_with_the_session_lock_never_fail => ConditionalWrites,
);

/// How many requests race in the cases below.
const RACERS: i64 = 32;

/// Sends `path` from a copy of `client` on each of `routers` in turn, `RACERS` at once, and
/// returns every answer.
async fn race(
    client: &Client,
    routers: &[Router],
    path: &'static str,
) -> Result<Vec<Answer>, CaseError> {
    let mut requests = Vec::new();
    for i in 0..RACERS {
        let mut c = client.clone();
        if let Some(router) = routers.get(i as usize % routers.len().max(1)) {
            c.app = router.clone();
        }
        requests.push(tokio::spawn(async move { c.get(path).await }));
    }
    let mut answers = Vec::new();
    for request in requests {
        answers.push(
            request
                .await
                .map_err(|e| CaseError::new(format!("request panicked: {e}")))??,
        );
    }
    Ok(answers)
}

fn ensure_all_succeeded(answers: &[Answer], what: &str) -> CaseResult {
    for answer in answers {
        ensure!(
            answer.status.is_success(),
            "{what}: a request failed: {} {}",
            answer.status,
            answer.body
        );
    }
    Ok(())
}

async fn logout_racing_a_concurrent_request_does_not_come_back(fx: Fixture) -> CaseResult {
    // Two instances: inside one, the second request would wait for the first.
    let store = fx.store().await?;
    let ([first, second], _, gate) = two_instances(&fx, config(), false).await?;
    let mut client = Client::new(first);
    client.get("/set/user/ada").await?;
    let token = token_of(&client)?;

    // A slow request loads the session, then waits while another instance logs out.
    let mut slow = client.clone();
    let slow_request = tokio::spawn(async move { slow.get("/slow-write").await });
    gate.loaded.notified().await;
    let mut elsewhere = client.clone();
    elsewhere.app = second;
    elsewhere.get("/logout").await?;
    gate.go.notify_one();
    let late = slow_request
        .await
        .map_err(|e| CaseError::new(format!("slow request panicked: {e}")))??;
    ensure!(
        late.status.is_success(),
        "the late request failed: {} {}",
        late.status,
        late.body
    );

    ensure!(
        store.load(&token.key()).await?.is_none(),
        "the late write brought the session back"
    );
    client.cookie = Some(token.as_str().to_owned());
    ensure_eq!(
        client.get("/get/user").await?.json()?,
        json!(null),
        "data after the race"
    );
    ensure_eq!(
        client.get("/get/late").await?.json()?,
        json!(null),
        "the late write after the race"
    );
    Ok(())
}

async fn parallel_increments_all_count(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/started/yes").await?;
    let answers = race(&client, &[], "/incr").await?;
    ensure_all_succeeded(&answers, "parallel increments")?;
    ensure_eq!(
        client.get("/get/n").await?.json()?,
        json!(RACERS),
        "counter after parallel increments"
    );
    Ok(())
}

async fn concurrent_writes_to_different_keys_both_stick(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/started/yes").await?;
    let mut requests = Vec::new();
    for key in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        let mut c = client.clone();
        requests.push(tokio::spawn(async move {
            c.get(&format!("/set/{key}/{key}")).await
        }));
    }
    for request in requests {
        request
            .await
            .map_err(|e| CaseError::new(format!("request panicked: {e}")))??;
    }
    for key in ["a", "b", "c", "d", "e", "f", "g", "h", "started"] {
        let value = client.get(&format!("/get/{key}")).await?.json()?;
        ensure!(!value.is_null(), "the write to {key:?} was lost");
    }
    Ok(())
}

async fn parallel_read_modify_write_requests_lose_nothing(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/started/yes").await?;
    let answers = race(&client, &[], "/rmw").await?;
    ensure_all_succeeded(&answers, "read-modify-write")?;
    ensure_eq!(
        client.get("/get/n").await?.json()?,
        json!(RACERS),
        "counter after parallel read-modify-write requests (get, then insert get + 1)"
    );
    Ok(())
}

async fn parallel_increments_return_distinct_values(fx: Fixture) -> CaseResult {
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/started/yes").await?;
    let answers = race(&client, &[], "/incr").await?;
    ensure_all_succeeded(&answers, "parallel increments")?;
    let mut returned = BTreeSet::new();
    for answer in &answers {
        let value = answer.json()?;
        let n = value
            .as_i64()
            .ok_or_else(|| CaseError::new(format!("increment returned {value}")))?;
        ensure!(returned.insert(n), "two increments both returned {n}");
    }
    ensure_eq!(
        returned,
        (1..=RACERS).collect::<BTreeSet<_>>(),
        "the values the increments returned"
    );
    ensure_eq!(
        client.get("/get/n").await?.json()?,
        json!(RACERS),
        "counter after parallel increments"
    );
    Ok(())
}

async fn untouched_request_is_not_delayed_by_a_slow_request_of_its_session(
    fx: Fixture,
) -> CaseResult {
    let (router, _, gate) = app(&fx, config()).await?;
    let mut client = Client::new(router.clone());
    client.get("/set/x/1").await?;

    // A slow request holds the session until the case lets it go.
    let mut slow = client.clone();
    let slow_request = tokio::spawn(async move { slow.get("/slow-read").await });
    gate.loaded.notified().await;

    // Meanwhile a request of the same session that never touches it, and a request of another
    // session, both finish: neither waits for the slow one.
    let bound = Duration::from_secs(20);
    let mut same = client.clone();
    let untouched = tokio::time::timeout(bound, same.get("/untouched"))
        .await
        .map_err(|_| {
            CaseError::new(
                "a request that never touches the session waited for a slow request of it",
            )
        })??;
    ensure_eq!(untouched.status, StatusCode::OK, "untouched request status");
    let mut stranger = Client::new(router);
    let other = tokio::time::timeout(bound, stranger.get("/set/y/2"))
        .await
        .map_err(|_| CaseError::new("a request of another session waited for a slow request"))??;
    ensure_eq!(
        other.status,
        StatusCode::OK,
        "other session's request status"
    );

    // A request that does touch the session runs after the slow one (server-side sessions
    // are queued; a client-side session has nothing to queue on).
    let mut toucher = client.clone();
    let touching = tokio::spawn(async move { toucher.get("/get/x").await });
    if fx.caps.revocable {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ensure!(
            !touching.is_finished(),
            "a request touching the session ran while an earlier one still held it"
        );
    }
    gate.go.notify_one();
    let slow_answer = slow_request
        .await
        .map_err(|e| CaseError::new(format!("slow request panicked: {e}")))??;
    ensure_eq!(slow_answer.status, StatusCode::OK, "slow request status");
    let touched = touching
        .await
        .map_err(|e| CaseError::new(format!("request panicked: {e}")))??;
    ensure_eq!(
        touched.json()?,
        json!("1"),
        "the value after the slow request"
    );
    Ok(())
}

/// Sends `path` with retries on the documented retryable answer (`503` with `Retry-After`),
/// and says how many attempts were refused before it succeeded.
async fn with_retries(mut client: Client, path: &str) -> Result<(Answer, u32), CaseError> {
    let mut refused = 0;
    loop {
        let answer = client.get(path).await?;
        if answer.status != StatusCode::SERVICE_UNAVAILABLE {
            return Ok((answer, refused));
        }
        ensure!(
            answer.headers.contains_key(header::RETRY_AFTER),
            "a 503 without Retry-After: {}",
            answer.body
        );
        refused += 1;
        ensure!(refused < 200, "{path} was refused 200 times in a row");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn two_instances_read_modify_write_lose_nothing(fx: Fixture) -> CaseResult {
    let (routers, _, _) = two_instances(&fx, config(), false).await?;
    let mut client = Client::new(routers[0].clone());
    client.get("/set/started/yes").await?;
    let mut requests = Vec::new();
    for i in 0..RACERS {
        let mut c = client.clone();
        c.app = routers[i as usize % 2].clone();
        requests.push(tokio::spawn(with_retries(c, "/rmw")));
    }
    let mut acknowledged = 0;
    for request in requests {
        let (answer, _) = request
            .await
            .map_err(|e| CaseError::new(format!("request panicked: {e}")))??;
        ensure_eq!(
            answer.status,
            StatusCode::OK,
            "a read-modify-write answer other than success or a retryable 503: {}",
            answer.body
        );
        acknowledged += 1;
    }
    ensure_eq!(
        client.get("/get/n").await?.json()?,
        json!(acknowledged),
        "counter against acknowledged read-modify-write requests over two instances"
    );
    Ok(())
}

async fn two_instances_with_the_session_lock_never_fail(fx: Fixture) -> CaseResult {
    let (routers, _, _) = two_instances(&fx, config(), true).await?;
    let mut client = Client::new(routers[0].clone());
    client.get("/set/started/yes").await?;
    let answers = race(&client, &routers, "/rmw").await?;
    ensure_all_succeeded(&answers, "read-modify-write over two locked instances")?;
    ensure_eq!(
        client.get("/get/n").await?.json()?,
        json!(RACERS),
        "counter after read-modify-write requests over two locked instances"
    );
    Ok(())
}
