//! A background task deleting expired sessions at an interval.

use std::sync::Arc;
use std::time::Duration;

use crate::store::SessionStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Sweeps a store every interval until stopped: for any store that keeps expired records until
/// swept (SQL, files, memory), so they do not pile up. Expired records are never returned,
/// swept or not.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use session_core::{MemoryStore, Sweeper};
///
/// let sweeper = Sweeper::start(MemoryStore::new(), Duration::from_secs(300));
/// // ... at shutdown:
/// sweeper.stop().await;
/// # });
/// ```
#[derive(Debug)]
pub struct Sweeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sweeper {
    /// Starts sweeping `store` every `every` (the first sweep runs at once). Errors are
    /// logged and the next sweep tries again. Works with any store that declares a sweep.
    pub fn start(store: impl SessionStore, every: Duration) -> Self {
        let store: Arc<dyn SessionStore> = Arc::new(store);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return,
                }
                // A sweep in progress finishes its current batch before the stop is seen.
                match store.sweep().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(store = store.name(), deleted = n, "swept expired sessions")
                    }
                    Err(e) => {
                        tracing::warn!(store = store.name(), error = %e, "session sweep failed")
                    }
                }
            }
        });
        Sweeper { stop, task }
    }

    /// Stops the task, waiting for a sweep in progress to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
