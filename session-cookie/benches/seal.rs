//! Sealing and opening a session of about 1 KiB encoded.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use session_cookie::{CookieStore, Key};
use session_core::chrono::{Duration, Utc};
use session_core::{ClientSideStore, Codec, MessagePack, Opened, Record, SessionToken};

fn record() -> (SessionToken, Record) {
    let token = SessionToken::generate();
    let mut record = Record::new(token.key(), Utc::now() + Duration::hours(2));
    record.insert("user_id", 184_467u64).unwrap();
    record.insert("name", "Ada Lovelace").unwrap();
    record.insert("roles", ["editor", "reviewer"]).unwrap();
    let cart: Vec<(u32, String)> = (0..24).map(|i| (i * 37, format!("item-{i:04}"))).collect();
    record.insert("cart", cart).unwrap();
    record.insert("notes", "n".repeat(475)).unwrap();
    (token, record)
}

fn bench(c: &mut Criterion) {
    let store = CookieStore::new(vec![Key::generate()]).unwrap();
    let (token, record) = record();
    let encoded = MessagePack.encode(&record).unwrap().len();
    let sealed = store.seal("id", &token, &record).unwrap();
    eprintln!(
        "session: {encoded} bytes encoded, {} bytes sealed",
        sealed.len()
    );

    let mut group = c.benchmark_group(format!("cookie_{encoded}_bytes"));
    group.bench_function("seal", |b| {
        b.iter(|| black_box(store.seal("id", &token, &record).unwrap()))
    });
    group.bench_function("open", |b| {
        b.iter(|| match store.open("id", black_box(&sealed)) {
            Opened::Valid { record, .. } => black_box(record),
            other => panic!("did not open: {other:?}"),
        })
    });
    group.bench_function("seal_then_open", |b| {
        b.iter(|| {
            let value = store.seal("id", &token, &record).unwrap();
            black_box(store.open("id", &value))
        })
    });
    // Where the time goes: a nonce from the operating system, and the record's encoding.
    group.bench_function("os_random_nonce", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 24];
            getrandom::fill(&mut nonce).unwrap();
            black_box(nonce)
        })
    });
    let bytes = MessagePack.encode(&record).unwrap();
    group.bench_function("encode_only", |b| {
        b.iter(|| black_box(MessagePack.encode(&record).unwrap()))
    });
    group.bench_function("decode_only", |b| {
        b.iter(|| black_box(MessagePack.decode(&bytes).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
