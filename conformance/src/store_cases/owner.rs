//! The owner index: list and revoke all sessions of one user.

use std::collections::BTreeSet;

use session_core::{ErrorKind, MAX_OWNER_BYTES, Record, SessionKey, SessionStore};

use super::lifecycle::must_load;
use crate::case::{
    Fixture, SHORT_TTL, cases, long_lived, now, record_expiring_in, short_lived, to_chrono,
    wait_past,
};
use crate::check::{CaseResult, ensure, ensure_eq, expect_kind};

cases!("store":
    owner_index_lists_live_sessions_of_owner => OwnerIndex,
    owner_index_forgets_deleted_and_expired => OwnerIndex,
    owner_index_follows_owner_changes => OwnerIndex,
    owner_index_keeps_sessions_whose_expiry_moved_on => OwnerIndex,
    delete_by_owner_revokes_only_that_owner => OwnerIndex,
    owner_index_without_capability_is_unsupported => NoOwnerIndex,
    owner_at_the_limit_is_kept_and_one_past_it_refused => Nothing,
);

/// An owner name no other case uses, even against a shared backend.
fn owner(tag: &str) -> String {
    format!("{tag}-{}", &SessionKey::random().as_str()[..12])
}

fn owned(mut record: Record, owner: &str) -> Record {
    record.owner = Some(owner.to_owned());
    record
}

async fn listed(
    store: &dyn SessionStore,
    owner: &str,
) -> Result<BTreeSet<SessionKey>, crate::check::CaseError> {
    Ok(store.list_by_owner(owner).await?.into_iter().collect())
}

fn keys<'a>(records: impl IntoIterator<Item = &'a Record>) -> BTreeSet<SessionKey> {
    records.into_iter().map(|r| r.key.clone()).collect()
}

async fn owner_index_lists_live_sessions_of_owner(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let (alice, bob) = (owner("alice"), owner("bob"));
    let a1 = owned(long_lived(), &alice);
    let a2 = owned(long_lived(), &alice);
    let b1 = owned(long_lived(), &bob);
    let anonymous = long_lived();
    for r in [&a1, &a2, &b1, &anonymous] {
        store.create(r).await?;
    }
    ensure_eq!(
        listed(&*store, &alice).await?,
        keys([&a1, &a2]),
        "alice's sessions"
    );
    ensure_eq!(listed(&*store, &bob).await?, keys([&b1]), "bob's sessions");
    ensure!(
        listed(&*store, &owner("nobody")).await?.is_empty(),
        "an unknown owner has sessions"
    );
    Ok(())
}

async fn owner_index_forgets_deleted_and_expired(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let alice = owner("alice");
    let deleted = owned(long_lived(), &alice);
    let expiring = owned(short_lived(), &alice);
    let kept = owned(long_lived(), &alice);
    for r in [&deleted, &expiring, &kept] {
        store.create(r).await?;
    }
    store.delete(&deleted.key).await?;
    wait_past(expiring.expires_at).await;
    ensure_eq!(
        listed(&*store, &alice).await?,
        keys([&kept]),
        "sessions listed after a delete and an expiry"
    );
    Ok(())
}

async fn owner_index_follows_owner_changes(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let (alice, bob) = (owner("alice"), owner("bob"));
    let record = long_lived();
    store.create(&record).await?;

    let mut r = must_load(&*store, &record.key).await?;
    r.owner = Some(alice.clone());
    store.save(&r).await?;
    ensure_eq!(
        listed(&*store, &alice).await?,
        keys([&record]),
        "after logging in as alice"
    );

    let mut r = must_load(&*store, &record.key).await?;
    r.owner = Some(bob.clone());
    store.save(&r).await?;
    ensure!(
        listed(&*store, &alice).await?.is_empty(),
        "alice still lists a session now owned by bob"
    );
    ensure_eq!(
        listed(&*store, &bob).await?,
        keys([&record]),
        "after switching to bob"
    );

    let mut r = must_load(&*store, &record.key).await?;
    r.owner = None;
    store.save(&r).await?;
    ensure!(
        listed(&*store, &bob).await?.is_empty(),
        "bob still lists a session after logging out"
    );
    Ok(())
}

