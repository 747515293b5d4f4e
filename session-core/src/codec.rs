//! Turning records into bytes and back.
//!
//! Every encoding starts with a three-byte header: the magic byte `S`, a byte naming the format
//! (`m` for MessagePack, `j` for JSON) and the format's version. Decoding reads the header, so
//! a store configured with one codec still reads what another wrote, and a deployment can switch
//! codecs without losing sessions.
//!
//! ```
//! use chrono::{Duration, Utc};
//! use session_core::{Codec, Json, MessagePack, Record, SessionKey};
//!
//! let mut record = Record::new(SessionKey::random(), Utc::now() + Duration::minutes(30));
//! record.insert("user", "ada").unwrap();
//!
//! let bytes = MessagePack.encode(&record).unwrap();
//! // A JSON-configured store reads a MessagePack record.
//! let back = Json.decode(&bytes).unwrap();
//! assert_eq!(back.get::<String>("user").unwrap().as_deref(), Some("ada"));
//! ```

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::record::{Record, check_owner};

mod direct;

const MAGIC: u8 = b'S';
const HEADER_LEN: usize = 3;

/// The formats this crate writes and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// MessagePack through rmp-serde, fields named (the default).
    MessagePack,
    /// JSON through serde_json.
    Json,
}

impl Format {
    fn tag(self) -> u8 {
        match self {
            Format::MessagePack => b'm',
            Format::Json => b'j',
        }
    }

    fn version(self) -> u8 {
        1
    }

    fn header(self) -> [u8; HEADER_LEN] {
        [MAGIC, self.tag(), self.version()]
    }
}

/// Turns a [`Record`] into bytes and back.
///
/// Implementations must never panic on any input to `decode`: garbage gives an
/// [`ErrorKind::Decode`] error.
pub trait Codec: Send + Sync + fmt::Debug + 'static {
    /// A short name for messages (`"msgpack"`, `"json"`).
    fn name(&self) -> &'static str;

    /// Encodes `record`, header included.
    fn encode(&self, record: &Record) -> Result<Vec<u8>>;

    /// Encodes `record`, header included, at the end of `out`: a caller that wraps the encoding
    /// (a sealed cookie) writes it in place instead of copying it. On an error
    /// `out` may hold part of an encoding after its earlier bytes.
    ///
    /// The default appends what [`Codec::encode`] returns; this crate's codecs write in place.
    fn encode_into(&self, record: &Record, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.encode(record)?);
        Ok(())
    }

    /// Decodes bytes written by this codec or by any other format this crate knows.
    fn decode(&self, bytes: &[u8]) -> Result<Record>;

    /// The format this codec writes, when it is one of this crate's. Those codecs read each
    /// other's output back exactly, so an in-process store may hand back the record it was
    /// given instead of decoding what it wrote. `None`, the default, for any other codec.
    fn format(&self) -> Option<Format> {
        None
    }
}

impl<C: Codec + ?Sized> Codec for Arc<C> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn encode(&self, record: &Record) -> Result<Vec<u8>> {
        (**self).encode(record)
    }
    fn encode_into(&self, record: &Record, out: &mut Vec<u8>) -> Result<()> {
        (**self).encode_into(record, out)
    }
    fn decode(&self, bytes: &[u8]) -> Result<Record> {
        (**self).decode(bytes)
    }
    fn format(&self) -> Option<Format> {
        (**self).format()
    }
}

/// MessagePack through rmp-serde: compact and fast. The default codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessagePack;

/// JSON through serde_json: readable in a database console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

impl Codec for MessagePack {
    fn name(&self) -> &'static str {
        "msgpack"
    }

    fn format(&self) -> Option<Format> {
        Some(Format::MessagePack)
    }

    fn encode(&self, record: &Record) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(record, &mut out)?;
        Ok(out)
    }

    fn encode_into(&self, record: &Record, out: &mut Vec<u8>) -> Result<()> {
        check_owner(record.owner.as_deref(), Operation::Encode)?;
        out.extend_from_slice(&Format::MessagePack.header());
        let mut ser = rmp_serde::Serializer::new(out).with_struct_map();
        serde::Serialize::serialize(record, &mut ser).map_err(encode_error)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Record> {
        decode_any(bytes)
    }
}

