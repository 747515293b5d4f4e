//! Tokens: never adopted when unknown, moved by regenerate, ended by logout.

use serde_json::json;
use session_core::SessionToken;

use super::app::{Client, app, config};
use crate::case::{Fixture, cases};
use crate::check::{CaseError, CaseResult, ensure, ensure_eq};

cases!("request":
    unknown_or_tampered_token_gets_a_fresh_session_and_no_write => Revocable,
    regenerate_keeps_data_and_retires_the_old_token => Revocable,
    invalidate_ends_the_session => Revocable,
);

pub(crate) fn token_of(client: &Client) -> Result<SessionToken, CaseError> {
    client
        .token()
        .ok_or_else(|| CaseError::new("the client holds no session cookie"))
}

async fn unknown_or_tampered_token_gets_a_fresh_session_and_no_write(fx: Fixture) -> CaseResult {
    let (router, counting, _) = app(&fx, config()).await?;
    let mut owner = Client::new(router.clone());
    owner.get("/set/secret/mine").await?;
    let real = token_of(&owner)?;

    // A well-formed token the server never issued, and the real one with a character changed.
    // Change the first character to another one (never to itself).
    let mut tampered = real.as_str().to_owned();
    let other = if tampered.starts_with('A') { "B" } else { "A" };
    tampered.replace_range(0..1, other);
    if tampered == real.as_str() {
        return Err(CaseError::new("the tampered token equals the real one"));
    }
    for presented in [SessionToken::generate().as_str().to_owned(), tampered] {
        let mut visitor = Client::new(router.clone());
        visitor.cookie = Some(presented.clone());
        let before = counting.counts().snapshot();
        let answer = visitor.get("/get/secret").await?;
        let after = counting.counts().snapshot();
        ensure_eq!(
            answer.json()?,
            json!(null),
            "data seen through an unknown token"
        );
        ensure_eq!(
            after.writes(),
            before.writes(),
            "store writes for an unknown token"
        );

        visitor.cookie = Some(presented.clone());
        visitor.get("/set/mine/too").await?;
        let issued = token_of(&visitor)?;
        ensure!(
            issued.as_str() != presented,
            "the server adopted a token it never issued"
        );
    }

    // Malformed tokens never reach the store.
    for malformed in ["../../etc/passwd", "short", "%00", &"A".repeat(4096)] {
        let mut visitor = Client::new(router.clone());
        visitor.cookie = Some(malformed.to_owned());
        let before = counting.counts().snapshot();
        let answer = visitor.get("/get/secret").await?;
        ensure_eq!(
            answer.json()?,
            json!(null),
            "data seen through a malformed token"
        );
        ensure_eq!(
            counting.counts().snapshot(),
            before,
            "store calls for a malformed token"
        );
    }
    ensure_eq!(
        owner.get("/get/secret").await?.json()?,
        json!("mine"),
        "the real session after the attempts"
    );
    Ok(())
}

async fn regenerate_keeps_data_and_retires_the_old_token(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/user/ada").await?;
    let old = token_of(&client)?;

    client.get("/regenerate").await?;
    let new = token_of(&client)?;
    ensure!(new != old, "regenerate kept the token");
    ensure_eq!(
        client.get("/get/user").await?.json()?,
        json!("ada"),
        "data after regenerate"
    );
    ensure!(
        store.load(&old.key()).await?.is_none(),
        "the old token's record still loads"
    );

    let mut attacker = client.clone();
    attacker.cookie = Some(old.as_str().to_owned());
    ensure_eq!(
        attacker.get("/get/user").await?.json()?,
        json!(null),
        "data through the old token"
    );
    Ok(())
}

async fn invalidate_ends_the_session(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let (router, _, _) = app(&fx, config()).await?;
    let mut client = Client::new(router);
    client.get("/set/user/ada").await?;
    let token = token_of(&client)?;

    let answer = client.get("/logout").await?;
    let removal = answer.set_cookie().unwrap_or_default();
    ensure!(
        removal.contains("Max-Age=0"),
        "logout did not remove the cookie: {removal:?}"
    );
    ensure!(
        store.load(&token.key()).await?.is_none(),
        "the record survived logout"
    );

    client.cookie = Some(token.as_str().to_owned());
    ensure_eq!(
        client.get("/get/user").await?.json()?,
        json!(null),
        "data after logout"
    );
    Ok(())
}
