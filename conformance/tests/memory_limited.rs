//! The suite against a `MemoryStore` with a record size limit and the JSON codec by default,
//! so the size-limit cases run and the others hold under a limit.

use std::sync::Arc;

use session_conformance::Suite;
use session_core::{Json, MemoryStore};

fn main() -> std::process::ExitCode {
    Suite::new("memory-limited", |cx| async move {
        let store = cx.shared(|| MemoryStore::new().with_codec(Arc::new(Json)));
        Ok(store.with_codec(cx.codec()).with_max_record_size(64 * 1024))
    })
    .run()
}
