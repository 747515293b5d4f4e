//! The record a store keeps for one session.

use chrono::{DateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::id::SessionKey;

/// A dynamic session value: string, number, boolean, null, array or map.
pub use serde_json::Value;

/// Session data: string keys to dynamic values, kept in key order.
pub type Data = serde_json::Map<String, Value>;

/// Everything a store keeps for one session.
///
/// Stores keep `version` and `expires_at` natively (a column, a hash field, a file header) so
/// they can check versions and expire records without decoding them; after decoding they
/// overwrite those two fields with the native values, which [`SessionStore::touch`] may have
/// moved without rewriting the encoded bytes.
///
/// Timestamps are kept to at least millisecond precision by every store.
///
/// ```
/// use chrono::{Duration, Utc};
/// use session_core::{Record, SessionKey};
///
/// let mut record = Record::new(SessionKey::random(), Utc::now() + Duration::hours(2));
/// record.insert("cart", vec![3, 5, 8]).unwrap();
/// let cart: Vec<u32> = record.get("cart").unwrap().unwrap();
/// assert_eq!(cart, [3, 5, 8]);
/// assert_eq!(record.version, 0);
/// ```
///
/// [`SessionStore::touch`]: crate::SessionStore::touch
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// The key the store keeps this record under.
    pub key: SessionKey,
    /// The session's data.
    #[serde(default)]
    pub data: Data,
    /// Flash messages waiting for the next request that loads this session.
    #[serde(default)]
    pub flash: Data,
    /// When the session was first created.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub created_at: DateTime<Utc>,
    /// Idle expiry: the record is gone after this instant unless touched or saved.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub expires_at: DateTime<Utc>,
    /// Absolute deadline: the session ends here however active it is. The session handle never
    /// sets `expires_at` past it.
    #[serde(default, with = "chrono::serde::ts_microseconds_option")]
    pub deadline: Option<DateTime<Utc>>,
    /// The user the session belongs to, for listing and revoking a user's sessions.
    #[serde(default)]
    pub owner: Option<String>,
    /// The stored version this record was loaded at; saves are conditional on it.
    #[serde(default)]
    pub version: u64,
    /// The lifetime a handler chose for this session ("remember me"), if any; otherwise the
    /// configured one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<Lifetime>,
}

/// The longest owner ([`Record::owner`]) a session can carry, in bytes of UTF-8. Every store
/// holds an owner this long (the SQL schemas size their column for it); the codecs and
/// `session_tower::Session::set_owner` refuse a longer one with
/// [`ErrorKind::Invalid`](crate::ErrorKind::Invalid) before any store call.
pub const MAX_OWNER_BYTES: usize = 255;

/// Refuses an owner longer than [`MAX_OWNER_BYTES`].
pub fn check_owner(owner: Option<&str>, operation: Operation) -> Result<()> {
    match owner {
        Some(owner) if owner.len() > MAX_OWNER_BYTES => {
            Err(
                Error::new(ErrorKind::Invalid, operation).with_context(format!(
                    "the session owner is {} bytes; the limit is {MAX_OWNER_BYTES}",
                    owner.len()
                )),
            )
        }
        _ => Ok(()),
    }
}

/// How long a session lasts, when a handler chooses it for one session rather than leaving it
/// to the settings (`session_tower::Session::set_lifetime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Lifetime {
    /// Ends after this long without a request ("remember me for 30 days"); the cookie lasts as
    /// long, whatever the cookie settings say about closing the browser.
    Idle(std::time::Duration),
    /// Ends when the browser closes: the cookie carries no `Max-Age`. The server still ends it
    /// after the configured idle timeout.
    BrowserSession,
}

impl Record {
    /// A new, empty record at version 0, created now, expiring at `expires_at`.
    pub fn new(key: SessionKey, expires_at: DateTime<Utc>) -> Self {
        Record {
            key,
            data: Data::new(),
            flash: Data::new(),
            created_at: crate::kit::now(),
            expires_at,
            deadline: None,
            owner: None,
            version: 0,
            lifetime: None,
        }
    }

    /// Decodes a record a store kept, and puts back the version and idle expiry (epoch
    /// milliseconds) the store keeps natively: a `touch` may have moved the expiry without
    /// rewriting the encoded bytes. Stores call it in `load`, adding their name to the error.
    ///
    /// ```
    /// use session_core::chrono::{Duration, Utc};
    /// use session_core::{Codec, MessagePack, Record, SessionKey};
    ///
    /// let record = Record::new(SessionKey::random(), Utc::now() + Duration::minutes(5));
    /// let bytes = MessagePack.encode(&record).unwrap();
    /// let later = Utc::now() + Duration::hours(1);
    /// let loaded = Record::from_stored(&MessagePack, &bytes, 7, later.timestamp_millis()).unwrap();
    /// assert_eq!(loaded.version, 7);
    /// assert_eq!(loaded.expires_at.timestamp_millis(), later.timestamp_millis());
    /// ```
    pub fn from_stored(
        codec: &dyn crate::Codec,
        bytes: &[u8],
        version: u64,
        expires_at_millis: i64,
    ) -> Result<Record> {
        let mut record = codec.decode(bytes)?;
        record.version = version;
        record.expires_at = Utc
            .timestamp_millis_opt(expires_at_millis)
            .single()
            .ok_or_else(|| {
                Error::new(ErrorKind::Decode, Operation::Decode)
                    .with_context(format!("stored expiry {expires_at_millis} is out of range"))
            })?;
        Ok(record)
    }

    /// Whether the record is expired at `now`.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// The value under `key`, decoded as `T`; `None` when absent.
    ///
    /// A stored value of another shape gives an [`ErrorKind::Decode`] error.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.data.get(key) {
            None => Ok(None),
            Some(value) => T::deserialize(value).map(Some).map_err(|e| {
                Error::new(ErrorKind::Decode, Operation::Decode)
                    .with_context(format!("session value {key:?} has another type"))
                    .with_source(e)
            }),
        }
    }

    /// Stores `value` under `key`, returning the previous value.
    ///
    /// A value serde cannot turn into a [`Value`] (a map with non-string keys, say) gives an
    /// [`ErrorKind::Encode`] error and leaves the record unchanged.
    pub fn insert<T: Serialize>(
        &mut self,
        key: impl Into<String>,
        value: T,
    ) -> Result<Option<Value>> {
        let key = key.into();
        let value = to_value(&key, value)?;
        Ok(self.data.insert(key, value))
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.data.remove(key)
    }
}

/// Turns `value` into a [`Value`], naming `key` in the error.
pub fn to_value<T: Serialize>(key: &str, value: T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| {
        Error::new(ErrorKind::Encode, Operation::Encode)
            .with_context(format!("session value {key:?} cannot be stored"))
            .with_source(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn typed_access_round_trips_and_reports_mismatch() {
        let mut record = Record::new(SessionKey::random(), Utc::now());
        assert_eq!(record.insert("n", 7u8).unwrap(), None);
        assert_eq!(record.get::<u8>("n").unwrap(), Some(7));
        assert_eq!(record.get::<u8>("missing").unwrap(), None);
        let err = record.get::<String>("n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert_eq!(record.remove("n"), Some(Value::from(7)));
    }

    #[test]
    fn unencodable_value_is_an_encode_error_and_changes_nothing() {
        let mut record = Record::new(SessionKey::random(), Utc::now());
        let mut bad = HashMap::new();
        bad.insert(vec![1u8], 1u8);
        let err = record.insert("bad", bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Encode);
        assert!(record.data.is_empty());
    }
}
