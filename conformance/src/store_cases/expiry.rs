//! Idle expiry: expired records are never returned, never revived, and swept.

use std::time::Duration;

use session_core::ErrorKind;

use super::lifecycle::must_load;
use crate::case::{Fixture, cases, long_lived, ms, now, short_lived, to_chrono, wait_past};
use crate::check::{CaseResult, ensure, ensure_eq, expect_kind};

cases!("store":
    load_never_returns_expired_record => Nothing,
    create_over_expired_record_succeeds => Nothing,
    save_after_expiry_fails_and_does_not_resurrect => ConditionalWrites,
    save_moves_expiry => Nothing,
    touch_moves_expiry_only => Nothing,
    touch_after_expiry_fails_and_does_not_resurrect => ConditionalWrites,
    sweep_removes_expired_and_only_expired => Sweep,
    sweep_without_capability_is_unsupported => NoSweep,
);

fn an_hour_from_now() -> session_core::chrono::DateTime<session_core::chrono::Utc> {
    now() + to_chrono(Duration::from_secs(3600))
}

async fn load_never_returns_expired_record(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = short_lived();
    store.create(&record).await?;
    ensure!(
        store.load(&record.key).await?.is_some(),
        "a live record did not load"
    );
    wait_past(record.expires_at).await;
    let after = store.load(&record.key).await?;
    ensure!(
        after.is_none(),
        "load returned a record past its expiry: {after:?}"
    );
    Ok(())
}

async fn create_over_expired_record_succeeds(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let mut old = short_lived();
    old.insert("generation", "old")?;
    store.create(&old).await?;
    wait_past(old.expires_at).await;

    let mut new = long_lived();
    new.key = old.key.clone();
    new.insert("generation", "new")?;
    store.create(&new).await?;
    let loaded = must_load(&*store, &new.key).await?;
    ensure_eq!(
        loaded.get::<String>("generation")?.as_deref(),
        Some("new"),
        "record created over an expired one"
    );
    ensure_eq!(
        ms(loaded.expires_at),
        ms(new.expires_at),
        "expiry of the new record"
    );
    Ok(())
}

async fn save_after_expiry_fails_and_does_not_resurrect(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = short_lived();
    store.create(&record).await?;
    let mut loaded = must_load(&*store, &record.key).await?;
    wait_past(record.expires_at).await;

    loaded.expires_at = an_hour_from_now();
    expect_kind(
        store.save(&loaded).await,
        ErrorKind::NotFound,
        "save after expiry",
    )?;
    let after = store.load(&record.key).await?;
    ensure!(
        after.is_none(),
        "a save after expiry brought the record back: {after:?}"
    );
    Ok(())
}

async fn save_moves_expiry(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = short_lived();
    store.create(&record).await?;
    let mut loaded = must_load(&*store, &record.key).await?;
    loaded.expires_at = an_hour_from_now();
    store.save(&loaded).await?;

    wait_past(record.expires_at).await;
    let after = must_load(&*store, &record.key).await?;
    ensure_eq!(
        ms(after.expires_at),
        ms(loaded.expires_at),
        "expiry after save"
    );
    Ok(())
}

async fn touch_moves_expiry_only(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let mut record = short_lived();
    record.insert("kept", "as is")?;
    store.create(&record).await?;
    let before = must_load(&*store, &record.key).await?;

    let later = an_hour_from_now();
    store.touch(&record.key, later).await?;
    wait_past(record.expires_at).await;

    let after = must_load(&*store, &record.key).await?;
    ensure_eq!(ms(after.expires_at), ms(later), "expiry after touch");
    ensure_eq!(after.data, before.data, "touch changed the data");
    ensure_eq!(after.version, before.version, "touch changed the version");
    // A touch is not a write a concurrent request must lose to.
    store.save(&before).await?;
    Ok(())
}

async fn touch_after_expiry_fails_and_does_not_resurrect(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = short_lived();
    store.create(&record).await?;
    wait_past(record.expires_at).await;

    expect_kind(
        store.touch(&record.key, an_hour_from_now()).await,
        ErrorKind::NotFound,
        "touch after expiry",
    )?;
    let after = store.load(&record.key).await?;
    ensure!(
        after.is_none(),
        "a touch after expiry brought the record back: {after:?}"
    );
    Ok(())
}

async fn sweep_removes_expired_and_only_expired(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let expiring = [short_lived(), short_lived(), short_lived()];
    let live = [long_lived(), long_lived()];
    for record in expiring.iter().chain(&live) {
        store.create(record).await?;
    }
    let last = expiring
        .iter()
        .map(|r| r.expires_at)
        .max()
        .unwrap_or_else(now);
    wait_past(last).await;

    let swept = store.sweep().await?;
    ensure_eq!(swept, expiring.len() as u64, "sweep count");
    for record in &live {
        must_load(&*store, &record.key).await?;
    }
    for record in &expiring {
        ensure!(
            store.load(&record.key).await?.is_none(),
            "an expired record survived the sweep"
        );
    }
    ensure_eq!(store.sweep().await?, 0, "a second sweep's count");
    Ok(())
}

async fn sweep_without_capability_is_unsupported(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    store.create(&long_lived()).await?;
    expect_kind(
        store.sweep().await,
        ErrorKind::Unsupported,
        "sweep on a store without one",
    )?;
    Ok(())
}