/// A store may keep its index lazily (extend an owner's entry only now and then, as the
/// session's expiry moves); the index must still list a session for as long as it lives,
/// however far saves and touches moved its expiry past the one it was created with, and then
/// forget it once it expires.
async fn owner_index_keeps_sessions_whose_expiry_moved_on(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let alice = owner("alice");
    let created = owned(short_lived(), &alice);
    store.create(&created).await?;
    let first = created.expires_at;

    // A save that moves the expiry a little (as sliding expiry does on every request), then one
    // that moves it far, then a touch that moves it further still.
    let mut r = must_load(&*store, &created.key).await?;
    r.expires_at = first + to_chrono(SHORT_TTL / 5);
    store.save(&r).await?;
    let mut r = must_load(&*store, &created.key).await?;
    r.expires_at = now() + to_chrono(SHORT_TTL * 5 / 2);
    store.save(&r).await?;
    let last = now() + to_chrono(SHORT_TTL * 3);
    store.touch(&created.key, last).await?;

    // Past twice the first lifetime: whatever the store derived from it has lapsed.
    wait_past(first + to_chrono(SHORT_TTL)).await;
    ensure_eq!(
        listed(&*store, &alice).await?,
        keys([&created]),
        "a live session whose expiry saves and a touch moved on"
    );
    // Another session of the same owner, created later, with the shortest life.
    let other = owned(record_expiring_in(SHORT_TTL / 4), &alice);
    store.create(&other).await?;
    wait_past(other.expires_at).await;
    ensure_eq!(
        listed(&*store, &alice).await?,
        keys([&created]),
        "after the other session expired"
    );

    wait_past(last).await;
    ensure!(
        listed(&*store, &alice).await?.is_empty(),
        "an expired session is still listed"
    );
    Ok(())
}

async fn delete_by_owner_revokes_only_that_owner(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let (alice, bob) = (owner("alice"), owner("bob"));
    let a1 = owned(long_lived(), &alice);
    let a2 = owned(long_lived(), &alice);
    let b1 = owned(long_lived(), &bob);
    for r in [&a1, &a2, &b1] {
        store.create(r).await?;
    }
    let mut in_flight = must_load(&*store, &a1.key).await?;

    ensure_eq!(store.delete_by_owner(&alice).await?, 2, "sessions revoked");
    ensure!(
        store.load(&a1.key).await?.is_none(),
        "a revoked session still loads"
    );
    ensure!(
        store.load(&a2.key).await?.is_none(),
        "a revoked session still loads"
    );
    must_load(&*store, &b1.key).await?;
    ensure!(
        listed(&*store, &alice).await?.is_empty(),
        "revoked sessions still listed"
    );

    in_flight.insert("late", "write")?;
    expect_kind(
        store.save(&in_flight).await,
        ErrorKind::NotFound,
        "save of a revoked session",
    )?;
    ensure!(
        store.load(&a1.key).await?.is_none(),
        "a save brought a revoked session back"
    );
    Ok(())
}

async fn owner_index_without_capability_is_unsupported(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    expect_kind(
        store.list_by_owner("alice").await,
        ErrorKind::Unsupported,
        "list by owner",
    )?;
    expect_kind(
        store.delete_by_owner("alice").await,
        ErrorKind::Unsupported,
        "delete by owner",
    )?;
    Ok(())
}

async fn owner_at_the_limit_is_kept_and_one_past_it_refused(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    // Exactly the limit in bytes, with multi-byte characters, unique to this run.
    let mut at_limit = owner("limit");
    while at_limit.len() + "é".len() <= MAX_OWNER_BYTES {
        at_limit.push('é');
    }
    while at_limit.len() < MAX_OWNER_BYTES {
        at_limit.push('o');
    }
    ensure_eq!(at_limit.len(), MAX_OWNER_BYTES, "the test owner's length");

    let record = owned(long_lived(), &at_limit);
    store.create(&record).await?;
    let loaded = must_load(&*store, &record.key).await?;
    ensure_eq!(
        loaded.owner.as_deref(),
        Some(at_limit.as_str()),
        "an owner at the limit"
    );
    if fx.caps.owner_index {
        ensure_eq!(
            listed(&*store, &at_limit).await?,
            BTreeSet::from([record.key.clone()]),
            "the owner index for an owner at the limit"
        );
    }

    let past = format!("{at_limit}x");
    let refused = owned(long_lived(), &past);
    expect_kind(
        store.create(&refused).await,
        ErrorKind::Invalid,
        "create with an owner one byte past the limit",
    )?;
    ensure!(
        store.load(&refused.key).await?.is_none(),
        "a record with an owner past the limit was stored"
    );
    let mut changed = loaded.clone();
    changed.owner = Some(past);
    expect_kind(
        store.save(&changed).await,
        ErrorKind::Invalid,
        "save with an owner one byte past the limit",
    )?;
    let kept = must_load(&*store, &record.key).await?;
    ensure_eq!(
        kept.owner.as_deref(),
        Some(at_limit.as_str()),
        "the owner after a refused save"
    );
    ensure_eq!(
        kept.version,
        loaded.version,
        "the version after a refused save"
    );
    Ok(())
}
