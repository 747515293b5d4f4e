//! What the in-process stores keep per session.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::codec::Codec;
use crate::error::{Operation, Result};
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
