//! Redis frozen, then stopped and started again, under a store: every operation fails with a
//! temporary error within the configured limit, never a panic or a hang, the store answers again
//! by itself within a second of the server, and every write acknowledged before the outage is
//! still there (the server runs with an append-only file synced on every write, as a deployment
//! that keeps sessions across restarts does).

use std::sync::Arc;
use std::time::Duration;

use session_conformance::outage::{frozen_then_back, stopped_then_back};
use session_conformance::provision::{self, REDIS};
use session_core::{SessionKey, SessionStore};
use session_redis::{RedisConfig, RedisStore};

const TIMEOUT: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread")]
async fn redis_frozen_then_stopped_fails_fast_and_recovers_with_every_write() {
    let cmd = [
        "redis-server",
        "--bind",
        "0.0.0.0",
        "--protected-mode",
        "no",
        "--dir",
        "/tmp",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let Some(container) = provision::own_container(&REDIS, &cmd).await else {
        return;
    };
    let config = RedisConfig::new(REDIS.url_of(&container))
        .with_timeout(TIMEOUT)
        .with_connect_timeout(TIMEOUT);
    let store = RedisStore::connect(config.clone()).await.expect("connect");
    let probe = || async {
        match RedisStore::connect(config.clone()).await {
            Ok(fresh) => fresh.load(&SessionKey::random()).await.is_ok(),
            Err(_) => false,
        }
    };

    let frozen = frozen_then_back(&container, Arc::new(store.clone()), TIMEOUT, probe).await;
    assert!(frozen.longest_call >= TIMEOUT / 2, "{frozen:?}");
    stopped_then_back(&container, Arc::new(store), TIMEOUT, true, probe).await;
}