impl Codec for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn format(&self) -> Option<Format> {
        Some(Format::Json)
    }

    fn encode(&self, record: &Record) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(record, &mut out)?;
        Ok(out)
    }

    fn encode_into(&self, record: &Record, out: &mut Vec<u8>) -> Result<()> {
        check_owner(record.owner.as_deref(), Operation::Encode)?;
        out.extend_from_slice(&Format::Json.header());
        serde_json::to_writer(out, record).map_err(encode_error)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Record> {
        decode_any(bytes)
    }
}

/// The codec used when none is configured: [`MessagePack`].
pub fn default_codec() -> Arc<dyn Codec> {
    Arc::new(MessagePack)
}

/// Decodes bytes written in any format this crate knows, whatever codec is configured.
pub fn decode_any(bytes: &[u8]) -> Result<Record> {
    let (format, body) = split_header(bytes)?;
    match format {
        // The common shape is read directly; anything else (and every error) by rmp-serde.
        Format::MessagePack => match direct::record(body) {
            Some(record) => Ok(record),
            None => rmp_serde::from_slice(body).map_err(decode_error),
        },
        Format::Json => serde_json::from_slice(body).map_err(decode_error),
    }
}

/// The format named by the header of `bytes`.
pub fn format_of(bytes: &[u8]) -> Result<Format> {
    split_header(bytes).map(|(format, _)| format)
}

fn split_header(bytes: &[u8]) -> Result<(Format, &[u8])> {
    let Some((header, body)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(decode_message(format!(
            "{} bytes is too short for a session record",
            bytes.len()
        )));
    };
    if header[0] != MAGIC {
        return Err(decode_message("not a session record (bad header)".into()));
    }
    let format = match header[1] {
        b'm' => Format::MessagePack,
        b'j' => Format::Json,
        other => {
            return Err(decode_message(format!(
                "unknown session record format {other:#04x}"
            )));
        }
    };
    if header[2] != format.version() {
        return Err(decode_message(format!(
            "unsupported version {} of the {format:?} session record format",
            header[2]
        )));
    }
    Ok((format, body))
}

fn encode_error(e: impl Into<crate::error::BoxError>) -> Error {
    Error::new(ErrorKind::Encode, Operation::Encode)
        .with_context("cannot encode session record")
        .with_source(e)
}

fn decode_error(e: impl Into<crate::error::BoxError>) -> Error {
    Error::new(ErrorKind::Decode, Operation::Decode)
        .with_context("stored bytes are not a valid session record")
        .with_source(e)
}

