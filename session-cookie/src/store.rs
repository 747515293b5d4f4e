//! Sealing sessions into cookies.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use session_core::chrono::Utc;
use session_core::codec::default_codec;
use session_core::{
    Capabilities, ClientSideStore, Codec, Error, ErrorKind, Opened, Operation, Record, Result,
    SessionToken,
};

use crate::config::Key;
use crate::xchacha::{NONCE, Sealer, TAG};

const NAME: &str = "cookie";
/// First byte of every sealed value: the format, so a later one can be told apart. Format 2
/// seals the session's token before the record; values of format 1 (the record alone) no
/// longer open, and their visitors get a fresh session.
const FORMAT: u8 = 2;
/// Length of a session token's text, sealed before the record.
const TOKEN_LEN: usize = 43;
/// Bytes before the ciphertext: the format and the nonce.
const HEAD: usize = 1 + NONCE;
/// What browsers keep of one cookie: name, `=`, and value.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// Sessions sealed in the cookie with XChaCha20-Poly1305.
///
/// The cookie value is `base64url(format ‖ nonce ‖ ciphertext ‖ tag)`, where the plaintext is
/// the session's token (43 bytes) followed by the encoded record (its idle expiry and absolute
/// deadline included), and the cookie's name is
/// bound in as associated data, so a value cannot be moved to another cookie. The nonce is 192
/// bits, never the same twice: 128 random bits drawn once per thread and process, then the
/// thread's seal count, so one key can seal any number of cookies.
///
/// Keys rotate: the first key seals, every key opens, and a cookie opened with an older key is
/// sealed again with the first on its way out. Remove a key once every cookie it sealed has
/// expired.
///
/// # What a client-side store cannot do
///
/// The server keeps nothing, so:
/// - **logout cannot revoke**: `invalidate` removes the cookie from the browser, but a copy of
///   the old cookie taken before stays valid until its sealed expiry. Keep the idle timeout short,
///   and put what must be revocable (a "sessions valid after" time per user) on the server.
/// - **no version checks across requests**: two concurrent requests each change their own
///   copy, and the cookie of the last response wins.
/// - **no owner index**: the server cannot list or revoke a user's sessions.
/// - **size**: a sealed session must fit in 4096 bytes with the cookie's name; a larger one is a
///   [`ErrorKind::TooLarge`] error (a 500), never a cookie the browser silently drops.
///
/// | capability | |
/// |---|---|
/// | conditional writes | no: the last response's cookie wins |
/// | revocable | no: a copied cookie stays valid until its sealed expiry |
/// | native expiry | yes: the expiry is sealed inside and checked on opening |
/// | sweep | no: nothing is kept to sweep |
/// | owner index | no |
/// | walk | no: the sessions live in the browsers |
/// | shared across processes | yes, for every process holding the same keys |
/// | maximum record | 2960 bytes encoded (sealed, it fits a 4096-byte cookie) |
///
/// ```
/// use session_cookie::{CookieStore, Key};
/// use session_tower::SessionLayer;
///
/// let store = CookieStore::new(vec![Key::generate()]).unwrap();
/// let layer = SessionLayer::client_side(store).unwrap();
/// ```
#[derive(Clone)]
pub struct CookieStore {
    ciphers: Arc<[Sealer]>,
    codec: Arc<dyn Codec>,
    /// Bytes the last seal's buffer needed: the next one starts that large, so a seal neither
    /// grows its buffer nor holds far more than its session needs.
    last_len: Arc<AtomicUsize>,
}

