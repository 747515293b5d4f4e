//! Load, create, save, touch and delete, and what concurrent writers see.

use std::sync::Arc;

use session_core::{ErrorKind, Operation, Record, SessionKey, SessionStore, Value};

use crate::case::{Fixture, cases, long_lived, ms, now, to_chrono};
use crate::check::{CaseError, CaseResult, ensure, ensure_eq, expect_kind};

cases!("store":
    load_absent_returns_none => Nothing,
    create_then_load_returns_every_field => Nothing,
    create_on_taken_key_fails_and_keeps_record => ConditionalWrites,
    save_persists_changes_and_bumps_version => Nothing,
    save_with_stale_version_conflicts => ConditionalWrites,
    save_after_delete_fails_and_does_not_resurrect => ConditionalWrites,
    touch_after_delete_fails_and_does_not_resurrect => ConditionalWrites,
    delete_removes_record => Nothing,
    delete_missing_key_succeeds => Nothing,
    records_are_independent => Nothing,
    concurrent_versioned_increments_lose_nothing => ConditionalWrites,
);

/// Loads `key`, failing the case when it is absent.
pub(crate) async fn must_load(
    store: &dyn SessionStore,
    key: &SessionKey,
) -> Result<Record, CaseError> {
    store
        .load(key)
        .await?
        .ok_or_else(|| CaseError::new("load returned None for a live record"))
}

async fn load_absent_returns_none(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let loaded = store.load(&SessionKey::random()).await?;
    ensure!(
        loaded.is_none(),
        "load of a key never stored returned {loaded:?}"
    );
    Ok(())
}

async fn create_then_load_returns_every_field(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let mut record = long_lived();
    record.insert("user", "ada")?;
    record.insert("cart", vec![1, 2, 3])?;
    record.flash.insert("status".into(), "Saved!".into());
    record.deadline = Some(now() + to_chrono(std::time::Duration::from_secs(7200)));
    record.owner = Some(format!(
        "owner-{}",
        record.key.as_str().get(..8).unwrap_or("")
    ));
    store.create(&record).await?;

    let loaded = must_load(&*store, &record.key).await?;
    ensure_eq!(loaded.key, record.key, "key");
    ensure_eq!(loaded.data, record.data, "data");
    ensure_eq!(loaded.flash, record.flash, "flash");
    ensure_eq!(
        ms(loaded.created_at),
        ms(record.created_at),
        "created_at (ms)"
    );
    ensure_eq!(
        ms(loaded.expires_at),
        ms(record.expires_at),
        "expires_at (ms)"
    );
    ensure_eq!(
        loaded.deadline.map(ms),
        record.deadline.map(ms),
        "deadline (ms)"
    );
    ensure_eq!(loaded.owner, record.owner, "owner");
    ensure_eq!(loaded.version, record.version, "version after create");
    Ok(())
}

async fn create_on_taken_key_fails_and_keeps_record(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let mut first = long_lived();
    first.insert("who", "first")?;
    store.create(&first).await?;

    let mut second = long_lived();
    second.key = first.key.clone();
    second.insert("who", "second")?;
    expect_kind(
        store.create(&second).await,
        ErrorKind::AlreadyExists,
        "create on a taken key",
    )?;

    let loaded = must_load(&*store, &first.key).await?;
    ensure_eq!(
        loaded.get::<String>("who")?.as_deref(),
        Some("first"),
        "create overwrote the stored record"
    );
    Ok(())
}

async fn save_persists_changes_and_bumps_version(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = long_lived();
    store.create(&record).await?;

    let mut loaded = must_load(&*store, &record.key).await?;
    let before = loaded.version;
    loaded.insert("added", true)?;
    loaded.remove("n");
    loaded.flash.insert("notice".into(), "hi".into());
    loaded.owner = Some("owner-save".into());
    let v1 = store.save(&loaded).await?;
    ensure_eq!(
        v1,
        before + 1,
        "save must return the stored version plus one"
    );

    let reloaded = must_load(&*store, &record.key).await?;
    ensure_eq!(reloaded.version, v1, "version after save");
    ensure_eq!(
        reloaded.get::<bool>("added")?,
        Some(true),
        "inserted value after save"
    );
    ensure!(
        !reloaded.data.contains_key("n"),
        "removed value came back after save"
    );
    ensure_eq!(
        reloaded.flash.get("notice"),
        Some(&Value::from("hi")),
        "flash after save"
    );
    ensure_eq!(
        reloaded.owner.as_deref(),
        Some("owner-save"),
        "owner after save"
    );
    ensure_eq!(
        ms(reloaded.created_at),
        ms(record.created_at),
        "created_at after save"
    );

    let v2 = store.save(&reloaded).await?;
    ensure_eq!(v2, v1 + 1, "second save's version");
    Ok(())
}

