//! Where test backends come from.
//!
//! A driver's factory asks for its backend through a [`Backend`], which looks in this order:
//!
//! 1. **An address from the environment**, such as `SESSION_TEST_REDIS_URL`: a server someone
//!    started by hand, or one a CI job provides. Nothing is started.
//! 2. **A container**, started by the starter the driver passes to [`Backend::endpoint`], from the
//!    image named by the backend's image variable (`SESSION_TEST_REDIS_IMAGE` ...) or its
//!    default. The container is shared by every case of the test binary and removed when the
//!    suite ends.
//! 3. **Skipped**, with the reason: the suite reports the backend's cases as ignored and prints
//!    why.
//!
//! `SESSION_TEST_REQUIRE=all` (or a comma-separated list of backend names, such as
//! `redis,postgres`) turns a skip into a failure of every case, so a CI run cannot pass by
//! silently testing nothing.
//!
//! `SESSION_TEST_CASE_TIMEOUT` (seconds, default 120) bounds each case, so a backend that stops
//! answering fails the run instead of hanging it.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::setup::SetupError;

mod catalog;
mod cluster;
mod container;

pub use catalog::{DYNAMODB, MYSQL, POSTGRES, REDIS, dynamodb, mysql, postgres, redis};
pub use cluster::{
    REDIS_CLUSTER, RedisCluster, cluster_nodes, own_redis_cluster, redis_cluster,
    redis_cluster_or_skip,
};
pub use container::{Container, Ready, own_container, start_container};

/// The image to start for `backend`: its image variable, or its default.
pub fn image_for(backend: &Backend) -> String {
    std::env::var(backend.image_var)
        .ok()
        .filter(|i| !i.trim().is_empty())
        .unwrap_or_else(|| backend.default_image.to_owned())
}

