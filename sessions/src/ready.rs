//! From settings to a ready layer: the store the settings name, built with the features at
//! hand, and the sweeper it needs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use session_core::{Error, MemoryStore, SessionStore, Sweeper};
use session_tower::{Driver, SessionLayer, Settings};

/// How often [`Sessions`] sweeps a store that keeps expired records until swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// Sessions set up from settings: the layer to add to the application, the store behind it,
/// and the sweeper a store without native expiry needs.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sessions::{Driver, Sessions, Settings};
///
/// let settings = Settings::from_sources(Some("driver = \"memory\""), [("", ""); 0])?;
/// let sessions = Sessions::from_settings(&settings).await?;
/// assert_eq!(sessions.store().map(|s| s.name()), Some("memory"));
/// let layer = sessions.layer(); // add it to the router
/// sessions.shutdown().await;
/// # Ok::<(), sessions::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Sessions {
    layer: SessionLayer,
    store: Option<Arc<dyn SessionStore>>,
    sweeper: Option<Sweeper>,
}

impl Sessions {
    /// Sessions from the settings in the environment (`SESSION_*` variables), after the TOML
    /// file named by `SESSION_CONFIG` when that is set. See [`Settings`] for every key.
    pub async fn from_env() -> Result<Sessions, Error> {
        let file = std::env::var_os("SESSION_CONFIG").filter(|f| !f.is_empty());
        let settings = Settings::load(file.as_deref().map(Path::new))?;
        Sessions::from_settings(&settings).await
    }

    /// Sessions as `settings` describe them: connects to the store the driver names (creating
    /// its SQL table if missing, and a DynamoDB table when the endpoint is a local one),
    /// starts a [`Sweeper`] every [`SWEEP_EVERY`] when the store needs one, and builds the
    /// layer. Must run inside a tokio runtime.
    ///
    /// Fails with a configuration error when the driver's setting is missing (a URL, the cookie
    /// keys), when its feature is not built in, or when the store cannot be reached.
    pub async fn from_settings(settings: &Settings) -> Result<Sessions, Error> {
        if settings.driver == Driver::Cookie {
            let layer = settings.client_side_layer(cookie_storage(settings)?)?;
            return Ok(Sessions {
                layer,
                store: None,
                sweeper: None,
            });
        }
        let store = store(settings).await?;
        let layer = settings.layer(store.clone())?;
        let sweeper = store
            .capabilities()
            .sweep
            .then(|| Sweeper::start(store.clone(), SWEEP_EVERY));
        Ok(Sessions {
            layer,
            store: Some(store),
            sweeper,
        })
    }

    /// The layer, for `Router::layer` (cheap to clone: every clone shares the store and the
    /// per-session queue).
    pub fn layer(&self) -> SessionLayer {
        self.layer.clone()
    }

    /// The store behind the layer; `None` for the cookie driver, which keeps no store.
    pub fn store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.store.as_ref()
    }

    /// Stops the sweeper, waiting for a sweep in progress.
    pub async fn shutdown(self) {
        if let Some(sweeper) = self.sweeper {
            sweeper.stop().await;
        }
    }
}

/// The server-side store `settings` name, connected (and its table made if missing). The
/// cookie driver keeps no store: use [`Sessions::from_settings`] for it.
pub async fn store(settings: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    match settings.driver {
        Driver::Memory => Ok(Arc::new(MemoryStore::new())),
        Driver::File => file(settings).await,
        Driver::Redis => redis(settings).await,
        Driver::Database => database(settings).await,
        Driver::DynamoDb => dynamodb(settings).await,
        Driver::Cookie => Err(Error::config(
            "the cookie driver keeps no store; use Sessions::from_settings for its layer",
        )),
        other => Err(Error::config(format!(
            "the {other:?} driver is not known here"
        ))),
    }
}

/// The error for a driver whose feature is off.
#[cfg_attr(
    all(
        feature = "file",
        feature = "redis",
        feature = "postgres",
        feature = "mysql",
        feature = "sqlite",
        feature = "dynamodb",
        feature = "cookie"
    ),
    allow(dead_code)
)]
fn not_built(driver: &str, feature: &str) -> Error {
    Error::config(format!(
        "SESSION_DRIVER={driver} needs the `{feature}` feature of the sessions crate, which this \
         build leaves out"
    ))
}

fn required<'a>(value: Option<&'a str>, what: &str) -> Result<&'a str, Error> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::config(format!("{what} is not set")))
}

#[cfg(feature = "file")]
async fn file(settings: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    let config = session_file::FileConfig::new(&settings.store.files_path);
    Ok(Arc::new(session_file::FileStore::connect(config).await?))
}

#[cfg(not(feature = "file"))]
async fn file(_: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    Err(not_built("file", "file"))
}