async fn save_with_stale_version_conflicts(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = long_lived();
    store.create(&record).await?;

    let mut a = must_load(&*store, &record.key).await?;
    let mut b = a.clone();
    a.insert("writer", "a")?;
    let va = store.save(&a).await?;
    b.insert("writer", "b")?;
    let result = store.save(&b).await;
    if let Err(err) = &result {
        ensure_eq!(
            err.operation(),
            Operation::Save,
            "a conflict names the operation"
        );
        ensure!(!err.store().is_empty(), "a conflict names the store");
    }
    expect_kind(result, ErrorKind::Conflict, "save with a stale version")?;

    let stored = must_load(&*store, &record.key).await?;
    ensure_eq!(
        stored.get::<String>("writer")?.as_deref(),
        Some("a"),
        "the losing save changed the record"
    );
    ensure_eq!(stored.version, va, "version after a refused save");
    Ok(())
}

async fn save_after_delete_fails_and_does_not_resurrect(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = long_lived();
    store.create(&record).await?;
    let mut loaded = must_load(&*store, &record.key).await?;
    store.delete(&record.key).await?;

    loaded.insert("late", "write")?;
    expect_kind(
        store.save(&loaded).await,
        ErrorKind::NotFound,
        "save after delete",
    )?;
    let after = store.load(&record.key).await?;
    ensure!(
        after.is_none(),
        "a save after delete brought the record back: {after:?}"
    );
    Ok(())
}

async fn touch_after_delete_fails_and_does_not_resurrect(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = long_lived();
    store.create(&record).await?;
    store.delete(&record.key).await?;

    let later = now() + to_chrono(std::time::Duration::from_secs(600));
    expect_kind(
        store.touch(&record.key, later).await,
        ErrorKind::NotFound,
        "touch after delete",
    )?;
    let after = store.load(&record.key).await?;
    ensure!(
        after.is_none(),
        "a touch after delete brought the record back: {after:?}"
    );
    Ok(())
}

async fn delete_removes_record(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let record = long_lived();
    store.create(&record).await?;
    store.delete(&record.key).await?;
    let after = store.load(&record.key).await?;
    ensure!(after.is_none(), "load after delete returned {after:?}");
    store.delete(&record.key).await?;
    Ok(())
}

async fn delete_missing_key_succeeds(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    store.delete(&SessionKey::random()).await?;
    Ok(())
}

async fn records_are_independent(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let (mut a, mut b) = (long_lived(), long_lived());
    a.insert("name", "a")?;
    b.insert("name", "b")?;
    store.create(&a).await?;
    store.create(&b).await?;

    let mut loaded_a = must_load(&*store, &a.key).await?;
    loaded_a.insert("name", "a2")?;
    store.save(&loaded_a).await?;
    store.delete(&a.key).await?;

    let loaded_b = must_load(&*store, &b.key).await?;
    ensure_eq!(
        loaded_b.get::<String>("name")?.as_deref(),
        Some("b"),
        "another record's writes leaked"
    );
    ensure_eq!(
        loaded_b.version,
        b.version,
        "another record's writes moved this version"
    );
    Ok(())
}

async fn concurrent_versioned_increments_lose_nothing(fx: Fixture) -> CaseResult {
    const WORKERS: u64 = 32;
    const MAX_ATTEMPTS: usize = 2_000;
    let store = fx.store().await?;
    let record = long_lived();
    store.create(&record).await?;

    // Every worker loads before any saves on the first attempt, so all 32 hold the same version
    // and the race happens on every store, however fast it answers.
    let first_round = Arc::new(tokio::sync::Barrier::new(WORKERS as usize));
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let (store, key, barrier) = (Arc::clone(&store), record.key.clone(), first_round.clone());
        tasks.push(tokio::spawn(async move {
            for attempt in 0..MAX_ATTEMPTS {
                let mut r = must_load(&*store, &key).await?;
                if attempt == 0 {
                    barrier.wait().await;
                }
                let n = r.get::<u64>("n")?.unwrap_or(0);
                r.insert("n", n + 1)?;
                match store.save(&r).await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::Conflict => tokio::task::yield_now().await,
                    Err(e) => return Err(CaseError::from(e)),
                }
            }
            Err(CaseError::new(format!(
                "no save succeeded in {MAX_ATTEMPTS} attempts"
            )))
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| CaseError::new(format!("worker panicked: {e}")))??;
    }
    let end = must_load(&*store, &record.key).await?;
    ensure_eq!(
        end.get::<u64>("n")?,
        Some(WORKERS),
        "increments lost under concurrency"
    );
    ensure_eq!(
        end.version,
        record.version + WORKERS,
        "one version per successful save"
    );
    Ok(())
}
