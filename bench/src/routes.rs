//! The side-by-side run: the same routes on our layer and on the peer's, each client with its
//! own session (and one route where every client shares one), apps alternating run by run.
//!
//! For each store, route and round, a fresh server process serves one app; `clients` clients
//! keep their own cookies and send requests back to back for a fixed time. The server's CPU
//! time per request comes from the system's process table, the backend's round trips from the
//! backend itself (Redis: commands processed; PostgreSQL: transactions), and lost updates from
//! the stored counters against the acknowledged increments.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::load::{self, Figures, HttpClient};
use crate::server::Server;
use crate::stores::{self, Backend, Guards};

/// The routes, in table order: what a handler does with its session.
pub const ROUTES: [&str; 4] = ["none", "read", "write", "shared"];

/// What a side-by-side run does.
pub struct RoutesPlan {
    pub clients: usize,
    pub duration: Duration,
    pub rounds: usize,
    pub routes: Vec<String>,
    /// Sessions our store holds before each run.
    pub prefill: u64,
    /// Whether tower-sessions runs too.
    pub peer: bool,
}

/// One measured run.
struct Run {
    figures: Figures,
    requests: usize,
    cpu: Option<Duration>,
    calls: Option<u64>,
}

impl Run {
    fn cpu_per_request(&self) -> Option<f64> {
        self.cpu
            .map(|c| c.as_secs_f64() * 1e6 / self.requests.max(1) as f64)
    }
}

/// Every run for every store in `names`, as markdown: one row per run, then the session's
/// share of the CPU per request (the route's minus `none`'s), ours against the peer's.
pub async fn routes(names: &[String], plan: &RoutesPlan) -> Result<String, String> {
    for route in &plan.routes {
        if !ROUTES.contains(&route.as_str()) {
            return Err(format!(
                "unknown route {route:?}; known: {}",
                ROUTES.join(", ")
            ));
        }
    }
    let mut table = String::new();
    let _ = writeln!(
        table,
        "Routes side by side: {} clients, {} s per run, {} round{} per app, apps alternating{}.\n",
        plan.clients,
        plan.duration.as_secs(),
        plan.rounds,
        if plan.rounds == 1 { "" } else { "s" },
        if plan.prefill > 0 {
            format!("; our store holds {} other sessions", plan.prefill)
        } else {
            String::new()
        },
    );
    table.push_str(
        "| store | route | app | req/s | p50 ms | p99 ms | server CPU µs/req | backend calls/req | failed | lost updates |\n",
    );
    table.push_str("|---|---|---|---:|---:|---:|---:|---:|---|---:|\n");
    let run_id = std::process::id();
    let mut guards = Guards::new();
    // (store, route, app) -> CPU µs per request of each round.
    let mut cpu: BTreeMap<(String, String, &str), Vec<f64>> = BTreeMap::new();
    for name in names {
        for route in &plan.routes {
            for round in 0..plan.rounds {
                // Alternate which app goes first, so neither always runs on a warmer machine.
                let order = if round % 2 == 0 {
                    ["ours", "peer"]
                } else {
                    ["peer", "ours"]
                };
                for app in order {
                    let namespace = format!("routes{run_id}_{name}_{route}_{app}_{round}");
                    let mut backend = stores::provision(name, &namespace, &mut guards).await?;
                    backend.prefill = plan.prefill;
                    if app == "peer" && (!plan.peer || stores::peer(&backend).await?.is_none()) {
                        continue;
                    }
                    let run = measure(app, &backend, route, plan).await?;
                    if let Some(per) = run.cpu_per_request() {
                        cpu.entry((name.clone(), route.clone(), app))
                            .or_default()
                            .push(per);
                    }
                    let row = row(name, route, app, &run);
                    eprint!("{row}");
                    table.push_str(&row);
                }
            }
        }
    }
    table.push_str(&shares(names, plan, &cpu));
    Ok(table)
}

/// The summary: per store and route, the median CPU per request and the session's share.
fn shares(
    names: &[String],
    plan: &RoutesPlan,
    cpu: &BTreeMap<(String, String, &str), Vec<f64>>,
) -> String {
    let median = |store: &str, route: &str, app: &'static str| -> Option<f64> {
        let mut runs = cpu.get(&(store.to_owned(), route.to_owned(), app))?.clone();
        runs.sort_by(f64::total_cmp);
        runs.get(runs.len() / 2).copied()
    };
    let mut out = String::from(
        "\nMedian server CPU per request, and the session's share of it (the route's CPU minus `none`'s on the same app):\n\n\
         | store | route | tower-sessions µs/req | ours µs/req | tower-sessions share µs | ours share µs | ours / peer (share) |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for name in names {
        for route in plan.routes.iter().filter(|r| *r != "none") {
            let (peer, ours) = (median(name, route, "peer"), median(name, route, "ours"));
            let peer_share = peer.zip(median(name, "none", "peer")).map(|(r, n)| r - n);
            let ours_share = ours.zip(median(name, "none", "ours")).map(|(r, n)| r - n);
            let ratio = ours_share
                .zip(peer_share)
                .filter(|(_, p)| *p > 0.0)
                .map(|(o, p)| format!("{:.2}", o / p))
                .unwrap_or_else(|| "-".to_owned());
            let _ = writeln!(
                out,
                "| {name} | {route} | {} | {} | {} | {} | {ratio} |",
                fmt(peer),
                fmt(ours),
                fmt(peer_share),
                fmt(ours_share),
            );
        }
    }
    out
}