/// Calls `connect` until it succeeds or `within` passes: servers that restart after
/// initialising (as the official database images do) log "ready" before they are.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    within: Duration,
    mut connect: F,
) -> Result<T, SetupError>
where
    E: fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = std::time::Instant::now();
    loop {
        match connect().await {
            Ok(value) => return Ok(value),
            Err(e) if started.elapsed() >= within => {
                return Err(SetupError::Failed(format!("{what}: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Whether the environment requires backend `name` to be available
/// (`SESSION_TEST_REQUIRE=all`, or a list naming it).
pub fn required(name: &str) -> bool {
    required_by(std::env::var("SESSION_TEST_REQUIRE").ok().as_deref(), name)
}

fn required_by(setting: Option<&str>, name: &str) -> bool {
    let Some(setting) = setting else { return false };
    setting
        .split(',')
        .map(str::trim)
        .any(|item| item.eq_ignore_ascii_case("all") || item.eq_ignore_ascii_case(name))
}

/// The per-case time limit: `SESSION_TEST_CASE_TIMEOUT` seconds, or 120.
pub fn case_timeout() -> Duration {
    std::env::var("SESSION_TEST_CASE_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(120))
}

/// A kind of backend the suite can provision, with the recipe for its container.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    /// Its name in messages and in `SESSION_TEST_REQUIRE` (`"redis"`).
    pub name: &'static str,
    /// The variable holding the address of a running server (`"SESSION_TEST_REDIS_URL"`).
    pub url_var: &'static str,
    /// The variable naming the container image to start (`"SESSION_TEST_REDIS_IMAGE"`).
    pub image_var: &'static str,
    /// The image started when the image variable is unset.
    pub default_image: &'static str,
    /// The server's port inside the container.
    pub port: u16,
    /// The log line that says the container's server is ready.
    pub ready: Ready,
    /// The container's environment.
    pub env: &'static [(&'static str, &'static str)],
    /// The address drivers connect to, for a server at `host` and `port`.
    pub url: fn(&str, u16) -> String,
}

/// Where a provisioned backend came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The address was read from this environment variable.
    Environment(&'static str),
    /// A container was started from this image.
    Container(String),
}

/// A reachable backend: its address, where it came from, and whatever keeps it running.
pub struct Endpoint {
    /// The address to connect to (a URL, or `host:port`).
    pub url: String,
    /// Where it came from.
    pub source: Source,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Endpoint {
    /// An endpoint at `url` kept alive by `guard` (a container handle); dropping the endpoint
    /// drops the guard.
    pub fn new(url: String, source: Source, guard: Option<Box<dyn Any + Send + Sync>>) -> Self {
        Endpoint {
            url,
            source,
            _guard: guard,
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

type Slot = Arc<OnceCell<Result<Arc<Endpoint>, String>>>;

fn registry() -> &'static Mutex<HashMap<&'static str, Slot>> {
    static REGISTRY: OnceLock<Mutex<HashMap<&'static str, Slot>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

impl Backend {
    /// The endpoint the cases of this test binary share: from [`Backend::url_var`], else a
    /// container started from this backend's image and recipe, provisioned once.
    pub async fn shared(&self) -> Result<Arc<Endpoint>, SetupError> {
        let backend = *self;
        self.endpoint(|image| async move {
            let container =
                start_container(&image, backend.port, backend.ready, backend.env).await?;
            let url = backend.url_of(&container);
            Ok(Endpoint::new(
                url,
                Source::Container(image),
                Some(Box::new(container)),
            ))
        })
        .await
    }

    /// The shared endpoint ([`Backend::shared`]) for a test outside the suite, or `None` when
    /// the backend is unavailable and not [`required`] (the skip and its reason are printed).
    ///
    /// # Panics
    ///
    /// When the backend is required and unavailable, or setting it up failed.
    pub async fn shared_or_skip(&self) -> Option<Arc<Endpoint>> {
        match self.shared().await {
            Ok(endpoint) => Some(endpoint),
            Err(SetupError::Skip(reason)) if !required(self.name) => {
                eprintln!("skipped: {reason}; set SESSION_TEST_REQUIRE=all to fail");
                None
            }
            Err(e) => panic!("{} is required: {e}", self.name),
        }
    }

    /// The address of this backend's server in `container`.
    pub fn url_of(&self, container: &Container) -> String {
        (self.url)(&container.host, container.port)
    }

    /// The backend's endpoint, provisioned once per test binary.
    ///
    /// Reads [`Backend::url_var`] first; otherwise calls `start` with the image to run, which
    /// returns the endpoint or the reason it could not start one. Later calls get the same
    /// endpoint (or the same reason) without starting anything.
    pub async fn endpoint<F, Fut>(&self, start: F) -> Result<Arc<Endpoint>, SetupError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<Endpoint, String>>,
    {
        self.endpoint_from(|var| std::env::var(var).ok(), start)
            .await
    }

    async fn endpoint_from<F, Fut>(
        &self,
        env: impl Fn(&str) -> Option<String>,
        start: F,
    ) -> Result<Arc<Endpoint>, SetupError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<Endpoint, String>>,
    {
        let slot = registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(self.name)
            .or_default()
            .clone();
        let set = |var: &str| env(var).filter(|v| !v.trim().is_empty());
        let result = slot
            .get_or_init(|| async {
                if let Some(url) = set(self.url_var) {
                    let source = Source::Environment(self.url_var);
                    return Ok(Arc::new(Endpoint::new(url, source, None)));
                }
                let image = set(self.image_var).unwrap_or_else(|| self.default_image.to_owned());
                start(image.clone()).await.map(Arc::new).map_err(|reason| {
                    format!(
                        "{} is not set and no {} container could be started from {image}: {reason}",
                        self.url_var, self.name
                    )
                })
            })
            .await;
        result.clone().map_err(SetupError::Skip)
    }
}

/// Drops every provisioned endpoint, stopping the containers the suite started.
/// [`crate::Suite::run`] calls it when the cases are done; call it from inside a multi-threaded
/// tokio runtime, since removing a container is asynchronous.
pub fn shutdown() {
    let slots: Vec<Slot> = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .map(|(_, slot)| slot)
        .collect();
    drop(slots);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_setting_names_all_or_listed_backends() {
        assert!(!required_by(None, "redis"));
        assert!(required_by(Some("all"), "redis"));
        assert!(required_by(Some("ALL"), "redis"));
        assert!(required_by(Some("postgres, redis"), "redis"));
        assert!(!required_by(Some("postgres"), "redis"));
        assert!(!required_by(Some(""), "redis"));
    }

    #[tokio::test]
    async fn environment_wins_and_a_failed_start_is_a_skip_with_the_reason() {
        // Names unique to this test keep it independent of the real variables.
        const FROM_ENV: Backend = Backend {
            name: "unit-env",
            url_var: "SESSION_TEST_UNIT_ENV_URL",
            image_var: "SESSION_TEST_UNIT_ENV_IMAGE",
            default_image: "unit:latest",
            port: 1,
            ready: Ready::Stdout("ready"),
            env: &[],
            url: |host, port| format!("tcp://{host}:{port}"),
        };
        const NO_ENGINE: Backend = Backend {
            name: "unit-none",
            url_var: "SESSION_TEST_UNIT_NONE_URL",
            image_var: "SESSION_TEST_UNIT_NONE_IMAGE",
            default_image: "unit:latest",
            port: 1,
            ready: Ready::Stdout("ready"),
            env: &[],
            url: |host, port| format!("tcp://{host}:{port}"),
        };
        let env = |var: &str| (var == FROM_ENV.url_var).then(|| "tcp://127.0.0.1:1".to_owned());

        let endpoint = FROM_ENV
            .endpoint_from(env, |_| async { Err("must not start".to_owned()) })
            .await
            .unwrap();
        assert_eq!(endpoint.url, "tcp://127.0.0.1:1");
        assert_eq!(endpoint.source, Source::Environment(FROM_ENV.url_var));

        let skipped = NO_ENGINE
            .endpoint_from(env, |image| async move {
                Err(format!("no engine to run {image}"))
            })
            .await
            .unwrap_err();
        match skipped {
            SetupError::Skip(reason) => {
                assert!(
                    reason.contains("SESSION_TEST_UNIT_NONE_URL is not set"),
                    "{reason}"
                );
                assert!(reason.contains("no engine to run unit:latest"), "{reason}");
            }
            other => panic!("expected a skip, got {other:?}"),
        }
    }
}
