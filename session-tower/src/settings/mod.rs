//! Settings from environment variables and a TOML file, the environment winning: the
//! [`Settings`] type here, the catalog of keys and how each value is read in `keys`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use session_core::{ClientSideStore, Error, SessionStore, StoreLock};

use crate::session::SessionConfig;

use crate::cookie::CookieConfig;
use crate::layer::SessionLayer;
use crate::options::CommitOn;

mod keys;

use keys::{KEYS, origin};

/// Which storage driver a deployment uses. The application maps it to a store; see the
/// driver crates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Driver {
    /// In process memory (`memory`).
    Memory,
    /// Sealed in the cookie (`cookie`).
    Cookie,
    /// Files on local disk (`file`).
    File,
    /// Redis (`redis`).
    Redis,
    /// A SQL database (`database`).
    Database,
    /// DynamoDB (`dynamodb`).
    DynamoDb,
}

impl FromStr for Driver {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "memory" => Driver::Memory,
            "cookie" => Driver::Cookie,
            "file" => Driver::File,
            "redis" => Driver::Redis,
            "database" => Driver::Database,
            "dynamodb" => Driver::DynamoDb,
            _ => {
                return Err(
                    "expected one of memory, cookie, file, redis, database, dynamodb".into(),
                );
            }
        })
    }
}

/// The deployment's session settings.
///
/// Read them with [`Settings::load`]: a TOML file (optional) and then `SESSION_*` environment
/// variables, the environment winning. Keys and variables:
///
/// | file key | variable | value | default |
/// |---|---|---|---|
/// | `driver` | `SESSION_DRIVER` | `memory`, `cookie`, `file`, `redis`, `database`, `dynamodb` | `memory` |
/// | `lifetime` | `SESSION_LIFETIME` | idle timeout: minutes, or a number with `s`, `m`, `h`, `d` | `120` |
/// | `absolute_lifetime` | `SESSION_ABSOLUTE_LIFETIME` | as `lifetime`, or `none` | `none` |
/// | `touch_interval` | `SESSION_TOUCH_INTERVAL` | as `lifetime` | `60s` |
/// | `expire_on_close` | `SESSION_EXPIRE_ON_CLOSE` | `true` / `false` | `false` |
/// | `cookie_name` | `SESSION_COOKIE_NAME` | name | `id` |
/// | `secure_cookie` | `SESSION_SECURE_COOKIE` | `true` / `false` | `true` |
/// | `same_site` | `SESSION_SAME_SITE` | `lax`, `strict`, `none` | `lax` |
/// | `http_only` | `SESSION_HTTP_ONLY` | `true` / `false` | `true` |
/// | `path` | `SESSION_PATH` | cookie path | `/` |
/// | `domain` | `SESSION_DOMAIN` | cookie domain | none |
/// | `host_prefix` | `SESSION_HOST_PREFIX` | `true` / `false` | `false` |
/// | `commit_on` | `SESSION_COMMIT_ON` | `always`, `not_server_error`, `success` | `not_server_error` |
/// | `on_load_error` | `SESSION_ON_LOAD_ERROR` | `fail` (a 5xx) or `start_fresh` (an empty session) | `fail` |
/// | `retry_budget` | `SESSION_RETRY_BUDGET` | how long a commit retries after conflicts with other processes, as `lifetime` | `2s` |
/// | `wait_timeout` | `SESSION_WAIT_TIMEOUT` | how long a request waits for earlier requests of its session, as `lifetime` | `10s` |
/// | `save_every_request` | `SESSION_SAVE_EVERY_REQUEST` | `true`: refresh the expiry and re-send the cookie on every request that uses the session | `false` |
/// | `no_store_signed_in` | `SESSION_NO_STORE_SIGNED_IN` | `true`: responses of a signed-in session get `Cache-Control: no-store` | `true` |
/// | `lock` | `SESSION_LOCK` | `true`: requests of a session also wait for each other across processes (a lock kept in the store) | `false` |
/// | `files_path` | `SESSION_FILES_PATH` | directory | `storage/sessions` |
/// | `redis_url` | `SESSION_REDIS_URL` | URL | none |
/// | `redis_cluster` | `SESSION_REDIS_CLUSTER` | Redis Cluster node URLs, comma-separated (then `redis_url` is not needed) | none |
/// | `redis_replica_acks` | `SESSION_REDIS_REPLICA_ACKS` | replicas each Redis write must reach (`WAIT`) before it is acknowledged; `0` waits for none | `0` |
/// | `redis_ack_timeout` | `SESSION_REDIS_ACK_TIMEOUT` | how long a Redis write waits for them, as `lifetime` | `100ms` |
/// | `database_url` | `SESSION_DATABASE_URL` | URL | none |
/// | `dynamodb_table` | `SESSION_DYNAMODB_TABLE` | table name | none |
/// | `dynamodb_endpoint` | `SESSION_DYNAMODB_ENDPOINT` | URL | none |
/// | `cookie_keys` | `SESSION_COOKIE_KEYS` | the cookie driver's keys, base64, comma-separated: the first seals, all open (list a new key first to rotate) | none |
///
/// An unknown key in the file, or a value that does not parse, is an error naming the key (or
/// variable) and what it expects. Other `SESSION_*` variables are left alone, since other
/// software uses that prefix too.
///
/// ```
/// use session_tower::{Driver, Settings};
///
/// let file = "driver = \"file\"\nlifetime = \"30m\"\n";
/// let env = [("SESSION_LIFETIME", "2h")];
/// let settings = Settings::from_sources(Some(file), env).unwrap();
/// assert_eq!(settings.driver, Driver::File);
/// assert_eq!(settings.session.idle_timeout.as_secs(), 7200); // the environment wins
///
/// let err = Settings::from_sources(Some("lifetme = 5"), [("", ""); 0]).unwrap_err();
/// assert!(err.to_string().contains("unknown setting \"lifetme\""));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// The storage driver.
    pub driver: Driver,
    /// How sessions behave: lifetimes, touch interval, contention limits, load errors.
    pub session: SessionConfig,
    /// The cookie's name and attributes.
    pub cookie: CookieConfig,
    /// Which statuses commit.
    pub commit_on: CommitOn,
    /// Whether requests of a session wait for each other across processes too, through a
    /// lock kept in the store ([`session_core::StoreLock`]).
    pub lock: bool,
    /// Whether responses of a signed-in session get `Cache-Control: no-store`.
    pub no_store_signed_in: bool,
    /// Where the driver keeps sessions: its URL, directory, table or keys.
    pub store: StoreSettings,
}