fn row(store: &str, route: &str, app: &str, run: &Run) -> String {
    let app = if app == "ours" {
        "ours"
    } else {
        "tower-sessions"
    };
    let cpu = run
        .cpu_per_request()
        .map_or("-".to_owned(), |c| format!("{c:.1}"));
    let calls = run.calls.map_or("-".to_owned(), |c| {
        format!("{:.2}", c as f64 / run.requests.max(1) as f64)
    });
    let f = &run.figures;
    format!(
        "| {store} | {route} | {app} | {:.0} | {:.2} | {:.2} | {cpu} | {calls} | {} | {} |\n",
        f.per_second(),
        f.percentile(0.50).as_secs_f64() * 1000.0,
        f.percentile(0.99).as_secs_f64() * 1000.0,
        f.failures(),
        f.lost,
    )
}

/// One app on one route: a server, its clients' sessions, the timed load, the checks.
async fn measure(
    app: &str,
    backend: &Backend,
    route: &str,
    plan: &RoutesPlan,
) -> Result<Run, String> {
    let server = Server::start(app, backend, false).await?;
    let target = server.addr;
    let client = load::client(plan.clients);

    // Each client's session, holding n = 1 (or one shared session for `shared`).
    let mut cookies = Vec::with_capacity(plan.clients);
    for i in 0..plan.clients {
        if route == "shared" && i > 0 {
            let first: &Arc<String> = &cookies[0];
            cookies.push(first.clone());
            continue;
        }
        let (status, _, cookie) = load::get(&client, target, "/rmw", None).await?;
        match (status, cookie) {
            (StatusCode::OK, Some(cookie)) => cookies.push(Arc::new(cookie)),
            (status, _) => return Err(format!("{app}: starting a session answered {status}")),
        }
    }
    let path = match route {
        "none" => "/none",
        "read" => "/read",
        _ => "/rmw",
    };
    let calls_before = backend_calls(backend).await;
    let cpu_before = server.cpu();
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut workers = Vec::new();
    for cookie in &cookies {
        let (client, cookie) = (client.clone(), cookie.clone());
        workers.push(tokio::spawn(async move {
            client_loop(client, target, path, cookie, deadline).await
        }));
    }
    let mut figures = Figures::default();
    let mut acknowledged: BTreeMap<String, i64> = BTreeMap::new();
    for (worker, cookie) in workers.into_iter().zip(&cookies) {
        let (part, acks) = worker.await.map_err(|e| e.to_string())?;
        figures.ok += part.ok;
        for (status, n) in part.failed {
            *figures.failed.entry(status).or_default() += n;
        }
        figures.latencies.extend(part.latencies);
        *acknowledged.entry(cookie.to_string()).or_default() += acks;
    }
    figures.elapsed = started.elapsed();
    let cpu_after = server.cpu();
    let calls_after = backend_calls(backend).await;
    figures.latencies.sort_unstable();
    let requests = figures.ok + figures.failed.values().sum::<usize>();

    // Lost updates: every session's counter against 1 + its acknowledged increments.
    if path == "/rmw" {
        for (cookie, acks) in &acknowledged {
            let (status, body, _) = load::get(&client, target, "/read", Some(cookie)).await?;
            if status != StatusCode::OK {
                return Err(format!(
                    "{app}: reading a counter answered {status}: {body}"
                ));
            }
            let stored: i64 = body
                .trim()
                .parse()
                .map_err(|_| format!("{app}: a counter read back as {body:?}"))?;
            figures.lost += 1 + acks - stored;
        }
    }
    Ok(Run {
        figures,
        requests,
        cpu: cpu_after.zip(cpu_before).map(|(a, b)| a.saturating_sub(b)),
        calls: calls_after
            .zip(calls_before)
            .map(|(a, b)| a.saturating_sub(b)),
    })
}

/// Requests to `path` with `cookie` until `deadline`: the figures, and how many increments
/// were acknowledged.
async fn client_loop(
    client: HttpClient,
    target: SocketAddr,
    path: &'static str,
    cookie: Arc<String>,
    deadline: Instant,
) -> (Figures, i64) {
    let mut figures = Figures::default();
    let mut acks = 0;
    while Instant::now() < deadline {
        let sent = Instant::now();
        let answer = load::get(&client, target, path, Some(&cookie)).await;
        figures.latencies.push(sent.elapsed());
        match answer {
            Ok((StatusCode::OK, _, _)) => {
                figures.ok += 1;
                acks += 1;
            }
            Ok((status, _, _)) => *figures.failed.entry(status.as_u16()).or_default() += 1,
            Err(_) => *figures.failed.entry(0).or_default() += 1,
        }
    }
    (figures, acks)
}

/// How many calls the backend has answered so far, where it says: Redis's commands processed,
/// PostgreSQL's transactions (each statement outside a transaction is one).
async fn backend_calls(backend: &Backend) -> Option<u64> {
    let url = backend.url.as_deref()?;
    match backend.name.as_str() {
        "redis" => {
            let client = redis::Client::open(url).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            let info: String = redis::cmd("INFO")
                .arg("stats")
                .query_async(&mut conn)
                .await
                .ok()?;
            let processed = info
                .lines()
                .find_map(|l| l.strip_prefix("total_commands_processed:"))?
                .trim()
                .parse::<u64>()
                .ok()?;
            // This query itself (INFO) is one of them.
            Some(processed.saturating_sub(1))
        }
        "postgres" => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
            let (commits, rollbacks): (i64, i64) = sqlx::query_as(
                "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()",
            )
            .fetch_one(&mut conn)
            .await
            .ok()?;
            u64::try_from(commits + rollbacks).ok()
        }
        _ => None,
    }
}
