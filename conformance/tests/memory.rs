//! The whole suite against `MemoryStore`, as a driver's `tests/conformance.rs` runs it.

use session_conformance::Suite;
use session_core::MemoryStore;

fn main() -> std::process::ExitCode {
    Suite::new("memory", |cx| async move {
        Ok(cx.shared(MemoryStore::new).with_codec(cx.codec()))
    })
    .with_checklist(include_str!("../../session-core/src/memory.rs"))
    .run()
}
