//! Load benchmarks through the session layer, side by side with tower-sessions.
//!
//! ```text
//! cargo run --release -p session-bench -- one-session --peer
//! cargo run --release -p session-bench -- one-session --stores redis,postgres --processes 2
//! cargo run --release -p session-bench -- soak --stores redis,postgres --seconds 60
//! cargo run --release -p session-bench -- routes --stores memory,moka,redis,postgres --rounds 3
//! ```
//!
//! Every app runs in a server process of its own (this binary's `serve`), so the load client
//! does not share its process and a server's CPU time can be read from the system. Backends
//! come from the environment or containers, as for the conformance suite
//! (`SESSION_TEST_REDIS_URL`, `SESSION_TEST_REDIS_IMAGE` ...). The table is printed as
//! markdown, and written to `--out` when given.
#![forbid(unsafe_code)]

mod load;
mod routes;
mod server;
mod soak;
mod stores;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load benchmarks through the session layer, side by side with tower-sessions")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Many read-modify-write requests on one session: throughput, latency, failures and lost
    /// updates per store.
    OneSession {
        /// Stores to measure, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "memory,moka,file,sqlite,redis,postgres,mysql,dynamodb"
        )]
        stores: Vec<String>,
        /// Requests per run (after the one that starts the session).
        #[arg(long, default_value_t = 1024)]
        requests: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
        /// Server processes sharing the backend; requests go to each in turn.
        #[arg(long, default_value_t = 1)]
        processes: usize,
        /// Also run tower-sessions on the stores it has (memory, moka, redis, postgres).
        #[arg(long)]
        peer: bool,
        /// Runs per app; the apps alternate, and the table shows each run.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Write the markdown table here too.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Ours takes the session lock kept in the store (serialises across processes).
        #[arg(long)]
        lock: bool,
    },
    /// Many clients, each with its own session, for a fixed time: reads, writes, logins and
    /// logouts; errors, latency, wrong answers and the server's memory. Fails when any request
    /// failed or answered wrong.
    Soak {
        /// Stores to soak, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "redis,postgres")]
        stores: Vec<String>,
        /// Seconds per store.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Clients at once, each with its own session.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Write the markdown table here too.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// The same routes on our layer and on tower-sessions', each client with its own session:
    /// req/s, latency, server CPU per request, backend calls per request, failures and lost
    /// updates, and the session's share of the CPU side by side.
    Routes {
        /// Stores to measure, comma-separated (the peer runs on memory, moka, redis and
        /// postgres).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "memory,moka,redis,postgres"
        )]
        stores: Vec<String>,
        /// Routes, comma-separated: none, read, write (read-modify-write of the client's own
        /// session), shared (read-modify-write, every client on one session).
        #[arg(long, value_delimiter = ',', default_value = "none,read,write,shared")]
        routes: Vec<String>,
        /// Clients at once, each with its own cookie.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds per run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Runs per app and route; the apps alternate.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Sessions our app stores before each run (the peer's store starts empty), to see
        /// how cost grows with the store's size.
        #[arg(long, default_value_t = 0)]
        prefill: u64,
        /// Only our app (no tower-sessions runs).
        #[arg(long)]
        ours_only: bool,
        /// Write the markdown tables here too.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Serves one app on a loopback port and prints `listening ADDR` (used by the runs above).
    Serve {
        /// `ours` or `peer`.
        #[arg(long)]
        app: String,
        #[arg(long)]
        store: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        namespace: String,
        /// Take the session lock kept in the store.
        #[arg(long)]
        lock: bool,
        /// Store this many sessions before serving.
        #[arg(long, default_value_t = 0)]
        prefill: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                app,
                store,
                url,
                namespace,
                lock,
                prefill,
            } => server::serve(&app, &store, url, &namespace, lock, prefill).await,
            Command::Routes {
                stores,
                routes,
                clients,
                seconds,
                rounds,
                prefill,
                ours_only,
                out,
            } => {
                let plan = routes::RoutesPlan {
                    clients: clients.max(1),
                    duration: std::time::Duration::from_secs(seconds.max(1)),
                    rounds: rounds.max(1),
                    routes,
                    prefill,
                    peer: !ours_only,
                };
                let table = routes::routes(&stores, &plan).await?;
                println!("{table}");
                if let Some(out) = out {
                    std::fs::write(&out, &table)
                        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
                }
                if table.lines().filter(|l| l.contains("| ours |")).any(|l| {
                    l.split('|').map(str::trim).nth(9) != Some("0")
                        || l.split('|').map(str::trim).nth(10) != Some("0")
                }) {
                    return Err("ours failed requests or lost updates".to_owned());
                }
                Ok(())
            }
            Command::Soak {
                stores,
                seconds,
                clients,
                out,
            } => {
                let plan = soak::SoakPlan {
                    duration: std::time::Duration::from_secs(seconds),
                    clients: clients.max(1),
                };
                let table = soak::soak(&stores, &plan).await?;
                println!("{table}");
                if let Some(out) = out {
                    std::fs::write(&out, &table)
                        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
                }
                if table.contains("Errors or wrong answers on") {
                    return Err("the soak saw errors or wrong answers".to_owned());
                }
                Ok(())
            }
            Command::OneSession {
                stores,
                requests,
                in_flight,
                processes,
                peer,
                rounds,
                out,
                lock,
            } => {
                let plan = server::Plan {
                    requests,
                    in_flight,
                    processes: processes.max(1),
                    peer,
                    rounds: rounds.max(1),
                    lock,
                };
                let table = server::one_session(&stores, &plan).await?;
                println!("{table}");
                if let Some(out) = out {
                    std::fs::write(&out, &table)
                        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
                }
                Ok(())
            }
        }
    });
    // The containers the run started are removed here, from a worker of the runtime, rather
    // than left running when the process exits.
    let _ = runtime.block_on(runtime.spawn(async { session_conformance::provision::shutdown() }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("session-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
