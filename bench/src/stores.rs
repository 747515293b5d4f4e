//! The backends a run measures: ours by name, and the peer's on the same servers.

use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use session_conformance::provision;
use session_core::{MemoryStore, MokaStore, SessionStore};
use session_dynamo::{DynamoConfig, DynamoStore};
use session_file::{FileConfig, FileStore};
use session_redis::{RedisConfig, RedisStore};
use session_sql::{MySqlStore, PostgresStore, SqlConfig, SqliteStore};

/// Every backend the benchmark knows, in report order.
pub const ALL: [&str; 8] = [
    "memory", "moka", "file", "sqlite", "redis", "postgres", "mysql", "dynamodb",
];

/// Where a backend lives: a server's URL (shared by every process of a run), or a local path.
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub url: Option<String>,
    /// A name unique to this run: a key prefix, table or directory.
    pub namespace: String,
    /// Sessions our app stores before it serves, so a run measures a full store.
    pub prefill: u64,
}

/// Keeps provisioned containers running for the whole run.
pub type Guards = Vec<Arc<provision::Endpoint>>;

/// Finds or starts the server behind `name` (environment URL, else a container).
pub async fn provision(
    name: &str,
    namespace: &str,
    guards: &mut Guards,
) -> Result<Backend, String> {
    let endpoint = match name {
        "redis" => Some(provision::redis().await),
        "postgres" => Some(provision::postgres().await),
        "mysql" => Some(provision::mysql().await),
        "dynamodb" => Some(provision::dynamodb().await),
        "memory" | "moka" | "file" | "sqlite" => None,
        other => {
            return Err(format!(
                "unknown store {other:?}; known: {}",
                ALL.join(", ")
            ));
        }
    };
    let url = match endpoint {
        Some(Ok(endpoint)) => {
            let url = endpoint.url.clone();
            guards.push(endpoint);
            Some(url)
        }
        Some(Err(e)) => return Err(format!("{name}: {e}")),
        None => None,
    };
    Ok(Backend {
        name: name.to_owned(),
        url,
        namespace: namespace.to_owned(),
        prefill: 0,
    })
}

fn url(backend: &Backend) -> Result<&str, String> {
    backend
        .url
        .as_deref()
        .ok_or_else(|| format!("{} needs a server URL", backend.name))
}

fn local_dir(backend: &Backend) -> PathBuf {
    std::env::temp_dir()
        .join("session-bench")
        .join(&backend.namespace)
}

/// Stores `n` sessions of about 200 encoded bytes in `store`, 64 at a time.
pub async fn prefill(store: &Arc<dyn SessionStore>, n: u64) -> Result<(), String> {
    use futures::StreamExt;
    use session_core::Record;
    use session_core::chrono::{Duration, Utc};
    let made = futures::stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move {
                let mut record = Record::new(
                    session_core::SessionKey::random(),
                    Utc::now() + Duration::hours(2),
                );
                record.insert("user_id", i).map_err(|e| e.to_string())?;
                record
                    .insert("name", "Ada Lovelace")
                    .map_err(|e| e.to_string())?;
                record
                    .insert("roles", ["editor"])
                    .map_err(|e| e.to_string())?;
                store.create(&record).await.map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<Result<(), String>>>()
        .await
        .into_iter()
        .find_map(Result::err);
    match made {
        Some(e) => Err(format!("prefilling {n} sessions: {e}")),
        None => Ok(()),
    }
}

/// Our store on `backend`.
pub async fn ours(backend: &Backend) -> Result<Arc<dyn SessionStore>, String> {
    let table = &backend.namespace;
    let err = |e: session_core::Error| format!("{}: {e}", backend.name);
    Ok(match backend.name.as_str() {
        "memory" => Arc::new(MemoryStore::new()),
        // Room for the prefilled sessions and the clients': a full cache evicts.
        "moka" => Arc::new(
            MokaStore::builder()
                .max_entries(backend.prefill + 100_000)
                .build(),
        ),
        "file" => Arc::new(
            FileStore::connect(FileConfig::new(local_dir(backend).join("ours")))
                .await
                .map_err(err)?,
        ),
        "sqlite" => {
            let path = local_dir(backend).join("ours.db");
            let config = SqlConfig::new(format!("sqlite://{}", path.display())).with_table(table);
            let store = SqliteStore::connect(config).await.map_err(err)?;
            store.migrate().await.map_err(err)?;
            Arc::new(store)
        }
        "redis" => Arc::new(
            RedisStore::connect(
                RedisConfig::new(url(backend)?.to_owned()).with_prefix(format!("{table}:")),
            )
            .await
            .map_err(err)?,
        ),
        "postgres" => {
            let config = SqlConfig::new(url(backend)?)
                .with_table(table)
                .with_max_connections(32);
            let store = PostgresStore::connect(config).await.map_err(err)?;
            store.migrate().await.map_err(err)?;
            Arc::new(store)
        }
        "mysql" => {
            let config = SqlConfig::new(url(backend)?)
                .with_table(table)
                .with_max_connections(32);
            let store = MySqlStore::connect(config).await.map_err(err)?;
            store.migrate().await.map_err(err)?;
            Arc::new(store)
        }
        "dynamodb" => {
            let config = aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
                .endpoint_url(url(backend)?)
                .build();
            let store = DynamoStore::with_client(
                aws_sdk_dynamodb::Client::from_conf(config),
                DynamoConfig::new(table),
            );
            // A second process finds the table the first made and leaves it alone.
            store.create_table().await.map_err(err)?;
            Arc::new(store)
        }
        other => return Err(format!("unknown store {other:?}")),
    })
}

/// The peer's store on `backend`, where the peer has one.
pub async fn peer(backend: &Backend) -> Result<Option<session_bench::apps::PeerStore>, String> {
    use session_bench::apps::PeerStore;
    let table = backend
        .namespace
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    Ok(Some(match backend.name.as_str() {
        "memory" => PeerStore::Memory(tower_sessions::MemoryStore::default()),
        "moka" => PeerStore::Moka(tower_sessions_moka_store::MokaStore::new(None)),
        "redis" => {
            use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
            let config = Config::from_url(url(backend)?).map_err(|e| e.to_string())?;
            let pool = Pool::new(config, None, None, None, 8).map_err(|e| e.to_string())?;
            pool.init().await.map_err(|e| e.to_string())?;
            PeerStore::Redis(tower_sessions_redis_store::RedisStore::new(pool))
        }
        "postgres" => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(32)
                .connect(url(backend)?)
                .await
                .map_err(|e| e.to_string())?;
            let store = tower_sessions_sqlx_store::PostgresStore::new(pool)
                .with_table_name(format!("peer_{table}"))
                .map_err(|e| e.to_string())?;
            store.migrate().await.map_err(|e| e.to_string())?;
            PeerStore::Postgres(store)
        }
        _ => return Ok(None),
    }))
}
