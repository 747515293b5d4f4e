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

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};
use tokio::sync::OnceCell;

use crate::setup::SetupError;

/// Redis: `SESSION_TEST_REDIS_URL` (`redis://host:port/`), else a container from
/// `SESSION_TEST_REDIS_IMAGE` (default `redis:7`).
pub const REDIS: Backend = Backend {
    name: "redis",
    url_var: "SESSION_TEST_REDIS_URL",
    image_var: "SESSION_TEST_REDIS_IMAGE",
    default_image: "redis:7",
};

/// The image to start for `backend`: its image variable, or its default.
pub fn image_for(backend: &Backend) -> String {
    std::env::var(backend.image_var)
        .ok()
        .filter(|i| !i.trim().is_empty())
        .unwrap_or_else(|| backend.default_image.to_owned())
}

/// `backend`'s endpoint: from its variable, else a container started from its image (exposing
/// `port`, ready on `ready`, with `env`), whose address `url` writes.
async fn provision(
    backend: &Backend,
    port: u16,
    ready: Ready,
    env: &'static [(&'static str, &'static str)],
    url: fn(&Container) -> String,
) -> Result<Arc<Endpoint>, SetupError> {
    backend
        .endpoint(|image| async move {
            let container = start_container(&image, port, ready, env).await?;
            let url = url(&container);
            Ok(Endpoint::new(
                url,
                Source::Container(image),
                Some(Box::new(container)),
            ))
        })
        .await
}

/// The Redis endpoint for this test binary, provisioned once.
pub async fn redis() -> Result<Arc<Endpoint>, SetupError> {
    let ready = Ready::Stdout("Ready to accept connections");
    provision(&REDIS, 6379, ready, &[], |c| {
        format!("redis://{}:{}/", c.host, c.port)
    })
    .await
}

/// PostgreSQL: `SESSION_TEST_POSTGRES_URL` (`postgres://user@host:port/db`), else a container
/// from `SESSION_TEST_POSTGRES_IMAGE` (default `postgres:16`).
pub const POSTGRES: Backend = Backend {
    name: "postgres",
    url_var: "SESSION_TEST_POSTGRES_URL",
    image_var: "SESSION_TEST_POSTGRES_IMAGE",
    default_image: "postgres:16",
};

/// The PostgreSQL endpoint for this test binary, provisioned once.
pub async fn postgres() -> Result<Arc<Endpoint>, SetupError> {
    let ready = Ready::Stderr("database system is ready to accept connections");
    let env = &[("POSTGRES_HOST_AUTH_METHOD", "trust")];
    provision(&POSTGRES, 5432, ready, env, |c| {
        format!("postgres://postgres@{}:{}/postgres", c.host, c.port)
    })
    .await
}

/// MySQL or MariaDB: `SESSION_TEST_MYSQL_URL` (`mysql://user:password@host:port/db`), else a
/// container from `SESSION_TEST_MYSQL_IMAGE` (default `mariadb:11`).
pub const MYSQL: Backend = Backend {
    name: "mysql",
    url_var: "SESSION_TEST_MYSQL_URL",
    image_var: "SESSION_TEST_MYSQL_IMAGE",
    default_image: "mariadb:11",
};

/// The MySQL/MariaDB endpoint for this test binary, provisioned once.
pub async fn mysql() -> Result<Arc<Endpoint>, SetupError> {
    let env = &[
        ("MARIADB_USER", "session"),
        ("MARIADB_PASSWORD", "session"),
        ("MARIADB_DATABASE", "sessions"),
        ("MARIADB_ROOT_PASSWORD", "session"),
    ];
    provision(
        &MYSQL,
        3306,
        Ready::Stderr("ready for connections"),
        env,
        |c| format!("mysql://session:session@{}:{}/sessions", c.host, c.port),
    )
    .await
}

/// DynamoDB: `SESSION_TEST_DYNAMODB_ENDPOINT` (`http://host:port`, an emulator or a real
/// endpoint), else a moto server in a container from `SESSION_TEST_DYNAMODB_IMAGE` (default
/// `motoserver/moto:latest`).
pub const DYNAMODB: Backend = Backend {
    name: "dynamodb",
    url_var: "SESSION_TEST_DYNAMODB_ENDPOINT",
    image_var: "SESSION_TEST_DYNAMODB_IMAGE",
    default_image: "motoserver/moto:latest",
};

