//! The `Session` handle's verbs, one request at a time, against `MemoryStore`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use session_core::chrono::{DateTime, Utc};
use session_core::{
    Capabilities, Error, ErrorKind, MemoryStore, Operation, Record, Result, SessionKey,
    SessionStore, SessionToken, async_trait,
};
use session_tower::{CookieAction, OnLoadError, Session, SessionConfig};

struct Browser {
    store: Arc<MemoryStore>,
    config: Arc<SessionConfig>,
    cookie: Option<String>,
}

impl Browser {
    fn new(config: SessionConfig) -> Self {
        Browser {
            store: Arc::new(MemoryStore::new()),
            config: Arc::new(config),
            cookie: None,
        }
    }

    fn request(&self) -> Session {
        Session::new(
            self.store.clone(),
            self.config.clone(),
            self.cookie.as_deref(),
        )
    }

    async fn end(&mut self, session: Session) -> CookieAction {
        let committed = session.finish().await.expect("commit");
        match &committed.cookie {
            CookieAction::Set { token, .. } => self.cookie = Some(token.as_str().to_owned()),
            CookieAction::Remove => self.cookie = None,
            _ => {}
        }
        committed.cookie
    }
}

#[tokio::test]
async fn data_verbs_behave_like_their_namesakes() {
    let mut b = Browser::new(SessionConfig::default());
    let s = b.request();
    s.insert("name", "ada").await.unwrap();
    s.insert("cart", vec![1, 2]).await.unwrap();
    assert_eq!(s.increment("visits", 1).await.unwrap(), 1);
    assert_eq!(s.increment("visits", 5).await.unwrap(), 6);
    assert_eq!(s.decrement("visits", 2).await.unwrap(), 4);
    assert!(s.has("name").await.unwrap());
    assert_eq!(s.get_or("missing", 7).await.unwrap(), 7);
    assert_eq!(s.all().await.unwrap().len(), 3);
    b.end(s).await;

    let s = b.request();
    assert_eq!(
        s.pull::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    assert!(!s.has("name").await.unwrap());
    assert_eq!(s.remove("cart").await.unwrap(), Some(json!([1, 2])));
    assert_eq!(s.get::<i64>("visits").await.unwrap(), Some(4));
    s.insert("text", "x").await.unwrap();
    let err = s.increment("text", 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    let err = s.get::<u32>("text").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(s.get::<String>("text").await.unwrap().as_deref(), Some("x"));
    b.end(s).await;

    let s = b.request();
    assert_eq!(
        s.get::<String>("name").await.unwrap(),
        None,
        "pull removed it for good"
    );
    s.clear().await.unwrap();
    assert!(s.all().await.unwrap().is_empty());
    b.end(s).await;
    assert!(b.cookie.is_some(), "clear keeps the session and its token");
}

#[tokio::test]
async fn take_consumes_at_once_and_flash_is_separate_from_data() {
    let mut b = Browser::new(SessionConfig::default());
    let s = b.request();
    s.flash("a", 1).await.unwrap();
    s.flash("b", 2).await.unwrap();
    assert!(!s.has("a").await.unwrap(), "flash is not data");
    assert!(
        !s.has_flash().await.unwrap(),
        "flash is for the next request"
    );
    b.end(s).await;

    let s = b.request();
    assert_eq!(s.take_flash::<i32>("a").await.unwrap(), Some(1));
    assert_eq!(s.take_flash::<i32>("a").await.unwrap(), None);
    assert_eq!(s.take_all_flash().await.unwrap().len(), 1);
    assert!(!s.has_flash().await.unwrap());
    b.end(s).await;
}

#[tokio::test]
async fn a_fresh_visitor_creates_nothing_until_there_is_data() {
    let mut b = Browser::new(SessionConfig::default());
    let s = b.request();
    assert_eq!(s.get::<i32>("x").await.unwrap(), None);
    s.remove("x").await.unwrap();
    assert_eq!(b.end(s).await, CookieAction::Unchanged);
    assert!(b.store.is_empty());
}

#[tokio::test]
async fn invalidate_then_write_starts_a_new_session() {
    let mut b = Browser::new(SessionConfig::default());
    let s = b.request();
    s.insert("user", 1).await.unwrap();
    b.end(s).await;
    let old = b.cookie.clone().unwrap();

    let s = b.request();
    s.invalidate().await.unwrap();
    assert_eq!(s.get::<i32>("user").await.unwrap(), None);
    s.flash("status", "logged out").await.unwrap();
    let action = b.end(s).await;
    let new = action
        .token()
        .expect("a new session for the flash")
        .as_str()
        .to_owned();
    assert_ne!(new, old);
    let old_key = SessionToken::parse(&old).unwrap().key();
    assert!(b.store.load(&old_key).await.unwrap().is_none());
}

#[tokio::test]
async fn explicit_commit_persists_before_the_end_and_keeps_the_cookie() {
    let mut b = Browser::new(SessionConfig::default());
    let s = b.request();
    s.insert("step", 1).await.unwrap();
    s.commit().await.unwrap();
    assert_eq!(
        b.store.len(),
        1,
        "commit wrote before the end of the request"
    );
    s.insert("step", 2).await.unwrap();
    let action = b.end(s).await;
    assert!(
        action.token().is_some(),
        "the cookie from the explicit commit is still set"
    );
    let s = b.request();
    assert_eq!(s.get::<i32>("step").await.unwrap(), Some(2));
}

#[tokio::test]
async fn regenerate_on_a_fresh_session_is_harmless() {
    let mut b = Browser::new(SessionConfig::default());
    let s = b.request();
    s.regenerate().await.unwrap();
    s.insert("x", 1).await.unwrap();
    assert!(b.end(s).await.token().is_some());
    assert_eq!(b.store.len(), 1);
}

#[tokio::test]
async fn owner_is_recorded_for_the_owner_index() {
    let mut b = Browser::new(SessionConfig::default());
    let s = b.request();
    s.set_owner(Some("user-42")).await.unwrap();
    b.end(s).await;
    assert_eq!(b.store.list_by_owner("user-42").await.unwrap().len(), 1);
    let s = b.request();
    assert_eq!(s.owner().await.unwrap().as_deref(), Some("user-42"));
    assert_eq!(b.store.delete_by_owner("user-42").await.unwrap(), 1);
    let after = b.request();
    assert_eq!(after.owner().await.unwrap(), None, "revoked everywhere");
    drop(s);
}

#[tokio::test]
async fn touches_are_throttled() {
    let config = SessionConfig::default().with_touch_interval(Duration::from_secs(60));
    let mut b = Browser::new(config);
    let s = b.request();
    s.insert("x", 1).await.unwrap();
    b.end(s).await;
    let s = b.request();
    s.get::<i32>("x").await.unwrap();
    assert_eq!(
        b.end(s).await,
        CookieAction::Unchanged,
        "a read within the interval writes nothing"
    );
}

/// A backend that cannot be reached.
#[derive(Debug)]
struct Down;

#[async_trait]
impl SessionStore for Down {
    fn name(&self) -> &str {
        "down"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn load(&self, _: &SessionKey) -> Result<Option<Record>> {
        Err(Error::new(ErrorKind::Backend, Operation::Load).temporary())
    }
    async fn create(&self, _: &Record) -> Result<()> {
        Err(Error::new(ErrorKind::Backend, Operation::Create).temporary())
    }
    async fn save(&self, _: &Record) -> Result<u64> {
        Err(Error::new(ErrorKind::Backend, Operation::Save).temporary())
    }
    async fn touch(&self, _: &SessionKey, _: DateTime<Utc>) -> Result<()> {
        Err(Error::new(ErrorKind::Backend, Operation::Touch).temporary())
    }
    async fn delete(&self, _: &SessionKey) -> Result<()> {
        Err(Error::new(ErrorKind::Backend, Operation::Delete).temporary())
    }
    async fn sweep(&self) -> Result<u64> {
        Err(Error::unsupported(Operation::Sweep, "no sweep"))
    }
    async fn list_by_owner(&self, _: &str) -> Result<Vec<SessionKey>> {
        Err(Error::unsupported(Operation::ListByOwner, "no owner index"))
    }
    async fn delete_by_owner(&self, _: &str) -> Result<u64> {
        Err(Error::unsupported(
            Operation::DeleteByOwner,
            "no owner index",
        ))
    }
    async fn walk(
        &self,
        _: Option<&session_core::WalkCursor>,
        _: usize,
    ) -> Result<session_core::WalkPage> {
        Err(Error::unsupported(Operation::Walk, "no walk"))
    }
}

#[tokio::test]
async fn load_errors_fail_the_request_or_start_fresh_by_choice() {
    let token = SessionToken::generate();
    let strict = Session::new(Arc::new(Down), Arc::default(), Some(token.as_str()));
    assert!(strict.get::<i32>("x").await.unwrap_err().is_temporary());
    assert!(
        strict.finish().await.is_err(),
        "a failed load fails the request"
    );

    let config = Arc::new(SessionConfig::default().with_on_load_error(OnLoadError::StartFresh));
    let lenient = Session::new(Arc::new(Down), config, Some(token.as_str()));
    assert_eq!(lenient.get::<i32>("x").await.unwrap(), None);
    let committed = lenient.finish().await.unwrap();
    assert_eq!(
        committed.cookie,
        CookieAction::Unchanged,
        "the visitor's cookie is left alone"
    );
}

#[tokio::test]
async fn detached_sessions_read_empty_and_ignore_writes() {
    let s = Session::detached();
    assert!(s.is_detached());
    s.insert("x", 1).await.unwrap();
    s.flash("f", 1).await.unwrap();
    s.now("n", 1).await.unwrap();
    assert_eq!(s.get::<i32>("x").await.unwrap(), None);
    assert!(!s.has_flash().await.unwrap());
    assert_eq!(s.get::<i32>("c").await.unwrap(), None);
    let committed = s.finish().await.unwrap();
    assert_eq!(committed.cookie, CookieAction::Unchanged);
    assert!(!committed.accessed);
}

#[tokio::test]
async fn a_chosen_lifetime_outlasts_the_settings_and_a_deadline_still_ends_it() {
    // The settings: idle for 1 s, ended after 2 s however active.
    let mut browser = Browser::new(
        SessionConfig::default()
            .with_idle_timeout(Duration::from_secs(1))
            .with_absolute_timeout(Some(Duration::from_secs(2))),
    );
    let s = browser.request();
    s.insert("user", "ada").await.unwrap();
    s.set_lifetime(Some(session_core::Lifetime::Idle(Duration::from_secs(
        3600,
    ))))
    .await
    .unwrap();
    let deadline = Utc::now() + session_core::chrono::Duration::milliseconds(3500);
    s.set_deadline(Some(deadline)).await.unwrap();
    match browser.end(s).await {
        CookieAction::Set { expires_at, .. } => {
            assert_eq!(
                expires_at, deadline,
                "the expiry is capped by the session's deadline"
            )
        }
        other => panic!("no cookie set: {other:?}"),
    }

    // Past the configured idle timeout and absolute timeout, the session lives on.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = browser.request();
    assert_eq!(
        s.get::<String>("user").await.unwrap().as_deref(),
        Some("ada")
    );
    assert!(matches!(
        s.lifetime().await.unwrap(),
        Some(session_core::Lifetime::Idle(_))
    ));
    browser.end(s).await;

    // Past its own deadline, it ends.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let s = browser.request();
    assert_eq!(s.get::<String>("user").await.unwrap(), None);
}

#[tokio::test]
async fn an_owner_past_the_limit_is_refused_before_any_store_call() {
    let mut browser = Browser::new(SessionConfig::default());
    let s = browser.request();
    s.insert("user", "ada").await.unwrap();
    let long = "o".repeat(session_core::MAX_OWNER_BYTES + 1);
    let err = s.set_owner(Some(&long)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("255"), "{err}");
    s.set_owner(Some(&long[1..])).await.unwrap();
    browser.end(s).await;
    assert_eq!(browser.store.len(), 1);
}
