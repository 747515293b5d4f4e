//! The suite catches what it claims to catch: stores with one deliberate flaw each fail the
//! cases named for that flaw, while the same wrapper without a flaw passes everything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use session_conformance::{CHECKLIST_CASE, Outcome, Report, Suite};
use session_core::chrono::{DateTime, Utc};
use session_core::{
    Capabilities, Error, ErrorKind, MemoryStore, Record, Result, SessionKey, SessionStore,
    async_trait,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    SaveIgnoresVersion,
    SaveResurrects,
    LoadReturnsExpired,
    CreateOverwrites,
    TouchResurrects,
    TouchBumpsVersion,
    SweepDeletesLiveRecords,
    RevokeKeepsSessions,
    WalkDropsLastOfPage,
    IndexKeepsFirstExpiry,
}

/// A `MemoryStore` with one flaw, and a shadow copy of everything written to act it out.
#[derive(Debug, Clone)]
struct Broken {
    inner: MemoryStore,
    flaw: Flaw,
    shadow: Arc<Mutex<HashMap<SessionKey, Record>>>,
    /// The expiry each record was created with.
    created: Arc<Mutex<HashMap<SessionKey, DateTime<Utc>>>>,
}

impl Broken {
    fn remember(&self, record: &Record) {
        self.shadow
            .lock()
            .unwrap()
            .insert(record.key.clone(), record.clone());
    }
}

#[async_trait]
impl SessionStore for Broken {
    fn name(&self) -> &str {
        "broken"
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        let loaded = self.inner.load(key).await?;
        if loaded.is_none() && self.flaw == Flaw::LoadReturnsExpired {
            return Ok(self.shadow.lock().unwrap().get(key).cloned());
        }
        Ok(loaded)
    }

    async fn create(&self, record: &Record) -> Result<()> {
        if self.flaw == Flaw::CreateOverwrites {
            self.inner.delete(&record.key).await?;
        }
        self.inner.create(record).await?;
        self.remember(record);
        self.created
            .lock()
            .unwrap()
            .insert(record.key.clone(), record.expires_at);
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        let result = match self.flaw {
            Flaw::SaveIgnoresVersion => {
                let mut record = record.clone();
                if let Some(current) = self.inner.load(&record.key).await? {
                    record.version = current.version;
                }
                self.inner.save(&record).await
            }
            Flaw::SaveResurrects => match self.inner.save(record).await {
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    self.inner.create(record).await.map(|()| record.version)
                }
                other => other,
            },
            _ => self.inner.save(record).await,
        };
        if result.is_ok() {
            self.remember(record);
        }
        result
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        match self.flaw {
            Flaw::TouchResurrects => match self.inner.touch(key, expires_at).await {
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    self.inner
                        .create(&Record::new(key.clone(), expires_at))
                        .await
                }
                other => other,
            },
            Flaw::TouchBumpsVersion => {
                let Some(mut record) = self.inner.load(key).await? else {
                    return Err(Error::not_found(session_core::Operation::Touch));
                };
                record.expires_at = expires_at;
                self.inner.save(&record).await.map(|_| ())
            }
            _ => self.inner.touch(key, expires_at).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.inner.delete(key).await
    }

    async fn sweep(&self) -> Result<u64> {
        if self.flaw == Flaw::SweepDeletesLiveRecords {
            let keys: Vec<SessionKey> = self.shadow.lock().unwrap().keys().cloned().collect();
            for key in &keys {
                self.inner.delete(key).await?;
            }
            return Ok(self.inner.sweep().await? + keys.len() as u64);
        }
        self.inner.sweep().await
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        let mut keys = self.inner.list_by_owner(owner).await?;
        if self.flaw == Flaw::IndexKeepsFirstExpiry {
            // An index entry that lapses with the expiry the session was created with.
            let created = self.created.lock().unwrap();
            let now = Utc::now();
            keys.retain(|k| created.get(k).is_none_or(|first| *first > now));
        }
        Ok(keys)
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
        if self.flaw == Flaw::RevokeKeepsSessions {
            return Ok(self.inner.list_by_owner(owner).await?.len() as u64);
        }
        self.inner.delete_by_owner(owner).await
    }

    async fn walk(
        &self,
        from: Option<&session_core::WalkCursor>,
        limit: usize,
    ) -> Result<session_core::WalkPage> {
        let mut page = self.inner.walk(from, limit).await?;
        if self.flaw == Flaw::WalkDropsLastOfPage && page.next.is_some() {
            page.records.pop();
        }
        Ok(page)
    }
}

