//! The conformance suite against `FileStore`, one directory per case.

use std::path::PathBuf;

use session_conformance::Suite;
use session_file::FileStore;

fn main() -> std::process::ExitCode {
    Suite::new("file", |cx| async move {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("file-store")
            .join(cx.namespace());
        Ok(FileStore::new(dir)?.with_codec(cx.codec()))
    })
    .with_checklist(include_str!("../src/store.rs"))
    .run()
}
