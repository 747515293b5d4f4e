//! Reading a MessagePack record straight into a [`Record`].
//!
//! rmp-serde reaches every value of the session's data through serde's generic path (a visitor
//! per value, a marker read twice, a size hint per collection). Records this crate writes have
//! one shape: a map of the record's named fields, whose data and flash maps hold nil, booleans,
//! numbers, strings, arrays and string-keyed maps. This module reads that shape in one pass.
//!
//! It never decides a record is invalid: anything outside that shape (a field it does not know,
//! a duplicate field, binary or extension values, a non-string map key, invalid UTF-8, an
//! out-of-range timestamp, nesting deeper than [`MAX_DEPTH`], a truncated input) gives `None`,
//! and the caller decodes the same bytes with rmp-serde, which returns the record or the error.
//! So where this reader answers, it answers what rmp-serde would (the property test below and
//! the `record_msgpack` fuzz target compare the two on arbitrary inputs).

use chrono::{DateTime, Utc};
use rmp::Marker;

use crate::id::SessionKey;
use crate::record::{Data, Lifetime, Record, Value};

/// Deepest nesting of arrays and maps read here; deeper records go to rmp-serde, whose limit
/// decides.
const MAX_DEPTH: u32 = 64;

/// The record `body` (the bytes after the format header) holds, when it has the common shape.
pub(super) fn record(body: &[u8]) -> Option<Record> {
    let mut input = Input { bytes: body };
    let fields = input.map_len()?;
    let mut record = Fields::default();
    for _ in 0..fields {
        let name = input.str()?;
        match name {
            "key" => set(&mut record.key, SessionKey::parse(input.str()?).ok()?)?,
            "data" => set(&mut record.data, input.object(MAX_DEPTH)?)?,
            "flash" => set(&mut record.flash, input.object(MAX_DEPTH)?)?,
            "created_at" => set(&mut record.created_at, input.timestamp()?)?,
            "expires_at" => set(&mut record.expires_at, input.timestamp()?)?,
            "deadline" => {
                let deadline = if input.nil() {
                    None
                } else {
                    Some(input.timestamp()?)
                };
                set(&mut record.deadline, deadline)?;
            }
            "owner" => {
                let owner = if input.nil() {
                    None
                } else {
                    Some(input.str()?.to_owned())
                };
                set(&mut record.owner, owner)?;
            }
            "version" => set(&mut record.version, input.unsigned()?)?,
            "lifetime" => {
                // Rare, and an enum: rmp-serde reads it from its own bytes.
                let bytes = input.skip(MAX_DEPTH)?;
                let lifetime = rmp_serde::from_slice::<Option<Lifetime>>(bytes).ok()?;
                set(&mut record.lifetime, lifetime)?;
            }
            _ => return None,
        }
    }
    Some(Record {
        key: record.key?,
        data: record.data.unwrap_or_default(),
        flash: record.flash.unwrap_or_default(),
        created_at: record.created_at?,
        expires_at: record.expires_at?,
        deadline: record.deadline.flatten(),
        owner: record.owner.flatten(),
        version: record.version.unwrap_or_default(),
        lifetime: record.lifetime.flatten(),
    })
}

/// The fields read so far; a field met twice is left to rmp-serde (which refuses it).
#[derive(Default)]
struct Fields {
    key: Option<SessionKey>,
    data: Option<Data>,
    flash: Option<Data>,
    created_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    deadline: Option<Option<DateTime<Utc>>>,
    owner: Option<Option<String>>,
    version: Option<u64>,
    lifetime: Option<Option<Lifetime>>,
}

fn set<T>(field: &mut Option<T>, value: T) -> Option<()> {
    match field {
        Some(_) => None,
        None => {
            *field = Some(value);
            Some(())
        }
    }
}

