//! The SQL stores: one implementation, written out for each database by `sql_store!`.

/// Writes a store type for one database: `$store` over `$pool` of `$db`, speaking `$dialect`,
/// its pool opened by `$open` from a [`SqlConfig`](crate::SqlConfig).
macro_rules! sql_store {
    ($store:ident, $db:ty, $pool:ty, $open:path, $dialect:expr, $name:literal) => {
        /// Sessions in one table of a SQL database; see the crate docs for the schema and the
        /// statements each operation runs.
        #[derive(Clone)]
        pub struct $store {
            pool: $pool,
            table: std::sync::Arc<str>,
            sql: std::sync::Arc<$crate::dialect::Statements>,
            codec: std::sync::Arc<dyn session_core::Codec>,
            sweep_batch: i64,
            timeout: std::time::Duration,
        }

        impl $store {
            /// Connects to the database `config` names and makes a store on it. Call
            /// [`Self::migrate`] once to create the table, or create it yourself from
            /// [`Self::schema`].
            pub async fn connect(config: $crate::SqlConfig) -> session_core::Result<Self> {
                $crate::dialect::validate(&config.table, $name)?;
                let pool = $open(&config).await?;
                Self::with_pool(pool, config)
            }

            /// A store on a `pool` the application already has; `config`'s URL and pool size
            /// are not used.
            pub fn with_pool(pool: $pool, config: $crate::SqlConfig) -> session_core::Result<Self> {
                $crate::dialect::validate(&config.table, $name)?;
                Ok($store {
                    pool,
                    sql: std::sync::Arc::new($dialect.statements(&config.table)),
                    table: config.table.into(),
                    codec: config.codec,
                    sweep_batch: i64::from(config.sweep_batch),
                    timeout: config.timeout,
                })
            }

            /// Creates the table and its indexes if they do not exist.
            pub async fn migrate(&self) -> session_core::Result<()> {
                for statement in &self.sql.migrate {
                    sqlx::query(statement)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| {
                            $crate::error::map(e, session_core::Operation::Migrate, $name)
                                .with_context(format!("creating table {}", self.table))
                        })?;
                }
                Ok(())
            }

            /// Runs `operation`, failing with a temporary timeout past the store's limit.
            async fn bounded<T>(
                &self,
                op: session_core::Operation,
                operation: impl std::future::Future<Output = session_core::Result<T>>,
            ) -> session_core::Result<T> {
                session_core::kit::within(self.timeout, $name, op, operation).await
            }

            /// The connection pool.
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// The table sessions are kept in.
            pub fn table(&self) -> &str {
                &self.table
            }

            /// The statements that create the table and its indexes, for teams that run
            /// their own migrations.
            pub fn schema(table: &str) -> session_core::Result<Vec<String>> {
                $crate::dialect::validate(table, $name)?;
                Ok($dialect.migrations(table))
            }

            fn fail(e: sqlx::Error, op: session_core::Operation) -> session_core::Error {
                $crate::error::map(e, op, $name)
            }
        }

        impl std::fmt::Debug for $store {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($store))
                    .field("table", &self.table)
                    .field("codec", &self.codec.name())
                    .finish_non_exhaustive()
            }
        }

        #[session_core::async_trait]
        impl session_core::SessionStore for $store {
            fn name(&self) -> &str {
                $name
            }

            fn capabilities(&self) -> session_core::Capabilities {
                session_core::Capabilities::default()
                    .with_sweep(true)
                    .with_owner_index(true)
                    .with_shared(true)
                    .with_walk(true)
            }

            async fn load(
                &self,
                key: &session_core::SessionKey,
            ) -> session_core::Result<Option<session_core::Record>> {
                self.bounded(session_core::Operation::Load, self.load_now(key))
                    .await
            }

            async fn create(&self, record: &session_core::Record) -> session_core::Result<()> {
                self.bounded(session_core::Operation::Create, self.create_now(record))
                    .await
            }

            async fn save(&self, record: &session_core::Record) -> session_core::Result<u64> {
                self.bounded(session_core::Operation::Save, self.save_now(record))
                    .await
            }

            async fn touch(
                &self,
                key: &session_core::SessionKey,
                expires_at: session_core::chrono::DateTime<session_core::chrono::Utc>,
            ) -> session_core::Result<()> {
                self.bounded(
                    session_core::Operation::Touch,
                    self.touch_now(key, expires_at),
                )
                .await
            }

            async fn delete(&self, key: &session_core::SessionKey) -> session_core::Result<()> {
                self.bounded(session_core::Operation::Delete, self.delete_now(key))
                    .await
            }

            async fn sweep(&self) -> session_core::Result<u64> {
                // A sweep runs batch after batch; each statement gets the whole limit.
                self.sweep_now().await
            }

            async fn list_by_owner(
                &self,
                owner: &str,
            ) -> session_core::Result<Vec<session_core::SessionKey>> {
                self.bounded(
                    session_core::Operation::ListByOwner,
                    self.list_by_owner_now(owner),
                )
                .await
            }

            async fn delete_by_owner(&self, owner: &str) -> session_core::Result<u64> {
                self.bounded(
                    session_core::Operation::DeleteByOwner,
                    self.delete_by_owner_now(owner),
                )
                .await
            }

            async fn walk(
                &self,
                from: Option<&session_core::WalkCursor>,
                limit: usize,
            ) -> session_core::Result<session_core::WalkPage> {
                self.bounded(session_core::Operation::Walk, self.walk_now(from, limit))
                    .await
            }
        }

        /// The operations as the database runs them; the trait's methods bound each by the
        /// operation timeout.
        impl $store {
            async fn load_now(
                &self,
                key: &session_core::SessionKey,
            ) -> session_core::Result<Option<session_core::Record>> {
                use sqlx::Row;
                const OP: session_core::Operation = session_core::Operation::Load;
                let row = sqlx::query(&self.sql.load)
                    .bind(key.as_str())
                    .bind(session_core::kit::now_millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, OP))?;
                let Some(row) = row else { return Ok(None) };
                let version: i64 = row.try_get(0).map_err(|e| Self::fail(e, OP))?;
                let expires: i64 = row.try_get(1).map_err(|e| Self::fail(e, OP))?;
                let data: Vec<u8> = row.try_get(2).map_err(|e| Self::fail(e, OP))?;
                $crate::store::record(&*self.codec, &data, version, expires, $name).map(Some)
            }

            async fn create_now(&self, record: &session_core::Record) -> session_core::Result<()> {
                const OP: session_core::Operation = session_core::Operation::Create;
                let data = session_core::kit::encode(&*self.codec, record, None, $name, OP)?;
                let insert = || {
                    sqlx::query(&self.sql.insert)
                        .bind(record.key.as_str())
                        .bind($crate::store::version(record.version))
                        .bind(record.expires_at.timestamp_millis())
                        .bind(record.owner.as_deref())
                        .bind(data.as_slice())
                        .execute(&self.pool)
                };
                match insert().await {
                    Ok(_) => return Ok(()),
                    Err(e) => {
                        let err = Self::fail(e, OP);
                        if err.kind() != session_core::ErrorKind::AlreadyExists {
                            return Err(err);
                        }
                    }
                }
                // The key is taken. An expired row may go; a live one stays and wins.
                let gone = sqlx::query(&self.sql.delete_expired)
                    .bind(record.key.as_str())
                    .bind(session_core::kit::now_millis())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, OP))?;
                if gone.rows_affected() == 0 {
                    return Err(session_core::Error::already_exists(OP).with_store($name));
                }
                insert().await.map(|_| ()).map_err(|e| Self::fail(e, OP))
            }

            async fn save_now(&self, record: &session_core::Record) -> session_core::Result<u64> {
                const OP: session_core::Operation = session_core::Operation::Save;
                let data = session_core::kit::encode(&*self.codec, record, None, $name, OP)?;
                let now = session_core::kit::now_millis();
                let updated = sqlx::query(&self.sql.save)
                    .bind(record.expires_at.timestamp_millis())
                    .bind(record.owner.as_deref())
                    .bind(data.as_slice())
                    .bind(record.key.as_str())
                    .bind($crate::store::version(record.version))
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, OP))?;
                if updated.rows_affected() == 1 {
                    return Ok(record.version + 1);
                }
                // No row matched: gone, or at another version. Tell the two apart.
                let live = Box::pin(self.probe(&record.key, now, OP)).await?;
                Err(match live {
                    None => session_core::Error::not_found(OP).with_store($name),
                    Some(stored) => session_core::kit::version_conflict(
                        $name,
                        OP,
                        u64::try_from(stored).unwrap_or_default(),
                        record.version,
                    ),
                })
            }

            async fn touch_now(
                &self,
                key: &session_core::SessionKey,
                expires_at: session_core::chrono::DateTime<session_core::chrono::Utc>,
            ) -> session_core::Result<()> {
                const OP: session_core::Operation = session_core::Operation::Touch;
                let now = session_core::kit::now_millis();
                let updated = sqlx::query(&self.sql.touch)
                    .bind(expires_at.timestamp_millis())
                    .bind(key.as_str())
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, OP))?;
                if updated.rows_affected() == 1 {
                    return Ok(());
                }
                // MySQL counts changed rows, not matched ones: a touch to the same instant
                // changes nothing. Only a missing or expired row is not found.
                match Box::pin(self.probe(key, now, OP)).await? {
                    Some(_) => Ok(()),
                    None => Err(session_core::Error::not_found(OP).with_store($name)),
                }
            }

            /// The stored version of the live row under `key`, if any: asked after a write
            /// that matched no row. Run boxed by its callers: it is rare, and inline its
            /// future would make every save's and touch's larger than the allocator's
            /// per-thread cache serves.
            async fn probe(
                &self,
                key: &session_core::SessionKey,
                now: i64,
                op: session_core::Operation,
            ) -> session_core::Result<Option<i64>> {
                sqlx::query_scalar(&self.sql.probe)
                    .bind(key.as_str())
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, op))
            }

            async fn delete_now(&self, key: &session_core::SessionKey) -> session_core::Result<()> {
                sqlx::query(&self.sql.delete)
                    .bind(key.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, session_core::Operation::Delete))?;
                Ok(())
            }

            async fn sweep_now(&self) -> session_core::Result<u64> {
                const OP: session_core::Operation = session_core::Operation::Sweep;
                let now = session_core::kit::now_millis();
                let mut total = 0;
                loop {
                    let batch = async {
                        sqlx::query(&self.sql.sweep_batch)
                            .bind(now)
                            .bind(self.sweep_batch)
                            .execute(&self.pool)
                            .await
                            .map_err(|e| Self::fail(e, OP))
                    };
                    let done = self.bounded(OP, batch).await?.rows_affected();
                    total += done;
                    if done < self.sweep_batch as u64 {
                        return Ok(total);
                    }
                    // Let other work in between batches.
                    tokio::task::yield_now().await;
                }
            }

            async fn list_by_owner_now(
                &self,
                owner: &str,
            ) -> session_core::Result<Vec<session_core::SessionKey>> {
                const OP: session_core::Operation = session_core::Operation::ListByOwner;
                let keys: Vec<String> = sqlx::query_scalar(&self.sql.list_by_owner)
                    .bind(owner)
                    .bind(session_core::kit::now_millis())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, OP))?;
                keys.iter()
                    .map(|k| $crate::store::parse_key(k, OP, $name))
                    .collect()
            }

            async fn walk_now(
                &self,
                from: Option<&session_core::WalkCursor>,
                limit: usize,
            ) -> session_core::Result<session_core::WalkPage> {
                use sqlx::Row;
                const OP: session_core::Operation = session_core::Operation::Walk;
                let after = match from {
                    Some(cursor) => cursor.key($name)?.as_str().to_owned(),
                    None => String::new(),
                };
                let limit = limit.clamp(1, i64::MAX as usize);
                let rows = sqlx::query(&self.sql.walk)
                    .bind(after)
                    .bind(session_core::kit::now_millis())
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, OP))?;
                let full = rows.len() >= limit;
                let mut records = Vec::with_capacity(rows.len());
                for row in rows {
                    let key: String = row.try_get(0).map_err(|e| Self::fail(e, OP))?;
                    let version: i64 = row.try_get(1).map_err(|e| Self::fail(e, OP))?;
                    let expires: i64 = row.try_get(2).map_err(|e| Self::fail(e, OP))?;
                    let data: Vec<u8> = row.try_get(3).map_err(|e| Self::fail(e, OP))?;
                    let mut record =
                        $crate::store::record(&*self.codec, &data, version, expires, $name)?;
                    // The key column is the truth; a record names the key it is stored under.
                    record.key = $crate::store::parse_key(&key, OP, $name)?;
                    records.push(record);
                }
                let next = match records.last() {
                    Some(last) if full => Some(session_core::WalkCursor::after(&last.key)),
                    _ => None,
                };
                Ok(session_core::WalkPage { records, next })
            }

            async fn delete_by_owner_now(&self, owner: &str) -> session_core::Result<u64> {
                let deleted = sqlx::query(&self.sql.delete_by_owner)
                    .bind(owner)
                    .bind(session_core::kit::now_millis())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| Self::fail(e, session_core::Operation::DeleteByOwner))?;
                Ok(deleted.rows_affected())
            }
        }
    };
}

