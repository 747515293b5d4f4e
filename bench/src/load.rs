//! The load client: many requests on one session over loopback HTTP, with figures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use session_bench::apps::COOKIE;

pub type HttpClient = Client<HttpConnector, Body>;

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Requests answered 200.
    pub ok: usize,
    /// Other answers, by status (0: no answer at all).
    pub failed: BTreeMap<u16, usize>,
    pub elapsed: Duration,
    /// Latencies of every request, sorted.
    pub latencies: Vec<Duration>,
    /// Acknowledged increments the stored counter does not hold.
    pub lost: i64,
}

impl Figures {
    pub fn per_second(&self) -> f64 {
        (self.ok + self.failed.values().sum::<usize>()) as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1]
    }

    pub fn failures(&self) -> String {
        if self.failed.is_empty() {
            return "0".into();
        }
        self.failed
            .iter()
            .map(|(status, n)| match status {
                0 => format!("{n} × no answer"),
                s => format!("{n} × {s}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn client(in_flight: usize) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(in_flight)
        .build_http()
}

/// One GET; the status, the body and the session cookie it set, if any.
pub async fn get(
    client: &HttpClient,
    target: SocketAddr,
    path: &str,
    cookie: Option<&str>,
) -> Result<(StatusCode, String, Option<String>), String> {
    let mut request = Request::get(format!("http://{target}{path}"));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, format!("{COOKIE}={cookie}"));
    }
    let request = request.body(Body::empty()).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
        .await
        .map_err(|_| "no answer within 60 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let set_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()?
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        });
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((
        status,
        String::from_utf8_lossy(&body).into_owned(),
        set_cookie,
    ))
}

/// `requests` read-modify-write requests on one session, `in_flight` at a time, spread over
/// `targets` in turn; then compares the stored counter with the acknowledged increments.
pub async fn one_session(
    targets: &[SocketAddr],
    requests: usize,
    in_flight: usize,
) -> Result<Figures, String> {
    let client = client(in_flight);
    let first = *targets.first().ok_or("no server to load")?;
    // The session: n = 1.
    let (status, _, cookie) = get(&client, first, "/rmw", None).await?;
    let cookie = match (status, cookie) {
        (StatusCode::OK, Some(cookie)) => Arc::new(cookie),
        (status, _) => return Err(format!("starting the session answered {status}")),
    };

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..in_flight.min(requests) {
        let (client, next, cookie, targets) = (
            client.clone(),
            next.clone(),
            cookie.clone(),
            targets.to_vec(),
        );
        workers.push(tokio::spawn(async move {
            let mut figures = Figures::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return figures;
                }
                let target = targets[i % targets.len()];
                let sent = Instant::now();
                let answer = get(&client, target, "/rmw", Some(&cookie)).await;
                figures.latencies.push(sent.elapsed());
                match answer {
                    Ok((StatusCode::OK, _, _)) => figures.ok += 1,
                    Ok((status, _, _)) => *figures.failed.entry(status.as_u16()).or_default() += 1,
                    Err(_) => *figures.failed.entry(0).or_default() += 1,
                }
            }
        }));
    }
    let mut all = Figures::default();
    for worker in workers {
        let figures = worker.await.map_err(|e| e.to_string())?;
        all.ok += figures.ok;
        for (status, n) in figures.failed {
            *all.failed.entry(status).or_default() += n;
        }
        all.latencies.extend(figures.latencies);
    }
    all.elapsed = started.elapsed();
    all.latencies.sort_unstable();

    let (status, body, _) = get(&client, first, "/read", Some(&cookie)).await?;
    if status != StatusCode::OK {
        return Err(format!("reading the counter answered {status}: {body}"));
    }
    let stored: i64 = body
        .trim()
        .parse()
        .map_err(|_| format!("the counter read back as {body:?}"))?;
    all.lost = 1 + all.ok as i64 - stored;
    Ok(all)
}