fn report(flaw: Flaw) -> Report {
    Suite::new("broken", move |cx| async move {
        let shared = cx.shared(|| Broken {
            inner: MemoryStore::new(),
            flaw,
            shadow: Arc::default(),
            created: Arc::default(),
        });
        Ok(Broken {
            inner: shared.inner.with_codec(cx.codec()),
            ..shared
        })
    })
    .report()
}

/// Asserts every case in `expected` failed under `flaw`.
fn assert_caught(flaw: Flaw, expected: &[&str]) {
    let report = report(flaw);
    let failed = report.failed();
    for name in expected {
        assert!(
            failed.contains(name),
            "{flaw:?}: {name} did not fail; outcome {:?}; failed: {failed:?}",
            report.outcome(name)
        );
    }
}

#[test]
fn the_wrapper_without_a_flaw_passes_every_case() {
    let report = report(Flaw::None);
    assert!(report.failed().is_empty(), "{:#?}", report.outcomes);
    assert!(report.passed().len() >= 20, "{:#?}", report.outcomes);
    assert!(matches!(
        report.outcome("store::oversized_record_is_rejected"),
        Some(Outcome::Ignored(_))
    ));
}

#[test]
fn a_save_that_ignores_the_version_is_caught() {
    assert_caught(
        Flaw::SaveIgnoresVersion,
        &[
            "store::save_with_stale_version_conflicts",
            "store::concurrent_versioned_increments_lose_nothing",
            "request::two_instances_read_modify_write_lose_nothing",
        ],
    );
}

#[test]
fn a_save_that_resurrects_is_caught() {
    assert_caught(
        Flaw::SaveResurrects,
        &[
            "store::save_after_delete_fails_and_does_not_resurrect",
            "store::save_after_expiry_fails_and_does_not_resurrect",
            "store::delete_by_owner_revokes_only_that_owner",
            "request::logout_racing_a_concurrent_request_does_not_come_back",
        ],
    );
}

#[test]
fn a_load_that_returns_expired_records_is_caught() {
    assert_caught(
        Flaw::LoadReturnsExpired,
        &["store::load_never_returns_expired_record"],
    );
}

#[test]
fn a_create_that_overwrites_is_caught() {
    assert_caught(
        Flaw::CreateOverwrites,
        &[
            "store::create_on_taken_key_fails_and_keeps_record",
            "lock::a_held_lock_is_not_taken_again",
        ],
    );
}

#[test]
fn a_touch_that_resurrects_is_caught() {
    assert_caught(
        Flaw::TouchResurrects,
        &[
            "store::touch_after_delete_fails_and_does_not_resurrect",
            "store::touch_after_expiry_fails_and_does_not_resurrect",
        ],
    );
}

#[test]
fn a_touch_that_rewrites_the_record_is_caught() {
    assert_caught(Flaw::TouchBumpsVersion, &["store::touch_moves_expiry_only"]);
}

#[test]
fn a_sweep_that_deletes_live_records_is_caught() {
    assert_caught(
        Flaw::SweepDeletesLiveRecords,
        &["store::sweep_removes_expired_and_only_expired"],
    );
}

#[test]
fn a_revocation_that_keeps_sessions_is_caught() {
    assert_caught(
        Flaw::RevokeKeepsSessions,
        &["store::delete_by_owner_revokes_only_that_owner"],
    );
}

#[test]
fn a_walk_that_drops_records_is_caught() {
    assert_caught(
        Flaw::WalkDropsLastOfPage,
        &["store::walk_yields_every_live_record_in_pages"],
    );
}

#[test]
fn an_owner_index_that_lapses_with_the_first_expiry_is_caught() {
    assert_caught(
        Flaw::IndexKeepsFirstExpiry,
        &["store::owner_index_keeps_sessions_whose_expiry_moved_on"],
    );
}

fn unavailable() -> Suite {
    Suite::new("absent", |_cx| async {
        Err::<MemoryStore, _>(session_conformance::SetupError::skip("no server here"))
    })
}

#[test]
fn an_unavailable_backend_is_ignored_with_its_reason_never_passed() {
    let report = unavailable().require_backend(false).report();
    assert!(report.passed().is_empty());
    assert!(report.failed().is_empty());
    assert_eq!(report.ignored().len(), report.outcomes.len());
    for (_, outcome) in &report.outcomes {
        assert!(matches!(outcome, Outcome::Ignored(r) if r.contains("no server here")));
    }
}

#[test]
fn a_required_backend_that_is_unavailable_fails_every_case() {
    let report = unavailable().require_backend(true).report();
    assert_eq!(report.failed().len(), report.outcomes.len());
}

