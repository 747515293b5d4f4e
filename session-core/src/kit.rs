//! The store kit: the small pieces every storage driver needs, in one place, so a driver holds
//! only what is particular to its backend.
//!
//! For store authors (see the guide's page on writing a store). Each piece names the store and
//! the operation in its errors the way every built-in driver does, so messages and logs read
//! the same whichever store produced them.
//!
//! ```
//! use std::time::Duration;
//! use session_core::chrono::{Duration as Span, Utc};
//! use session_core::{kit, ErrorKind, MessagePack, Operation, Record, SessionKey};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let record = Record::new(SessionKey::random(), Utc::now() + Span::minutes(30));
//! let bytes = kit::encode(&MessagePack, &record, Some(400_000), "mine", Operation::Save)?;
//!
//! // A backend call that does not answer in time is a temporary timeout.
//! let slow = async {
//!     tokio::time::sleep(Duration::from_secs(5)).await;
//!     Ok(())
//! };
//! let err = kit::within(Duration::from_millis(10), "mine", Operation::Save, slow)
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Timeout);
//! assert!(err.is_temporary());
//!
//! // A version check that failed.
//! let err = kit::version_conflict("mine", Operation::Save, 4, record.version);
//! assert!(err.is_conflict());
//! # Ok::<(), session_core::Error>(())
//! # }).unwrap();
//! ```

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

pub use crate::record::{check_owner, to_value};

use crate::codec::Codec;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::record::Record;

/// Now, as milliseconds since the epoch: the unit stores keep expiry in natively.
pub fn now_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(_) => Utc::now().timestamp_millis(),
    }
}

thread_local! {
    /// The day this thread last turned into a date: days since the epoch, and that date.
    static TODAY: Cell<Option<(u64, NaiveDate)>> = const { Cell::new(None) };
}

/// The current time, the same instant [`Utc::now`] gives, for code that reads the clock on
/// every request.
///
/// `Utc::now` turns the system clock's seconds into a calendar date each time it is called;
/// this keeps the last date per thread and redoes that only when the day changes, which leaves
/// the read of the clock itself as nearly the whole cost.
///
/// ```
/// use session_core::chrono::Utc;
/// use session_core::kit;
///
/// let before = Utc::now();
/// let now = kit::now();
/// assert!(before <= now && now <= Utc::now());
/// ```
pub fn now() -> DateTime<Utc> {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => at_epoch_offset(since).unwrap_or_else(Utc::now),
        Err(_) => Utc::now(),
    }
}

/// The instant `since` after the epoch, with this thread's last date when it falls on it.
fn at_epoch_offset(since: Duration) -> Option<DateTime<Utc>> {
    const DAY: u64 = 86_400;
    let secs = since.as_secs();
    let (days, of_day) = (secs / DAY, secs % DAY);
    let date = match TODAY.get() {
        Some((today, date)) if today == days => date,
        _ => {
            let date = DateTime::from_timestamp(i64::try_from(days * DAY).ok()?, 0)?.date_naive();
            TODAY.set(Some((days, date)));
            date
        }
    };
    let time = NaiveTime::from_num_seconds_from_midnight_opt(
        u32::try_from(of_day).ok()?,
        since.subsec_nanos(),
    )?;
    Some(date.and_time(time).and_utc())
}

/// Encodes `record` with `codec` for `store` during `op`, refusing an encoding of more than
/// `limit` bytes (when there is one) with [`ErrorKind::TooLarge`]. Errors name the store and
/// the operation.
pub fn encode(
    codec: &dyn Codec,
    record: &Record,
    limit: Option<usize>,
    store: &'static str,
    op: Operation,
) -> Result<Vec<u8>> {
    let bytes = codec
        .encode(record)
        .map_err(|e| e.with_store(store).with_operation(op))?;
    if let Some(limit) = limit
        && bytes.len() > limit
    {
        return Err(Error::new(ErrorKind::TooLarge, op)
            .with_store(store)
            .with_context(format!(
                "the encoded record is {} bytes; this store keeps at most {limit}",
                bytes.len()
            )));
    }
    Ok(bytes)
}

/// Decodes a record `store` kept as `bytes`, with the version and expiry it keeps natively
/// (see [`Record::from_stored`]). Errors name the store and [`Operation::Load`].
pub fn decode(
    codec: &dyn Codec,
    bytes: &[u8],
    version: u64,
    expires_at_millis: i64,
    store: &'static str,
) -> Result<Record> {
    Record::from_stored(codec, bytes, version, expires_at_millis)
        .map_err(|e| e.with_store(store).with_operation(Operation::Load))
}

/// The [`ErrorKind::Conflict`] of a version check: `store` holds version `stored`, the record
/// being written was loaded at `loaded`.
pub fn version_conflict(store: &'static str, op: Operation, stored: u64, loaded: u64) -> Error {
    Error::conflict(op).with_store(store).with_context(format!(
        "stored version is {stored}, the record was loaded at {loaded}"
    ))
}

/// The version a successful save of a record loaded at `loaded` writes: `loaded + 1`, or an
/// [`ErrorKind::Invalid`] error for a version that cannot grow.
pub fn next_version(store: &'static str, op: Operation, loaded: u64) -> Result<u64> {
    loaded.checked_add(1).ok_or_else(|| {
        Error::new(ErrorKind::Invalid, op)
            .with_store(store)
            .with_context("the record's version cannot grow past u64::MAX")
    })
}

