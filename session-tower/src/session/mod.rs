//! The per-request session handle.
//!
//! A [`Session`] is what a handler talks to. It loads lazily (no store call until the handler
//! touches it), records what the handler does as a change set, and commits once at the end of
//! the request. On a version conflict the commit reloads the record, replays the change set and
//! saves again, so two concurrent requests that change different keys, or both increment one
//! counter, lose nothing.
//!
//! This file holds the handle, its state and identity, and `load` how it loads; the verbs live
//! by subject beside it (`data`, `flash`, `collection`, `expiry`, `csrf`, `form`), and the
//! commit in `commit`, `write`, `pipeline` and `queue`.
//!
//! # Flash messages
//!
//! Flash messages set with [`Session::flash`] are readable during the next request that loads
//! the session, and gone after it (as in Laravel, AdonisJS and Rails). [`Session::now`] sets one
//! for this request only. [`Session::reflash`] and [`Session::keep`] carry this request's
//! messages one request further. Reading ([`Session::flash_get`]) does not consume a message;
//! [`Session::take_flash`] removes it at once.
//!
//! # Identity
//!
//! A token from the cookie is adopted only if its record exists and is live. Otherwise the
//! visitor gets a fresh session with a new token, created in the store only once it holds data.

mod axum;
mod batch;
mod change;
mod collection;
mod commit;
mod config;
mod csrf;
mod data;
mod expiry;
mod flash;
mod form;
mod held;
mod load;
mod pipeline;
mod queue;
mod reads;
mod write;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, MutexGuard};

use held::HeldLock;
use session_core::SessionStore;
use session_core::{Data, Record, Value};
use session_core::{Error, ErrorKind, Operation, Result};
use session_core::{SessionKey, SessionToken};

pub use self::axum::MissingSessionLayer;
use change::Change;
pub use commit::{Committed, CookieAction};
pub use config::{OnLoadError, SessionConfig};
pub use csrf::CSRF_KEY;
pub use form::{ERRORS_KEY, OLD_INPUT_KEY};
use queue::{Handoff, Turn};
pub use queue::{SessionQueue, SessionStats};
use reads::Reads;

