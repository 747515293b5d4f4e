//! File sessions: one file per session under a directory.
//!
//! [`FileStore`] needs no server: it suits a single machine, development, and small sites,
//! and several processes on one machine can share its directory. Run
//! [`sweep`](session_core::SessionStore::sweep) periodically to delete expired files; expired
//! sessions are never returned whether swept or not.
//!
//! ```no_run
//! # fn run() -> Result<(), session_core::Error> {
//! use session_file::FileStore;
//! use session_tower::SessionLayer;
//!
//! let layer = SessionLayer::new(FileStore::new("storage/sessions")?)?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod store;

pub use store::{DEFAULT_TIMEOUT, FileStore};
