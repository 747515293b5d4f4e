//! What the in-process stores keep: each session's encoded record, and an index of owners.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::codec::Codec;
use crate::error::{Operation, Result};
use crate::id::SessionKey;
use crate::record::Record;

/// One session as an in-process store keeps it: the encoded record, and beside it the fields
/// the store checks without decoding. Cloning shares the bytes.
#[derive(Clone)]
pub(crate) struct Stored {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) version: u64,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) owner: Option<String>,
}

impl Stored {
    /// Encodes `record` with `codec`, refusing more than `limit` bytes when there is one.
    pub(crate) fn encode(
        record: &Record,
        codec: &dyn Codec,
        limit: Option<usize>,
        store: &'static str,
        operation: Operation,
    ) -> Result<Self> {
        let bytes = crate::kit::encode(codec, record, limit, store, operation)?;
        Ok(Stored {
            bytes: bytes.into(),
            version: record.version,
            expires_at: record.expires_at,
            owner: record.owner.clone(),
        })
    }

    /// Whether the session is still live at `now`.
    pub(crate) fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }

    /// The record, with the version and expiry kept here.
    pub(crate) fn record(&self, codec: &dyn Codec, store: &'static str) -> Result<Record> {
        crate::kit::decode(
            codec,
            &self.bytes,
            self.version,
            self.expires_at.timestamp_millis(),
            store,
        )
    }
}

/// Owner name to the keys of its sessions, as the in-process stores keep it. It holds keys
/// only; a store checks that a listed key is still live, and still the owner's, against its
/// entries.
#[derive(Default)]
pub(crate) struct OwnerIndex(HashMap<String, HashSet<SessionKey>>);

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
