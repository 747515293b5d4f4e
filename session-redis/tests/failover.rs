//! Redis Cluster under failure: a primary stopped under load, writes that must reach a
//! replica, and the throughput of load+save pairs on a cluster beside one server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_conformance::provision;
use session_core::chrono::{Duration as Span, Utc};
use session_core::{ErrorKind, Record, SessionKey, SessionStore};
use session_redis::{RedisConfig, RedisStore};

/// What one worker saw: the last value a save acknowledged, and when its saves failed.
#[derive(Default)]
struct Seen {
    acknowledged: i64,
    errors: BTreeMap<String, u64>,
    conflicts: u64,
    permanent: Vec<String>,
    /// When it first failed after the stop, and when it succeeded again after that.
    first_failure: Option<Instant>,
    recovered: Option<Instant>,
}

/// Increments the record's counter with load+save pairs until `until`, as a request would,
/// retrying after a short pause whenever a call fails.
async fn work(store: Arc<RedisStore>, key: SessionKey, stop_at: Instant, until: Instant) -> Seen {
    let mut seen = Seen::default();
    while Instant::now() < until {
        let outcome = async {
            let Some(mut record) = store.load(&key).await? else {
                return Err(session_core::Error::not_found(
                    session_core::Operation::Load,
                ));
            };
            let n: i64 = record.get("n")?.unwrap_or(0) + 1;
            record.insert("n", n)?;
            store.save(&record).await?;
            Ok(n)
        }
        .await;
        let now = Instant::now();
        match outcome {
            Ok(n) => {
                seen.acknowledged = n;
                if seen.first_failure.is_some() && seen.recovered.is_none() {
                    seen.recovered = Some(now);
                }
            }
            Err(e) => {
                if now >= stop_at && seen.first_failure.is_none() {
                    seen.first_failure = Some(now);
                }
                if e.kind() == ErrorKind::Conflict {
                    // A save whose answer was lost in the switch, then retried: a reload
                    // follows, as the session layer's commit does.
                    seen.conflicts += 1;
                } else if e.is_temporary() {
                    *seen.errors.entry(format!("{:?}", e.kind())).or_default() += 1;
                } else {
                    seen.permanent.push(e.to_string());
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_stopped_under_load_fails_over_and_no_acknowledged_write_is_lost() {
    // Two replicas per primary: the one promoted still has a replica to acknowledge writes.
    let Some(cluster) = provision::own_redis_cluster(2).await else {
        return;
    };
    let config = RedisConfig::cluster(cluster.nodes.clone())
        .with_prefix("failover:")
        .with_timeout(Duration::from_millis(500))
        .with_replica_acks(1, Duration::from_millis(500));
    let store = Arc::new(RedisStore::connect(config).await.unwrap());
    let mut keys = Vec::new();
    for _ in 0..24 {
        let mut record = Record::new(SessionKey::random(), Utc::now() + Span::hours(1));
        record.insert("n", 0).unwrap();
        store.create(&record).await.unwrap();
        keys.push(record.key);
    }
    let victim = cluster.primary_of_slot(0).await.unwrap();

    let started = Instant::now();
    let stop_at = started + Duration::from_secs(2);
    let until = stop_at + Duration::from_secs(20);
    let workers: Vec<_> = keys
        .iter()
        .map(|key| tokio::spawn(work(store.clone(), key.clone(), stop_at, until)))
        .collect();
    tokio::time::sleep_until(stop_at.into()).await;
    let stopped = Instant::now();
    cluster.stop(&victim).await.unwrap();

    let mut seen = Vec::new();
    for worker in workers {
        seen.push(worker.await.unwrap());
    }
    let affected: Vec<&Seen> = seen.iter().filter(|s| s.first_failure.is_some()).collect();
    for s in &seen {
        if s.first_failure.is_some() && s.recovered.is_none() {
            eprintln!(
                "never recovered: errors {:?}, permanent {:?}",
                s.errors, s.permanent
            );
        }
    }
    assert!(
        !affected.is_empty(),
        "no session lived on the stopped primary: the test tested nothing"
    );
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for s in &seen {
        for (kind, n) in &s.errors {
            *errors.entry(kind.clone()).or_default() += n;
        }
        assert!(
            s.permanent.is_empty(),
            "a failover gave permanent errors: {:?}",
            s.permanent
        );
        assert!(
            s.first_failure.is_none() || s.recovered.is_some(),
            "a session never recovered from the failover"
        );
    }
    let switch = affected
        .iter()
        .filter_map(|s| s.recovered)
        .map(|r| r - stopped)
        .max()
        .unwrap_or_default();
    let conflicts: u64 = seen.iter().map(|s| s.conflicts).sum();
    let saves: i64 = seen.iter().map(|s| s.acknowledged).sum();
    // For the record, not a check: how long the switch took, and what failed meanwhile.
    eprintln!(
        "failover: {} of {} sessions saw errors (a cluster missing a primary refuses writes to \
         every slot until a replica takes over); all writable again {switch:?} after the stop; \
         temporary errors by kind {errors:?}; {conflicts} conflicts; {saves} acknowledged saves",
        affected.len(),
        seen.len()
    );

    // Every write the store acknowledged is there, on the promoted replica or elsewhere.
    for (key, s) in keys.iter().zip(&seen) {
        let record = store
            .load(key)
            .await
            .unwrap()
            .expect("the session survived");
        let n: i64 = record.get("n").unwrap().unwrap();
        assert!(
            n >= s.acknowledged,
            "an acknowledged write was lost: {n} < {}",
            s.acknowledged
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_that_cannot_reach_enough_replicas_fails_with_a_temporary_error() {
    let Some(cluster) = provision::redis_cluster_or_skip().await else {
        return;
    };
    let nodes = provision::cluster_nodes(&cluster.url);
    // Each primary has one replica: asking for two cannot be met.
    let config = RedisConfig::cluster(nodes.clone())
        .with_prefix("acks:")
        .with_replica_acks(2, Duration::from_millis(100));
    let store = RedisStore::connect(config).await.unwrap();
    let record = Record::new(SessionKey::random(), Utc::now() + Span::hours(1));
    let err = store.create(&record).await.unwrap_err();
    assert!(err.is_temporary(), "{err}");
    assert!(
        err.to_string().contains("reached 1 of the 2 replicas"),
        "{err}"
    );
    // One is met: the write goes through, acknowledged.
    let config = RedisConfig::cluster(nodes)
        .with_prefix("acks:")
        .with_replica_acks(1, Duration::from_millis(500));
    let store = RedisStore::connect(config).await.unwrap();
    let record = Record::new(SessionKey::random(), Utc::now() + Span::hours(1));
    store.create(&record).await.unwrap();
    let loaded = store.load(&record.key).await.unwrap().unwrap();
    store.save(&loaded).await.unwrap();
    store.delete(&record.key).await.unwrap();
    drop(cluster);
    let _ = tokio::task::spawn(async { provision::shutdown() }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_flushed_from_every_node_are_loaded_again_where_noscript_answers() {
    let Some(cluster) = provision::redis_cluster_or_skip().await else {
        return;
    };
    let nodes = provision::cluster_nodes(&cluster.url);
    let store = RedisStore::connect(RedisConfig::cluster(nodes.clone()).with_prefix("noscript:"))
        .await
        .unwrap();
    let records: Vec<Record> = (0..12)
        .map(|_| Record::new(SessionKey::random(), Utc::now() + Span::hours(1)))
        .collect();
    for record in &records {
        store.create(record).await.unwrap();
    }
    // As after a restart or a failover to a node that never saw the scripts.
    let client = redis::cluster::ClusterClient::new(nodes).unwrap();
    let mut raw = client.get_async_connection().await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    for record in &records {
        let loaded = store.load(&record.key).await.unwrap().unwrap();
        assert_eq!(store.save(&loaded).await.unwrap(), 1);
        store.delete(&record.key).await.unwrap();
    }
    drop(cluster);
    let _ = tokio::task::spawn(async { provision::shutdown() }).await;
}

/// Load+save pairs with 16 in flight for `seconds`, on `store`, each on a session of its own
/// with an owner, as a signed-in visitor's; pairs per second.
async fn pairs_per_second(store: Arc<RedisStore>, seconds: u64) -> f64 {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut record = Record::new(SessionKey::random(), Utc::now() + Span::hours(1));
                record.owner = Some(format!("user-{i}"));
                store.create(&record).await.unwrap();
                let mut pairs = 0u64;
                while Instant::now() < until {
                    let mut loaded = store.load(&record.key).await.unwrap().unwrap();
                    // Sliding expiry: every save moves the expiry on.
                    loaded.expires_at = Utc::now() + Span::hours(1);
                    store.save(&loaded).await.unwrap();
                    pairs += 1;
                }
                pairs
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_save_pairs_on_a_cluster_beside_one_server() {
    let (Ok(cluster), Ok(one)) = (provision::redis_cluster().await, provision::redis().await)
    else {
        assert!(
            !provision::required("redis-cluster") && !provision::required("redis"),
            "Redis and Redis Cluster are required"
        );
        return;
    };
    let on_cluster = Arc::new(
        RedisStore::connect(
            RedisConfig::cluster(provision::cluster_nodes(&cluster.url)).with_prefix("pairs:"),
        )
        .await
        .unwrap(),
    );
    let on_one = Arc::new(
        RedisStore::connect(RedisConfig::new(one.url.clone()).with_prefix("pairs:"))
            .await
            .unwrap(),
    );
    // For the record, not a check: a short run in the test, a longer one by hand.
    let seconds = std::env::var("SESSION_PAIRS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let cluster_rate = pairs_per_second(on_cluster, seconds).await;
    let one_rate = pairs_per_second(on_one, seconds).await;
    eprintln!(
        "load+save pairs per second, 16 in flight, {seconds} s: cluster {cluster_rate:.0}, one server {one_rate:.0}"
    );
    drop((cluster, one));
    let _ = tokio::task::spawn(async { provision::shutdown() }).await;
}

/// Each call's future is boxed on every call, and stays under a kilobyte so the allocator
/// serves it from its per-thread cache: a save's was 3,528 bytes while the cluster's paths, the
/// replica acknowledgement and the script's call were inline in it. (The future's type is the
/// same whichever way the store reaches Redis; one server is enough to make one.)
#[tokio::test(flavor = "multi_thread")]
async fn every_calls_future_stays_under_a_kilobyte() {
    let Ok(one) = provision::redis().await else {
        assert!(!provision::required("redis"), "Redis is required");
        return;
    };
    let store = RedisStore::connect(RedisConfig::new(one.url.clone()).with_prefix("sizes:"))
        .await
        .unwrap();
    for (call, size) in session_core::kit::future_sizes(&store) {
        assert!(
            size <= session_core::kit::SMALL_FUTURE_BYTES,
            "the future of {call} is {size} bytes"
        );
    }
    drop(one);
    let _ = tokio::task::spawn(async { provision::shutdown() }).await;
}
