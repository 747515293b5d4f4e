//! Both codecs give back exactly what they were given, for every value the data model allows:
//! floats to the last bit, integers at the ends of their range, unicode keys and text, deep
//! arrays and maps, every record field.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use session_core::chrono::{DateTime, Utc};
use session_core::{Codec, Json, Lifetime, MessagePack, Record, SessionKey};

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Every finite float (JSON has no NaN or infinity, and neither has the data model).
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0.0f64..1000.0).prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Microsecond precision, as the codecs keep it; any time from 1970 to 2200.
    (0i64..7_258_118_400_000_000).prop_map(|us| DateTime::from_timestamp_micros(us).unwrap())
}

fn record() -> impl Strategy<Value = Record> {
    (
        prop::collection::btree_map(any::<String>(), value(), 0..8),
        prop::collection::btree_map(any::<String>(), value(), 0..3),
        (instant(), instant(), prop::option::of(instant())),
        prop::option::of(any::<String>()),
        any::<u64>(),
        prop::option::of(prop_oneof![
            any::<u32>().prop_map(|s| Lifetime::Idle(Duration::from_secs(s.into()))),
            Just(Lifetime::BrowserSession),
        ]),
    )
        .prop_map(
            |(data, flash, (created, expires, deadline), owner, version, lifetime)| {
                let mut r = Record::new(SessionKey::random(), expires);
                r.data = data.into_iter().collect();
                r.flash = flash.into_iter().collect();
                r.created_at = created;
                r.deadline = deadline;
                r.owner = owner;
                r.version = version;
                r.lifetime = lifetime;
                r
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_record_round_trips_exactly_through_both_codecs(record in record()) {
        for codec in [&MessagePack as &dyn Codec, &Json] {
            let bytes = codec.encode(&record).unwrap();
            let back = codec.decode(&bytes).unwrap();
            prop_assert_eq!(&back, &record, "{}", codec.name());
        }
    }

    #[test]
    fn every_float_reads_back_as_the_same_bits(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let mut record = Record::new(SessionKey::random(), Utc::now());
        record.insert("f", f).unwrap();
        for codec in [&MessagePack as &dyn Codec, &Json] {
            let back = codec.decode(&codec.encode(&record).unwrap()).unwrap();
            let read: f64 = back.get("f").unwrap().unwrap();
            prop_assert_eq!(read.to_bits(), f.to_bits(), "{} changed {}", codec.name(), f);
        }
    }

    /// The MessagePack codec reads the shape it writes itself and hands everything else to
    /// rmp-serde; either way it must answer what rmp-serde answers, for records with bytes
    /// overwritten, cut short or padded.
    #[test]
    fn messagepack_decoding_answers_as_rmp_serde_on_altered_bytes(
        record in record(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = MessagePack.encode(&record).unwrap();
        for (at, byte) in edits {
            let at = 3 + at.index(bytes.len() - 3);
            bytes[at] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(3 + cut.index(bytes.len() - 3));
        }
        agree_with_rmp_serde(&bytes)?;
    }

    #[test]
    fn messagepack_decoding_answers_as_rmp_serde_on_any_bytes(body in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = MessagePack.encode(&Record::new(SessionKey::random(), Utc::now())).unwrap();
        bytes.truncate(3);
        bytes.extend(body);
        agree_with_rmp_serde(&bytes)?;
    }
}

/// Decoding `bytes` (header included) gives the record rmp-serde gives, or an error when it
/// gives one.
fn agree_with_rmp_serde(bytes: &[u8]) -> Result<(), TestCaseError> {
    let ours = MessagePack.decode(bytes).ok();
    let theirs = rmp_serde::from_slice::<Record>(&bytes[3..]).ok();
    prop_assert_eq!(ours, theirs);
    Ok(())
}

#[test]
fn the_float_the_outside_check_found_round_trips() {
    let f = 2.5000001949665602_f64;
    let mut record = Record::new(SessionKey::random(), Utc::now());
    record.insert("f", f).unwrap();
    let back = Json.decode(&Json.encode(&record).unwrap()).unwrap();
    assert_eq!(
        back.get::<f64>("f").unwrap().unwrap().to_bits(),
        f.to_bits()
    );
}
