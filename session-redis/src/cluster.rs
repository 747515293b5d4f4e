//! Redis Cluster: the operations whose shape differs in a cluster (every script touches one
//! key; the owner index is kept by calls of its own; a walk goes slot by slot), and waiting for
//! replicas.

use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use session_core::kit::{self, now_millis};
use session_core::{Error, ErrorKind, Operation, Record, Result, SessionKey, WalkCursor, WalkPage};

use crate::conn::Conn;
use crate::error::NAME;
use crate::scripts;
use crate::store::{RedisStore, foreign_cursor};

/// Slots in a Redis Cluster.
const SLOTS: u16 = 16384;

impl RedisStore {
    /// With [`RedisConfig::with_replica_acks`](crate::RedisConfig::with_replica_acks), waits
    /// until the write just made to the key `redis_key` names reached the replicas it must;
    /// without, returns at once (and the key's name is never made).
    pub(crate) async fn acknowledged(
        &self,
        redis_key: impl FnOnce() -> String,
        op: Operation,
    ) -> Result<()> {
        if self.config().acks.is_none() {
            return Ok(());
        }
        // Boxed: only stores that wait for replicas get here, and inline this wait would
        // enlarge the future of every write, which is boxed on every call.
        let result = Box::pin(self.wait_for_replicas(&redis_key(), op)).await;
        if let Err(e) = &result
            && e.is_temporary()
        {
            self.refresh_topology();
        }
        result
    }