/// The session of one request.
///
/// Cheap to clone: clones share the same state. Every data method is `async` because the first
/// one loads the record.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use session_core::MemoryStore;
/// use session_tower::{Session, SessionConfig};
///
/// let store = Arc::new(MemoryStore::new());
/// let config = Arc::new(SessionConfig::default());
///
/// // First request: no cookie yet.
/// let session = Session::new(store.clone(), config.clone(), None);
/// session.insert("user", "ada").await?;
/// session.flash("status", "Welcome back!").await?;
/// let token = session.finish().await?.cookie.token().unwrap().as_str().to_owned();
///
/// // Next request, with the cookie the first one set.
/// let session = Session::new(store.clone(), config.clone(), Some(&token));
/// assert_eq!(session.get::<String>("user").await?.as_deref(), Some("ada"));
/// assert_eq!(session.flash_get::<String>("status").await?.as_deref(), Some("Welcome back!"));
/// session.finish().await?;
///
/// // The flash message was for one request only.
/// let session = Session::new(store, config, Some(&token));
/// assert!(!session.has_flash().await?);
/// # Ok::<(), session_core::Error>(())
/// # }).unwrap();
/// ```
///
/// # Behavior
///
/// - Values written in one request are read back in the next, by key, through the collection
///   verbs too (`push`, `remember`, `update`, `replace`, `remove_many` ...)
///   (case `request::collection_verbs_persist_across_requests`); `has` is false for a value
///   that is null and `exists` true (case `request::has_is_false_for_null_and_exists_is_true`).
/// - A flash message is read by the next request that loads the session, and gone after it
///   (case `request::flash_survives_exactly_one_redirect`); one set with `now` is for this
///   request only (case `request::now_is_not_seen_by_the_next_request`); `reflash` and `keep`
///   carry this request's messages, `now` ones included, one request further
///   (cases `request::reflash_and_keep_carry_messages_one_more_request`,
///   `request::reflash_and_keep_carry_now_messages`).
/// - Form input and errors flashed by a failed submission come back once, on the next request
///   (case `request::form_input_and_errors_come_back_once`).
/// - `regenerate` moves the data to a new token and retires the old one
///   (case `request::regenerate_keeps_data_and_retires_the_old_token`), and replaces the CSRF
///   token (case `request::csrf_token_rotates_on_regenerate`); `invalidate` ends the session,
///   its old token included (case `request::invalidate_ends_the_session`).
/// - The idle and absolute timeouts are enforced by the server, whatever the cookie says
///   (cases `request::idle_timeout_is_enforced_server_side`,
///   `request::absolute_timeout_is_enforced_server_side`); a session's own lifetime ("remember
///   me" for a long one, the browser session for none) persists across requests and sets the
///   cookie's `Max-Age` to match (cases `request::remember_me_lifetime_persists_and_sets_max_age`,
///   `request::browser_session_lifetime_sends_no_max_age`).
/// - A stored record that cannot be decoded gives the visitor a fresh session instead of an
///   error, and is removed (case `request::undecodable_record_gives_a_fresh_session`).
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` for a detached session.
    store: Option<Arc<dyn SessionStore>>,
    config: Arc<SessionConfig>,
    /// The queue this session's requests wait in, if any.
    queue: Option<SessionQueue>,
    state: Mutex<State>,
}

/// What a request presented for its session, as its storage made it out.
#[derive(Debug, Clone, Default)]
pub(crate) enum Presented {
    /// No cookie (or header) at all.
    #[default]
    Nothing,
    /// A value that names no session: malformed, tampered, sealed with another key. The
    /// browser is told to drop it.
    Rejected,
    /// A well-formed token.
    Token(SessionToken),
}

impl Presented {
    /// What a cookie value presents to a server-side store: a token, if it parses.
    pub(crate) fn token(cookie: Option<&str>) -> Self {
        match cookie.map(SessionToken::parse) {
            None => Presented::Nothing,
            Some(Ok(token)) => Presented::Token(token),
            Some(Err(_)) => Presented::Rejected,
        }
    }
}

#[derive(Default)]
struct State {
    /// What the request presented.
    presented: Presented,
    loaded: bool,
    /// The live stored session: its token and the record as last loaded or written.
    base: Option<(SessionToken, Record)>,
    /// What the handler sees: the base record with the change set applied. Its `flash` holds
    /// the messages for the next request. Read it through [`State::view`].
    view: View,
    changes: Vec<Change>,
    /// Flash messages from the previous request, readable now.
    flash_in: Data,
    /// Flash messages for this request only.
    flash_now: Data,
    regenerate: bool,
    /// The key of an invalidated session, deleted at commit. This and the other rarely set
    /// parts below are boxed: the state is made for every request, and moved as it is made.
    delete_on_commit: Option<Box<SessionKey>>,
    /// The presented cookie named no live session; tell the browser to drop it.
    stale_cookie: bool,
    /// What an explicit `commit` already decided about the cookie.
    pending_cookie: Option<Box<CookieAction>>,
    /// A load that failed in this request (kind, temporary, message): the request cannot be
    /// answered as if the session worked, even when the handler ignored the error.
    load_failure: Option<Box<(ErrorKind, bool, String)>>,
    /// What the handler read from the loaded record, so a conflict can tell whether its
    /// changes still follow from what it saw.
    reads: Reads,
    /// When the store last confirmed `base` (a load or a write).
    confirmed: Option<Instant>,
    /// This request's turn in the in-process queue, held until the commit.
    turn: Option<Turn>,
    /// `Some(epoch)` when `base` came from a request whose changes are still being saved.
    base_pending: Option<u64>,
    /// The distributed lock held for this request, if the queue takes one.
    lock: Option<Box<HeldLock>>,
}

impl Session {
    /// The session of a request that presented `cookie` (the cookie's value, if any).
    ///
    /// A malformed token is dropped here, before any store call.
    ///
    /// The session is not queued: two such sessions of one visitor used at once each work on
    /// what they loaded, and the later commit re-applies its changes on top of the earlier one.
    /// Middleware should use [`Session::queued`], which runs them one after another.
    pub fn new(
        store: Arc<dyn SessionStore>,
        config: Arc<SessionConfig>,
        cookie: Option<&str>,
    ) -> Self {
        Self::build(store, config, None, Presented::token(cookie))
    }

    /// The session of a request that presented `cookie`, queued behind the other requests of
    /// the same session in `queue` (see [`SessionQueue`]): its first use waits until they have
    /// committed, so whatever the handler reads stays true until its own commit.
    ///
    /// The session holds its place until [`Session::finish`] or [`Session::release`] (or until
    /// the last clone of it is dropped), so middleware calls one of them for every request.
    pub fn queued(
        store: Arc<dyn SessionStore>,
        config: Arc<SessionConfig>,
        queue: &SessionQueue,
        cookie: Option<&str>,
    ) -> Self {
        Self::build(store, config, Some(queue.clone()), Presented::token(cookie))
    }

    /// The session of a request that presented `presented`, kept in `store`.
    pub(crate) fn build(
        store: Arc<dyn SessionStore>,
        config: Arc<SessionConfig>,
        queue: Option<SessionQueue>,
        presented: Presented,
    ) -> Self {
        let state = State {
            presented,
            ..State::default()
        };
        Session {
            inner: Arc::new(Inner {
                store: Some(store),
                config,
                queue,
                state: Mutex::new(state),
            }),
        }
    }

    /// A session for code that runs outside a request: reads are empty, writes are ignored,
    /// and nothing is ever stored.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let session = session_tower::Session::detached();
    /// session.insert("ignored", 1).await.unwrap();
    /// assert_eq!(session.get::<i32>("ignored").await.unwrap(), None);
    /// # });
    /// ```
    pub fn detached() -> Self {
        Session {
            inner: Arc::new(Inner {
                store: None,
                config: Arc::default(),
                queue: None,
                state: Mutex::new(State {
                    loaded: true,
                    ..State::default()
                }),
            }),
        }
    }

    /// Whether this is a [`Session::detached`] session.
    pub fn is_detached(&self) -> bool {
        self.inner.store.is_none()
    }

    /// The settings this session follows.
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    // ----- identity -------------------------------------------------------------------------

    /// Moves the session to a new token at commit, keeping its data; the old token stops
    /// working once the new record exists. Call it on login to prevent session fixation.
    ///
    /// A CSRF token the session holds is replaced too ([`Session::csrf_token`]).
    pub async fn regenerate(&self) -> Result<()> {
        let rotate = self.exists(CSRF_KEY).await?;
        if rotate {
            self.regenerate_csrf_token().await?;
        }
        let mut state = self.loaded().await?;
        if state.base.is_some() {
            state.regenerate = true;
        }
        Ok(())
    }

    /// Ends the session: its data and token are dropped and its record deleted at commit
    /// (log out). Writes after this start a new session with a new token.
    pub async fn invalidate(&self) -> Result<()> {
        let mut state = self.loaded().await?;
        if let Some((token, _)) = state.base.take() {
            state.delete_on_commit = Some(Box::new(token.key()));
        }
        state.view = View::Gone;
        state.changes.clear();
        state.flash_in.clear();
        state.flash_now.clear();
        state.regenerate = false;
        Ok(())
    }

    /// The session as the store holds it after this request's commit: its token and record,
    /// or `None` when it ended or never held anything. Client-side storage seals this.
    pub(crate) async fn stored(&self) -> Option<(SessionToken, Record)> {
        self.inner.state.lock().await.base.clone()
    }

    // ----- internals ------------------------------------------------------------------------

    /// The state, loaded on first use.
    async fn loaded(&self) -> Result<MutexGuard<'_, State>> {
        let mut state = self.inner.state.lock().await;
        if !state.loaded {
            // Boxed: the load's future is several times the size of the rest of this one, and
            // every verb's future holds this one, so inline it would be copied at every level
            // of every call, long after the one load it is needed for.
            Box::pin(self.load(&mut state)).await?;
        }
        Ok(state)
    }

    async fn change(&self, change: Change) -> Result<()> {
        let mut state = self.loaded().await?;
        self.record_change(&mut state, change);
        Ok(())
    }

    fn record_change(&self, state: &mut State, change: Change) {
        if self.is_detached() || change.changes_nothing_in(state.view()) {
            return;
        }
        change.apply(state.view_mut());
        state.changes.push(change);
    }

    fn past_deadline(&self, record: &Record) -> bool {
        self.inner.config.past_deadline(record)
    }
}