#[test]
fn a_checklist_that_disagrees_with_the_declared_capabilities_fails_its_case() {
    // The memory store shares nothing across processes; this checklist says it does.
    const CLAIMS_SHARED: &str = "
| capability | |
|---|---|
| conditional writes | yes |
| revocable | yes |
| native expiry | no |
| sweep | yes |
| owner index | yes |
| shared across processes | yes |
| maximum record | none |
";
    let memory = |cx: session_conformance::StoreContext| async move {
        Ok(cx.shared(MemoryStore::new).with_codec(cx.codec()))
    };
    let wrong = Suite::new("memory", memory)
        .with_checklist(CLAIMS_SHARED)
        .report();
    assert_eq!(wrong.failed(), [CHECKLIST_CASE], "{:?}", wrong.outcomes);
    let right = Suite::new("memory", memory)
        .with_checklist(include_str!("../../session-core/src/memory.rs"))
        .report();
    assert!(
        right.passed().contains(&CHECKLIST_CASE),
        "{:?}",
        right.outcomes
    );
    assert!(right.failed().is_empty(), "{:?}", right.outcomes);
}

/// A client-side store that seals nothing: the token and the record as JSON, in the clear, and
/// not bound to the cookie's name. A naive custom driver could look like this.
#[derive(Debug)]
struct Unsealed;

impl session_core::ClientSideStore for Unsealed {
    fn name(&self) -> &str {
        "unsealed"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .with_conditional_writes(false)
            .with_revocable(false)
            .with_native_ttl(true)
    }

    fn open(&self, _cookie_name: &str, value: &str) -> session_core::Opened {
        let Some((token, json)) = value.split_once('.') else {
            return session_core::Opened::Invalid("no separator");
        };
        let (Ok(token), Ok(mut record)) = (
            session_core::SessionToken::parse(token),
            serde_json::from_str::<Record>(json),
        ) else {
            return session_core::Opened::Invalid("not a session");
        };
        let now = Utc::now();
        if record.expires_at <= now || record.deadline.is_some_and(|d| d <= now) {
            return session_core::Opened::Invalid("expired");
        }
        record.key = token.key();
        session_core::Opened::Valid {
            token,
            record,
            reseal: false,
        }
    }

    fn seal(
        &self,
        _cookie_name: &str,
        token: &session_core::SessionToken,
        record: &Record,
    ) -> Result<String> {
        let json = serde_json::to_string(record).map_err(|e| {
            Error::new(ErrorKind::Encode, session_core::Operation::Encode).with_source(e)
        })?;
        Ok(format!("{}.{json}", token.as_str()))
    }
}

#[test]
fn a_client_side_store_that_seals_nothing_is_caught() {
    let report = Suite::client_side("unsealed", |_| async { Ok(Unsealed) }).report();
    let failed = report.failed();
    for name in [
        "store::sealed_cookie_opens_to_the_token_and_record_it_sealed",
        "store::edited_moved_or_expired_cookie_never_opens",
    ] {
        assert!(
            failed.contains(&name),
            "{name} did not fail; outcome {:?}",
            report.outcome(name)
        );
    }
}

/// A client-side store whose values differ within a thread but repeat across threads: its
/// "nonce" is a per-thread counter starting at zero, as a driver drawing nonces from a counter
/// alone would make them; within one thread its values differ, so only a case sealing on
/// several threads sees the repeat. (Sealing is left out; only the repeat matters here.)
#[derive(Debug)]
struct ThreadCounter;

thread_local! {
    static SEALED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl session_core::ClientSideStore for ThreadCounter {
    fn name(&self) -> &str {
        "thread-counter"
    }

    fn capabilities(&self) -> Capabilities {
        Unsealed.capabilities()
    }

    fn open(&self, cookie_name: &str, value: &str) -> session_core::Opened {
        match value.split_once('~') {
            Some((_, rest)) => Unsealed.open(cookie_name, rest),
            None => session_core::Opened::Invalid("no counter"),
        }
    }

    fn seal(
        &self,
        cookie_name: &str,
        token: &session_core::SessionToken,
        record: &Record,
    ) -> Result<String> {
        let count = SEALED.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        Ok(format!(
            "{count}~{}",
            Unsealed.seal(cookie_name, token, record)?
        ))
    }
}

#[test]
fn seals_that_repeat_across_threads_are_caught() {
    const CASE: &str = "store::seals_on_many_threads_never_repeat";
    let counter = Suite::client_side("thread-counter", |_| async { Ok(ThreadCounter) }).report();
    assert!(
        counter.failed().contains(&CASE),
        "{CASE} did not fail; outcome {:?}",
        counter.outcome(CASE)
    );
    // A store whose every seal of one session is alike fails it too.
    let unsealed = Suite::client_side("unsealed", |_| async { Ok(Unsealed) }).report();
    assert!(
        unsealed.failed().contains(&CASE),
        "{:?}",
        unsealed.outcome(CASE)
    );
}