    async fn wait_for_replicas(&self, redis_key: &str, op: Operation) -> Result<()> {
        let Some((replicas, timeout)) = self.config().acks else {
            return Ok(());
        };
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(replicas)
            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        // WAIT holds the connection for up to its own timeout, on top of the usual limit.
        let limit = self.config().timeout + timeout;
        let reached: i64 = match self.conn() {
            Conn::One(mut conn) => {
                kit::within(limit, NAME, op, async {
                    cmd.query_async(&mut conn)
                        .await
                        .map_err(|e| crate::error::map(e, op))
                })
                .await?
            }
            // The write's own primary, over the connection the write went on.
            Conn::Cluster(mut conn) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::with_key(redis_key, SlotAddr::Master),
                ));
                let value = kit::within(limit, NAME, op, async {
                    conn.route_command(cmd, route)
                        .await
                        .map_err(|e| crate::error::map(e, op))
                })
                .await?;
                // Anything but a count (the node is changing hands): not acknowledged.
                redis::from_redis_value(value.clone()).map_err(|e| {
                    Error::new(ErrorKind::Backend, op)
                        .with_store(NAME)
                        .with_context(format!(
                            "WAIT answered {value:?}, not a count of replicas; the write is not \
                             acknowledged"
                        ))
                        .with_source(e)
                        .temporary()
                })?
            }
        };
        if reached < i64::from(replicas) {
            return Err(Error::new(ErrorKind::Backend, op)
                .with_store(NAME)
                .with_context(format!(
                    "the write reached {reached} of the {replicas} replicas it must reach \
                     within {timeout:?}; the primary has it, but a failover may lose it"
                ))
                .temporary());
        }
        Ok(())
    }

    /// Adds `key` to `owner`'s set and keeps the set live past `expires` (epoch ms); returns
    /// the instant the set is now live until, for the session's `e`.
    async fn owner_add(
        &self,
        owner: &str,
        key: &SessionKey,
        expires: i64,
        op: Operation,
    ) -> Result<i64> {
        let mut conn = self.conn();
        let kept: i64 = self
            .run(
                op,
                scripts::OWNER_ADD
                    .key(self.owner_key(owner))
                    .arg(key.as_str())
                    .arg(expires)
                    .arg(now_millis())
                    .invoke_async(&mut conn),
            )
            .await?;
        self.acknowledged(|| self.owner_key(owner), op).await?;
        Ok(kept)
    }

    /// Drops `key` from `owner`'s set. A failure only leaves a member that reads drop.
    async fn owner_remove(&self, owner: &str, key: &SessionKey, op: Operation) {
        let mut conn = self.conn();
        let removed: Result<i64> = self
            .run(
                op,
                redis::cmd("SREM")
                    .arg(self.owner_key(owner))
                    .arg(key.as_str())
                    .query_async(&mut conn),
            )
            .await;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "a stale owner-index member stays until the index is read");
        }
    }

    /// Creates `record`: the owner joins its set first, the script writes the session alone,
    /// and the owner of an expired record it replaced leaves its set after.
    pub(crate) async fn cluster_create(&self, record: &Record) -> Result<bool> {
        const OP: Operation = Operation::Create;
        let data = self.encode(record, OP)?;
        let expires = record.expires_at.timestamp_millis();
        let owner = record.owner.as_deref().unwrap_or("");
        let kept = if owner.is_empty() {
            String::new()
        } else {
            self.owner_add(owner, &record.key, expires, OP)
                .await?
                .to_string()
        };
        let mut conn = self.conn();
        let (created, old): (i64, String) = self
            .run(
                OP,
                scripts::CLUSTER_CREATE
                    .key(self.session_key(&record.key))
                    .arg(record.version)
                    .arg(expires)
                    .arg(data)
                    .arg(owner)
                    .arg(now_millis())
                    .arg(kept)
                    .invoke_async(&mut conn),
            )
            .await?;
        if created == 1 && !old.is_empty() && old != owner {
            self.owner_remove(&old, &record.key, OP).await;
        }
        Ok(created == 1)
    }

    /// Saves `record` in one call when its owner's set already covers the new expiry; else the
    /// set is extended first (the owner joins it) and the save is sent again with the set's new
    /// `e`. A previous owner leaves its set after. Returns the script's outcome.
    pub(crate) async fn cluster_save(&self, record: &Record) -> Result<i64> {
        const OP: Operation = Operation::Save;
        let data = self.encode(record, OP)?;
        let expires = record.expires_at.timestamp_millis();
        let owner = record.owner.as_deref().unwrap_or("");
        let next = kit::next_version(NAME, OP, record.version)?;
        let mut kept = String::new();
        loop {
            let mut conn = self.conn();
            let (outcome, old): (i64, String) = self
                .run(
                    OP,
                    scripts::CLUSTER_SAVE
                        .key(self.session_key(&record.key))
                        .arg(record.version)
                        .arg(expires)
                        .arg(&data)
                        .arg(owner)
                        .arg(now_millis())
                        .arg(next)
                        .arg(&kept)
                        .invoke_async(&mut conn),
                )
                .await?;
            if outcome == -3 && kept.is_empty() {
                kept = self
                    .owner_add(owner, &record.key, expires, OP)
                    .await?
                    .to_string();
                continue;
            }
            if outcome == -3 {
                return Err(Error::new(ErrorKind::Backend, OP)
                    .with_store(NAME)
                    .with_context("the save script asked for the owner's set twice"));
            }
            if outcome > 0 && !old.is_empty() && old != owner {
                self.owner_remove(&old, &record.key, OP).await;
            }
            return Ok(outcome);
        }
    }

    /// Moves the expiry in one call when the owner's set already covers it; else extends the
    /// set first and calls again with its new `e`.
    pub(crate) async fn cluster_touch(&self, key: &SessionKey, expires: i64) -> Result<bool> {
        const OP: Operation = Operation::Touch;
        // The owner may change between the calls; each change costs a round, and a session
        // whose owner keeps changing under a touch is answered busy.
        const ROUNDS: usize = 3;
        let (mut kept, mut kept_for) = (String::new(), String::new());
        for _ in 0..ROUNDS {
            let mut conn = self.conn();
            let (touched, owner): (i64, String) = self
                .run(
                    OP,
                    scripts::CLUSTER_TOUCH
                        .key(self.session_key(key))
                        .arg(expires)
                        .arg(now_millis())
                        .arg(&kept)
                        .arg(&kept_for)
                        .invoke_async(&mut conn),
                )
                .await?;
            if touched != -3 {
                return Ok(touched == 1);
            }
            kept = self.owner_add(&owner, key, expires, OP).await?.to_string();
            kept_for = owner;
        }
        Err(Error::busy(OP, "the session's owner kept changing during a touch").with_store(NAME))
    }

    pub(crate) async fn cluster_delete(&self, key: &SessionKey) -> Result<()> {
        const OP: Operation = Operation::Delete;
        let mut conn = self.conn();
        let owner: String = self
            .run(
                OP,
                scripts::CLUSTER_DELETE
                    .key(self.session_key(key))
                    .invoke_async(&mut conn),
            )
            .await?;
        if !owner.is_empty() {
            self.owner_remove(&owner, key, OP).await;
        }
        Ok(())
    }

    /// The owner's set, each member checked against its session; members whose session is
    /// gone or has another owner are dropped from the set.
    pub(crate) async fn cluster_list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        const OP: Operation = Operation::ListByOwner;
        let mut conn = self.conn();
        let members: Vec<String> = self
            .run(
                OP,
                redis::cmd("SMEMBERS")
                    .arg(self.owner_key(owner))
                    .query_async(&mut conn),
            )
            .await?;
        let now = now_millis();
        let mut live = Vec::new();
        for member in members {
            let Ok(key) = SessionKey::parse(&member) else {
                continue;
            };
            let (expires, holder): (Option<i64>, Option<String>) = self
                .run(
                    OP,
                    redis::cmd("HMGET")
                        .arg(self.session_key(&key))
                        .arg("x")
                        .arg("o")
                        .query_async(&mut conn),
                )
                .await?;
            if expires.is_some_and(|x| x > now) && holder.as_deref() == Some(owner) {
                live.push(key);
            } else {
                self.owner_remove(owner, &key, OP).await;
            }
        }
        live.sort();
        Ok(live)
    }

    /// Deletes each session of the owner's set that the owner still holds, then drops the
    /// members it went through (a session added meanwhile keeps its membership).
    pub(crate) async fn cluster_delete_by_owner(&self, owner: &str) -> Result<u64> {
        const OP: Operation = Operation::DeleteByOwner;
        let mut conn = self.conn();
        let members: Vec<String> = self
            .run(
                OP,
                redis::cmd("SMEMBERS")
                    .arg(self.owner_key(owner))
                    .query_async(&mut conn),
            )
            .await?;
        let mut deleted = 0;
        for member in &members {
            if let Ok(key) = SessionKey::parse(member) {
                let outcome: i64 = self
                    .run(
                        OP,
                        scripts::CLUSTER_DELETE_IF_OWNER
                            .key(self.session_key(&key))
                            .arg(owner)
                            .arg(now_millis())
                            .invoke_async(&mut conn),
                    )
                    .await?;
                if outcome >= 0 {
                    self.acknowledged(|| self.session_key(&key), OP).await?;
                }
                if outcome == 1 {
                    deleted += 1;
                }
            }
        }
        if !members.is_empty() {
            let _: i64 = self
                .run(
                    OP,
                    redis::cmd("SREM")
                        .arg(self.owner_key(owner))
                        .arg(&members)
                        .query_async(&mut conn),
                )
                .await?;
        }
        Ok(deleted)
    }

    /// A walk slot by slot: each slot's keys from its primary (`CLUSTER GETKEYSINSLOT`),
    /// sorted, then read one by one. The cursor names a slot and the last key taken from it
    /// (`c<slot>` or `c<slot>/<key>`), so it stays good across failovers and resharding.
    pub(crate) async fn cluster_walk(
        &self,
        from: Option<&WalkCursor>,
        limit: usize,
    ) -> Result<WalkPage> {
        const OP: Operation = Operation::Walk;
        let limit = limit.max(1);
        let (mut slot, mut after) = match from {
            None => (0, None),
            Some(cursor) => parse_cursor(cursor)?,
        };
        let Conn::Cluster(mut cluster) = self.conn() else {
            return Err(Error::new(ErrorKind::Config, OP)
                .with_store(NAME)
                .with_context("a slot walk needs a cluster connection"));
        };
        let prefix = self.session_prefix();
        let mut keys: Vec<SessionKey> = Vec::new();
        let mut next = None;
        while slot < SLOTS {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("GETKEYSINSLOT").arg(slot).arg(1_000_000);
            let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
                slot,
                SlotAddr::Master,
            )));
            let value = self.run(OP, cluster.route_command(cmd, route)).await?;
            let names: Vec<String> = redis::from_redis_value(value).map_err(|e| {
                Error::new(ErrorKind::Backend, OP)
                    .with_store(NAME)
                    .with_context(format!("CLUSTER GETKEYSINSLOT {slot} answered no key list"))
                    .with_source(e)
            })?;
            let mut in_slot: Vec<SessionKey> = names
                .iter()
                .filter_map(|name| SessionKey::parse(name.strip_prefix(&prefix)?).ok())
                .filter(|k| after.as_ref().is_none_or(|a| k > a))
                .collect();
            in_slot.sort();
            let room = limit - keys.len();
            if in_slot.len() > room {
                in_slot.truncate(room);
                keys.extend(in_slot);
                next = keys
                    .last()
                    .map(|k| WalkCursor::new(format!("c{slot}/{}", k.as_str())));
                break;
            }
            keys.extend(in_slot);
            slot += 1;
            after = None;
            if keys.len() == limit {
                next = (slot < SLOTS).then(|| WalkCursor::new(format!("c{slot}")));
                break;
            }
        }
        // Each key's record as `load` reads it: expired ones are left out.
        let mut records = Vec::with_capacity(keys.len());
        for key in &keys {
            if let Some(record) = session_core::SessionStore::load(self, key).await? {
                records.push(record);
            }
        }
        Ok(WalkPage { records, next })
    }
}

/// A cluster walk cursor: `c<slot>` or `c<slot>/<key>`.
fn parse_cursor(cursor: &WalkCursor) -> Result<(u16, Option<SessionKey>)> {
    let rest = cursor
        .as_str()
        .strip_prefix('c')
        .ok_or_else(foreign_cursor)?;
    let (slot, key) = crate::store::position(rest)?;
    match u16::try_from(slot) {
        Ok(slot) if slot < SLOTS => Ok((slot, key)),
        _ => Err(foreign_cursor()),
    }
}