impl CookieStore {
    /// A store sealing with the first of `keys` and opening with any of them.
    ///
    /// Fails with a [`ErrorKind::Config`] error when `keys` is empty.
    pub fn new(keys: Vec<Key>) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::config("the cookie store needs at least one key").with_store(NAME));
        }
        let ciphers = keys.iter().map(|k| Sealer::new(k.0)).collect();
        Ok(CookieStore {
            ciphers,
            codec: default_codec(),
            last_len: Arc::new(AtomicUsize::new(HEAD + TOKEN_LEN + 256 + TAG)),
        })
    }

    /// Encodes records with `codec` before sealing (MessagePack by default; cookies written with
    /// another codec still open).
    pub fn with_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// Seals `token` and `record`, encoded in place after it, into a cookie value.
    fn seal_record(
        &self,
        cookie_name: &str,
        token: &SessionToken,
        record: &Record,
    ) -> Result<String> {
        let nonce = crate::nonce::next().map_err(|e| {
            Error::new(ErrorKind::Backend, Operation::Encode)
                .with_store(NAME)
                .with_context(format!("no random nonce: {e}"))
        })?;
        // One buffer from the format byte to the tag, sealed in place, as large as the last
        // seal's (sessions of one application are alike in size).
        let mut bytes = Vec::with_capacity(self.last_len.load(Ordering::Relaxed));
        bytes.push(FORMAT);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(token.as_str().as_bytes());
        self.codec
            .encode_into(record, &mut bytes)
            .map_err(|e| e.with_store(NAME).with_operation(Operation::Save))?;
        bytes.reserve_exact(TAG);
        self.last_len.store(bytes.len() + TAG, Ordering::Relaxed);
        self.ciphers[0]
            .seal_in_place(&nonce, cookie_name.as_bytes(), &mut bytes, HEAD)
            .map_err(|_| {
                Error::new(ErrorKind::Encode, Operation::Encode)
                    .with_store(NAME)
                    .with_context("sealing failed")
            })?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The opened bytes, where the plaintext lies in them, and the index of the key that
    /// opened it.
    fn open_bytes(
        &self,
        cookie_name: &str,
        value: &str,
    ) -> std::result::Result<(Vec<u8>, Range<usize>, usize), &'static str> {
        // Bound the work before decoding: no honest cookie is larger than a browser keeps.
        if value.len() > MAX_COOKIE_BYTES {
            return Err("longer than any cookie this store writes");
        }
        let mut bytes = URL_SAFE_NO_PAD.decode(value).map_err(|_| "not base64url")?;
        if bytes.len() < HEAD + TAG {
            return Err("too short");
        }
        if bytes[0] != FORMAT {
            return Err("unknown format");
        }
        let mut nonce = [0u8; NONCE];
        nonce.copy_from_slice(&bytes[1..HEAD]);
        let aad = cookie_name.as_bytes();
        // A failed open leaves the bytes unspecified, so each older key gets a fresh copy.
        let last = self.ciphers.len() - 1;
        for (index, cipher) in self.ciphers.iter().enumerate() {
            if index == last {
                if let Some(plaintext) = cipher.open_in_place(&nonce, aad, &mut bytes[HEAD..]) {
                    let len = plaintext.len();
                    return Ok((bytes, HEAD..HEAD + len, index));
                }
                break;
            }
            let mut copy = bytes[HEAD..].to_vec();
            if let Some(plaintext) = cipher.open_in_place(&nonce, aad, &mut copy) {
                let len = plaintext.len();
                return Ok((copy, 0..len, index));
            }
        }
        Err("not sealed by any current key (tampered, or sealed for another cookie)")
    }
}

impl fmt::Debug for CookieStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieStore")
            .field("keys", &self.ciphers.len())
            .field("codec", &self.codec.name())
            .finish()
    }
}

impl ClientSideStore for CookieStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .with_conditional_writes(false)
            .with_revocable(false)
            .with_native_ttl(true)
            .with_shared(true)
            // An encoded record this size always fits with a cookie name of up to 32 bytes.
            .with_max_record_size(Some(2960))
    }

    fn open(&self, cookie_name: &str, value: &str) -> Opened {
        let (bytes, plaintext, key) = match self.open_bytes(cookie_name, value) {
            Ok(opened) => opened,
            Err(reason) => return Opened::Invalid(reason),
        };
        let Some((token, record)) = bytes[plaintext].split_at_checked(TOKEN_LEN) else {
            return Opened::Invalid("sealed, but too short for a session");
        };
        let Some(token) = std::str::from_utf8(token)
            .ok()
            .and_then(|t| SessionToken::parse(t).ok())
        else {
            return Opened::Invalid("sealed, but holds no session token");
        };
        let Ok(mut record) = self.codec.decode(record) else {
            return Opened::Invalid("sealed, but not a session record");
        };
        record.key = token.key();
        let now = Utc::now();
        if record.expires_at <= now || record.deadline.is_some_and(|d| d <= now) {
            return Opened::Invalid("expired");
        }
        Opened::Valid {
            token,
            record,
            reseal: key > 0,
        }
    }

    fn seal(&self, cookie_name: &str, token: &SessionToken, record: &Record) -> Result<String> {
        let value = self.seal_record(cookie_name, token, record)?;
        let size = cookie_name.len() + 1 + value.len();
        if size > MAX_COOKIE_BYTES {
            return Err(Error::new(ErrorKind::TooLarge, Operation::Save)
                .with_store(NAME)
                .with_context(format!(
                    "the sealed session cookie would be {size} bytes; browsers keep {MAX_COOKIE_BYTES}. \
                     Keep less in the session, or use a server-side store"
                )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use session_core::SessionToken;
    use session_core::chrono::Duration;

    use super::*;

    /// Sessions of very different sizes sealed one after another each open to what was sealed,
    /// whatever size the previous seal left as the next buffer's start.
    #[test]
    fn seals_of_changing_sizes_each_open_to_their_record() {
        let store = CookieStore::new(vec![Key::generate()]).unwrap();
        for len in [0usize, 2000, 10, 1500, 0, 2500, 300] {
            let token = SessionToken::generate();
            let mut record = Record::new(token.key(), Utc::now() + Duration::hours(1));
            record.insert("notes", "n".repeat(len)).unwrap();
            let value = store.seal("id", &token, &record).unwrap();
            let needed = store.last_len.load(Ordering::Relaxed);
            assert!(needed > len && needed < len + 400, "{len}: hint {needed}");
            match store.open("id", &value) {
                Opened::Valid {
                    token: opened,
                    record: back,
                    ..
                } => {
                    assert!(opened == token, "{len}: another token");
                    assert_eq!(back.data, record.data, "{len}");
                }
                other => panic!("{len}: did not open: {other:?}"),
            }
        }
    }
}
