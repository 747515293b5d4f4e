//! The conformance suite against `CookieStore`: store-level cases through a browser-like jar of
//! sealed cookies, request-level cases through the layer's client-side mode.

use session_conformance::Suite;
use session_cookie::{CookieStore, Key};

fn main() -> std::process::ExitCode {
    Suite::client_side("cookie", |cx| async move {
        let key = cx.shared(Key::generate);
        Ok(CookieStore::new(vec![key])?.with_codec(cx.codec()))
    })
    .with_checklist(include_str!("../src/store.rs"))
    .run()
}
