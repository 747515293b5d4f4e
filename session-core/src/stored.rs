//! What the in-process stores keep: each session's encoded record, and an index of owners.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::codec::Codec;
use crate::error::{Operation, Result};
use crate::id::{KeyHashing, SessionKey};
use crate::record::Record;

/// One session as an in-process store keeps it: the encoded record, and beside it the fields
/// the store checks without decoding. Cloning shares the bytes.
#[derive(Clone)]
pub(crate) struct Stored {
    pub(crate) bytes: Arc<[u8]>,
    /// The record as it was written, when the store keeps it (the memory store does) and this
    /// crate's codec wrote it: a load with this crate's codec then copies it instead of
    /// decoding the bytes, which those codecs would read back to the same record.
    pub(crate) written: Option<Arc<Record>>,
    pub(crate) version: u64,
    /// Kept to the millisecond, as stores keep expiries (see [`Stored::expiring`]).
    expires_at: DateTime<Utc>,
    pub(crate) owner: Option<String>,
}

impl Stored {
    /// Encodes `record` with `codec`, refusing more than `limit` bytes when there is one, and
    /// keeps the record as written too when `keep` is set.
    pub(crate) fn encode(
        record: &Record,
        codec: &dyn Codec,
        limit: Option<usize>,
        store: &'static str,
        operation: Operation,
        keep: bool,
    ) -> Result<Self> {
        let bytes = crate::kit::encode(codec, record, limit, store, operation)?;
        let written = (keep && codec.format().is_some()).then(|| Arc::new(as_encoded(record)));
        Ok(Stored {
            bytes: bytes.into(),
            written,
            version: record.version,
            expires_at: to_millis(record.expires_at),
            owner: record.owner.clone(),
        })
    }

    /// Moves the idle expiry to `expires_at` (kept to the millisecond).
    pub(crate) fn expiring(&mut self, expires_at: DateTime<Utc>) {
        self.expires_at = to_millis(expires_at);
    }

    /// Whether the session is still live at `now`.
    pub(crate) fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }

    /// The record, with the version and expiry kept here.
    pub(crate) fn record(&self, codec: &dyn Codec, store: &'static str) -> Result<Record> {
        if let (Some(written), Some(_)) = (&self.written, codec.format()) {
            let mut record = Record::clone(written);
            record.version = self.version;
            // As a decode would give it: the expiry is kept to the millisecond.
            record.expires_at = self.expires_at;
            return Ok(record);
        }
        crate::kit::decode(
            codec,
            &self.bytes,
            self.version,
            self.expires_at.timestamp_millis(),
            store,
        )
    }
}

/// `record` as this crate's codecs read it back: times to the microsecond, as they write them.
fn as_encoded(record: &Record) -> Record {
    let micros =
        |t: DateTime<Utc>| DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t);
    let mut record = record.clone();
    record.created_at = micros(record.created_at);
    record.deadline = record.deadline.map(micros);
    record
}

/// `t` to the millisecond, as stores keep expiries.
fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// Owner name to the keys of its sessions, as the in-process stores keep it. It holds keys
/// only; a store checks that a listed key is still live, and still the owner's, against its
/// entries.
#[derive(Default)]
pub(crate) struct OwnerIndex(HashMap<String, HashSet<SessionKey, KeyHashing>>);

impl OwnerIndex {
    /// Records that `key` moved from owner `old` to owner `new` (either may be none).
    pub(crate) fn moved(&mut self, key: &SessionKey, old: Option<&str>, new: Option<&str>) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.remove(old, key);
        }
        if let Some(new) = new {
            self.0
                .entry(new.to_owned())
                .or_default()
                .insert(key.clone());
        }
    }

    /// Drops `key` from `owner`'s sessions, and the owner once it has none.
    pub(crate) fn remove(&mut self, owner: &str, key: &SessionKey) {
        if let Some(keys) = self.0.get_mut(owner) {
            keys.remove(key);
            if keys.is_empty() {
                self.0.remove(owner);
            }
        }
    }

    /// The keys indexed under `owner`, in no order.
    pub(crate) fn keys(&self, owner: &str) -> Vec<SessionKey> {
        self.0
            .get(owner)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets `owner` and every key under it.
    #[cfg(feature = "moka")]
    pub(crate) fn forget(&mut self, owner: &str) {
        self.0.remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Json, MessagePack};
    use crate::id::SessionKey;
    use chrono::Duration;

    fn record() -> Record {
        let now = Utc::now();
        let mut record = Record::new(SessionKey::random(), now + Duration::minutes(30));
        record.deadline = Some(now + Duration::hours(8));
        record.owner = Some("ada".into());
        record.version = 4;
        record.insert("n", 1.5).unwrap();
        record.insert("cart", vec![u64::MAX, 0]).unwrap();
        record.flash.insert("status".into(), "saved".into());
        record
    }

    #[test]
    fn the_record_as_written_reads_back_exactly_as_a_decode_would() {
        for writer in [&MessagePack as &dyn Codec, &Json] {
            let stored =
                Stored::encode(&record(), writer, None, "t", Operation::Save, true).unwrap();
            assert!(stored.written.is_some());
            for reader in [&MessagePack as &dyn Codec, &Json] {
                let kept = stored.record(reader, "t").unwrap();
                let decoded = crate::kit::decode(
                    reader,
                    &stored.bytes,
                    stored.version,
                    stored.expires_at.timestamp_millis(),
                    "t",
                )
                .unwrap();
                assert_eq!(kept, decoded, "{} then {}", writer.name(), reader.name());
            }
        }
    }

    #[test]
    fn nothing_is_kept_unless_asked_or_for_another_codec() {
        let stored = Stored::encode(&record(), &MessagePack, None, "t", Operation::Save, false);
        assert!(stored.unwrap().written.is_none());

        #[derive(Debug)]
        struct Foreign;
        impl Codec for Foreign {
            fn name(&self) -> &'static str {
                "foreign"
            }
            fn encode(&self, record: &Record) -> Result<Vec<u8>> {
                MessagePack.encode(record)
            }
            fn decode(&self, bytes: &[u8]) -> Result<Record> {
                MessagePack.decode(bytes)
            }
        }
        let stored = Stored::encode(&record(), &Foreign, None, "t", Operation::Save, true);
        assert!(stored.unwrap().written.is_none());
    }
}
