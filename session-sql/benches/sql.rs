//! Load+save pairs through the SQL stores against the same two statements issued directly
//! through sqlx on the same database, with a record of about 250 bytes.
//!
//! PostgreSQL and MySQL come from `SESSION_TEST_POSTGRES_URL` / `SESSION_TEST_MYSQL_URL`, or
//! containers as in the tests; SQLite is a file under the target directory.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use session_conformance::provision;
use session_core::chrono::Utc;
use session_core::{Codec, MessagePack, SessionKey, SessionStore};
use session_sql::{MySqlStore, PostgresStore, SqlConfig, SqliteStore};

/// The same SELECT and UPDATE the store runs, issued by hand: `$load` and `$save` in the
/// database's placeholder style.
macro_rules! compare {
    ($c:expr, $rt:expr, $label:literal, $table:expr, $store:expr, $pool:expr, $load:literal, $save:literal) => {{
        let (load_sql, save_sql) = (format!($load, t = $table), format!($save, t = $table));
        let store = $store;
        let pool = $pool;
        let record = session_conformance::sample::signed_in();
        $rt.block_on(store.create(&record)).expect("create");
        let bytes = MessagePack.encode(&record).expect("encode");
        let key = record.key.as_str().to_owned();
        let mut group = $c.benchmark_group(concat!("load_save_pair/", $label));
        group.throughput(Throughput::Elements(1));
        group.bench_function("raw_sqlx", |b| {
            b.to_async(&$rt).iter(|| async {
                let now = Utc::now().timestamp_millis();
                let (version, _expires, data): (i64, i64, Vec<u8>) = sqlx::query_as(&load_sql)
                    .bind(&key)
                    .bind(now)
                    .fetch_one(&pool)
                    .await
                    .expect("select");
                black_box(data);
                let done = sqlx::query(&save_sql)
                    .bind(now + 7_200_000)
                    .bind(None::<String>)
                    .bind(bytes.as_slice())
                    .bind(&key)
                    .bind(version)
                    .bind(now)
                    .execute(&pool)
                    .await
                    .expect("update");
                black_box(done.rows_affected())
            })
        });
        group.bench_function("store", |b| {
            b.to_async(&$rt).iter(|| async {
                let loaded = store
                    .load(&record.key)
                    .await
                    .expect("load")
                    .expect("present");
                black_box(store.save(&loaded).await.expect("save"))
            })
        });
        group.finish();
    }};
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let table = format!("bench_{}", &SessionKey::random().as_str()[..8]);

    let path = std::env::temp_dir().join(format!("{table}.db"));
    let sqlite = rt
        .block_on(SqliteStore::connect(
            SqlConfig::new(format!("sqlite://{}", path.display())).with_table(&table),
        ))
        .expect("sqlite");
    rt.block_on(sqlite.migrate()).expect("migrate");
    compare!(
        c,
        rt,
        "sqlite_file",
        table,
        sqlite.clone(),
        sqlite.pool().clone(),
        "SELECT version, expires_at, data FROM {t} WHERE session_key = ? AND expires_at > ?",
        "UPDATE {t} SET version = version + 1, expires_at = ?, owner = ?, data = ? WHERE session_key = ? AND version = ? AND expires_at > ?"
    );

    if let Ok(endpoint) = rt.block_on(provision::postgres()) {
        let url = endpoint.url.clone();
        drop(endpoint);
        let pool = rt
            .block_on(provision::retry(
                "postgres",
                Duration::from_secs(60),
                || {
                    sqlx::postgres::PgPoolOptions::new()
                        .max_connections(4)
                        .connect(&url)
                },
            ))
            .expect("postgres");
        let store = PostgresStore::with_pool(pool.clone(), SqlConfig::new(url).with_table(&table))
            .expect("store");
        rt.block_on(store.migrate()).expect("migrate");
        compare!(
            c,
            rt,
            "postgres",
            table,
            store,
            pool,
            "SELECT version, expires_at, data FROM {t} WHERE session_key = $1 AND expires_at > $2",
            "UPDATE {t} SET version = version + 1, expires_at = $1, owner = $2, data = $3 WHERE session_key = $4 AND version = $5 AND expires_at > $6"
        );
    }

    if let Ok(endpoint) = rt.block_on(provision::mysql()) {
        let url = endpoint.url.clone();
        drop(endpoint);
        let pool = rt
            .block_on(provision::retry("mysql", Duration::from_secs(60), || {
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(4)
                    .connect(&url)
            }))
            .expect("mysql");
        let store = MySqlStore::with_pool(pool.clone(), SqlConfig::new(url).with_table(&table))
            .expect("store");
        rt.block_on(store.migrate()).expect("migrate");
        compare!(
            c,
            rt,
            "mysql",
            table,
            store,
            pool,
            "SELECT version, expires_at, data FROM {t} WHERE session_key = ? AND expires_at > ?",
            "UPDATE {t} SET version = version + 1, expires_at = ?, owner = ?, data = ? WHERE session_key = ? AND version = ? AND expires_at > ?"
        );
    }
    std::fs::remove_file(&path).ok();
    let _ = rt.block_on(rt.spawn(async { provision::shutdown() }));
}

criterion_group!(benches, bench);
criterion_main!(benches);
