//! A Redis Cluster for tests: three primaries, each with a replica, in containers on a private
//! network of their own, from the Redis image the other Redis tests use.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::{Backend, Endpoint, REDIS, Source, image_for, required};
use crate::setup::SetupError;

/// Redis Cluster: `SESSION_TEST_REDIS_CLUSTER_URLS` (the node URLs, comma-separated), else a
/// cluster of six containers from `SESSION_TEST_REDIS_IMAGE`. Its endpoint's URL is the
/// comma-separated node URLs ([`cluster_nodes`] splits them).
pub const REDIS_CLUSTER: Backend = Backend {
    name: "redis-cluster",
    url_var: "SESSION_TEST_REDIS_CLUSTER_URLS",
    image_var: "SESSION_TEST_REDIS_IMAGE",
    default_image: "redis:7",
    port: 6379,
    ready: super::Ready::Stdout("Ready to accept connections"),
    env: &[],
    url: |host, port| format!("redis://{host}:{port}/"),
};

/// The node URLs of a cluster endpoint's URL.
pub fn cluster_nodes(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The cluster shared by a test binary's cases ([`REDIS_CLUSTER`]).
pub async fn redis_cluster() -> Result<Arc<Endpoint>, SetupError> {
    REDIS_CLUSTER
        .endpoint(|image| async move {
            let cluster = RedisCluster::start(&image, 1).await?;
            let url = cluster.nodes.join(",");
            Ok(Endpoint::new(
                url,
                Source::Container(image),
                Some(Box::new(cluster)),
            ))
        })
        .await
}

/// The shared cluster ([`redis_cluster`]) for a test outside the suite, or `None` when none
/// can be had and Redis Cluster is not [`required`] (the skip and its reason are printed).
///
/// # Panics
///
/// When the cluster is required and cannot be had.
pub async fn redis_cluster_or_skip() -> Option<Arc<Endpoint>> {
    match redis_cluster().await {
        Ok(cluster) => Some(cluster),
        Err(e) if !required(REDIS_CLUSTER.name) => {
            eprintln!("skipped: {e}; set SESSION_TEST_REQUIRE=all to fail");
            None
        }
        Err(e) => panic!("Redis Cluster is required: {e}"),
    }
}

/// A cluster of a test's own (one whose nodes it may stop), with `replicas` replicas per
/// primary, or `None` when none can be started and Redis Cluster is not [`required`] (the
/// skip and its reason are printed). With two replicas, a primary that fails over still has
/// one, so writes that must reach a replica go on.
///
/// # Panics
///
/// When the cluster is required and does not start.
pub async fn own_redis_cluster(replicas: usize) -> Option<RedisCluster> {
    match RedisCluster::start(&image_for(&REDIS), replicas).await {
        Ok(cluster) => Some(cluster),
        Err(reason) if !required(REDIS_CLUSTER.name) => {
            eprintln!("skipped: no Redis Cluster ({reason}); set SESSION_TEST_REQUIRE=all to fail");
            None
        }
        Err(reason) => panic!("Redis Cluster is required but did not start: {reason}"),
    }
}

/// Redis servers in cluster mode on a private network: three primaries with their replicas,
/// every replica in sync. Dropping it removes the containers and the network.
pub struct RedisCluster {
    /// The nodes' URLs (`redis://<address on the network>:6379/`).
    pub nodes: Vec<String>,
    containers: Vec<ContainerAsync<GenericImage>>,
    replicas: usize,
}

impl fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCluster")
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// How long a cluster may take to form, every replica in sync.
const FORM_WITHIN: Duration = Duration::from_secs(60);

impl RedisCluster {
    /// Starts three primaries and `replicas` replicas of each from `image`, joins them into a
    /// cluster, and waits until every slot is served and every replica is in sync.
    pub async fn start(image: &str, replicas: usize) -> Result<RedisCluster, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let network = format!(
            "sessions-cluster-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let mut containers = Vec::new();
        for _ in 0..3 * (1 + replicas) {
            let container = GenericImage::new(name, tag)
                .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
                .with_startup_timeout(Duration::from_secs(60))
                .with_cmd([
                    "redis-server",
                    "--port",
                    "6379",
                    "--cluster-enabled",
                    "yes",
                    // A primary is failed over two seconds after it stops answering, and
                    // a replica may always take over (test data is never too old).
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-replica-validity-factor",
                    "0",
                    "--appendonly",
                    "no",
                    "--save",
                    "",
                    "--protected-mode",
                    "no",
                ])
                .with_network(network.clone())
                .start()
                .await
                .map_err(|e| format!("starting a cluster node from {image}: {e}"))?;
            containers.push(container);
        }
        let mut addresses = Vec::new();
        for container in &containers {
            let ip = container
                .get_bridge_ip_address()
                .await
                .map_err(|e| format!("finding a cluster node's address: {e}"))?;
            addresses.push(format!("{ip}:6379"));
        }
        let mut create = vec!["redis-cli", "--cluster", "create"];
        create.extend(addresses.iter().map(String::as_str));
        let per_primary = replicas.to_string();
        create.extend(["--cluster-replicas", per_primary.as_str(), "--cluster-yes"]);
        let (code, output) = exec(&containers[0], &create).await?;
        if code != Some(0) {
            return Err(format!(
                "redis-cli --cluster create failed ({code:?}): {output}"
            ));
        }
        let cluster = RedisCluster {
            nodes: addresses.iter().map(|a| format!("redis://{a}/")).collect(),
            containers,
            replicas: 3 * replicas,
        };
        cluster.wait_until_formed().await?;
        Ok(cluster)
    }

    /// Waits until every node says the cluster is ok and every replica has its primary's data.
    async fn wait_until_formed(&self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let mut ok = 0;
            let mut synced = 0;
            for container in &self.containers {
                let (_, info) = exec(container, &["redis-cli", "cluster", "info"]).await?;
                if info.contains("cluster_state:ok") {
                    ok += 1;
                }
                let (_, replication) =
                    exec(container, &["redis-cli", "info", "replication"]).await?;
                if replication.contains("role:slave")
                    && replication.contains("master_link_status:up")
                    && !replication.contains("master_sync_in_progress:1")
                {
                    synced += 1;
                }
            }
            if ok == self.containers.len() && synced == self.replicas {
                return Ok(());
            }
            if started.elapsed() > FORM_WITHIN {
                return Err(format!(
                    "the cluster did not form within {FORM_WITHIN:?}: {ok} nodes ok, {synced} replicas in sync"
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The URL of the node that is primary for `slot` now, as the cluster says.
    pub async fn primary_of_slot(&self, slot: u16) -> Result<String, String> {
        // CLUSTER NODES: `<id> <ip:port@bus> <flags> <primary> ... <slot ranges>`.
        for container in &self.containers {
            let Ok((Some(0), nodes)) = exec(container, &["redis-cli", "cluster", "nodes"]).await
            else {
                continue;
            };
            for line in nodes.lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                    continue;
                }
                let serves = fields[8..].iter().any(|range| {
                    let (low, high) = range.split_once('-').unwrap_or((range, range));
                    matches!((low.parse::<u16>(), high.parse::<u16>()), (Ok(l), Ok(h)) if l <= slot && slot <= h)
                });
                if serves {
                    let address = fields[1].split('@').next().unwrap_or(fields[1]);
                    return Ok(format!("redis://{address}/"));
                }
            }
        }
        Err(format!("no primary serves slot {slot}"))
    }

    /// Stops the node at `url` (as [`RedisCluster::nodes`] names it) at once, as a crash would.
    pub async fn stop(&self, url: &str) -> Result<(), String> {
        let index = self
            .nodes
            .iter()
            .position(|n| n == url)
            .ok_or_else(|| format!("{url} is not a node of this cluster"))?;
        self.containers[index]
            .stop_with_timeout(Some(0))
            .await
            .map_err(|e| format!("stopping {url}: {e}"))
    }

    /// Whether every node still running says the cluster is ok.
    pub async fn is_ok(&self) -> bool {
        let mut any = false;
        for container in &self.containers {
            // A stopped node answers nothing, and does not count.
            if let Ok((Some(0), info)) = exec(container, &["redis-cli", "cluster", "info"]).await {
                any = true;
                if !info.contains("cluster_state:ok") {
                    return false;
                }
            }
        }
        any
    }
}

/// Runs `cmd` in `container` (with the engine's command line, on the blocking pool); its exit
/// code and output. Bounded: a node that hangs fails the call after 20 seconds.
async fn exec(
    container: &ContainerAsync<GenericImage>,
    cmd: &[&str],
) -> Result<(Option<i64>, String), String> {
    let mut args = vec![
        "exec".to_owned(),
        container.id().to_owned(),
        "timeout".to_owned(),
        "20".to_owned(),
    ];
    args.extend(cmd.iter().map(|c| (*c).to_owned()));
    let shown = format!("{cmd:?}");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("docker").args(&args).output()
    })
    .await
    .map_err(|e| format!("running {shown}: {e}"))?
    .map_err(|e| format!("running {shown}: {e}"))?;
    Ok((
        output.status.code().map(i64::from),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}