pub(crate) use sql_store;

use session_core::kit::redacted_url;
use session_core::{Codec, Error, ErrorKind, Operation, Record, Result, SessionKey};

use crate::SqlConfig;

/// A pool of at most `config.max_connections` connections to `config.url`, for the server
/// databases.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) async fn open_pool<DB: sqlx::Database>(
    config: &SqlConfig,
    store: &'static str,
) -> Result<sqlx::Pool<DB>> {
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.timeout.max(std::time::Duration::from_secs(5)))
        .connect(&config.url)
        .await
        .map_err(|e| {
            crate::error::map(e, Operation::Connect, store)
                .with_context(format!("cannot connect to {}", redacted_url(&config.url)))
        })
}

/// Versions are unsigned in records and signed in SQL; a version past `i64::MAX` is never
/// reached (one save per nanosecond would take three centuries).
pub(crate) fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The record in `data`, with the row's version and expiry.
pub(crate) fn record(
    codec: &dyn Codec,
    data: &[u8],
    version: i64,
    expires_ms: i64,
    store: &'static str,
) -> Result<Record> {
    let version = u64::try_from(version).unwrap_or_default();
    session_core::kit::decode(codec, data, version, expires_ms, store)
}

pub(crate) fn parse_key(text: &str, op: Operation, store: &'static str) -> Result<SessionKey> {
    SessionKey::parse(text.trim()).map_err(|e| {
        Error::new(ErrorKind::Decode, op)
            .with_store(store)
            .with_context(format!("the table holds {text:?}, not a session key"))
            .with_source(e)
    })
}
