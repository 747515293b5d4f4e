//! Redis going away mid-test: operations fail with a temporary error within the configured
//! time limit, never a panic or a hang.

use std::time::{Duration, Instant};

use session_conformance::provision::{self, REDIS, Ready};
use session_core::chrono::Utc;
use session_core::{Record, SessionKey, SessionStore};
use session_redis::{RedisConfig, RedisStore};

const TIMEOUT: Duration = Duration::from_millis(500);

/// A Redis container of its own (this test stops it), and a store on it; `None` when no
/// container can be started and Redis is not required.
async fn own_redis() -> Option<(provision::Container, RedisStore)> {
    let image = provision::image_for(&REDIS);
    let ready = Ready::Stdout("Ready to accept connections");
    let container = match provision::start_container(&image, 6379, ready, &[]).await {
        Ok(container) => container,
        Err(reason) if !provision::required("redis") => {
            eprintln!(
                "skipped: no Redis container ({reason}); set SESSION_TEST_REQUIRE=all to fail"
            );
            return None;
        }
        Err(reason) => panic!("Redis is required but no container started: {reason}"),
    };
    let url = format!("redis://{}:{}/", container.host, container.port);
    let config = RedisConfig::new(url)
        .with_timeout(TIMEOUT)
        .with_connect_timeout(TIMEOUT);
    let store = RedisStore::connect(config).await.expect("connect");
    Some((container, store))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_gives_a_temporary_error_within_the_timeout() {
    let Some((container, store)) = own_redis().await else {
        return;
    };
    let timeout = TIMEOUT;

    let record = Record::new(SessionKey::random(), Utc::now() + chrono_minutes(10));
    store.create(&record).await.expect("create while up");
    let loaded = store
        .load(&record.key)
        .await
        .expect("load while up")
        .unwrap();

    container.stop().await.expect("stop the container");

    for attempt in 0..3 {
        let started = Instant::now();
        let err = store
            .load(&record.key)
            .await
            .expect_err("a load from a stopped server succeeded");
        let took = started.elapsed();
        eprintln!(
            "attempt {attempt}: {took:?}: {err}: {:?}",
            std::error::Error::source(&err).map(ToString::to_string)
        );
        assert!(
            err.is_temporary(),
            "attempt {attempt}: not temporary: {err:?}"
        );
        assert_eq!(err.store(), "redis");
        // Bounded by the configured limit (plus scheduling slack), not by TCP's own timeouts.
        assert!(took < timeout * 4, "attempt {attempt}: took {took:?}");

        let err = store
            .save(&loaded)
            .await
            .expect_err("a save to a stopped server succeeded");
        assert!(err.is_temporary(), "save: {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_server_times_out_instead_of_hanging() {
    let Some((container, store)) = own_redis().await else {
        return;
    };
    let record = Record::new(SessionKey::random(), Utc::now() + chrono_minutes(10));
    store.create(&record).await.expect("create while up");

    container.pause().await.expect("pause the container");
    let started = Instant::now();
    let err = store
        .load(&record.key)
        .await
        .expect_err("a frozen server answered");
    let took = started.elapsed();
    eprintln!("frozen: {took:?}: {err}");
    assert_eq!(err.kind(), session_core::ErrorKind::Timeout, "{err:?}");
    assert!(err.is_temporary());
    assert!(took >= TIMEOUT / 2 && took < TIMEOUT * 4, "took {took:?}");

    container.unpause().await.expect("unpause");
    let back = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Some(r)) = store.load(&record.key).await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the store recovers once the server answers again");
    assert_eq!(back.key, record.key);
}

fn chrono_minutes(n: i64) -> session_core::chrono::Duration {
    session_core::chrono::Duration::minutes(n)
}
