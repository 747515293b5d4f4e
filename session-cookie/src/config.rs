//! What the cookie store is made from: its sealing keys.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use session_core::{Error, ErrorKind, Operation};

/// A 256-bit key that seals session cookies. `Debug` never shows it.
///
/// ```
/// use session_cookie::Key;
///
/// let key = Key::generate();
/// let text = key.to_base64();
/// assert_eq!(Key::from_base64(&text).unwrap(), key);
/// assert!(Key::from_base64("too short").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub(crate) [u8; 32]);

impl Key {
    /// A key from 32 bytes (from a secrets manager, say).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key(bytes)
    }

    /// A fresh key from the operating system's random source.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system has no usable random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut bytes) {
            panic!("cannot generate a cookie key: {e}");
        }
        Key(bytes)
    }

    /// A key written as base64 (standard or URL-safe, padded or not), as in a
    /// `SESSION_COOKIE_KEYS` variable.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(text))
            .map_err(|e| {
                Error::new(ErrorKind::Config, Operation::Connect)
                    .with_store("cookie")
                    .with_context("a cookie key must be 32 bytes in base64")
                    .with_source(e)
            })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::new(ErrorKind::Config, Operation::Connect)
                .with_store("cookie")
                .with_context(format!(
                    "a cookie key must be 32 bytes, this one has {}",
                    b.len()
                ))
        })?;
        Ok(Key(bytes))
    }

    /// The key as URL-safe base64 without padding.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}