/// What the handler sees of the session, copied from the stored record only when the handler
/// first changes something: a request that only reads never copies the record.
#[derive(Default)]
enum View {
    /// No session: none was presented, or it ended.
    #[default]
    Gone,
    /// The stored record as it is (`State::base`).
    Base,
    /// The stored record with this request's changes applied (or a new session's record).
    Own(Record),
}

impl State {
    /// The session as the handler sees it.
    fn view(&self) -> Option<&Record> {
        match &self.view {
            View::Gone => None,
            View::Base => self.base.as_ref().map(|(_, record)| record),
            View::Own(record) => Some(record),
        }
    }

    /// The session as the handler sees it, to change: a copy of the stored record on the first
    /// change, or a new record when there is no session.
    fn view_mut(&mut self) -> &mut Record {
        if !matches!(self.view, View::Own(_)) {
            let own = match (&self.view, &self.base) {
                (View::Base, Some((_, record))) => record.clone(),
                _ => Record::new(SessionKey::random(), session_core::kit::now()),
            };
            self.view = View::Own(own);
        }
        match &mut self.view {
            View::Own(record) => record,
            _ => unreachable!("made its own just above"),
        }
    }

    /// Takes the view out, as a record of its own.
    fn take_view(&mut self) -> Option<Record> {
        match std::mem::take(&mut self.view) {
            View::Gone => None,
            View::Base => self.base.as_ref().map(|(_, record)| record.clone()),
            View::Own(record) => Some(record),
        }
    }
}

