//! PostgreSQL and MariaDB frozen mid-test: every operation fails with a temporary timeout within the
//! store's limit instead of waiting out the pause, and the store recovers by itself, with
//! every write acknowledged before the pause still there.

use std::time::Duration;

use session_conformance::outage::frozen_then_back;
use session_conformance::provision::{self, MYSQL, POSTGRES, Ready};
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
        frozen_then_back(&container, &store, TIMEOUT).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_mariadb_times_out_instead_of_holding_the_request() {
    if let Some((container, store)) = own_mariadb().await {
        frozen_then_back(&container, &store, TIMEOUT).await;
    }
}
