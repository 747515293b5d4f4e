//! PostgreSQL and MariaDB frozen, then stopped and started again, under a store: every operation
//! fails with a temporary error within the store's limit instead of waiting out the outage, the
//! store answers again by itself within a second of the database, and every write acknowledged
//! before the outage is still there.

use std::sync::Arc;
use std::time::Duration;

use session_conformance::outage::{frozen_then_back, stopped_then_back};
use session_conformance::provision::{self, MYSQL, POSTGRES};
use session_core::{SessionKey, SessionStore};
use session_sql::{MySqlStore, PostgresStore, SqlConfig};

const TIMEOUT: Duration = Duration::from_millis(500);

fn config(url: &str) -> SqlConfig {
    SqlConfig::new(url)
        .with_table("outage")
        .with_timeout(TIMEOUT)
}

/// Whether a store newly connected to `url` answers.
async fn answers<S, F>(connect: F) -> bool
where
    S: SessionStore,
    F: std::future::Future<Output = session_core::Result<S>>,
{
    match connect.await {
        Ok(store) => store.load(&SessionKey::random()).await.is_ok(),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_frozen_then_stopped_fails_fast_and_recovers_with_every_write() {
    let Some(container) = provision::own_container(&POSTGRES, &[]).await else {
        return;
    };
    let url = POSTGRES.url_of(&container);
    let store = provision::retry("connecting to PostgreSQL", Duration::from_secs(60), || {
        PostgresStore::connect(config(&url).with_max_connections(4))
    })
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    let probe = || answers(PostgresStore::connect(config(&url).with_max_connections(1)));

    frozen_then_back(&container, Arc::new(store.clone()), TIMEOUT, probe).await;
    stopped_then_back(&container, Arc::new(store), TIMEOUT, true, probe).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_frozen_then_stopped_fails_fast_and_recovers_with_every_write() {
    let Some(container) = provision::own_container(&MYSQL, &[]).await else {
        return;
    };
    let url = MYSQL.url_of(&container);
    let store = provision::retry("connecting to MariaDB", Duration::from_secs(60), || {
        MySqlStore::connect(config(&url).with_max_connections(4))
    })
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    let probe = || answers(MySqlStore::connect(config(&url).with_max_connections(1)));

    frozen_then_back(&container, Arc::new(store.clone()), TIMEOUT, probe).await;
    stopped_then_back(&container, Arc::new(store), TIMEOUT, true, probe).await;
}