/// `value` decoded as `T`, read in place (the value is not copied first).
fn decode<T: DeserializeOwned>(key: &str, value: &Value) -> Result<T> {
    T::deserialize(value).map_err(|e| {
        Error::new(ErrorKind::Decode, Operation::Decode)
            .with_context(format!("session value {key:?} has another type"))
            .with_source(e)
    })
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("store", &self.inner.store.as_ref().map(|s| s.name()))
            .finish_non_exhaustive()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// The verbs' futures stay small: each is created and moved into its caller's on every
    /// call, so a large one (a load or a write inlined) is copied at every level of every
    /// request. The bounds leave room for the compiler; the sizes were 2 to 4 times these
    /// before the load and the writes were boxed.
    #[test]
    fn verb_futures_stay_small() {
        let store: Arc<dyn SessionStore> = Arc::new(session_core::MemoryStore::new());
        let session = Session::new(store, Arc::new(SessionConfig::default()), None);
        let sizes = [
            ("get", std::mem::size_of_val(&session.get::<i64>("n"))),
            ("insert", std::mem::size_of_val(&session.insert("n", 1))),
            ("loaded", std::mem::size_of_val(&session.loaded())),
            ("finish", std::mem::size_of_val(&session.finish())),
        ];
        for (verb, size) in sizes {
            let bound = if verb == "finish" { 1024 } else { 512 };
            assert!(size <= bound, "the future of {verb} is {size} bytes");
        }
    }

    /// The layer answers an untouched session without running `finish`: that answer must be
    /// the one `finish` gives, and must never be given for a session that was touched, whose
    /// load failed, or that holds its turn.
    #[tokio::test]
    async fn finish_untouched_answers_as_finish_would_and_only_when_untouched() {
        let store: Arc<dyn SessionStore> = Arc::new(session_core::MemoryStore::new());
        let config = Arc::new(
            SessionConfig::default().with_wait_timeout(std::time::Duration::from_millis(20)),
        );
        let queue = SessionQueue::new();
        let first = Session::queued(store.clone(), config.clone(), &queue, None);
        first.insert("n", 1).await.unwrap();
        let committed = first.finish().await.unwrap();
        let token = committed.cookie.token().unwrap().as_str().to_owned();
        let open = || Session::queued(store.clone(), config.clone(), &queue, Some(&token));

        // Untouched, with or without a cookie: the same answer as `finish`.
        for session in [
            open(),
            Session::queued(store.clone(), config.clone(), &queue, None),
        ] {
            let quick = session.finish_untouched().expect("an untouched session");
            assert_eq!(quick, session.finish().await.unwrap());
        }

        // Touched: read only, and written.
        let reader = open();
        assert_eq!(reader.get::<i64>("n").await.unwrap(), Some(1));
        assert!(reader.finish_untouched().is_none());
        // Holding its turn, another request of the session cannot load in time; its failed
        // load must still fail its response.
        let waiter = open();
        let err = waiter.get::<i64>("n").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy);
        assert!(waiter.finish_untouched().is_none());
        assert!(waiter.finish().await.is_err());
        reader.finish().await.unwrap();

        let writer = open();
        writer.insert("n", 2).await.unwrap();
        assert!(writer.finish_untouched().is_none());
        writer.finish().await.unwrap();
        assert_eq!(open().get::<i64>("n").await.unwrap(), Some(2));
    }
}