/// The temporary [`ErrorKind::Timeout`] of an operation `store`'s backend did not finish within
/// `limit`.
pub fn timed_out(store: &'static str, op: Operation, limit: Duration) -> Error {
    Error::new(ErrorKind::Timeout, op)
        .with_store(store)
        .with_context(format!(
            "the {store} backend did not answer within {limit:?}"
        ))
        .temporary()
}

/// Runs `operation`, failing with [`timed_out`] once `limit` has passed. Every call a driver
/// makes to its backend goes through a bound like this one, so no request waits out an outage.
pub async fn within<T>(
    limit: Duration,
    store: &'static str,
    op: Operation,
    operation: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(store, op, limit)),
    }
}

/// Bytes the system allocator serves from its per-thread cache; a box larger than this takes
/// its slower path on every call that makes one.
pub const SMALL_FUTURE_BYTES: usize = 1024;

/// The size in bytes of the future each per-request call of `store` makes (load, create, save,
/// touch, delete), named. Every call's future is boxed, so a driver whose futures stay within
/// [`SMALL_FUTURE_BYTES`] has each box served from the allocator's per-thread cache: drivers
/// assert it in their tests. Nothing is polled, so no backend is needed.
///
/// ```
/// use session_core::{MemoryStore, kit};
///
/// for (call, size) in kit::future_sizes(&MemoryStore::new()) {
///     assert!(size <= kit::SMALL_FUTURE_BYTES, "the future of a {call} is {size} bytes");
/// }
/// ```
pub fn future_sizes(store: &dyn crate::SessionStore) -> [(&'static str, usize); 5] {
    let record = Record::new(
        crate::SessionKey::random(),
        now() + chrono::Duration::hours(1),
    );
    [
        ("load", std::mem::size_of_val(&*store.load(&record.key))),
        ("create", std::mem::size_of_val(&*store.create(&record))),
        ("save", std::mem::size_of_val(&*store.save(&record))),
        (
            "touch",
            std::mem::size_of_val(&*store.touch(&record.key, record.expires_at)),
        ),
        ("delete", std::mem::size_of_val(&*store.delete(&record.key))),
    ]
}

/// `url` with any password replaced by `***`, for messages and `Debug` output: a driver's
/// settings show where they point, never the secret.
///
/// ```
/// use session_core::kit::redacted_url;
///
/// assert_eq!(redacted_url("redis://:hunter2@cache:6379/0"), "redis://:***@cache:6379/0");
/// assert_eq!(redacted_url("postgres://app:pw@db/app"), "postgres://app:***@db/app");
/// assert_eq!(redacted_url("sqlite://data/sessions.db"), "sqlite://data/sessions.db");
/// ```
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Json, SessionKey};
    use chrono::Duration as Span;

    #[test]
    fn now_is_the_instant_chrono_gives() {
        // Across day, month, year and leap-day boundaries, in both directions, so the kept
        // date is both reused and replaced.
        let mut instants = Vec::new();
        for day in [
            "1970-01-01",
            "2000-02-28",
            "2000-02-29",
            "2024-12-31",
            "2100-02-28",
            "2262-04-11",
        ] {
            let midnight = format!("{day}T00:00:00Z").parse::<DateTime<Utc>>().unwrap();
            let secs = u64::try_from(midnight.timestamp()).unwrap();
            for offset in [0, 1, 43_199, 86_399, 86_400, 86_401] {
                for nanos in [0, 1, 999_999_999] {
                    instants.push(Duration::new(secs + offset, nanos));
                    instants.push(Duration::new((secs + offset).saturating_sub(1), nanos));
                }
            }
        }
        for since in instants.iter().chain(instants.iter().rev()) {
            let expected = DateTime::from_timestamp(
                i64::try_from(since.as_secs()).unwrap(),
                since.subsec_nanos(),
            )
            .unwrap();
            assert_eq!(super::at_epoch_offset(*since), Some(expected), "{since:?}");
        }
        let (before, now, after) = (Utc::now(), super::now(), Utc::now());
        assert!(before <= now && now <= after);
        let millis = super::now_millis();
        assert!((before.timestamp_millis()..=Utc::now().timestamp_millis()).contains(&millis));
    }

    #[test]
    fn an_encoding_past_the_limit_is_too_large_and_names_the_store() {
        let mut record = Record::new(SessionKey::random(), Utc::now() + Span::minutes(5));
        record.insert("big", "x".repeat(500)).unwrap();
        let err = encode(&Json, &record, Some(100), "mine", Operation::Create).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        assert_eq!(err.store(), "mine");
        assert_eq!(err.operation(), Operation::Create);
        let bytes = encode(&Json, &record, None, "mine", Operation::Create).unwrap();
        let back = decode(
            &Json,
            &bytes,
            3,
            record.expires_at.timestamp_millis(),
            "mine",
        )
        .unwrap();
        assert_eq!(back.version, 3);
        assert_eq!(back.data, record.data);
    }

    #[test]
    fn undecodable_bytes_name_the_store_and_the_load() {
        let err = decode(&Json, b"garbage", 1, now_millis(), "mine").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert_eq!((err.store(), err.operation()), ("mine", Operation::Load));
    }

    #[test]
    fn a_conflict_says_both_versions() {
        let err = version_conflict("mine", Operation::Save, 7, 5);
        assert!(err.is_conflict());
        assert!(!err.is_temporary());
        let text = err.to_string();
        assert!(text.contains('7') && text.contains('5'), "{text}");
    }
}
