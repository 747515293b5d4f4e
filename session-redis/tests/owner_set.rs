//! The owner's set, read back from Redis itself, on one server and on a cluster: it always
//! outlives every session in it, and a save that keeps the owner and stays within the set's
//! life leaves the set alone (no owner-index work on the common save).

use std::sync::Arc;

use redis::FromRedisValue;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use session_conformance::provision::{self, Endpoint, REDIS};
use session_core::chrono::{Duration, Utc};
use session_core::{Record, SessionKey, SessionStore};
use session_redis::{RedisConfig, RedisStore};

#[derive(Clone, Copy, Debug)]
enum Kind {
    One,
    Cluster,
}

/// A connection of the test's own, beside the store's.
#[derive(Clone)]
enum Raw {
    One(MultiplexedConnection),
    Cluster(ClusterConnection),
}

struct Fixture {
    /// Holds the server for as long as the test runs.
    _endpoint: Arc<Endpoint>,
    store: RedisStore,
    raw: Raw,
    prefix: String,
}

impl Fixture {
    async fn new(kind: Kind) -> Option<Fixture> {
        let prefix = format!("owner-set-{}:", &SessionKey::random().as_str()[..10]);
        let (endpoint, config, raw) = match kind {
            Kind::One => {
                let endpoint = REDIS.shared_or_skip().await?;
                let raw = redis::Client::open(endpoint.url.as_str())
                    .expect("client")
                    .get_multiplexed_async_connection()
                    .await
                    .expect("raw connection");
                let config = RedisConfig::new(endpoint.url.clone());
                (endpoint, config, Raw::One(raw))
            }
            Kind::Cluster => {
                let endpoint = provision::redis_cluster_or_skip().await?;
                let nodes = provision::cluster_nodes(&endpoint.url);
                let raw = redis::cluster::ClusterClient::new(nodes.clone())
                    .expect("cluster client")
                    .get_async_connection()
                    .await
                    .expect("raw cluster connection");
                (endpoint, RedisConfig::cluster(nodes), Raw::Cluster(raw))
            }
        };
        let store = RedisStore::connect(config.with_prefix(&prefix))
            .await
            .expect("connect");
        Some(Fixture {
            _endpoint: endpoint,
            store,
            raw,
            prefix,
        })
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        let answer = match self.raw.clone() {
            Raw::One(mut conn) => cmd.query_async(&mut conn).await,
            Raw::Cluster(mut conn) => cmd.query_async(&mut conn).await,
        };
        answer.unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
    }

    fn session(&self, key: &SessionKey) -> String {
        format!("{}s:{}", self.prefix, key.as_str())
    }

    fn set(&self, owner: &str) -> String {
        format!("{}o:{owner}", self.prefix)
    }

    /// The instant (epoch ms) `key` expires, as the server has it (-1: never, -2: gone).
    async fn expire_time(&self, key: &str) -> i64 {
        self.query(redis::cmd("PEXPIRETIME").arg(key)).await
    }

    async fn field(&self, key: &str, field: &str) -> Option<String> {
        self.query(redis::cmd("HGET").arg(key).arg(field)).await
    }

    async fn members(&self, owner: &str) -> Vec<String> {
        self.query(redis::cmd("SMEMBERS").arg(self.set(owner)))
            .await
    }

    /// The set lives past the session, and the session's `e` is a bound the set keeps.
    async fn assert_outlived(&self, record: &Record, owner: &str, step: &str) {
        let session = self.expire_time(&self.session(&record.key)).await;
        let set = self.expire_time(&self.set(owner)).await;
        assert!(session > 0, "{step}: the session has no expiry ({session})");
        assert!(
            set >= session,
            "{step}: the set expires at {set}, before its session at {session}"
        );
        let kept: i64 = self
            .field(&self.session(&record.key), "e")
            .await
            .expect("the field e")
            .parse()
            .expect("e is a number");
        assert!(
            set >= kept,
            "{step}: the set expires at {set}, before e = {kept}"
        );
        assert!(
            self.members(owner)
                .await
                .contains(&record.key.as_str().to_owned()),
            "{step}: the session is not in its owner's set"
        );
    }
}

/// Lets the servers go once the last test holding them is done.
async fn done() {
    let _ = tokio::task::spawn(async { provision::shutdown() }).await;
}

fn owned(owner: &str, minutes: i64) -> Record {
    let mut record = Record::new(
        SessionKey::random(),
        Utc::now() + Duration::minutes(minutes),
    );
    record.owner = Some(owner.to_owned());
    record
}

#[tokio::test(flavor = "multi_thread")]
async fn a_save_within_the_sets_life_leaves_the_set_alone_and_one_past_it_extends_it() {
    for kind in [Kind::One, Kind::Cluster] {
        if let Some(fx) = Fixture::new(kind).await {
            within_and_past(fx).await;
        }
    }
    done().await;
}

