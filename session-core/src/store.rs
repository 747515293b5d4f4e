//! The storage contract every driver implements.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::id::SessionKey;
use crate::record::Record;
use crate::walk::{WalkCursor, WalkPage};

/// What a store can do beyond the required operations.
///
/// The conformance suite runs the cases a store's capabilities allow and reports the others as
/// ignored, never as passed. Build one from [`Capabilities::default`] (nothing optional) and set
/// the fields that apply:
///
/// ```
/// use session_core::Capabilities;
///
/// let caps = Capabilities::default().with_sweep(true).with_owner_index(true);
/// assert!(caps.sweep && caps.owner_index);
/// assert!(caps.conditional_writes);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`SessionStore::list_by_owner`] and [`SessionStore::delete_by_owner`] work.
    pub owner_index: bool,
    /// The backend deletes expired records by itself (Redis expiry, DynamoDB TTL).
    pub native_ttl: bool,
    /// [`SessionStore::sweep`] deletes expired records and says how many.
    pub sweep: bool,
    /// `save` is checked against the stored version and `create` against an existing key.
    /// Only a store that keeps nothing server-side (a sealed cookie) lacks this.
    pub conditional_writes: bool,
    /// Several processes (or machines) pointing at the same backend see the same sessions.
    pub shared: bool,
    /// The server can end a session: once deleted (logout, regenerate), its old token or cookie
    /// no longer works. Only a store that keeps nothing server-side (a sealed cookie) lacks this.
    pub revocable: bool,
    /// The largest encoded record the store accepts, when it has a limit.
    pub max_record_size: Option<usize>,
    /// [`SessionStore::walk`] goes through every live record in pages (for operators' tools:
    /// counting, listing, migrating between stores).
    pub walk: bool,
}

impl Default for Capabilities {
    /// Conditional writes and revocation, and nothing optional.
    fn default() -> Self {
        Capabilities {
            owner_index: false,
            native_ttl: false,
            sweep: false,
            conditional_writes: true,
            shared: false,
            revocable: true,
            max_record_size: None,
            walk: false,
        }
    }
}

impl Capabilities {
    /// Sets [`Capabilities::owner_index`].
    pub const fn with_owner_index(mut self, on: bool) -> Self {
        self.owner_index = on;
        self
    }

    /// Sets [`Capabilities::native_ttl`].
    pub const fn with_native_ttl(mut self, on: bool) -> Self {
        self.native_ttl = on;
        self
    }

    /// Sets [`Capabilities::sweep`].
    pub const fn with_sweep(mut self, on: bool) -> Self {
        self.sweep = on;
        self
    }

    /// Sets [`Capabilities::conditional_writes`].
    pub const fn with_conditional_writes(mut self, on: bool) -> Self {
        self.conditional_writes = on;
        self
    }

    /// Sets [`Capabilities::shared`].
    pub const fn with_shared(mut self, on: bool) -> Self {
        self.shared = on;
        self
    }

    /// Sets [`Capabilities::revocable`].
    pub const fn with_revocable(mut self, on: bool) -> Self {
        self.revocable = on;
        self
    }

    /// Sets [`Capabilities::walk`].
    pub const fn with_walk(mut self, on: bool) -> Self {
        self.walk = on;
        self
    }

    /// Sets [`Capabilities::max_record_size`].
    pub const fn with_max_record_size(mut self, bytes: Option<usize>) -> Self {
        self.max_record_size = bytes;
        self
    }
}

