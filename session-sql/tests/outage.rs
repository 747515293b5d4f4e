//! PostgreSQL and MariaDB frozen mid-test: every operation fails with a temporary timeout within the
//! store's limit instead of waiting out the pause, and the store recovers by itself, with
//! every write acknowledged before the pause still there.

use std::time::{Duration, Instant};

use session_conformance::provision::{self, MYSQL, POSTGRES, Ready};
use session_core::chrono::Utc;
use session_core::{ErrorKind, Record, SessionKey, SessionStore};
use session_sql::{MySqlStore, PostgresStore};

const TIMEOUT: Duration = Duration::from_millis(500);

/// A PostgreSQL container of its own (this test freezes it), and a store on it; `None` when no
/// container can be started and PostgreSQL is not required.
async fn own_postgres() -> Option<(provision::Container, PostgresStore)> {
    let image = provision::image_for(&POSTGRES);
    let ready = Ready::Stderr("database system is ready to accept connections");
    let env = &[("POSTGRES_HOST_AUTH_METHOD", "trust")];
    let container = match provision::start_container(&image, 5432, ready, env).await {
        Ok(container) => container,
        Err(reason) if !provision::required("postgres") => {
            eprintln!(
                "skipped: no PostgreSQL container ({reason}); set SESSION_TEST_REQUIRE=all to fail"
            );
            return None;
        }
        Err(reason) => panic!("PostgreSQL is required but no container started: {reason}"),
    };
    let url = format!(
        "postgres://postgres@{}:{}/postgres",
        container.host, container.port
    );
    let store = provision::retry("connecting to PostgreSQL", Duration::from_secs(60), || {
        PostgresStore::connect(&url, "outage", 4)
    })
    .await
    .expect("connect")
    .with_timeout(TIMEOUT);
    store.migrate().await.expect("migrate");
    Some((container, store))
}

/// A MariaDB container of its own, and a store on it; `None` when no container can be
/// started and MySQL is not required.
async fn own_mariadb() -> Option<(provision::Container, MySqlStore)> {
    let image = provision::image_for(&MYSQL);
    let env = &[
        ("MARIADB_USER", "session"),
        ("MARIADB_PASSWORD", "session"),
        ("MARIADB_DATABASE", "sessions"),
        ("MARIADB_ROOT_PASSWORD", "session"),
    ];
    let ready = Ready::Stderr("ready for connections");
    let container = match provision::start_container(&image, 3306, ready, env).await {
        Ok(container) => container,
        Err(reason) if !provision::required("mysql") => {
            eprintln!(
                "skipped: no MariaDB container ({reason}); set SESSION_TEST_REQUIRE=all to fail"
            );
            return None;
        }
        Err(reason) => panic!("MySQL is required but no container started: {reason}"),
    };
    let url = format!(
        "mysql://session:session@{}:{}/sessions",
        container.host, container.port
    );
    let store = provision::retry("connecting to MariaDB", Duration::from_secs(60), || {
        MySqlStore::connect(&url, "outage", 4)
    })
    .await
    .expect("connect")
    .with_timeout(TIMEOUT);
    store.migrate().await.expect("migrate");
    Some((container, store))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_postgres_times_out_instead_of_holding_the_request() {
    if let Some((container, store)) = own_postgres().await {
        frozen_then_back(container, store).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_mariadb_times_out_instead_of_holding_the_request() {
    if let Some((container, store)) = own_mariadb().await {
        frozen_then_back(container, store).await;
    }
}

async fn frozen_then_back(container: provision::Container, store: impl SessionStore) {
    let mut records = Vec::new();
    for _ in 0..5 {
        let record = Record::new(
            SessionKey::random(),
            Utc::now() + session_core::chrono::Duration::minutes(10),
        );
        store.create(&record).await.expect("create while up");
        records.push(record);
    }

    container.pause().await.expect("pause the container");
    let mut longest = Duration::ZERO;
    let fresh = Record::new(SessionKey::random(), Utc::now());
    for (what, result) in [
        (
            "load",
            within(store.load(&records[0].key)).await.map(|_| ()),
        ),
        ("save", within(store.save(&records[1])).await.map(|_| ())),
        ("create", within(store.create(&fresh)).await),
        ("delete", within(store.delete(&records[2].key)).await),
    ] {
        let err = result.expect_err("a frozen database answered");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err:?}");
        assert!(err.is_temporary(), "{what}: {err:?}");
    }
    for _ in 0..3 {
        let started = Instant::now();
        let err = within(store.load(&records[3].key))
            .await
            .expect_err("a frozen database answered");
        let took = started.elapsed();
        longest = longest.max(took);
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
        assert!(
            took < TIMEOUT * 3,
            "a load took {took:?} against a {TIMEOUT:?} limit"
        );
    }
    eprintln!(
        "{}: longest operation while frozen: {longest:?}",
        store.name()
    );

    container.unpause().await.expect("unpause");
    let ready = Instant::now();
    let back = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Some(r)) = store.load(&records[4].key).await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the store recovers once the database answers again");
    eprintln!(
        "{}: recovered {:?} after the unpause",
        store.name(),
        ready.elapsed()
    );
    assert_eq!(back.key, records[4].key);
    // Every write acknowledged before the pause is still there (the delete during the pause
    // may or may not have reached the database before it froze).
    for record in [&records[0], &records[1], &records[3], &records[4]] {
        assert!(
            store.load(&record.key).await.expect("load").is_some(),
            "an acknowledged write was lost"
        );
    }
}

/// Awaits `operation`, failing the test (rather than hanging it) if the store does not give up
/// by itself within 10 s.
async fn within<T>(operation: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), operation)
        .await
        .expect("the store held the call for 10 s against a frozen database")
}
