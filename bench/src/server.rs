//! Server processes, and runs that load them.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::load::{self, Figures};
use crate::stores::{self, Backend, Guards};

/// Serves `app` over `store` until killed.
pub async fn serve(
    app: &str,
    store: &str,
    url: Option<String>,
    namespace: &str,
    lock: bool,
    prefill: u64,
) -> Result<(), String> {
    let backend = Backend {
        name: store.to_owned(),
        url,
        namespace: namespace.to_owned(),
        prefill,
    };
    let router = match app {
        "ours" => {
            let store = stores::ours(&backend).await?;
            stores::prefill(&store, prefill).await?;
            session_bench::apps::ours(store, lock)?
        }
        "peer" => match stores::peer(&backend).await? {
            Some(store) => session_bench::apps::peer(store),
            None => return Err(format!("the peer has no {store} store here")),
        },
        other => return Err(format!("unknown app {other:?}: ours or peer")),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening {addr}");
    axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
}

/// A server process of this binary.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The process's resident memory in bytes, from the system's process table.
    pub fn rss(&self) -> Option<u64> {
        Self::rss_of(self.pid()?)
    }

    /// The resident memory in bytes of process `pid`.
    pub fn rss_of(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }

    pub async fn start(app: &str, backend: &Backend, lock: bool) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = Command::new(exe);
        command
            .args(["serve", "--app", app, "--store", &backend.name])
            .args(["--namespace", &backend.namespace])
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(url) = &backend.url {
            command.args(["--url", url]);
        }
        if lock {
            command.arg("--lock");
        }
        if backend.prefill > 0 && app == "ours" {
            command.args(["--prefill", &backend.prefill.to_string()]);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start a server: {e}"))?;
        let stdout = child.stdout.take().ok_or("the server has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(600), lines.next_line())
            .await
            .map_err(|_| format!("{app} on {} did not start within 600 s", backend.name))?
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{app} on {} exited before listening", backend.name))?;
        let addr = line
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("the server said {line:?}"))?;
        Ok(Server { child, addr })
    }

    /// CPU time the process used so far (user + system), from the system's process table.
    pub fn cpu(&self) -> Option<Duration> {
        let pid = self.child.id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start at state: utime and
        // stime are the 12th and 13th of them.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_micros(ticks * 1_000_000 / clock_ticks()))
    }
}

fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// What a run does.
pub struct Plan {
    pub requests: usize,
    pub in_flight: usize,
    pub processes: usize,
    pub peer: bool,
    pub rounds: usize,
    pub lock: bool,
}

/// The one-session runs for every store in `names`, as a markdown table.
pub async fn one_session(names: &[String], plan: &Plan) -> Result<String, String> {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "One session, {} read-modify-write requests, {} in flight, {} server process{}{}.\n",
        plan.requests,
        plan.in_flight,
        plan.processes,
        if plan.processes == 1 { "" } else { "es" },
        if plan.lock {
            ", ours with the session lock"
        } else {
            ""
        }
    );
    table.push_str(
        "| store | app | req/s | p50 ms | p99 ms | failed | lost updates | server CPU µs/req |\n",
    );
    table.push_str("|---|---|---:|---:|---:|---|---:|---:|\n");
    let run = std::process::id();
    let mut guards = Guards::new();
    for name in names {
        let mut apps = vec!["ours"];
        if plan.peer {
            apps.push("peer");
        }
        for round in 0..plan.rounds {
            for app in &apps {
                let namespace = format!("bench{run}_{name}_{app}_{round}");
                let backend = stores::provision(name, &namespace, &mut guards).await?;
                if *app == "peer" && stores::peer(&backend).await?.is_none() {
                    continue;
                }
                let (figures, cpu) = measure(app, &backend, plan).await?;
                let row = row(name, app, &figures, cpu, plan.requests);
                eprint!("{row}");
                table.push_str(&row);
            }
        }
    }
    Ok(table)
}

async fn measure(
    app: &str,
    backend: &Backend,
    plan: &Plan,
) -> Result<(Figures, Option<Duration>), String> {
    let mut servers = Vec::new();
    for _ in 0..plan.processes {
        servers.push(Server::start(app, backend, plan.lock && app == "ours").await?);
    }
    let targets: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let before: Option<Duration> = servers.iter().map(Server::cpu).sum();
    let figures = load::one_session(&targets, plan.requests, plan.in_flight).await?;
    let after: Option<Duration> = servers.iter().map(Server::cpu).sum();
    let cpu = after.zip(before).map(|(a, b)| a.saturating_sub(b));
    Ok((figures, cpu))
}

fn row(store: &str, app: &str, f: &Figures, cpu: Option<Duration>, requests: usize) -> String {
    let app = if app == "ours" {
        "ours"
    } else {
        "tower-sessions"
    };
    let cpu = cpu.map_or("-".to_owned(), |c| {
        format!("{:.0}", c.as_micros() as f64 / requests.max(1) as f64)
    });
    format!(
        "| {store} | {app} | {:.0} | {:.2} | {:.2} | {} | {} | {cpu} |\n",
        f.per_second(),
        f.percentile(0.50).as_secs_f64() * 1000.0,
        f.percentile(0.99).as_secs_f64() * 1000.0,
        f.failures(),
        f.lost,
    )
}
