//! The whole suite against `CachingStore<MokaStore, MemoryStore>`.

use session_conformance::Suite;
use session_core::{CachingStore, MemoryStore, MokaStore};

fn main() -> std::process::ExitCode {
    Suite::new("moka-over-memory", |cx| async move {
        let (cache, backend) = cx.shared(|| (MokaStore::new(), MemoryStore::new()));
        Ok(CachingStore::new(
            cache.with_codec(cx.codec()),
            backend.with_codec(cx.codec()),
        ))
    })
    .run()
}
