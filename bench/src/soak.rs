//! The soak run: many clients, each with its own session, for a fixed time: reads, writes,
//! logins and logouts through the layer, with errors, latency, wrong answers and the server's
//! memory at the start and the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::load::{self, Figures};
use crate::server::Server;
use crate::stores::{self, Guards};

/// What a soak run does.
pub struct SoakPlan {
    pub duration: Duration,
    pub clients: usize,
}

/// What one client did, and what it found wrong.
#[derive(Default)]
struct Tally {
    figures: Figures,
    /// Answers that disagreed with the client's own session (a lost or foreign write, a login
    /// that kept the old token, a logout that kept the data).
    wrong: Vec<String>,
    by_kind: BTreeMap<&'static str, usize>,
}

/// A soak run per store in `names`, as a markdown table.
pub async fn soak(names: &[String], plan: &SoakPlan) -> Result<String, String> {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "Soak: {} s, {} clients each with its own session; per client 55 % reads, 30 % \
         read-modify-writes, 10 % logins (new token, owner set), 5 % logouts.\n",
        plan.duration.as_secs(),
        plan.clients
    );
    table.push_str(
        "| store | requests | req/s | p50 ms | p99 ms | max ms | errors | wrong answers | \
         server RSS start MiB | after a sixth of the run | end | peak |\n",
    );
    table.push_str("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
    let mut guards = Guards::new();
    let mut failed = Vec::new();
    for name in names {
        let namespace = format!("soak{}_{name}", std::process::id());
        let backend = stores::provision(name, &namespace, &mut guards).await?;
        let server = Server::start("ours", &backend, false).await?;
        let start_rss = server.rss();
        let peak = Arc::new(std::sync::Mutex::new(start_rss.unwrap_or(0)));
        let done = Arc::new(AtomicBool::new(false));
        let warm = Arc::new(std::sync::Mutex::new(None));
        let sampler = {
            let (peak, done, pid, warm) = (peak.clone(), done.clone(), server.pid(), warm.clone());
            let warm_at = Instant::now() + plan.duration / 6;
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    {
                        let mut warm = warm.lock().unwrap_or_else(|p| p.into_inner());
                        if warm.is_none() && Instant::now() >= warm_at {
                            *warm = pid.and_then(Server::rss_of);
                        }
                    }
                    if let Some(rss) = pid.and_then(Server::rss_of) {
                        let mut peak = peak.lock().unwrap_or_else(|p| p.into_inner());
                        *peak = (*peak).max(rss);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        };
        let tally = run(server.addr, plan).await?;
        done.store(true, Ordering::Relaxed);
        let _ = sampler.await;
        let end_rss = server.rss();
        let peak = *peak.lock().unwrap_or_else(|p| p.into_inner());
        let warm = *warm.lock().unwrap_or_else(|p| p.into_inner());
        let f = &tally.figures;
        let shown = |b: Option<u64>| b.map_or("-".to_owned(), |b| format!("{:.1}", mib(b)));
        let row = format!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
            f.ok + f.failed.values().sum::<usize>(),
            f.per_second(),
            ms(f.percentile(0.50)),
            ms(f.percentile(0.99)),
            ms(f.latencies.last().copied().unwrap_or_default()),
            f.failures(),
            tally.wrong.len(),
            shown(start_rss),
            shown(warm),
            shown(end_rss),
            shown(Some(peak)),
        );
        eprint!("{row}");
        eprintln!("  by kind: {:?}", tally.by_kind);
        for wrong in tally.wrong.iter().take(5) {
            eprintln!("  wrong: {wrong}");
        }
        if !f.failed.is_empty() || !tally.wrong.is_empty() {
            failed.push(name.clone());
        }
        table.push_str(&row);
    }
    if !failed.is_empty() {
        let _ = writeln!(table, "\nErrors or wrong answers on: {}", failed.join(", "));
    }
    Ok(table)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Every client until the time is up.
async fn run(target: SocketAddr, plan: &SoakPlan) -> Result<Tally, String> {
    let http = load::client(plan.clients);
    let started = Instant::now();
    let until = started + plan.duration;
    let mut clients = Vec::new();
    for id in 0..plan.clients {
        let http = http.clone();
        clients.push(tokio::spawn(async move {
            client(&http, target, id, until).await
        }));
    }
    let mut all = Tally::default();
    for client in clients {
        let tally = client.await.map_err(|e| e.to_string())?;
        all.figures.ok += tally.figures.ok;
        for (status, n) in tally.figures.failed {
            *all.figures.failed.entry(status).or_default() += n;
        }
        all.figures.latencies.extend(tally.figures.latencies);
        all.wrong.extend(tally.wrong);
        for (kind, n) in tally.by_kind {
            *all.by_kind.entry(kind).or_default() += n;
        }
    }
    all.figures.elapsed = started.elapsed();
    all.figures.latencies.sort_unstable();
    Ok(all)
}

/// One client: its own cookie, and what its session must hold (`None` once unsure, after an
/// error, until a read tells).
async fn client(http: &load::HttpClient, target: SocketAddr, id: usize, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut cookie: Option<String> = None;
    let mut n: Option<i64> = Some(0);
    // A small generator of its own, so runs differ per client but need no dependency.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (id as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    while Instant::now() < until {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let roll = state % 100;
        let (kind, path) = match roll {
            0..55 => ("read", "/read".to_owned()),
            55..85 => ("rmw", "/rmw".to_owned()),
            85..95 => ("login", format!("/login/user{id}")),
            _ => ("logout", "/logout".to_owned()),
        };
        *tally.by_kind.entry(kind).or_default() += 1;
        let sent = Instant::now();
        let answer = load::get(http, target, &path, cookie.as_deref()).await;
        tally.figures.latencies.push(sent.elapsed());
        let (status, body, set) = match answer {
            Ok(answer) => answer,
            Err(_) => {
                *tally.figures.failed.entry(0).or_default() += 1;
                n = None;
                continue;
            }
        };
        if status != StatusCode::OK {
            *tally.figures.failed.entry(status.as_u16()).or_default() += 1;
            n = None;
            continue;
        }
        tally.figures.ok += 1;
        let old = cookie.clone();
        match set {
            Some(value) if value.is_empty() => cookie = None,
            Some(value) => cookie = Some(value),
            None => {}
        }
        let mut wrong = |what: String| tally.wrong.push(format!("client {id} {kind}: {what}"));
        match kind {
            "read" | "rmw" => {
                let Ok(got) = body.trim().parse::<i64>() else {
                    wrong(format!("answered {body:?}"));
                    continue;
                };
                let expected = n.map(|n| if kind == "rmw" { n + 1 } else { n });
                if expected.is_some_and(|e| e != got) {
                    wrong(format!("expected {expected:?}, got {got}"));
                }
                n = Some(got);
            }
            "login" => {
                if old.is_some() && (cookie == old || cookie.is_none()) {
                    wrong("the token did not change".to_owned());
                }
            }
            _ => {
                if old.is_some() && cookie.is_some() {
                    wrong("the cookie was not removed".to_owned());
                }
                n = Some(0);
            }
        }
    }
    tally
}
