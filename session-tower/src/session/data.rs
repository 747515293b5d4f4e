//! The session's data: reading and writing values, counters, and the owner.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::change::Change;
use super::{Session, decode};
use session_core::kit::to_value;
use session_core::{Data, Value};
use session_core::{Error, ErrorKind, Operation, Result};

impl Session {
    /// The value under `key` decoded as `T`, or `None`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.read(key, |value| value.map(|v| decode(key, v)).transpose())
            .await?
    }

    /// The value under `key` decoded as `T`, or `default` when absent.
    pub async fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> Result<T> {
        Ok(self.get(key).await?.unwrap_or(default))
    }

    /// The raw value under `key`.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>> {
        self.read(key, |value| value.cloned()).await
    }

    /// Reads the value under `key` in place with `with`, noting the read for the commit's
    /// conflict check: a verb that only looks at a value does not copy it.
    pub(super) async fn read<R>(
        &self,
        key: &str,
        with: impl FnOnce(Option<&Value>) -> R,
    ) -> Result<R> {
        let mut state = self.loaded().await?;
        state.note_read(key);
        Ok(with(state.view().and_then(|r| r.data.get(key))))
    }

    /// Whether `key` holds a value other than null (Laravel's `has`). See also
    /// [`Session::exists`], true for null too.
    pub async fn has(&self, key: &str) -> Result<bool> {
        self.read(key, |value| value.is_some_and(|v| !v.is_null()))
            .await
    }

    /// Whether `key` is present at all, even holding null (Laravel's `exists`).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        self.read(key, |value| value.is_some()).await
    }

    /// All data (flash messages excluded).
    pub async fn all(&self) -> Result<Data> {
        let mut state = self.loaded().await?;
        state.note_read_all();
        Ok(state.view().map(|r| r.data.clone()).unwrap_or_default())
    }

    /// Stores `value` under `key`.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<()> {
        let value = to_value(key, value)?;
        self.change(Change::Set(key.to_owned(), value)).await
    }

    /// Removes `key`, returning its value.
    pub async fn remove(&self, key: &str) -> Result<Option<Value>> {
        let old = self.get_value(key).await?;
        if old.is_some() {
            self.change(Change::Remove(key.to_owned())).await?;
        }
        Ok(old)
    }

    /// Removes `key` and returns its value decoded as `T`.
    pub async fn pull<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.remove(key).await? {
            None => Ok(None),
            Some(value) => decode(key, &value).map(Some),
        }
    }

    /// Adds `by` to the integer under `key` (0 when absent) and returns the new value.
    ///
    /// Concurrent increments of one key from different requests all count, and each returns
    /// the value its own commit stores: the returned value counts as a read of `key`, so if
    /// another process changes `key` before this request commits, the commit fails with a
    /// retryable error rather than store a value other than the one returned. A value that is
    /// not an integer gives an [`ErrorKind::Decode`] error and changes nothing.
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64> {
        let mut state = self.loaded().await?;
        state.note_read(key);
        let current = match state.view().and_then(|r| r.data.get(key)) {
            None => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                Error::new(ErrorKind::Decode, Operation::Other)
                    .with_context(format!("session value {key:?} is not an integer: {v}"))
            })?,
        };
        let next = current.checked_add(by).ok_or_else(|| {
            Error::new(ErrorKind::Encode, Operation::Other)
                .with_context(format!("session value {key:?} would overflow"))
        })?;
        self.record_change(&mut state, Change::Increment(key.to_owned(), by));
        Ok(next)
    }

    /// Subtracts `by` from the integer under `key` and returns the new value.
    pub async fn decrement(&self, key: &str, by: i64) -> Result<i64> {
        let by = by.checked_neg().ok_or_else(|| {
            Error::new(ErrorKind::Encode, Operation::Other)
                .with_context("decrement step is out of range")
        })?;
        self.increment(key, by).await
    }

    /// Drops all data and flash messages but keeps the session (and its token).
    pub async fn clear(&self) -> Result<()> {
        let mut state = self.loaded().await?;
        state.flash_in.clear();
        state.flash_now.clear();
        self.record_change(&mut state, Change::Clear);
        Ok(())
    }

    /// The user this session belongs to, as set by [`Session::set_owner`].
    pub async fn owner(&self) -> Result<Option<String>> {
        let mut state = self.loaded().await?;
        state.note_read_owner();
        Ok(state.view().and_then(|r| r.owner.clone()))
    }

    /// Records which user the session belongs to (on login), or none (on logout), so the
    /// store's owner index can list and revoke a user's sessions.
    ///
    /// An owner longer than [`MAX_OWNER_BYTES`](session_core::MAX_OWNER_BYTES) is refused with
    /// [`ErrorKind::Invalid`], before any store call.
    pub async fn set_owner(&self, owner: Option<&str>) -> Result<()> {
        session_core::kit::check_owner(owner, Operation::Other)?;
        self.change(Change::Owner(owner.map(str::to_owned))).await
    }
}
