//! The conformance suite against `CachingStore<MokaStore, RedisStore>`: moka in front of Redis.

use session_conformance::{Suite, provision};
use session_core::{CachingStore, MokaStore};
use session_redis::{RedisConfig, RedisStore};

fn main() -> std::process::ExitCode {
    Suite::new("moka-over-redis", |cx| async move {
        let redis = provision::redis().await?;
        let config = RedisConfig::new(redis.url.clone())
            .with_prefix(format!("{}:", cx.namespace()))
            .with_codec(cx.codec());
        let cache = cx.shared(MokaStore::new).with_codec(cx.codec());
        Ok(CachingStore::new(cache, RedisStore::connect(config).await?))
    })
    .run()
}
