//! Containers the suite starts: shared ones for a test binary's cases, and a test's own, which
//! it may freeze, stop and start again.

use std::fmt;
use std::time::Duration;

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use super::{Backend, image_for, required};

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

/// A container of a test's own (one it may freeze, stop and start again) of `backend`, or
/// `None` when none can be started and `backend` is not [`required`] (the skip and its reason
/// are printed).
///
/// Unlike the containers the suite shares, the server's port is mapped to a fixed free host
/// port, so the address ([`Backend::url_of`]) survives [`Container::stop`] and
/// [`Container::start`]; `cmd`, when not empty, replaces the image's command.
///
/// # Panics
///
/// When `backend` is required and no container starts.
pub async fn own_container(backend: &Backend, cmd: &[&str]) -> Option<Container> {
    let image = image_for(backend);
    let started = match free_port() {
        Ok(host_port) => {
            start(
                &image,
                backend.port,
                backend.ready,
                backend.env,
                cmd,
                Some(host_port),
            )
            .await
        }
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