/// The DynamoDB endpoint for this test binary, provisioned once.
pub async fn dynamodb() -> Result<Arc<Endpoint>, SetupError> {
    let ready = Ready::Stderr("Running on");
    provision(&DYNAMODB, 5000, ready, &[], |c| {
        format!("http://{}:{}", c.host, c.port)
    })
    .await
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

/// The log line that says a container's server is ready.
#[derive(Debug, Clone, Copy)]
pub enum Ready {
    /// A line on standard output.
    Stdout(&'static str),
    /// A line on standard error.
    Stderr(&'static str),
}

/// A container the suite started; dropping it removes the container.
pub struct Container {
    /// The host to connect to.
    pub host: String,
    /// The host port mapped to the server's port.
    pub port: u16,
    inner: testcontainers::ContainerAsync<GenericImage>,
}

impl Container {
    /// Stops the container (the server goes away), keeping it for removal on drop: the server
    /// gets 5 s to shut down cleanly before it is killed.
    pub async fn stop(&self) -> Result<(), String> {
        self.inner
            .stop_with_timeout(Some(5))
            .await
            .map_err(|e| e.to_string())
    }

    /// Starts a stopped container again, on the same host port when it was started with
    /// [`own_container`]. Returns once the container runs, not once its server is ready.
    pub async fn start(&self) -> Result<(), String> {
        self.inner.start().await.map_err(|e| e.to_string())
    }

    /// Freezes the container: connections stay open but nothing answers.
    pub async fn pause(&self) -> Result<(), String> {
        self.inner.pause().await.map_err(|e| e.to_string())
    }

    /// Thaws a paused container.
    pub async fn unpause(&self) -> Result<(), String> {
        self.inner.unpause().await.map_err(|e| e.to_string())
    }
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("id", &self.inner.id())
            .field("host", &self.host)
            .field("port", &self.port)
            .finish()
    }
}

/// Starts `image` (`name:tag`) with `env`, waits for `ready`, and returns the running
/// container with the host port mapped to `port`.
///
/// The error is a reason for a skip: no container engine, an image that cannot be had, a server
/// that never became ready.
pub async fn start_container(
    image: &str,
    port: u16,
    ready: Ready,
    env: &[(&str, &str)],
) -> Result<Container, String> {
    start(image, port, ready, env, &[], None).await
}

/// A container of a test's own (one it may freeze, stop and start again), from `backend`'s
/// image, or `None` when none can be started and `backend` is not [`required`] (the skip and
/// its reason are printed).
///
/// Unlike [`start_container`], the server's `port` is mapped to a fixed free host port, so the
/// address survives [`Container::stop`] and [`Container::start`]; `cmd`, when not empty,
/// replaces the image's command.
///
/// # Panics
///
/// When `backend` is required and no container starts.
pub async fn own_container(
    backend: &Backend,
    port: u16,
    ready: Ready,
    env: &[(&str, &str)],
    cmd: &[&str],
) -> Option<Container> {
    let image = image_for(backend);
    let started = match free_port() {
        Ok(host_port) => start(&image, port, ready, env, cmd, Some(host_port)).await,
        Err(e) => Err(format!("no free port on this machine: {e}")),
    };
    match started {
        Ok(container) => Some(container),
        Err(reason) if !required(backend.name) => {
            eprintln!(
                "skipped: no {} container ({reason}); set SESSION_TEST_REQUIRE=all to fail",
                backend.name
            );
            None
        }
        Err(reason) => panic!(
            "{} is required but no container started: {reason}",
            backend.name
        ),
    }
}

/// A port no one listens on now, for a fixed mapping.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

async fn start(
    image: &str,
    port: u16,
    ready: Ready,
    env: &[(&str, &str)],
    cmd: &[&str],
    host_port: Option<u16>,
) -> Result<Container, String> {
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let wait = match ready {
        Ready::Stdout(line) => WaitFor::message_on_stdout(line),
        Ready::Stderr(line) => WaitFor::message_on_stderr(line),
    };
    let mut request = GenericImage::new(name, tag)
        .with_exposed_port(ContainerPort::Tcp(port))
        .with_wait_for(wait)
        .with_startup_timeout(Duration::from_secs(120));
    for (key, value) in env {
        request = request.with_env_var(*key, *value);
    }
    if !cmd.is_empty() {
        request = request.with_cmd(cmd.iter().copied());
    }
    if let Some(host_port) = host_port {
        request = request.with_mapped_port(host_port, ContainerPort::Tcp(port));
    }
    let container = request
        .start()
        .await
        .map_err(|e| format!("starting {image}: {e}"))?;
    let host = container
        .get_host()
        .await
        .map_err(|e| format!("finding the host of {image}: {e}"))?;
    let mapped = container
        .get_host_port_ipv4(port)
        .await
        .map_err(|e| format!("finding the port of {image}: {e}"))?;
    Ok(Container {
        host: host.to_string(),
        port: mapped,
        inner: container,
    })
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

/// A kind of backend the suite can provision.
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
        };
        const NO_ENGINE: Backend = Backend {
            name: "unit-none",
            url_var: "SESSION_TEST_UNIT_NONE_URL",
            image_var: "SESSION_TEST_UNIT_NONE_IMAGE",
            default_image: "unit:latest",
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
