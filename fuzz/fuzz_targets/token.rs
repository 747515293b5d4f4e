//! Any text as a session token (from a cookie or a header) or a stored key: parsing never
//! panics, and what parses is exactly the text given, with a key that parses too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::{SessionKey, SessionToken};

fuzz_target!(|text: &str| {
    if let Ok(token) = SessionToken::parse(text) {
        assert_eq!(token.as_str(), text);
        let key = token.key();
        assert_eq!(SessionKey::parse(key.as_str()).ok().as_ref(), Some(&key));
    }
    if let Ok(key) = SessionKey::parse(text) {
        assert_eq!(key.as_str(), text);
    }
});
