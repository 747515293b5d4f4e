//! The whole suite against `MokaStore` alone.

use session_conformance::Suite;
use session_core::MokaStore;

fn main() -> std::process::ExitCode {
    Suite::new("moka", |cx| async move {
        Ok(cx.shared(MokaStore::new).with_codec(cx.codec()))
    })
    .with_checklist(include_str!("../../session-core/src/moka.rs"))
    .run()
}
