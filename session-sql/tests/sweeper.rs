//! The background sweeper removes expired rows, and only those, while saves go on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use session_conformance::provision;
use session_core::chrono::{Duration as Span, Utc};
use session_core::{ErrorKind, Record, SessionKey, SessionStore, Sweeper};
use session_sql::{PostgresStore, SqlConfig, SqliteStore};

const EXPIRING: usize = 150;
const LIVE: usize = 10;
const WRITERS: usize = 10;

async fn sweep_while_saving(store: Arc<dyn SessionStore>, sweep_with: impl SessionStore) {
    let mut expiring = Vec::new();
    for _ in 0..EXPIRING {
        let record = Record::new(SessionKey::random(), Utc::now() + Span::milliseconds(800));
        store.create(&record).await.unwrap();
        expiring.push(record.key);
    }
    let mut live = Vec::new();
    for _ in 0..LIVE {
        let mut record = Record::new(SessionKey::random(), Utc::now() + Span::hours(1));
        record.insert("n", 0).unwrap();
        store.create(&record).await.unwrap();
        live.push(record.key);
    }
    let live = Arc::new(live);

    let sweeper = Sweeper::start(sweep_with, Duration::from_millis(100));
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, live) = (store.clone(), live.clone());
        writers.push(tokio::spawn(async move {
            let mut saved = 0u64;
            let mut i = w;
            while tokio::time::Instant::now() < deadline {
                let key = &live[i % live.len()];
                i += 1;
                let mut r = store
                    .load(key)
                    .await
                    .unwrap()
                    .expect("a live record was swept");
                let n = r.get::<u64>("n").unwrap().unwrap();
                r.insert("n", n + 1).unwrap();
                match store.save(&r).await {
                    Ok(_) => saved += 1,
                    Err(e) if e.kind() == ErrorKind::Conflict => {}
                    Err(e) => panic!("save failed during the sweep: {e}"),
                }
            }
            saved
        }));
    }
    let mut saved = 0;
    for w in writers {
        saved += w.await.unwrap();
    }
    sweeper.stop().await;

    for key in &expiring {
        assert!(store.load(key).await.unwrap().is_none());
    }
    assert_eq!(
        store.sweep().await.unwrap(),
        0,
        "the sweeper left expired rows behind"
    );
    let mut counted = 0;
    for key in live.iter() {
        let r = store
            .load(key)
            .await
            .unwrap()
            .expect("a live record was swept");
        counted += r.get::<u64>("n").unwrap().unwrap();
    }
    assert_eq!(counted, saved, "saves lost while sweeping");
    assert!(saved > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sweeper_removes_only_expired_rows_during_saves() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "sweeper-{}.db",
        &SessionKey::random().as_str()[..8]
    ));
    let config = SqlConfig::new(format!("sqlite://{}", path.display()));
    let store = SqliteStore::connect(config.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let batched = SqliteStore::with_pool(store.pool().clone(), config.with_sweep_batch(7)).unwrap();
    sweep_while_saving(Arc::new(store), batched).await;
    std::fs::remove_file(&path).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sweeper_removes_only_expired_rows_during_saves() {
    let Some(endpoint) = provision::POSTGRES.shared_or_skip().await else {
        return;
    };
    let url = endpoint.url.clone();
    drop(endpoint);
    let pool = provision::retry("connecting", Duration::from_secs(60), || {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(12)
            .connect(&url)
    })
    .await
    .unwrap();
    let table = format!("sweeper_{}", &SessionKey::random().as_str()[..8]);
    let config = SqlConfig::new(url).with_table(table);
    let store = PostgresStore::with_pool(pool.clone(), config.clone()).unwrap();
    store.migrate().await.unwrap();
    let batched = PostgresStore::with_pool(pool, config.with_sweep_batch(7)).unwrap();
    sweep_while_saving(Arc::new(store), batched).await;
    let _ = tokio::task::spawn(async { provision::shutdown() }).await;
}