async fn within_and_past(fx: Fixture) {
    let record = owned("ada", 60);
    fx.store.create(&record).await.expect("create");
    fx.assert_outlived(&record, "ada", "created").await;
    let set_after_create = fx.expire_time(&fx.set("ada")).await;
    // Kept one idle period past the session's expiry.
    let idle = record.expires_at.timestamp_millis() - Utc::now().timestamp_millis();
    assert!(
        set_after_create >= record.expires_at.timestamp_millis() + idle - 1_000,
        "the set is kept live only until {set_after_create}"
    );

    // Sliding expiry: each save moves the expiry a little; the set is left as it was.
    for step in 1..=5 {
        let mut loaded = fx.store.load(&record.key).await.unwrap().unwrap();
        loaded.expires_at = Utc::now() + Duration::minutes(60) + Duration::seconds(step);
        fx.store.save(&loaded).await.expect("save");
        assert_eq!(
            fx.expire_time(&fx.set("ada")).await,
            set_after_create,
            "save {step} changed the set's expiry"
        );
        fx.assert_outlived(&loaded, "ada", &format!("save {step}"))
            .await;
    }

    // A save past the set's life extends it; a touch past the new life extends it again.
    let mut loaded = fx.store.load(&record.key).await.unwrap().unwrap();
    loaded.expires_at = Utc::now() + Duration::minutes(200);
    fx.store.save(&loaded).await.expect("save far");
    assert!(fx.expire_time(&fx.set("ada")).await > set_after_create);
    fx.assert_outlived(&loaded, "ada", "save far").await;
    let far = Utc::now() + Duration::minutes(900);
    fx.store.touch(&record.key, far).await.expect("touch");
    loaded.expires_at = far;
    fx.assert_outlived(&loaded, "ada", "touch far").await;

    // A change of owner moves the session to the new owner's set, kept live as well.
    let mut loaded = fx.store.load(&record.key).await.unwrap().unwrap();
    loaded.owner = Some("grace".into());
    fx.store.save(&loaded).await.expect("owner change");
    fx.assert_outlived(&loaded, "grace", "owner changed").await;
    assert!(fx.members("ada").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_written_without_the_field_e_is_indexed_again_on_its_first_save() {
    for kind in [Kind::One, Kind::Cluster] {
        if let Some(fx) = Fixture::new(kind).await {
            without_e(fx).await;
        }
    }
    done().await;
}

async fn without_e(fx: Fixture) {
    // As an earlier release wrote it: no `e`, and a set that lives exactly as long.
    let record = owned("ada", 30);
    fx.store.create(&record).await.expect("create");
    let session = fx.session(&record.key);
    let _: () = fx.query(redis::cmd("HDEL").arg(&session).arg("e")).await;
    let _: () = fx
        .query(
            redis::cmd("PEXPIREAT")
                .arg(fx.set("ada"))
                .arg(record.expires_at.timestamp_millis()),
        )
        .await;

    let mut loaded = fx.store.load(&record.key).await.unwrap().unwrap();
    loaded.expires_at = Utc::now() + Duration::minutes(31);
    fx.store.save(&loaded).await.expect("save");
    fx.assert_outlived(&loaded, "ada", "first save").await;

    // A field `e` that is not a number counts as absent, for a save and for a touch.
    for step in ["save", "touch"] {
        let _: () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&session)
                    .arg("e")
                    .arg("not a number"),
            )
            .await;
        let _: () = fx
            .query(
                redis::cmd("PEXPIREAT")
                    .arg(fx.set("ada"))
                    .arg(Utc::now().timestamp_millis() + 60_000),
            )
            .await;
        let mut loaded = fx.store.load(&record.key).await.unwrap().unwrap();
        loaded.expires_at = Utc::now() + Duration::minutes(40);
        if step == "save" {
            fx.store.save(&loaded).await.expect("save");
        } else {
            fx.store
                .touch(&record.key, loaded.expires_at)
                .await
                .expect("touch");
        }
        fx.assert_outlived(&loaded, "ada", step).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn under_any_order_of_saves_and_touches_the_set_outlives_its_sessions() {
    for kind in [Kind::One, Kind::Cluster] {
        if let Some(fx) = Fixture::new(kind).await {
            any_order(fx).await;
        }
    }
    done().await;
}

async fn any_order(fx: Fixture) {
    let records: Vec<Record> = (0..4).map(|i| owned("ada", 10 + i)).collect();
    for record in &records {
        fx.store.create(record).await.expect("create");
    }
    // A fixed sequence of expiries moving back and forth, across the sessions.
    let mut seed = 7u64;
    for step in 0..60 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let record = &records[(seed >> 33) as usize % records.len()];
        let minutes = 1 + (seed >> 40) as i64 % 500;
        let expires = Utc::now() + Duration::minutes(minutes);
        let mut current = fx.store.load(&record.key).await.unwrap().unwrap();
        if step % 3 == 0 {
            fx.store.touch(&record.key, expires).await.expect("touch");
        } else {
            current.expires_at = expires;
            fx.store.save(&current).await.expect("save");
        }
        current.expires_at = expires;
        fx.assert_outlived(&current, "ada", &format!("step {step}"))
            .await;
    }
    let mut listed = fx.store.list_by_owner("ada").await.unwrap();
    listed.sort();
    let mut expected: Vec<SessionKey> = records.iter().map(|r| r.key.clone()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}
