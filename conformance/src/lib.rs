//! The conformance suite for session stores.
//!
//! Every behaviour documented on [`session_core::SessionStore`] is a named case here. A driver,
//! ours or yours, proves it keeps the contract by handing a factory to [`Suite`] in a test
//! declared with `harness = false`:
//!
//! ```toml
//! [[test]]
//! name = "conformance"
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/conformance.rs
//! use session_conformance::Suite;
//! use session_core::MemoryStore;
//!
//! fn main() -> std::process::ExitCode {
//!     Suite::new("memory", |cx| async move {
//!         Ok(cx.shared(MemoryStore::new).with_codec(cx.codec()))
//!     })
//!     .run()
//! }
//! ```
//!
//! `cargo test` then lists one test per case: `store::...` cases check the store contract
//! directly, `request::...` cases drive the store through the tower layer over HTTP with a cookie
//! jar (`store::save_with_stale_version_conflicts`, `request::flash_survives_exactly_one_redirect`
//! ...),
//! which filter like any other test. Cases that the store's
//! [`Capabilities`](session_core::Capabilities) exclude are reported as ignored, with the reason
//! printed, never as passed.
//!
//! Each case gets its own namespace (see [`StoreContext::namespace`]), so cases run in parallel
//! against one backend. Backends come from the environment or a container, as described in
//! [`provision`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod browser;
mod case;
mod check;
pub mod checklist;
mod counting;
pub mod outage;
pub mod provision;
mod request_cases;
pub mod sample;
mod setup;
mod store_cases;
mod suite;

pub use check::{CaseError, CaseResult};
pub use counting::{CountSnapshot, CountingStore, Counts};
pub use setup::{SetupError, StoreContext};
pub use suite::{CHECKLIST_CASE, Outcome, Report, Suite};
