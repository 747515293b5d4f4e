//! The conformance suite against Redis Cluster: `SESSION_TEST_REDIS_CLUSTER_URLS`, or three
//! primaries with a replica each in containers on a private network.

use session_conformance::{Suite, provision};
use session_redis::{RedisConfig, RedisStore};

fn main() -> std::process::ExitCode {
    Suite::new("redis-cluster", |cx| async move {
        let cluster = provision::redis_cluster().await?;
        let config = RedisConfig::cluster(provision::cluster_nodes(&cluster.url))
            .with_prefix(format!("{}:", cx.namespace()))
            .with_codec(cx.codec());
        Ok(RedisStore::connect(config).await?)
    })
    .with_checklist(include_str!("../src/store.rs"))
    .run()
}
