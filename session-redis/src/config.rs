//! How to reach Redis and how to lay sessions out in it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use session_core::Codec;
use session_core::codec::default_codec;
use session_core::kit::redacted_url;

/// Settings for a [`RedisStore`](crate::RedisStore).
///
/// ```
/// use std::time::Duration;
/// use session_redis::RedisConfig;
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379/")
///     .with_prefix("myapp:session:")
///     .with_timeout(Duration::from_millis(500));
/// assert_eq!(config.prefix(), "myapp:session:");
/// // The password never shows in logs.
/// let shown = format!("{:?}", RedisConfig::new("redis://:hunter2@cache:6379/"));
/// assert!(!shown.contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) url: String,
    /// Cluster nodes to discover the cluster from; empty for one server.
    pub(crate) cluster: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) codec: Arc<dyn Codec>,
    /// Replicas every write must reach, and how long to wait for them.
    pub(crate) acks: Option<(u32, Duration)>,
}

impl RedisConfig {
    /// Settings for the server at `url` (`redis://[:password@]host[:port][/db]`, or
    /// `rediss://` with the `tls` feature), with the defaults: prefix `session:`, a 2 second
    /// time limit per operation and per connection attempt, and the MessagePack codec.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            cluster: Vec::new(),
            prefix: "session:".into(),
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            codec: default_codec(),
            acks: None,
        }
    }

    /// Settings for a Redis Cluster, discovered from any of `nodes` (`redis://host:port`, one
    /// or more primaries or replicas); the client follows `MOVED` and `ASK` redirections and
    /// topology changes (a failover) by itself. The defaults are those of [`RedisConfig::new`].
    ///
    /// In a cluster, every server-side script touches one key, so no script crosses slots: the
    /// owner index is updated by calls of its own, in an order that keeps every live session in
    /// its owner's set (a member left over by an interrupted call is dropped when read). A save
    /// that carries an owner costs one round trip more than on one server.
    ///
    /// ```
    /// use session_redis::RedisConfig;
    ///
    /// let config = RedisConfig::cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]);
    /// assert!(config.is_cluster());
    /// ```
    pub fn cluster<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cluster: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let mut config = RedisConfig::new(cluster.first().cloned().unwrap_or_default());
        config.cluster = cluster;
        config
    }

    /// Whether these settings name a cluster ([`RedisConfig::cluster`]).
    pub fn is_cluster(&self) -> bool {
        !self.cluster.is_empty()
    }

    /// Puts every key this store writes under `prefix`, so several applications (or test
    /// cases) share one server without seeing each other's sessions.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Fails an operation that has no answer after `timeout` with a temporary
    /// [`ErrorKind::Timeout`](session_core::ErrorKind::Timeout) error, instead of waiting on a
    /// server that went away.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Gives up a connection attempt after `timeout`.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Writes each session's data field with `codec` (MessagePack by default); values written
    /// with the other codec stay readable.
    pub fn with_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// Makes every write wait until `replicas` replicas of its primary have it (`WAIT`), for
    /// at most `timeout`; a write that reaches fewer fails with a temporary error saying so
    /// (the primary has it, but a failover may lose it). With it, a failover loses no write the
    /// store acknowledged.
    ///
    /// The cost is latency: each write waits one more round trip, from the primary to its
    /// replicas and back (well under a millisecond on one network). While a replica is away,
    /// each write waits the whole `timeout` before failing, and on one server's shared
    /// connection the commands queued behind it wait too; keep `timeout` short (tens of
    /// milliseconds to a few hundred).
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_redis::RedisConfig;
    ///
    /// let config = RedisConfig::new("redis://127.0.0.1:6379/")
    ///     .with_replica_acks(1, Duration::from_millis(100));
    /// ```
    pub fn with_replica_acks(mut self, replicas: u32, timeout: Duration) -> Self {
        self.acks = (replicas > 0).then_some((replicas, timeout));
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted_url(&self.url))
            .field(
                "cluster",
                &self
                    .cluster
                    .iter()
                    .map(|u| redacted_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("codec", &self.codec.name())
            .field("acks", &self.acks)
            .finish()
    }
}
