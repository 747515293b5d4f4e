//! Serves the demo site: `cargo run -p session-demo`, then open http://127.0.0.1:3000.
//!
//! `DEMO_ADDR` changes the address; `SESSION_*` variables change the session settings.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("session-demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let settings = session_demo::settings().map_err(|e| e.to_string())?;
    let store = session_demo::store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let layer = settings.layer(store.clone()).map_err(|e| e.to_string())?;
    session_demo::spawn_sweeper(store.clone(), std::time::Duration::from_secs(600));
    let addr = std::env::var("DEMO_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(store = store.name(), "demo listening on http://{addr}");
    axum::serve(listener, session_demo::app(layer))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server failed: {e}"))
}