/// The bytes not read yet.
struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn marker(&mut self) -> Option<Marker> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(Marker::from_u8(first))
    }

    fn peek(&self) -> Option<Marker> {
        self.bytes.first().map(|&b| Marker::from_u8(b))
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    /// Consumes a nil, if one is next.
    fn nil(&mut self) -> bool {
        let nil = self.peek() == Some(Marker::Null);
        if nil {
            self.bytes = &self.bytes[1..];
        }
        nil
    }

    fn map_len(&mut self) -> Option<usize> {
        let marker = self.marker()?;
        self.map_len_after(marker)
    }

    fn map_len_after(&mut self, marker: Marker) -> Option<usize> {
        let len = match marker {
            Marker::FixMap(n) => u32::from(n),
            Marker::Map16 => u32::from(self.u16()?),
            Marker::Map32 => self.u32()?,
            _ => return None,
        };
        usize::try_from(len).ok()
    }

    fn str(&mut self) -> Option<&'a str> {
        let marker = self.marker()?;
        self.str_after(marker)
    }

    fn str_after(&mut self, marker: Marker) -> Option<&'a str> {
        let len = match marker {
            Marker::FixStr(n) => u32::from(n),
            Marker::Str8 => u32::from(self.u8()?),
            Marker::Str16 => u32::from(self.u16()?),
            Marker::Str32 => self.u32()?,
            _ => return None,
        };
        std::str::from_utf8(self.take(usize::try_from(len).ok()?)?).ok()
    }

    /// An integer, as a number of either sign.
    fn integer(&mut self, marker: Marker) -> Option<Integer> {
        Some(match marker {
            Marker::FixPos(n) => Integer::Unsigned(n.into()),
            Marker::U8 => Integer::Unsigned(self.u8()?.into()),
            Marker::U16 => Integer::Unsigned(self.u16()?.into()),
            Marker::U32 => Integer::Unsigned(self.u32()?.into()),
            Marker::U64 => Integer::Unsigned(self.u64()?),
            Marker::FixNeg(n) => Integer::Signed(n.into()),
            Marker::I8 => Integer::Signed(i8::from_be_bytes(self.array()?).into()),
            Marker::I16 => Integer::Signed(i16::from_be_bytes(self.array()?).into()),
            Marker::I32 => Integer::Signed(i32::from_be_bytes(self.array()?).into()),
            Marker::I64 => Integer::Signed(i64::from_be_bytes(self.array()?)),
            _ => return None,
        })
    }

    fn unsigned(&mut self) -> Option<u64> {
        let marker = self.marker()?;
        match self.integer(marker)? {
            Integer::Unsigned(n) => Some(n),
            Integer::Signed(n) => u64::try_from(n).ok(),
        }
    }

    /// Microseconds since the epoch, as the record's timestamps are written.
    fn timestamp(&mut self) -> Option<DateTime<Utc>> {
        let marker = self.marker()?;
        let micros = match self.integer(marker)? {
            Integer::Unsigned(n) => i64::try_from(n).ok()?,
            Integer::Signed(n) => n,
        };
        DateTime::from_timestamp_micros(micros)
    }

    fn object(&mut self, depth: u32) -> Option<Data> {
        let len = self.map_len()?;
        self.entries(len, depth.checked_sub(1)?)
    }

    fn entries(&mut self, len: usize, depth: u32) -> Option<Data> {
        let mut map = Data::new();
        for _ in 0..len {
            let key = self.str()?.to_owned();
            let value = self.value(depth)?;
            // A repeated key keeps its last value, as serde_json's map does.
            map.insert(key, value);
        }
        Some(map)
    }

    fn value(&mut self, depth: u32) -> Option<Value> {
        let marker = self.marker()?;
        Some(match marker {
            Marker::Null => Value::Null,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::F32 => float(f64::from(f32::from_bits(self.u32()?))),
            Marker::F64 => float(f64::from_bits(self.u64()?)),
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                Value::String(self.str_after(marker)?.to_owned())
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let len = self.array_len(marker)?;
                let depth = depth.checked_sub(1)?;
                // Every element takes at least a byte: no length claims more room than that.
                let mut items = Vec::with_capacity(len.min(self.bytes.len()));
                for _ in 0..len {
                    items.push(self.value(depth)?);
                }
                Value::Array(items)
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let len = self.map_len_after(marker)?;
                Value::Object(self.entries(len, depth.checked_sub(1)?)?)
            }
            other => match self.integer(other)? {
                Integer::Unsigned(n) => Value::from(n),
                Integer::Signed(n) => Value::from(n),
            },
        })
    }

    fn array_len(&mut self, marker: Marker) -> Option<usize> {
        let len = match marker {
            Marker::FixArray(n) => u32::from(n),
            Marker::Array16 => u32::from(self.u16()?),
            Marker::Array32 => self.u32()?,
            _ => return None,
        };
        usize::try_from(len).ok()
    }

    /// Passes over one value of the shapes [`Input::value`] reads, returning its bytes.
    fn skip(&mut self, depth: u32) -> Option<&'a [u8]> {
        let start = self.bytes;
        let marker = self.marker()?;
        match marker {
            Marker::Null | Marker::True | Marker::False => {}
            Marker::F32 => {
                self.take(4)?;
            }
            Marker::F64 => {
                self.take(8)?;
            }
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                self.str_after(marker)?;
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let depth = depth.checked_sub(1)?;
                for _ in 0..self.array_len(marker)? {
                    self.skip(depth)?;
                }
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let len = self.map_len_after(marker)?;
                let depth = depth.checked_sub(1)?;
                for _ in 0..len {
                    self.skip(depth)?;
                    self.skip(depth)?;
                }
            }
            other => {
                self.integer(other)?;
            }
        }
        start.get(..start.len() - self.bytes.len())
    }
}

