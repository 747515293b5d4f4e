//! Sealing and opening a session of about 1 KiB encoded.

use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20::cipher::consts::U10;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use criterion::{Criterion, criterion_group, criterion_main};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
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
    // Where the time goes: the record's encoding and decoding, and beside them a nonce from
    // the operating system (what every seal asked for before the store drew 128 bits once per
    // thread and counted under them).
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
    // The rest of the seal and the open: the cipher, base64, and the token's key. The cipher
    // as the store runs it (HChaCha20 for the message's key, then ring's ChaCha20-Poly1305 in
    // place), and the portable implementation of the same construction beside it.
    let key = [7u8; 32];
    let nonce = [1u8; 24];
    let plaintext = vec![3u8; bytes.len() + 43];
    let message_key = || {
        let subkey = chacha20::hchacha::<U10>((&key).into(), nonce[..16].into());
        let mut short = [0u8; 12];
        short[4..].copy_from_slice(&nonce[16..]);
        let key = UnboundKey::new(&CHACHA20_POLY1305, subkey.as_slice()).unwrap();
        (LessSafeKey::new(key), Nonce::assume_unique_for_key(short))
    };
    let ciphertext = {
        let (key, nonce) = message_key();
        let mut buf = plaintext.clone();
        key.seal_in_place_append_tag(nonce, Aad::from(b"id"), &mut buf)
            .unwrap();
        buf
    };
    group.bench_function("aead_encrypt_only", |b| {
        b.iter(|| {
            let (key, nonce) = message_key();
            let mut buf = Vec::with_capacity(plaintext.len() + 16);
            buf.extend_from_slice(&plaintext);
            key.seal_in_place_append_tag(nonce, Aad::from(b"id"), &mut buf)
                .unwrap();
            black_box(buf)
        })
    });
    group.bench_function("aead_decrypt_only", |b| {
        b.iter(|| {
            let (key, nonce) = message_key();
            let mut buf = ciphertext.clone();
            let len = key
                .open_in_place(nonce, Aad::from(b"id"), &mut buf)
                .unwrap()
                .len();
            black_box((buf, len))
        })
    });
    let portable = XChaCha20Poly1305::new((&key).into());
    let payload = |msg| Payload { msg, aad: b"id" };
    group.bench_function("portable_aead_encrypt_only", |b| {
        b.iter(|| {
            black_box(
                portable
                    .encrypt(XNonce::from_slice(&nonce), payload(&plaintext))
                    .unwrap(),
            )
        })
    });
    group.bench_function("portable_aead_decrypt_only", |b| {
        b.iter(|| {
            black_box(
                portable
                    .decrypt(XNonce::from_slice(&nonce), payload(&ciphertext))
                    .unwrap(),
            )
        })
    });
    let text = URL_SAFE_NO_PAD.encode(&ciphertext);
    group.bench_function("base64_encode_only", |b| {
        b.iter(|| black_box(URL_SAFE_NO_PAD.encode(&ciphertext)))
    });
    group.bench_function("base64_decode_only", |b| {
        b.iter(|| black_box(URL_SAFE_NO_PAD.decode(&text).unwrap()))
    });
    let token_text = token.as_str().to_owned();
    group.bench_function("token_parse_and_key_only", |b| {
        b.iter(|| black_box(SessionToken::parse(&token_text).unwrap().key()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