fn decode_message(message: String) -> Error {
    Error::new(ErrorKind::Decode, Operation::Decode).with_context(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionKey;
    use chrono::{Duration, Utc};
    use serde_json::json;

    fn sample() -> Record {
        let mut r = Record::new(SessionKey::random(), Utc::now() + Duration::minutes(5));
        r.insert("s", "text ✓").unwrap();
        r.insert("i", -42).unwrap();
        r.insert("u", u64::MAX).unwrap();
        r.insert("f", 1.5).unwrap();
        r.insert("b", true).unwrap();
        r.insert("n", ()).unwrap();
        r.insert("a", json!([1, "two", [3.0], {"four": null}]))
            .unwrap();
        r.insert("m", json!({"nested": {"deep": [true, false]}}))
            .unwrap();
        r.flash.insert("status".into(), json!("Saved!"));
        r.deadline = Some(Utc::now() + Duration::hours(8));
        r.owner = Some("user-7".into());
        r.version = 12;
        r.lifetime = Some(crate::Lifetime::Idle(std::time::Duration::from_secs(
            86_400,
        )));
        r
    }

    fn same_to_the_microsecond(a: &Record, b: &Record) -> bool {
        let us = |t: chrono::DateTime<Utc>| t.timestamp_micros();
        a.key == b.key
            && a.data == b.data
            && a.flash == b.flash
            && us(a.created_at) == us(b.created_at)
            && us(a.expires_at) == us(b.expires_at)
            && a.deadline.map(us) == b.deadline.map(us)
            && a.owner == b.owner
            && a.version == b.version
            && a.lifetime == b.lifetime
    }

    #[test]
    fn both_codecs_round_trip_every_field() {
        let record = sample();
        for codec in [&MessagePack as &dyn Codec, &Json] {
            let bytes = codec.encode(&record).unwrap();
            let back = codec.decode(&bytes).unwrap();
            assert!(
                same_to_the_microsecond(&record, &back),
                "{}: {back:?}",
                codec.name()
            );
        }
    }

    #[test]
    fn encoding_in_place_appends_exactly_what_encode_returns() {
        /// A codec that only encodes, so the trait's own `encode_into` runs.
        #[derive(Debug)]
        struct Plain;
        impl Codec for Plain {
            fn name(&self) -> &'static str {
                "plain"
            }
            fn encode(&self, record: &Record) -> Result<Vec<u8>> {
                MessagePack.encode(record)
            }
            fn decode(&self, bytes: &[u8]) -> Result<Record> {
                decode_any(bytes)
            }
        }
        let record = sample();
        let shared: Arc<dyn Codec> = Arc::new(Json);
        for codec in [&MessagePack as &dyn Codec, &Json, &Plain, &shared] {
            let mut out = b"before".to_vec();
            codec.encode_into(&record, &mut out).unwrap();
            assert_eq!(&out[..6], b"before", "{}", codec.name());
            assert_eq!(out[6..], codec.encode(&record).unwrap(), "{}", codec.name());
        }
        let mut bad = sample();
        bad.owner = Some("o".repeat(crate::record::MAX_OWNER_BYTES + 1));
        for codec in [&MessagePack as &dyn Codec, &Json] {
            let e = codec.encode_into(&bad, &mut Vec::new()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Invalid, "{}", codec.name());
        }
    }

    #[test]
    fn each_codec_reads_the_other() {
        let record = sample();
        let m = MessagePack.encode(&record).unwrap();
        let j = Json.encode(&record).unwrap();
        assert_eq!(format_of(&m).unwrap(), Format::MessagePack);
        assert_eq!(format_of(&j).unwrap(), Format::Json);
        assert!(same_to_the_microsecond(&Json.decode(&m).unwrap(), &record));
        assert!(same_to_the_microsecond(
            &MessagePack.decode(&j).unwrap(),
            &record
        ));
    }

    #[test]
    fn messagepack_is_smaller_than_json() {
        let record = sample();
        assert!(MessagePack.encode(&record).unwrap().len() < Json.encode(&record).unwrap().len());
    }

    #[test]
    fn bad_headers_are_decode_errors() {
        for bytes in [
            &b""[..],
            b"S",
            b"Sm",
            b"Xm\x01",
            b"Sz\x01",
            b"Sm\x09",
            b"Sj\x01",
        ] {
            let err = decode_any(bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{bytes:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A small xorshift generator keeps the test deterministic without another dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = MessagePack.encode(&sample()).unwrap();
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                // Random bytes behind a valid header.
                let len = (next() % 300) as usize;
                let mut b = Format::MessagePack.header().to_vec();
                b.extend((0..len).map(|_| next() as u8));
                b
            } else {
                // A valid record with a few bytes flipped or cut.
                let mut b = valid.clone();
                for _ in 0..3 {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                b.truncate((next() as usize) % (b.len() + 1));
                b
            };
            if round % 3 == 0 && bytes.len() > 1 {
                bytes[1] = b'j';
            }
            let _ = decode_any(&bytes);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = 100_000;
        let mut body = Vec::new();
        // fixmap of one entry "data" -> array-in-array-in-array ...
        body.extend_from_slice(&Format::MessagePack.header());
        body.push(0x81);
        body.push(0xa4);
        body.extend_from_slice(b"data");
        body.extend(std::iter::repeat_n(0x91u8, depth));
        assert_eq!(decode_any(&body).unwrap_err().kind(), ErrorKind::Decode);

        let mut json = Format::Json.header().to_vec();
        json.extend_from_slice(b"{\"data\":{\"x\":");
        json.extend(std::iter::repeat_n(b'[', depth));
        assert_eq!(decode_any(&json).unwrap_err().kind(), ErrorKind::Decode);
    }
}
