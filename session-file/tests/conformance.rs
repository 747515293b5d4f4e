//! The conformance suite against `FileStore`, one directory per case.

use std::path::PathBuf;

use session_conformance::Suite;
use session_file::{FileConfig, FileStore};

fn main() -> std::process::ExitCode {
    Suite::new("file", |cx| async move {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("file-store")
            .join(cx.namespace());
        Ok(FileStore::connect(FileConfig::new(dir).with_codec(cx.codec())).await?)
    })
    .with_checklist(include_str!("../src/store.rs"))
    .run()
}
