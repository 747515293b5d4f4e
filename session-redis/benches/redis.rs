//! Load+save pairs through `RedisStore`, 16 in flight, against the same pairs done with the raw
//! `redis` client (`GET` then `SET ... PX`) on the same server, with a record of about 200
//! bytes; after each, the server's own time per command (`INFO commandstats`).
//!
//! The server comes from `SESSION_TEST_REDIS_URL`, or a container as in the tests.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;
use redis::AsyncCommands;
use session_conformance::provision;
use session_core::{CachingStore, Codec, MessagePack, MokaStore, SessionStore};
use session_redis::{RedisConfig, RedisStore};

/// The same work as the store's save script, for the raw comparison.
const SAVE_LIKE: &str = r#"
local h = redis.call('HMGET', KEYS[1], 'v', 'x', 'o', 'e')
if not h[1] or tonumber(h[2]) <= tonumber(ARGV[5]) then return -1 end
if h[1] ~= ARGV[1] and tonumber(h[1]) ~= tonumber(ARGV[1]) then return -2 end
redis.call('HSET', KEYS[1], 'v', ARGV[8], 'x', ARGV[2], 'd', ARGV[3], 'o', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return tonumber(ARGV[8])
"#;

/// Pairs in flight at once, each on a session of its own.
const IN_FLIGHT: usize = 16;

/// The server's own account of the commands it ran (`INFO commandstats`): calls and
/// microseconds per call, reset before each measured run.
struct ServerProfile<'a> {
    rt: &'a tokio::runtime::Runtime,
    conn: redis::aio::MultiplexedConnection,
}

impl<'a> ServerProfile<'a> {
    fn new(rt: &'a tokio::runtime::Runtime, conn: redis::aio::MultiplexedConnection) -> Self {
        ServerProfile { rt, conn }
    }

    fn reset(&self) {
        let mut conn = self.conn.clone();
        let _: () = self
            .rt
            .block_on(redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut conn))
            .expect("reset the server's statistics");
    }

    /// Prints the server time per command since the last reset, then resets.
    fn report(&self, what: &str) {
        let mut conn = self.conn.clone();
        let info: String = self
            .rt
            .block_on(
                redis::cmd("INFO")
                    .arg("commandstats")
                    .query_async(&mut conn),
            )
            .expect("read the server's statistics");
        eprintln!("server time, {what}:");
        for line in info.lines().filter(|l| l.starts_with("cmdstat_")) {
            let Some((name, stats)) = line.split_once(':') else {
                continue;
            };
            let field = |key: &str| {
                stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .unwrap_or("?")
                    .to_owned()
            };
            let name = name.trim_start_matches("cmdstat_");
            if matches!(name, "info" | "config") {
                continue;
            }
            eprintln!(
                "  {name:<10} calls {:>10}  µs/call {:>6}",
                field("calls"),
                field("usec_per_call")
            );
        }
        self.reset();
    }
}

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
    // One session per pair in flight, each with an owner, as a signed-in visitor's is.
    let records: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            let mut record = session_conformance::sample::signed_in();
            record.owner = Some(format!("user-{i}"));
            record
        })
        .collect();
    for record in &records {
        rt.block_on(store.create(record)).expect("create");
    }
    let record = records[0].clone();
    let bytes = MessagePack.encode(&record).expect("encode");
    eprintln!("record: {} bytes encoded", bytes.len());

    let client = redis::Client::open(url.as_str()).expect("client");
    let raw = rt
        .block_on(client.get_multiplexed_async_connection())
        .expect("raw connection");
    let raw_keys: Vec<String> = (0..IN_FLIGHT).map(|i| format!("bench:raw:{i}")).collect();
    let hash_keys: Vec<String> = (0..IN_FLIGHT)
        .map(|i| format!("bench:raw-hash:{i}"))
        .collect();
    let save_script = redis::Script::new(SAVE_LIKE);
    rt.block_on(async {
        let mut conn = raw.clone();
        for key in &hash_keys {
            let _: () = redis::cmd("HSET")
                .arg(key)
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
        }
    });

    let mut group = c.benchmark_group(format!("load_save_pairs_{IN_FLIGHT}_in_flight"));
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    let profile = ServerProfile::new(&rt, raw.clone());
    profile.reset();
    group.bench_function("raw_redis_get_set", |b| {
        b.to_async(&rt).iter(|| {
            join_all(raw_keys.iter().map(|key| {
                let mut conn = raw.clone();
                let bytes = bytes.clone();
                async move {
                    let got: Option<Vec<u8>> = conn.get(key).await.expect("get");
                    let _: () = conn.pset_ex(key, bytes, 7_200_000).await.expect("set");
                    black_box(got)
                }
            }))
        })
    });
    profile.report("raw GET + SET");
    // The store's own commands over the raw connection: what the commands cost, without the
    // store's reconnecting connection, time limit and codec.
    group.bench_function("raw_redis_hmget_evalsha", |b| {
        b.to_async(&rt).iter(|| {
            join_all(hash_keys.iter().map(|key| {
                let mut conn = raw.clone();
                let (bytes, script) = (bytes.clone(), &save_script);
                async move {
                    let (v, _x, _d): (u64, i64, Vec<u8>) = redis::cmd("HMGET")
                        .arg(key)
                        .arg("v")
                        .arg("x")
                        .arg("d")
                        .query_async(&mut conn)
                        .await
                        .expect("hmget");
                    let next: i64 = script
                        .key(key)
                        .arg(v)
                        .arg(i64::MAX / 2)
                        .arg(bytes)
                        .arg("")
                        .arg(0)
                        .arg("bench:o:")
                        .arg("m")
                        .arg(v + 1)
                        .invoke_async(&mut conn)
                        .await
                        .expect("save script");
                    black_box(next)
                }
            }))
        })
    });
    profile.report("raw HMGET + EVALSHA");
    group.bench_function("redis_store_load_save", |b| {
        b.to_async(&rt).iter(|| {
            join_all(records.iter().map(|record| {
                let store = &store;
                async move {
                    let loaded = store
                        .load(&record.key)
                        .await
                        .expect("load")
                        .expect("present");
                    black_box(store.save(&loaded).await.expect("save"))
                }
            }))
        })
    });
    profile.report("store load + save (owner kept)");
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
