//! Serves the demo site: `cargo run -p session-demo`, then open http://127.0.0.1:3000.
//!
//! `DEMO_ADDR` changes the address; `SESSION_*` variables change the session settings. Stores
//! other than the default SQLite are features: `cargo run -p session-demo --features redis`.

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
    // The store the settings name, its sweeper when it needs one, and the layer: one call.
    let sessions = sessions::Sessions::from_settings(&settings)
        .await
        .map_err(|e| {
            if e.kind() == sessions::ErrorKind::Config && e.to_string().contains("feature") {
                // The demo builds its default store alone; each other store is a feature.
                format!(
                    "{e}\n  the demo builds only SQLite by default: add the store's feature, as in \
                     `cargo run -p session-demo --features redis` (or postgres, mysql, file, \
                     dynamodb, cookie, full)"
                )
            } else {
                e.to_string()
            }
        })?;
    let store = sessions.store().map_or("cookie", |s| s.name()).to_owned();
    let addr = std::env::var("DEMO_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(store, "demo listening on http://{addr}");
    axum::serve(listener, session_demo::app(sessions.layer()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server failed: {e}"))?;
    sessions.shutdown().await;
    Ok(())
}