/// Where the driver keeps sessions: what each driver needs to reach its storage.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoreSettings {
    /// Directory of the file driver.
    pub files_path: PathBuf,
    /// Redis URL.
    pub redis_url: Option<String>,
    /// Redis Cluster node URLs; empty for one server.
    pub redis_cluster: Vec<String>,
    /// Replicas each Redis write must reach before it is acknowledged (0: none).
    pub redis_replica_acks: u32,
    /// How long a Redis write waits for its replicas.
    pub redis_ack_timeout: std::time::Duration,
    /// Database URL.
    pub database_url: Option<String>,
    /// DynamoDB table.
    pub dynamodb_table: Option<String>,
    /// DynamoDB endpoint override.
    pub dynamodb_endpoint: Option<String>,
    /// The cookie driver's keys as written in the settings (base64), newest first.
    pub cookie_keys: SecretList,
}

/// Secret values from the settings (keys), kept out of `Debug` output and logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretList(Vec<String>);

impl SecretList {
    /// The values, in the order the settings give them.
    pub fn expose(&self) -> &[String] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} redacted]", self.0.len())
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            files_path: PathBuf::from("storage/sessions"),
            redis_url: None,
            redis_cluster: Vec::new(),
            redis_replica_acks: 0,
            redis_ack_timeout: std::time::Duration::from_millis(100),
            database_url: None,
            dynamodb_table: None,
            dynamodb_endpoint: None,
            cookie_keys: SecretList::default(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            driver: Driver::Memory,
            session: SessionConfig::default(),
            cookie: CookieConfig::default(),
            commit_on: CommitOn::default(),
            lock: false,
            no_store_signed_in: true,
            store: StoreSettings::default(),
        }
    }
}

