//! What a record can hold: every value type, unicode, large values, and either codec.

use std::sync::Arc;

use serde_json::json;
use session_core::{ErrorKind, Json, MessagePack, Record, Value};

use super::lifecycle::must_load;
use crate::case::{Fixture, cases, long_lived};
use crate::check::{CaseResult, ensure, ensure_eq, expect_kind};

cases!("store":
    every_value_type_round_trips => Nothing,
    unicode_keys_and_values_round_trip => Nothing,
    large_value_round_trips => Nothing,
    oversized_record_is_rejected => SizeLimit,
    codec_switch_keeps_records_readable => Nothing,
);

const MIB: usize = 1024 * 1024;

/// A string of `len` bytes that no codec shortens.
fn filler(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'!' + (i * 7 % 90) as u8))
        .collect()
}

async fn every_value_type_round_trips(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let mut record = long_lived();
    let values = json!({
        "null": null,
        "true": true,
        "false": false,
        "zero": 0,
        "negative": -1,
        "i64_min": i64::MIN,
        "i64_max": i64::MAX,
        "u64_max": u64::MAX,
        "float": 1.5,
        "negative_float": -0.25,
        "huge_float": 1e300,
        "empty_string": "",
        "string": "text",
        "empty_array": [],
        "array": [1, "a", null, [2, [3]], {"k": false}],
        "empty_map": {},
        "map": {"nested": {"deeper": [true, 2.5, "x"]}},
    });
    let Value::Object(values) = values else {
        unreachable!("a JSON object literal")
    };
    record.data.extend(values);
    store.create(&record).await?;

    let loaded = must_load(&*store, &record.key).await?;
    for (key, value) in &record.data {
        ensure_eq!(
            loaded.data.get(key),
            Some(value),
            "value {key:?} after a round trip"
        );
    }
    ensure_eq!(loaded.data.len(), record.data.len(), "number of values");
    ensure_eq!(loaded.get::<u64>("u64_max")?, Some(u64::MAX), "typed u64");
    ensure_eq!(
        loaded.get::<Vec<Value>>("empty_array")?,
        Some(vec![]),
        "typed empty array"
    );
    Ok(())
}

async fn unicode_keys_and_values_round_trip(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let mut record = long_lived();
    let pairs = [
        ("名前", "山田太郎"),
        ("ключ", "значение"),
        ("emoji 🎉", "👩‍💻 ✓"),
        ("עברית", "שלום"),
        ("", "empty key"),
        ("with space and \"quotes\"", "tab\there"),
        ("a.b/c\\d:e", "path-like"),
        ("nul\u{0}inside", "nul\u{0}value"),
        ("e\u{301}", "combining"),
    ];
    for (k, v) in pairs {
        record.insert(k, v)?;
    }
    record.owner = Some("usér-ü-名".into());
    record.flash.insert("通知".into(), "保存しました".into());
    store.create(&record).await?;

    let loaded = must_load(&*store, &record.key).await?;
    for (k, v) in pairs {
        ensure_eq!(
            loaded.get::<String>(k)?.as_deref(),
            Some(v),
            "value under {k:?}"
        );
    }
    ensure_eq!(loaded.owner, record.owner, "unicode owner");
    ensure_eq!(loaded.flash, record.flash, "unicode flash");
    Ok(())
}

async fn large_value_round_trips(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let mut record = long_lived();
    record.insert("big", filler(MIB))?;
    if let Some(limit) = fx.caps.max_record_size.filter(|l| *l < 2 * MIB) {
        // A store with a smaller limit must say so, not truncate or drop the record.
        let result = store.create(&record).await;
        expect_kind(
            result,
            ErrorKind::TooLarge,
            &format!("create of a 1 MiB value (limit {limit})"),
        )?;
        ensure!(
            store.load(&record.key).await?.is_none(),
            "a refused record was stored"
        );
        return Ok(());
    }
    store.create(&record).await?;
    let mut loaded = must_load(&*store, &record.key).await?;
    ensure!(
        loaded.data == record.data,
        "the 1 MiB value changed on the way through the store"
    );

    loaded.insert("big2", filler(MIB / 2))?;
    store.save(&loaded).await?;
    let reloaded = must_load(&*store, &record.key).await?;
    ensure!(
        reloaded.data == loaded.data,
        "large values changed after a save"
    );
    Ok(())
}

async fn oversized_record_is_rejected(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let Some(limit) = fx.caps.max_record_size else {
        unreachable!("the case runs only for stores that declare a limit")
    };
    let mut big = long_lived();
    big.insert("big", filler(limit + 1))?;
    expect_kind(
        store.create(&big).await,
        ErrorKind::TooLarge,
        "create past the limit",
    )?;
    ensure!(
        store.load(&big.key).await?.is_none(),
        "a refused record was stored"
    );

    let small = long_lived();
    store.create(&small).await?;
    let mut loaded = must_load(&*store, &small.key).await?;
    loaded.insert("big", filler(limit + 1))?;
    expect_kind(
        store.save(&loaded).await,
        ErrorKind::TooLarge,
        "save past the limit",
    )?;
    let after = must_load(&*store, &small.key).await?;
    ensure_eq!(after.data, small.data, "a refused save changed the record");
    ensure_eq!(
        after.version,
        small.version,
        "a refused save moved the version"
    );
    Ok(())
}

async fn codec_switch_keeps_records_readable(fx: Fixture) -> CaseResult {
    let msgpack = fx.store_with_codec(Arc::new(MessagePack)).await?;
    let json = fx.store_with_codec(Arc::new(Json)).await?;

    for (writer, reader, label) in [
        (&msgpack, &json, "msgpack to json"),
        (&json, &msgpack, "json to msgpack"),
    ] {
        let mut record: Record = long_lived();
        record.insert("written", label)?;
        record.insert("nested", json!({"list": [1, 2.5, "three"], "none": null}))?;
        writer.create(&record).await?;

        let mut loaded = must_load(&**reader, &record.key).await?;
        ensure_eq!(
            loaded.data,
            record.data,
            "{label}: data read with the other codec"
        );
        loaded.insert("rewritten", true)?;
        reader.save(&loaded).await?;
        let back = must_load(&**writer, &record.key).await?;
        ensure_eq!(
            back.get::<bool>("rewritten")?,
            Some(true),
            "{label}: data written back"
        );
    }
    Ok(())
}
