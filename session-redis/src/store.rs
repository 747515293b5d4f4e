//! The Redis store.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Client, RedisResult};
use session_core::chrono::{DateTime, Utc};
use session_core::kit::{self, now_millis, redacted_url};
use session_core::{
    Capabilities, Error, ErrorKind, Operation, Record, Result, SessionKey, SessionStore,
    WalkCursor, WalkPage, async_trait,
};

use crate::config::RedisConfig;
use crate::conn::Conn;
use crate::error::{NAME, map};
use crate::scripts;

/// Sessions in Redis.
///
/// One shared multiplexed connection (reconnecting on its own) serves every request. Each
/// operation is one round trip: `load` reads the hash, and `create`, `save`, `touch` and
/// `delete` each run one server-side script, so version checks and owner-index updates are
/// atomic. Records expire natively when their idle expiry passes.
///
/// | capability | |
/// |---|---|
/// | conditional writes | yes (script compares versions) |
/// | revocable | yes |
/// | native expiry | yes (`PEXPIREAT`) |
/// | sweep | no: not needed (returns `Unsupported`) |
/// | owner index | yes (a set per owner, cleaned as it is read) |
/// | walk | yes (`SCAN` over the session keys, then one pipelined read per page) |
/// | shared across processes | yes |
/// | maximum record | none (Redis holds values up to 512 MB) |
///
/// Needs Redis 6 or later. [`RedisConfig::cluster`] runs the same store on a Redis Cluster:
/// there every script touches one key, and the owner index is kept by calls of its own.
///
/// ```no_run
/// # async fn run() -> Result<(), session_core::Error> {
/// use session_redis::{RedisConfig, RedisStore};
///
/// let store = RedisStore::connect(RedisConfig::new("redis://127.0.0.1:6379/")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    link: Link,
    config: Arc<RedisConfig>,
}

/// How the store reaches Redis.
#[derive(Clone)]
enum Link {
    /// One server, over a connection that reconnects by itself.
    One(ConnectionManager),
    /// A cluster, over a connection that may be replaced when the topology changed under it
    /// (a primary that stopped answering is not redirected away from).
    Cluster(Arc<Topology>),
}

/// A cluster connection, and what the store needs to connect afresh from the configured nodes.
struct Topology {
    current: RwLock<ClusterConnection>,
    client: ClusterClient,
    /// Set while a reconnection runs; reconnections start at most every [`REFRESH_EVERY`].
    refreshing: AtomicBool,
    last: Mutex<Option<Instant>>,
}

/// The least time between two reconnections to a cluster.
const REFRESH_EVERY: Duration = Duration::from_millis(500);