/// The Redis store: a cluster when `redis_cluster` names nodes, else the server at
/// `redis_url`; writes wait for `redis_replica_acks` replicas.
#[cfg(feature = "redis")]
async fn redis(settings: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    let store = &settings.store;
    let config = if store.redis_cluster.is_empty() {
        let url = required(
            store.redis_url.as_deref(),
            "SESSION_REDIS_URL (redis_url) or SESSION_REDIS_CLUSTER (redis_cluster), which \
             SESSION_DRIVER=redis needs,",
        )?;
        session_redis::RedisConfig::new(url)
    } else {
        session_redis::RedisConfig::cluster(store.redis_cluster.iter().cloned())
    }
    .with_replica_acks(store.redis_replica_acks, store.redis_ack_timeout);
    Ok(Arc::new(session_redis::RedisStore::connect(config).await?))
}

#[cfg(not(feature = "redis"))]
async fn redis(_: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    Err(not_built("redis", "redis"))
}

/// The SQL store for `database_url`: `sqlite:`, `postgres:` or `mysql:`.
async fn database(settings: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    let url = required(
        settings.store.database_url.as_deref(),
        "SESSION_DATABASE_URL (database_url), which SESSION_DRIVER=database needs,",
    )?;
    if url.starts_with("sqlite:") {
        return sqlite(url).await;
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return postgres(url).await;
    }
    if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        return mysql(url).await;
    }
    Err(Error::config(
        "SESSION_DATABASE_URL must start with sqlite:, postgres: or mysql:",
    ))
}

/// The table the SQL and DynamoDB drivers keep sessions in unless the settings say otherwise.
#[allow(dead_code)]
const TABLE: &str = "sessions";

#[cfg(feature = "sqlite")]
async fn sqlite(url: &str) -> Result<Arc<dyn SessionStore>, Error> {
    let store = session_sql::SqliteStore::connect(session_sql::SqlConfig::new(url)).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite(_: &str) -> Result<Arc<dyn SessionStore>, Error> {
    Err(not_built("database (sqlite:)", "sqlite"))
}

#[cfg(feature = "postgres")]
async fn postgres(url: &str) -> Result<Arc<dyn SessionStore>, Error> {
    let store = session_sql::PostgresStore::connect(session_sql::SqlConfig::new(url)).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_: &str) -> Result<Arc<dyn SessionStore>, Error> {
    Err(not_built("database (postgres:)", "postgres"))
}

#[cfg(feature = "mysql")]
async fn mysql(url: &str) -> Result<Arc<dyn SessionStore>, Error> {
    let store = session_sql::MySqlStore::connect(session_sql::SqlConfig::new(url)).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "mysql"))]
async fn mysql(_: &str) -> Result<Arc<dyn SessionStore>, Error> {
    Err(not_built("database (mysql:)", "mysql"))
}

#[cfg(feature = "dynamodb")]
async fn dynamodb(settings: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    let table = settings.store.dynamodb_table.as_deref().unwrap_or(TABLE);
    let endpoint = settings.store.dynamodb_endpoint.as_deref();
    let mut config = session_dynamo::DynamoConfig::new(table);
    if let Some(endpoint) = endpoint {
        config = config.with_endpoint(endpoint);
    }
    let store = session_dynamo::DynamoStore::connect(config).await?;
    // A local endpoint (an emulator) starts empty; a real table is provisioned with the rest
    // of the deployment (see the session-dynamo docs).
    if endpoint.is_some_and(is_local) {
        store.create_table().await?;
    }
    Ok(Arc::new(store))
}

/// Whether `endpoint` (a URL) names this machine.
#[cfg(feature = "dynamodb")]
fn is_local(endpoint: &str) -> bool {
    let authority = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .split('/')
        .next()
        .unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

#[cfg(not(feature = "dynamodb"))]
async fn dynamodb(_: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    Err(not_built("dynamodb", "dynamodb"))
}

#[cfg(feature = "cookie")]
fn cookie_storage(settings: &Settings) -> Result<Arc<dyn session_core::ClientSideStore>, Error> {
    if settings.store.cookie_keys.is_empty() {
        return Err(Error::config(
            "SESSION_DRIVER=cookie needs SESSION_COOKIE_KEYS (cookie_keys): one or more keys, \
             base64, comma-separated, newest first",
        ));
    }
    let keys = settings
        .store
        .cookie_keys
        .expose()
        .iter()
        .enumerate()
        .map(|(i, text)| {
            session_cookie::Key::from_base64(text)
                .map_err(|e| Error::config(format!("key {} of SESSION_COOKIE_KEYS: {e}", i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(session_cookie::CookieStore::new(keys)?))
}

#[cfg(not(feature = "cookie"))]
fn cookie_storage(_: &Settings) -> Result<Arc<dyn session_core::ClientSideStore>, Error> {
    Err(not_built("cookie", "cookie"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_left_out_of_the_build_names_the_feature_to_turn_on() {
        let err = not_built("redis", "redis");
        assert_eq!(err.kind(), session_core::ErrorKind::Config);
        assert!(err.to_string().contains("`redis` feature"), "{err}");
    }

    #[cfg(feature = "dynamodb")]
    #[test]
    fn only_an_endpoint_on_this_machine_counts_as_local() {
        for local in [
            "http://localhost:8000",
            "http://127.0.0.1:5000/",
            "http://[::1]:8000",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "https://dynamodb.eu-west-1.amazonaws.com",
            "http://dynamo:8000",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }
}
