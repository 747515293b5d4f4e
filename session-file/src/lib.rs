//! File sessions: one file per session under a directory.
//!
//! [`FileStore`] needs no server: it suits a single machine, development, and small sites,
//! and several processes on one machine can share its directory. Run
//! [`sweep`](session_core::SessionStore::sweep) periodically to delete expired files; expired
//! sessions are never returned whether swept or not.
//!
//! ```no_run
//! # async fn run() -> Result<(), session_core::Error> {
//! use session_file::{FileConfig, FileStore};
//! use session_tower::SessionLayer;
//!
//! let store = FileStore::connect(FileConfig::new("storage/sessions")).await?;
//! let layer = SessionLayer::new(store)?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod disk;
mod error;
mod store;

pub use config::{DEFAULT_TIMEOUT, FileConfig};
pub use store::FileStore;