impl RedisStore {
    /// Connects to the server in `config`, failing if it cannot be reached.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        if config.is_cluster() {
            return Self::connect_cluster(config).await;
        }
        let client = Client::open(config.url.as_str()).map_err(|e| {
            Error::new(ErrorKind::Config, Operation::Connect)
                .with_store(NAME)
                .with_context(format!("invalid Redis URL {}", redacted_url(&config.url)))
                .with_source(e)
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.timeout))
            .set_connection_timeout(Some(config.connect_timeout))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, manager_config)
            .await
            .map_err(|e| {
                map(e, Operation::Connect)
                    .with_context(format!("cannot connect to {}", redacted_url(&config.url)))
            })?;
        Ok(RedisStore {
            link: Link::One(conn),
            config: Arc::new(config),
        })
    }

    /// Connects to the cluster the configured nodes belong to.
    async fn connect_cluster(config: RedisConfig) -> Result<Self> {
        let shown = config
            .cluster
            .iter()
            .map(|u| redacted_url(u))
            .collect::<Vec<_>>()
            .join(", ");
        let client = ClusterClientBuilder::new(config.cluster.iter().map(String::as_str))
            .connection_timeout(config.connect_timeout)
            .response_timeout(config.timeout)
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Config, Operation::Connect)
                    .with_store(NAME)
                    .with_context(format!("invalid Redis Cluster nodes {shown}"))
                    .with_source(e)
            })?;
        let conn = kit::within(
            config.connect_timeout * 2,
            NAME,
            Operation::Connect,
            async {
                client.get_async_connection().await.map_err(|e| {
                    map(e, Operation::Connect)
                        .with_context(format!("cannot connect to the cluster at {shown}"))
                })
            },
        )
        .await?;
        Ok(RedisStore {
            link: Link::Cluster(Arc::new(Topology {
                current: RwLock::new(conn),
                client,
                refreshing: AtomicBool::new(false),
                last: Mutex::new(None),
            })),
            config: Arc::new(config),
        })
    }

    /// A handle on the connection (cheap: it is shared).
    pub(crate) fn conn(&self) -> Conn {
        match &self.link {
            Link::One(conn) => Conn::One(conn.clone()),
            Link::Cluster(topology) => Conn::Cluster(
                topology
                    .current
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
        }
    }

    /// In a cluster, after a call failed for want of an answer: connects afresh from the
    /// configured nodes in the background (at most every [`REFRESH_EVERY`]), so the slots a
    /// stopped primary served are looked up again and reach the replica that took over.
    pub(crate) fn refresh_topology(&self) {
        let Link::Cluster(topology) = &self.link else {
            return;
        };
        {
            let mut last = topology.last.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < REFRESH_EVERY)
                || topology.refreshing.swap(true, AtomicOrdering::AcqRel)
            {
                return;
            }
            *last = Some(Instant::now());
        }
        let (topology, limit) = (topology.clone(), self.config.connect_timeout * 2);
        tokio::spawn(async move {
            match tokio::time::timeout(limit, topology.client.get_async_connection()).await {
                Ok(Ok(fresh)) => {
                    *topology
                        .current
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = fresh;
                    tracing::info!(
                        "reconnected to the Redis Cluster after a node stopped answering"
                    );
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot reconnect to the Redis Cluster yet")
                }
                Err(_) => tracing::warn!("reconnecting to the Redis Cluster timed out"),
            }
            topology.refreshing.store(false, AtomicOrdering::Release);
        });
    }

    pub(crate) fn config(&self) -> &RedisConfig {
        &self.config
    }

    fn is_cluster(&self) -> bool {
        matches!(self.link, Link::Cluster(_))
    }

    pub(crate) fn owner_key(&self, owner: &str) -> String {
        format!("{}o:{owner}", self.config.prefix)
    }

    pub(crate) fn session_prefix(&self) -> String {
        format!("{}s:", self.config.prefix)
    }

    pub(crate) fn session_key(&self, key: &SessionKey) -> String {
        format!("{}s:{}", self.config.prefix, key.as_str())
    }

    fn owner_prefix(&self) -> String {
        format!("{}o:", self.config.prefix)
    }

    /// Runs `op` with the configured time limit, mapping errors.
    pub(crate) async fn run<T>(
        &self,
        op: Operation,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T> {
        let result = kit::within(self.config.timeout, NAME, op, async {
            call.await.map_err(|e| map(e, op))
        })
        .await;
        if let Err(e) = &result
            && e.is_temporary()
        {
            self.refresh_topology();
        }
        result
    }

    /// Runs a write script (`CREATE` or `SAVE`) on `record`: both take the record's version,
    /// expiry, encoded data and owner, the caller's clock, and the owner-index names.
    /// `SAVE` also takes the version it writes (the loaded one plus one).
    async fn write(&self, script: &redis::Script, record: &Record, op: Operation) -> Result<i64> {
        let data = self.encode(record, op)?;
        let mut invocation = script.key(self.session_key(&record.key));
        invocation
            .arg(record.version)
            .arg(millis(record.expires_at))
            .arg(data)
            .arg(record.owner.as_deref().unwrap_or(""))
            .arg(now_millis())
            .arg(self.owner_prefix())
            .arg(record.key.as_str());
        if op == Operation::Save {
            invocation.arg(kit::next_version(NAME, op, record.version)?);
        }
        self.invoke(op, &invocation).await
    }

    /// Runs a script's `invocation` on the store's connection, within the time limit. The call
    /// is boxed: it carries the fallback that loads the script, and inline it would more than
    /// double the future of every write, itself boxed on every call.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        op: Operation,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        let mut conn = self.conn();
        self.run(op, Box::pin(invocation.invoke_async(&mut conn)))
            .await
    }

    /// Runs an owner-index script (`LIST_BY_OWNER` or `DELETE_BY_OWNER`) for `owner`.
    async fn owner_script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        owner: &str,
        op: Operation,
    ) -> Result<T> {
        self.invoke(
            op,
            script
                .key(format!("{}{owner}", self.owner_prefix()))
                .arg(self.session_prefix())
                .arg(owner)
                .arg(now_millis()),
        )
        .await
    }

    pub(crate) fn encode(&self, record: &Record, op: Operation) -> Result<Vec<u8>> {
        kit::encode(&*self.config.codec, record, None, NAME, op)
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .with_owner_index(true)
            .with_native_ttl(true)
            .with_shared(true)
            .with_walk(true)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        let mut conn = self.conn();
        let redis_key = self.session_key(key);
        let (version, expires, data): (Option<u64>, Option<i64>, Option<Vec<u8>>) = self
            .run(
                Operation::Load,
                redis::cmd("HMGET")
                    .arg(&redis_key)
                    .arg("v")
                    .arg("x")
                    .arg("d")
                    .query_async(&mut conn),
            )
            .await?;
        let (Some(version), Some(expires), Some(data)) = (version, expires, data) else {
            return Ok(None);
        };
        if expires <= now_millis() {
            return Ok(None);
        }
        kit::decode(&*self.config.codec, &data, version, expires, NAME).map(Some)
    }

    async fn create(&self, record: &Record) -> Result<()> {
        let created = if self.is_cluster() {
            Box::pin(self.cluster_create(record)).await?
        } else {
            self.write(&scripts::CREATE, record, Operation::Create)
                .await?
                == 1
        };
        if created {
            self.acknowledged(|| self.session_key(&record.key), Operation::Create)
                .await
        } else {
            Err(Error::already_exists(Operation::Create).with_store(NAME))
        }
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        let outcome = if self.is_cluster() {
            Box::pin(self.cluster_save(record)).await?
        } else {
            self.write(&scripts::SAVE, record, Operation::Save).await?
        };
        match outcome {
            -1 => Err(Error::not_found(Operation::Save).with_store(NAME)),
            -2 => Err(Error::conflict(Operation::Save)
                .with_store(NAME)
                .with_context(format!(
                    "the record was loaded at version {} and has changed since",
                    record.version
                ))),
            version => {
                let version = u64::try_from(version).map_err(|_| {
                    Error::new(ErrorKind::Backend, Operation::Save)
                        .with_store(NAME)
                        .with_context(format!("the save script answered {version}"))
                })?;
                self.acknowledged(|| self.session_key(&record.key), Operation::Save)
                    .await?;
                Ok(version)
            }
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        if self.is_cluster() {
            return if Box::pin(self.cluster_touch(key, millis(expires_at))).await? {
                self.acknowledged(|| self.session_key(key), Operation::Touch)
                    .await
            } else {
                Err(Error::not_found(Operation::Touch).with_store(NAME))
            };
        }
        let touched: i64 = self
            .invoke(
                Operation::Touch,
                scripts::TOUCH
                    .key(self.session_key(key))
                    .arg(millis(expires_at))
                    .arg(now_millis())
                    .arg(self.owner_prefix())
                    .arg(key.as_str()),
            )
            .await?;
        if touched == 1 {
            self.acknowledged(|| self.session_key(key), Operation::Touch)
                .await
        } else {
            Err(Error::not_found(Operation::Touch).with_store(NAME))
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        if self.is_cluster() {
            Box::pin(self.cluster_delete(key)).await?;
            return self
                .acknowledged(|| self.session_key(key), Operation::Delete)
                .await;
        }
        let _: i64 = self
            .invoke(
                Operation::Delete,
                scripts::DELETE
                    .key(self.session_key(key))
                    .arg(self.owner_prefix())
                    .arg(key.as_str()),
            )
            .await?;
        self.acknowledged(|| self.session_key(key), Operation::Delete)
            .await
    }

    async fn sweep(&self) -> Result<u64> {
        Err(Error::unsupported(
            Operation::Sweep,
            "Redis expires sessions by itself; there is nothing to sweep",
        )
        .with_store(NAME))
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        if self.is_cluster() {
            return Box::pin(self.cluster_list_by_owner(owner)).await;
        }
        let members: Vec<String> = self
            .owner_script(&scripts::LIST_BY_OWNER, owner, Operation::ListByOwner)
            .await?;
        let mut keys = Vec::with_capacity(members.len());
        for member in members {
            keys.push(SessionKey::parse(&member).map_err(|e| {
                Error::new(ErrorKind::Decode, Operation::ListByOwner)
                    .with_store(NAME)
                    .with_context(format!(
                        "the owner index holds {member:?}, not a session key"
                    ))
                    .with_source(e)
            })?);
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
        if self.is_cluster() {
            return Box::pin(self.cluster_delete_by_owner(owner)).await;
        }
        let deleted: u64 = self
            .owner_script(&scripts::DELETE_BY_OWNER, owner, Operation::DeleteByOwner)
            .await?;
        self.acknowledged(|| self.owner_key(owner), Operation::DeleteByOwner)
            .await?;
        Ok(deleted)
    }

    /// `SCAN` with `COUNT limit`, then the page's records in one pipelined round trip. `SCAN`
    /// may answer a batch larger than `limit`; the batch is then sorted and handed out in
    /// pages, the cursor naming the scan position and the last key taken from it.
    async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage> {
        if self.is_cluster() {
            return Box::pin(self.cluster_walk(from, limit)).await;
        }
        const OP: Operation = Operation::Walk;
        let limit = limit.max(1);
        let (scan, after) = match from {
            None => (0, None),
            Some(cursor) => position(cursor.as_str())?,
        };
        let prefix = self.session_prefix();
        let mut conn = self.conn();
        let (next_scan, names): (u64, Vec<String>) = self
            .run(
                OP,
                redis::cmd("SCAN")
                    .arg(scan)
                    .arg("MATCH")
                    .arg(format!("{}*", glob_escaped(&prefix)))
                    .arg("COUNT")
                    .arg(limit)
                    .arg("TYPE")
                    .arg("hash")
                    .query_async(&mut conn),
            )
            .await?;
        let mut keys: Vec<SessionKey> = names
            .iter()
            .filter_map(|name| SessionKey::parse(name.strip_prefix(&prefix)?).ok())
            .filter(|k| after.as_ref().is_none_or(|a| k > a))
            .collect();
        keys.sort();
        keys.dedup();
        let rest_of_batch = keys.len() > limit;
        keys.truncate(limit);
        let next = if rest_of_batch {
            keys.last()
                .map(|last| WalkCursor::new(format!("{scan}/{}", last.as_str())))
        } else if next_scan != 0 {
            Some(WalkCursor::new(next_scan.to_string()))
        } else {
            None
        };
        if keys.is_empty() {
            return Ok(WalkPage {
                records: Vec::new(),
                next,
            });
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("HMGET")
                .arg(self.session_key(key))
                .arg("v")
                .arg("x")
                .arg("d");
        }
        type Fields = (Option<u64>, Option<i64>, Option<Vec<u8>>);
        let rows: Vec<Fields> = self.run(OP, pipe.query_async(&mut conn)).await?;
        let now = now_millis();
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            if let (Some(version), Some(expires), Some(data)) = row
                && expires > now
            {
                records.push(kit::decode(
                    &*self.config.codec,
                    &data,
                    version,
                    expires,
                    NAME,
                )?);
            }
        }
        Ok(WalkPage { records, next })
    }
}

/// The error for a walk cursor this store did not make.
pub(crate) fn foreign_cursor() -> Error {
    Error::new(ErrorKind::Invalid, Operation::Walk)
        .with_store(NAME)
        .with_context("the walk cursor was not made by this store")
}

/// A walk position as this store writes it: a number, and the last key already handed out
/// from there (`1234` or `1234/<key>`). One server's cursor is the `SCAN` position; a
/// cluster's, after its `c`, the slot.
pub(crate) fn position(text: &str) -> Result<(u64, Option<SessionKey>)> {
    let (number, after) = match text.split_once('/') {
        Some((number, key)) => (number, Some(key)),
        None => (text, None),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(foreign_cursor());
    }
    let number: u64 = number
        .parse()
        .map_err(|e| foreign_cursor().with_source(e))?;
    let after = after
        .map(|key| SessionKey::parse(key).map_err(|e| foreign_cursor().with_source(e)))
        .transpose()?;
    Ok((number, after))
}

/// `text` with the glob characters of `SCAN ... MATCH` escaped.
fn glob_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
