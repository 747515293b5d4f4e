//! The conformance suite against Redis: `SESSION_TEST_REDIS_URL`, or a container.

use session_conformance::{Suite, provision};
use session_redis::{RedisConfig, RedisStore};

fn main() -> std::process::ExitCode {
    Suite::new("redis", |cx| async move {
        let redis = provision::redis().await?;
        let config = RedisConfig::new(redis.url.clone())
            .with_prefix(format!("{}:", cx.namespace()))
            .with_codec(cx.codec());
        Ok(RedisStore::connect(config).await?)
    })
    .with_checklist(include_str!("../src/store.rs"))
    .run()
}
