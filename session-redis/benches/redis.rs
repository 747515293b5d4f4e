//! Load+save pairs through `RedisStore` against the same pairs done with the raw `redis`
//! client (`GET` then `SET ... PX`) on the same server, with a record of about 200 bytes.
//!
//! The server comes from `SESSION_TEST_REDIS_URL`, or a container as in the tests.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redis::AsyncCommands;
use session_conformance::provision;
use session_core::{CachingStore, Codec, MessagePack, MokaStore, SessionStore};
use session_redis::{RedisConfig, RedisStore};

/// The same work as the store's save script, for the raw comparison.
const SAVE_LIKE: &str = r#"
local h = redis.call('HMGET', KEYS[1], 'v', 'x', 'o')
if not h[1] or tonumber(h[2]) <= tonumber(ARGV[5]) then return -1 end
if tonumber(h[1]) ~= tonumber(ARGV[1]) then return -2 end
local next = tonumber(h[1]) + 1
redis.call('HSET', KEYS[1], 'v', next, 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return next
"#;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let endpoint = match rt.block_on(provision::redis()) {
        Ok(endpoint) => endpoint,
        Err(reason) => {
            eprintln!("no Redis for the benchmark: {reason}");
            return;
        }
    };
    let url = endpoint.url.clone();
    // The suite's registry keeps the container; this handle must not outlive the runtime.
    drop(endpoint);
    let store = rt
        .block_on(RedisStore::connect(
            RedisConfig::new(url.clone()).with_prefix("bench:"),
        ))
        .expect("connect");
    let record = session_conformance::sample::signed_in();
    rt.block_on(store.create(&record)).expect("create");
    let bytes = MessagePack.encode(&record).expect("encode");
    eprintln!("record: {} bytes encoded", bytes.len());

    let client = redis::Client::open(url.as_str()).expect("client");
    let raw = rt
        .block_on(client.get_multiplexed_async_connection())
        .expect("raw connection");
    let raw_key = "bench:raw";

    let mut group = c.benchmark_group("load_save_pair");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_redis_get_set", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = raw.clone();
            let bytes = bytes.clone();
            async move {
                let got: Option<Vec<u8>> = conn.get(raw_key).await.expect("get");
                let _: () = conn.pset_ex(raw_key, bytes, 7_200_000).await.expect("set");
                black_box(got)
            }
        })
    });
    // The store's own commands over the raw connection: what the commands cost, without the
    // store's reconnecting connection, time limit and codec.
    let save_script = redis::Script::new(SAVE_LIKE);
    let hash_key = "bench:raw-hash";
    rt.block_on(async {
        let mut conn = raw.clone();
        let _: () = redis::cmd("HSET")
            .arg(hash_key)
            .arg("v")
            .arg(0)
            .arg("x")
            .arg(i64::MAX / 2)
            .arg("d")
            .arg(&bytes)
            .arg("o")
            .arg("")
            .query_async(&mut conn)
            .await
            .expect("hset");
    });
    group.bench_function("raw_redis_hmget_evalsha", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = raw.clone();
            let (bytes, script) = (bytes.clone(), &save_script);
            async move {
                let (v, _x, _d): (u64, i64, Vec<u8>) = redis::cmd("HMGET")
                    .arg(hash_key)
                    .arg("v")
                    .arg("x")
                    .arg("d")
                    .query_async(&mut conn)
                    .await
                    .expect("hmget");
                let next: i64 = script
                    .key(hash_key)
                    .arg(v)
                    .arg(i64::MAX / 2)
                    .arg(bytes)
                    .arg("")
                    .arg(0)
                    .arg("bench:o:")
                    .arg("m")
                    .invoke_async(&mut conn)
                    .await
                    .expect("save script");
                black_box(next)
            }
        })
    });
    group.bench_function("redis_store_load_save", |b| {
        b.to_async(&rt).iter(|| async {
            let loaded = store
                .load(&record.key)
                .await
                .expect("load")
                .expect("present");
            black_box(store.save(&loaded).await.expect("save"))
        })
    });
    group.finish();

    // Loads that the moka cache answers, against the same loads from Redis.
    let cached = CachingStore::new(MokaStore::new(), store.clone());
    rt.block_on(cached.load(&record.key))
        .expect("fill the cache");
    let mut group = c.benchmark_group("load");
    group.throughput(Throughput::Elements(1));
    group.bench_function("redis_store", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(store.load(&record.key).await.expect("load")) })
    });
    group.bench_function("moka_over_redis_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cached.load(&record.key).await.expect("load")) })
    });
    group.finish();
    eprintln!("cache stats: {:?}", cached.stats());
    let _ = rt.block_on(rt.spawn(async { provision::shutdown() }));
}

criterion_group!(benches, bench);
criterion_main!(benches);