/// Storage for session records.
///
/// Object-safe, so stores can be boxed and stacked (`Box<dyn SessionStore>`,
/// `Arc<dyn SessionStore>`, a cache in front of a backend). Every method is required: a default
/// would silently bypass a wrapper's own behaviour. Stores are keyed by [`SessionKey`], never by
/// the visitor's token.
///
/// Each method's `# Behavior` list is the contract; every bullet names the conformance case
/// that checks it, and a test holds the bullets and the cases to each other.
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// A short name for messages and logs (`"memory"`, `"redis"` ...).
    fn name(&self) -> &str;

    /// What this store can do beyond the required operations.
    ///
    /// # Behavior
    /// - Says what the store's documented capability checklist says
    ///   (case `store::capabilities_match_the_documented_checklist`, added by
    ///   `Suite::with_checklist`).
    fn capabilities(&self) -> Capabilities;

    /// Loads the record stored under `key`.
    ///
    /// # Behavior
    /// - Returns `None` when no record is stored under `key`
    ///   (case `store::load_absent_returns_none`).
    /// - Returns `None` when the record's `expires_at` has passed, even if the backend has not
    ///   removed it yet (case `store::load_never_returns_expired_record`).
    /// - Returns every field as stored, with `version` the currently stored version and
    ///   `expires_at` as last set by `create`, `save` or `touch`; every value type, unicode and
    ///   large values included, whichever codec wrote it, and each record apart from the others
    ///   (cases `store::create_then_load_returns_every_field`,
    ///   `store::every_value_type_round_trips`, `store::unicode_keys_and_values_round_trip`,
    ///   `store::large_value_round_trips`, `store::codec_switch_keeps_records_readable`,
    ///   `store::records_are_independent`).
    async fn load(&self, key: &SessionKey) -> Result<Option<Record>>;

    /// Stores a new record under `record.key`, at `record.version`.
    ///
    /// # Behavior
    /// - Fails with [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) when a live
    ///   record is stored under the key, and leaves that record unchanged
    ///   (case `store::create_on_taken_key_fails_and_keeps_record`).
    /// - Succeeds when the only record under the key has expired, replacing it
    ///   (case `store::create_over_expired_record_succeeds`).
    /// - Fails with [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge) when the encoded record
    ///   passes [`Capabilities::max_record_size`] (case `store::oversized_record_is_rejected`).
    /// - Keeps an owner of up to [`MAX_OWNER_BYTES`](crate::MAX_OWNER_BYTES), and refuses a
    ///   longer one with [`ErrorKind::Invalid`](crate::ErrorKind::Invalid) before writing
    ///   (case `store::owner_at_the_limit_is_kept_and_one_past_it_refused`).
    async fn create(&self, record: &Record) -> Result<()>;

    /// Replaces the stored record, on condition that the stored version is `record.version`.
    /// Returns the new stored version.
    ///
    /// # Behavior
    /// - On success the stored version becomes a different, greater number (the old one plus
    ///   one), which is returned; every field of `record` but `version` is stored as given, the
    ///   expiry included (cases `store::save_persists_changes_and_bumps_version`,
    ///   `store::save_moves_expiry`).
    /// - Fails with [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) when the stored version
    ///   differs, and leaves the stored record unchanged, so racing versioned writers lose
    ///   nothing (cases `store::save_with_stale_version_conflicts`,
    ///   `store::concurrent_versioned_increments_lose_nothing`).
    /// - Fails with [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) when the record is gone
    ///   (deleted or expired), and does not bring it back
    ///   (cases `store::save_after_delete_fails_and_does_not_resurrect`,
    ///   `store::save_after_expiry_fails_and_does_not_resurrect`).
    async fn save(&self, record: &Record) -> Result<u64>;

    /// Moves the idle expiry of the record under `key` to `expires_at`.
    ///
    /// # Behavior
    /// - Changes neither the data nor the version (case `store::touch_moves_expiry_only`).
    /// - Fails with [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) when the record is gone
    ///   (deleted or expired), and does not bring it back
    ///   (cases `store::touch_after_delete_fails_and_does_not_resurrect`,
    ///   `store::touch_after_expiry_fails_and_does_not_resurrect`).
    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()>;

    /// Deletes the record under `key`.
    ///
    /// # Behavior
    /// - After it returns, `load` returns `None` and `save` fails with `NotFound`
    ///   (case `store::delete_removes_record`).
    /// - Deleting a missing key succeeds (case `store::delete_missing_key_succeeds`).
    async fn delete(&self, key: &SessionKey) -> Result<()>;

    /// Deletes every expired record and returns how many it deleted.
    ///
    /// # Behavior
    /// - Deletes expired records, and only those
    ///   (case `store::sweep_removes_expired_and_only_expired`).
    /// - Fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) when
    ///   [`Capabilities::sweep`] is false (case `store::sweep_without_capability_is_unsupported`).
    async fn sweep(&self) -> Result<u64>;

    /// The keys of the live sessions whose `owner` is `owner`.
    ///
    /// # Behavior
    /// - Lists every live record saved or created with this owner, and no other
    ///   (case `store::owner_index_lists_live_sessions_of_owner`).
    /// - Omits deleted and expired records, and records whose owner changed
    ///   (cases `store::owner_index_forgets_deleted_and_expired`,
    ///   `store::owner_index_follows_owner_changes`).
    /// - Keeps listing a session for as long as it lives, however far saves and touches
    ///   moved its expiry past the one it was created with
    ///   (case `store::owner_index_keeps_sessions_whose_expiry_moved_on`).
    /// - Fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) when
    ///   [`Capabilities::owner_index`] is false
    ///   (case `store::owner_index_without_capability_is_unsupported`).
    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>>;

    /// Deletes every session of `owner` ("log out everywhere") and returns how many it deleted.
    ///
    /// # Behavior
    /// - Deletes every record of this owner; records of other owners are untouched, and a
    ///   later `save` of a deleted record fails with `NotFound`
    ///   (case `store::delete_by_owner_revokes_only_that_owner`).
    /// - Fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) when
    ///   [`Capabilities::owner_index`] is false (the same case as for `list_by_owner`,
    ///   `store::owner_index_without_capability_is_unsupported`).
    async fn delete_by_owner(&self, owner: &str) -> Result<u64>;

    /// One page of a walk through every live record: at most `limit` records (a `limit` of
    /// 0 counts as 1), and the cursor to pass for the next page, `None` once the walk is done.
    /// Start with `from = None`. The walk is resumable: a cursor stays good for as long as the
    /// store's layout does (a program may keep it and go on later). It reads page by page,
    /// never every record at once, so it suits stores of any size.
    ///
    /// # Behavior
    /// - Walking from the start until the cursor is `None` yields every record that stays
    ///   live throughout, at least once, in pages of at most `limit`, and no deleted or expired
    ///   record; a page may be short, even empty, and still have a cursor
    ///   (case `store::walk_yields_every_live_record_in_pages`).
    /// - A walk resumed from a cursor of an earlier page goes on from there, yielding none of
    ///   the records the pages before it yielded (case `store::walk_resumes_from_a_cursor`).
    /// - A cursor the store did not make fails with
    ///   [`ErrorKind::Invalid`](crate::ErrorKind::Invalid), never a panic
    ///   (case `store::walk_refuses_a_cursor_it_did_not_make`).
    /// - Fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) when
    ///   [`Capabilities::walk`] is false (case `store::walk_without_capability_is_unsupported`).
    async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage>;
}

macro_rules! forward_store {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<S: SessionStore + ?Sized> SessionStore for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
                (**self).load(key).await
            }
            async fn create(&self, record: &Record) -> Result<()> {
                (**self).create(record).await
            }
            async fn save(&self, record: &Record) -> Result<u64> {
                (**self).save(record).await
            }
            async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
                (**self).touch(key, expires_at).await
            }
            async fn delete(&self, key: &SessionKey) -> Result<()> {
                (**self).delete(key).await
            }
            async fn sweep(&self) -> Result<u64> {
                (**self).sweep().await
            }
            async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
                (**self).list_by_owner(owner).await
            }
            async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
                (**self).delete_by_owner(owner).await
            }
            async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage> {
                (**self).walk(from, limit).await
            }
        }
    )*};
}

forward_store!(Arc<S>, Box<S>);