impl Settings {
    /// Reads `file` (when given and present) and then the process environment.
    ///
    /// A named file that does not exist is an error; pass `None` to use the environment only.
    pub fn load(file: Option<&Path>) -> Result<Self, Error> {
        let text = match file {
            None => None,
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                Error::config(format!("cannot read settings file {}", path.display()))
                    .with_source(e)
            })?),
        };
        Self::from_sources(text.as_deref(), std::env::vars())
    }

    /// Settings from a TOML text and environment pairs; the environment wins.
    pub fn from_sources<K, V>(
        file: Option<&str>,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        // (value, environment variable it came from, if any) by file key.
        let mut values: BTreeMap<&'static str, (String, Option<&'static str>)> = BTreeMap::new();
        if let Some(text) = file {
            let table: toml::Table = text
                .parse()
                .map_err(|e| Error::config("the settings file is not valid TOML").with_source(e))?;
            for (key, value) in table {
                let Some((file_key, _)) = KEYS.iter().find(|(k, _)| *k == key) else {
                    let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                    return Err(Error::config(format!(
                        "unknown setting {key:?} in the settings file; known settings: {}",
                        known.join(", ")
                    )));
                };
                let text = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(Error::config(format!(
                            "{} must be a string, number or boolean, not {}",
                            origin(file_key, None),
                            other.type_str()
                        )));
                    }
                };
                values.insert(file_key, (text, None));
            }
        }
        for (var, value) in env {
            if let Some((file_key, env_var)) = KEYS.iter().find(|(_, v)| *v == var.as_ref()) {
                values.insert(file_key, (value.as_ref().to_owned(), Some(env_var)));
            }
        }

        let mut settings = Settings::default();
        for (key, (text, var)) in &values {
            keys::apply(&mut settings, key, text)
                .map_err(|why| Error::config(format!("{} = {text:?}: {why}", origin(key, *var))))?;
        }
        // Check the cookie attributes together now, not at the first request.
        settings.cookie.validate()?;
        Ok(settings)
    }

    /// The session settings these describe.
    pub fn session_config(&self) -> SessionConfig {
        self.session.clone()
    }

    /// The cookie settings these describe.
    pub fn cookie_config(&self) -> CookieConfig {
        self.cookie.clone()
    }

    /// A layer over `store` configured by these settings (taking the store's session lock
    /// when `lock` is on).
    pub fn layer(&self, store: Arc<dyn SessionStore>) -> Result<SessionLayer, Error> {
        let layer = SessionLayer::from_parts(
            store.clone(),
            self.session_config(),
            self.cookie_config(),
            self.commit_on,
        )?
        .with_no_store_when_signed_in(self.no_store_signed_in);
        Ok(if self.lock {
            layer.with_lock(Arc::new(StoreLock::new(store)))
        } else {
            layer
        })
    }

    /// A layer keeping sessions in the cookie, sealed by `storage`, configured by these
    /// settings (`lock` does not apply: there is no store to keep a lock in).
    pub fn client_side_layer(
        &self,
        storage: Arc<dyn ClientSideStore>,
    ) -> Result<SessionLayer, Error> {
        Ok(SessionLayer::client_side_from_parts(
            storage,
            self.session_config(),
            self.cookie_config(),
            self.commit_on,
        )?
        .with_no_store_when_signed_in(self.no_store_signed_in))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::OnLoadError;

    const NO_ENV: [(&str, &str); 0] = [];

    #[test]
    fn defaults_are_the_secure_ones() {
        let s = Settings::from_sources(None, NO_ENV).unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.cookie.secure && s.cookie.http_only);
        assert_eq!(s.cookie.same_site, cookie::SameSite::Lax);
        assert_eq!(s.session.idle_timeout, Duration::from_secs(7200));
    }

    #[test]
    fn contention_settings_reach_the_layer() {
        let file = "retry_budget = \"500ms\"\nlock = true\nsave_every_request = true\n";
        let env = [("SESSION_WAIT_TIMEOUT", "3s")];
        let s = Settings::from_sources(Some(file), env).unwrap();
        let config = s.session_config();
        assert!(config.save_every_request);
        assert_eq!(config.retry_budget, Duration::from_millis(500));
        assert_eq!(config.wait_timeout, Duration::from_secs(3));
        let layer = s.layer(Arc::new(session_core::MemoryStore::new())).unwrap();
        assert!(layer.queue().lock().is_some(), "lock = true took no lock");
        let plain = Settings::default()
            .layer(Arc::new(session_core::MemoryStore::new()))
            .unwrap();
        assert!(plain.queue().lock().is_none());
        assert!(Settings::from_sources(None, [("SESSION_LOCK", "maybe")]).is_err());
        assert!(Settings::from_sources(None, [("SESSION_WAIT_TIMEOUT", "0")]).is_err());
    }

    #[test]
    fn redis_cluster_nodes_and_replica_acks_are_read() {
        let s = Settings::from_sources(
            Some("redis_cluster = \"redis://a:6379, redis://b:6379,\"\nredis_replica_acks = 1\n"),
            [("SESSION_REDIS_ACK_TIMEOUT", "250ms")],
        )
        .unwrap();
        assert_eq!(s.store.redis_cluster, ["redis://a:6379", "redis://b:6379"]);
        assert_eq!(s.store.redis_replica_acks, 1);
        assert_eq!(
            s.store.redis_ack_timeout,
            std::time::Duration::from_millis(250)
        );
        let err =
            Settings::from_sources(None, [("SESSION_REDIS_REPLICA_ACKS", "some")]).unwrap_err();
        assert!(
            err.to_string().contains("SESSION_REDIS_REPLICA_ACKS"),
            "{err}"
        );
    }

    #[test]
    fn environment_wins_over_the_file() {
        let file = "driver = \"redis\"\nredis_url = \"redis://file\"\nsecure_cookie = false\n";
        let env = [
            ("SESSION_REDIS_URL", "redis://env"),
            ("SESSION_MANAGER", "local/desktop"),
        ];
        let s = Settings::from_sources(Some(file), env).unwrap();
        assert_eq!(s.driver, Driver::Redis);
        assert_eq!(s.store.redis_url.as_deref(), Some("redis://env"));
        assert!(!s.cookie.secure);
    }

    #[test]
    fn bad_values_name_their_source_and_expectation() {
        let err = Settings::from_sources(None, [("SESSION_LIFETIME", "soon")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("SESSION_LIFETIME"), "{text}");
        assert!(text.contains("expected minutes"), "{text}");

        let err = Settings::from_sources(Some("driver = \"mongo\""), NO_ENV).unwrap_err();
        assert!(err.to_string().contains("expected one of memory"), "{err}");

        let err = Settings::from_sources(Some("lifetime = [1]"), NO_ENV).unwrap_err();
        assert!(err.to_string().contains("not array"), "{err}");

        let err = Settings::from_sources(Some("not toml ="), NO_ENV).unwrap_err();
        assert!(err.to_string().contains("not valid TOML"), "{err}");
    }

    #[test]
    fn load_error_policy_is_a_setting() {
        let s = Settings::from_sources(None, [("SESSION_ON_LOAD_ERROR", "start_fresh")]).unwrap();
        assert_eq!(s.session_config().on_load_error, OnLoadError::StartFresh);
        assert!(Settings::from_sources(None, [("SESSION_ON_LOAD_ERROR", "ignore")]).is_err());
    }

    #[test]
    fn invalid_cookie_combinations_fail_at_load() {
        let env = [
            ("SESSION_HOST_PREFIX", "true"),
            ("SESSION_SECURE_COOKIE", "false"),
        ];
        let err = Settings::from_sources(None, env).unwrap_err();
        assert!(err.to_string().contains("__Host-"), "{err}");
    }
}