enum Integer {
    Unsigned(u64),
    Signed(i64),
}

/// A float as serde_json holds it: not-a-number and the infinities have no JSON form and
/// become null.
fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;

    use crate::codec::{Codec, MessagePack};

    /// What rmp-serde makes of `body`.
    fn reference(body: &[u8]) -> Option<Record> {
        rmp_serde::from_slice(body).ok()
    }

    fn body(record: &Record) -> Vec<u8> {
        MessagePack.encode(record).unwrap()[3..].to_vec()
    }

    fn sample() -> Record {
        let mut record = Record::new(SessionKey::random(), Utc::now() + Duration::hours(1));
        record.data = serde_json::from_value(json!({
            "small": 7, "byte": 200, "short": 60_000, "word": 4_000_000_000u64, "max": u64::MAX,
            "neg": -3, "neg8": -100, "neg16": -30_000, "neg32": -2_000_000_000, "min": i64::MIN,
            "float": 1.5, "tiny": 1e-300, "text": "héllo", "long": "x".repeat(70_000),
            "empty": "", "list": [1, [2, [3, {"deep": null}]], true, false],
            "map": {"a": {"b": {"c": []}}}, "nothing": null
        }))
        .unwrap();
        record.flash = serde_json::from_value(json!({"notice": "saved"})).unwrap();
        record.owner = Some("ada".into());
        record.deadline = Some(Utc::now() + Duration::days(1));
        record.version = 41;
        record
    }

    #[test]
    fn records_this_crate_writes_are_read_directly_and_as_rmp_serde_reads_them() {
        let mut records = vec![sample(), Record::new(SessionKey::random(), Utc::now())];
        for lifetime in [
            Some(Lifetime::Idle(std::time::Duration::from_secs(86_400))),
            Some(Lifetime::BrowserSession),
            None,
        ] {
            let mut record = sample();
            record.lifetime = lifetime;
            records.push(record);
        }
        for record in records {
            let body = body(&record);
            let direct = record_of(&body).expect("the common shape is read directly");
            assert_eq!(Some(&direct), reference(&body).as_ref());
            assert_eq!(direct.data, record.data);
        }
    }

    fn record_of(body: &[u8]) -> Option<Record> {
        super::record(body)
    }

    /// Builds a record map by hand: `fields` are (name, already-encoded value).
    fn handmade(fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_map_len(&mut out, fields.len() as u32).unwrap();
        for (name, value) in fields {
            rmp::encode::write_str(&mut out, name).unwrap();
            out.extend_from_slice(value);
        }
        out
    }

    fn str_value(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_str(&mut out, s).unwrap();
        out
    }

    fn int_value(n: i64) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_sint(&mut out, n).unwrap();
        out
    }

    fn base() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("key", str_value(SessionKey::random().as_str())),
            ("created_at", int_value(1_700_000_000_000_000)),
            ("expires_at", int_value(1_800_000_000_000_000)),
        ]
    }

    fn with(extra: Vec<(&'static str, Vec<u8>)>) -> Vec<u8> {
        let mut fields = base();
        fields.extend(extra);
        handmade(&fields)
    }

    /// `data` holding one entry `k` whose value is `value` (already encoded).
    fn data_with(value: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_map_len(&mut out, 1).unwrap();
        rmp::encode::write_str(&mut out, "k").unwrap();
        out.extend(value);
        out
    }

    #[test]
    fn the_minimal_record_is_read_with_defaults() {
        let body = handmade(&base());
        let direct = record_of(&body).unwrap();
        assert_eq!(Some(direct.clone()), reference(&body));
        assert_eq!(
            (direct.version, direct.owner, direct.deadline),
            (0, None, None)
        );
    }

    #[test]
    fn every_number_marker_reads_as_rmp_serde_reads_it() {
        let mut cases: Vec<Vec<u8>> = vec![
            vec![0xcc, 5],                                              // u8
            vec![0xcd, 1, 0],                                           // u16
            vec![0xce, 0, 1, 0, 0],                                     // u32
            vec![0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // u64
            vec![0xd0, 5],                                              // a positive i8
            vec![0xd0, 0x80],                                           // i8::MIN
            vec![0xd1, 0x80, 0],                                        // i16::MIN
            vec![0xd2, 0, 0, 0, 9],                                     // a positive i32
            vec![0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],                      // i64::MIN
            vec![0xe0],                                                 // fixneg -32
        ];
        let mut f32_value = vec![0xca];
        f32_value.extend(1.25f32.to_bits().to_be_bytes());
        cases.push(f32_value);
        let mut nan = vec![0xcb];
        nan.extend(f64::NAN.to_bits().to_be_bytes());
        cases.push(nan);
        let mut infinite = vec![0xca];
        infinite.extend(f32::INFINITY.to_bits().to_be_bytes());
        cases.push(infinite);
        for value in cases {
            let body = with(vec![("data", data_with(value.clone()))]);
            let direct = record_of(&body);
            assert!(direct.is_some(), "{value:x?} is read directly");
            assert_eq!(direct, reference(&body), "{value:x?}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_rmp_serde() {
        let deep = {
            let mut value = vec![0x91; 100]; // a hundred nested one-element arrays
            value.push(0xc0);
            value
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("an unknown field", with(vec![("later", int_value(1))])),
            (
                "a repeated field",
                with(vec![("version", int_value(1)), ("version", int_value(2))]),
            ),
            (
                "a binary value",
                with(vec![("data", data_with(vec![0xc4, 1, 7]))]),
            ),
            (
                "an extension value",
                with(vec![("data", data_with(vec![0xd4, 1, 7]))]),
            ),
            (
                "invalid UTF-8",
                with(vec![("data", data_with(vec![0xa2, 0xff, 0xfe]))]),
            ),
            (
                "a numeric map key",
                with(vec![("data", vec![0x81, 0x01, 0x01])]),
            ),
            (
                "nesting past the direct limit",
                with(vec![("data", data_with(deep))]),
            ),
            ("a negative version", with(vec![("version", int_value(-1))])),
            (
                "an out-of-range timestamp",
                handmade(&[
                    ("key", str_value(SessionKey::random().as_str())),
                    ("created_at", int_value(i64::MAX)),
                    ("expires_at", int_value(1)),
                ]),
            ),
            ("a missing key", handmade(&base()[1..])),
            ("a bad key", with(vec![("key", str_value("nope"))])),
            ("data that is not a map", with(vec![("data", vec![0x90])])),
            ("a record as an array", vec![0x93, 0xa1, b'k', 1, 2]),
            ("a truncated record", handmade(&base())[..20].to_vec()),
            ("nothing", Vec::new()),
        ];
        for (what, body) in cases {
            assert_eq!(record_of(&body), None, "{what}");
            // Whatever rmp-serde answers is the answer, through the codec as well.
            let through_codec = {
                let mut bytes = MessagePack.encode(&sample()).unwrap()[..3].to_vec();
                bytes.extend(&body);
                MessagePack.decode(&bytes).ok()
            };
            assert_eq!(through_codec, reference(&body), "{what}");
        }
    }

    #[test]
    fn a_length_larger_than_the_input_is_refused_without_allocating_it() {
        // An array claiming four billion elements in a few bytes.
        let body = with(vec![(
            "data",
            data_with(vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]),
        )]);
        assert_eq!(record_of(&body), None);
        assert_eq!(reference(&body), None);
    }
}
