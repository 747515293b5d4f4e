//! Session identity: the token the visitor holds and the key the store sees.
//!
//! The cookie carries a [`SessionToken`]: 32 bytes (256 bits) from the operating system's
//! CSPRNG, written as 43 characters of unpadded base64url. Stores never see it. They are keyed by
//! a [`SessionKey`], the SHA-256 of the token in lowercase hex, so a dump of the store holds no
//! credential a visitor could replay.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
/// Length of a token's text: 32 bytes in unpadded base64url.
const TOKEN_CHARS: usize = 43;
/// Length of a key's text: 32 bytes of SHA-256 in hex.
const KEY_CHARS: usize = 64;

/// Why a token or key text was rejected.
///
/// Parsing happens before any store call, so malformed input never reaches a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The text has the wrong number of characters.
    Length {
        /// How many characters were expected.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// The text holds a character outside the allowed alphabet (path separators included).
    Alphabet {
        /// Byte offset of the first offending character.
        position: usize,
    },
    /// The text is not the canonical encoding of its bytes.
    NotCanonical,
    /// The operating system's random source failed.
    Random(String),
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Length { expected, found } => {
                write!(f, "expected {expected} characters, found {found}")
            }
            IdError::Alphabet { position } => {
                write!(f, "character at byte {position} is not allowed")
            }
            IdError::NotCanonical => f.write_str("not a canonical encoding"),
            IdError::Random(reason) => write!(f, "random source failed: {reason}"),
        }
    }
}

impl std::error::Error for IdError {}

/// The secret a visitor presents in the session cookie.
///
/// Generated from the operating system's CSPRNG; parsed strictly. `Debug` never prints it.
///
/// ```
/// use session_core::SessionToken;
///
/// let token = SessionToken::generate();
/// assert_eq!(token.as_str().len(), 43);
/// let again: SessionToken = token.as_str().parse().unwrap();
/// assert_eq!(token.key(), again.key());
///
/// assert!("../../etc/passwd".parse::<SessionToken>().is_err());
/// assert!("short".parse::<SessionToken>().is_err());
/// ```
#[derive(Clone)]
pub struct SessionToken {
    /// The token's text, held inline: parsing and cloning a token allocate nothing. Only
    /// `A-Z a-z 0-9 - _` ever gets here (generated, or checked by [`SessionToken::parse`]).
    text: [u8; TOKEN_CHARS],
    /// The store key, hashed the first time it is asked for: a request that never touches
    /// its session never hashes its token.
    key: std::sync::OnceLock<SessionKey>,
}

impl PartialEq for SessionToken {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SessionToken {}

impl std::hash::Hash for SessionToken {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl SessionToken {
    /// A fresh token of 256 random bits.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system has no usable random source, where no secure
    /// session can be issued at all; use [`SessionToken::try_generate`] to handle that case.
    pub fn generate() -> Self {
        match Self::try_generate() {
            Ok(token) => token,
            Err(err) => panic!("cannot issue a session token: {err}"),
        }
    }

    /// A fresh token of 256 random bits, or the random source's error.
    pub fn try_generate() -> Result<Self, IdError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| IdError::Random(e.to_string()))?;
        let mut text = [0u8; TOKEN_CHARS];
        match URL_SAFE_NO_PAD.encode_slice(bytes, &mut text) {
            Ok(TOKEN_CHARS) => Ok(SessionToken::from_text(text)),
            Ok(_) | Err(_) => Err(IdError::Random(
                "32 bytes did not encode to 43 characters".to_owned(),
            )),
        }
    }

    /// Parses a token as it came from a cookie.
    ///
    /// Rejects a wrong length, any character outside `A-Z a-z 0-9 - _`, and text that is not
    /// the canonical encoding of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.len() != TOKEN_CHARS {
            return Err(IdError::Length {
                expected: TOKEN_CHARS,
                found: text.len(),
            });
        }
        if let Some(position) = text
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(IdError::Alphabet { position });
        }
        // The strict decoder refuses non-zero trailing bits, so each token has one spelling.
        // 43 characters decode to at most 33 bytes by the decoder's estimate.
        let mut bytes = [0u8; TOKEN_BYTES + 1];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(TOKEN_BYTES) => {}
            _ => return Err(IdError::NotCanonical),
        }
        let mut checked = [0u8; TOKEN_CHARS];
        checked.copy_from_slice(text.as_bytes());
        Ok(SessionToken::from_text(checked))
    }

    /// A token of checked `text`.
    fn from_text(text: [u8; TOKEN_CHARS]) -> Self {
        SessionToken {
            text,
            key: std::sync::OnceLock::new(),
        }
    }

    /// The token's text, as written into the cookie.
    pub fn as_str(&self) -> &str {
        // Always ASCII (see `text`), so this never falls back.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The store key derived from this token (hashed once per token, on first use).
    pub fn key(&self) -> SessionKey {
        self.key
            .get_or_init(|| SessionKey::of_digest(&Sha256::digest(self.text).into()))
            .clone()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

impl FromStr for SessionToken {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionToken::parse(s)
    }
}

/// The name a store keeps a session under: SHA-256 of the token, 64 lowercase hex characters.
///
/// Safe as a file name, a Redis key, a SQL value or a DynamoDB key: only `0-9 a-f`.
///
/// ```
/// use session_core::{SessionKey, SessionToken};
///
/// let key = SessionToken::generate().key();
/// assert_eq!(key.as_str().len(), 64);
/// assert_eq!(SessionKey::parse(key.as_str()).unwrap(), key);
/// assert!(SessionKey::parse("not-hex").is_err());
/// ```
///
/// A key is held inline, 64 bytes with no allocation: making one from a token, and cloning one
/// (the queue, the record and the store each hold it), copies those bytes and nothing else.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionKey([u8; KEY_CHARS]);

impl std::hash::Hash for SessionKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As its text would (`str` hashing writes the bytes, then a terminator).
        state.write(&self.0);
        state.write_u8(0xff);
    }
}

impl SessionKey {
    /// Parses a key read back from a store (a file name, an index member ...).
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.len() != KEY_CHARS {
            return Err(IdError::Length {
                expected: KEY_CHARS,
                found: text.len(),
            });
        }
        if let Some(position) = text
            .bytes()
            .position(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(IdError::Alphabet { position });
        }
        let mut bytes = [0u8; KEY_CHARS];
        bytes.copy_from_slice(text.as_bytes());
        Ok(SessionKey(bytes))
    }

    /// A key for a fresh random token that nobody holds; handy in tests and tools.
    pub fn random() -> Self {
        SessionToken::generate().key()
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        // Always lowercase hex (checked or written where a key is made), so this never falls
        // back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The key whose text is the lowercase hex of `digest`.
    fn of_digest(digest: &[u8; 32]) -> SessionKey {
        let mut text = [0u8; KEY_CHARS];
        // 32 bytes always fill 64 characters, so this cannot fail.
        let _ = hex::encode_to_slice(digest, &mut text);
        SessionKey(text)
    }

    /// A key for a record that belongs to this session but is not its data (a lock ...): the
    /// SHA-256 of `purpose` and this key, so it names no other session and reveals nothing.
    pub fn derived(&self, purpose: &str) -> SessionKey {
        let mut hasher = Sha256::new();
        hasher.update(purpose.as_bytes());
        hasher.update([0]);
        hasher.update(self.0);
        SessionKey::of_digest(&hasher.finalize().into())
    }
}

impl SessionKey {
    /// The 32 bytes the key's hex spells, for stores that keep keys compactly.
    #[cfg(feature = "moka")]
    pub(crate) fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        // Every key is 64 lowercase hex characters (checked where it is made).
        let _ = hex::decode_to_slice(self.0, &mut bytes);
        bytes
    }

    /// The key whose hex spells `bytes`.
    #[cfg(feature = "moka")]
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> SessionKey {
        SessionKey::of_digest(bytes)
    }
}

/// Hashes a [`SessionKey`] for an in-process map by its first 16 characters.
///
/// A key is the hex SHA-256 of a token, so its characters are already uniformly distributed,
/// and nobody can choose tokens whose keys collide: hashing the whole key again (as the
/// standard hasher does, with SipHash) would only cost time on every request. Only for maps
/// keyed by [`SessionKey`]; other keys would hash poorly.
///
/// ```
/// use std::collections::HashMap;
/// use session_core::{KeyHashing, SessionKey};
///
/// let mut live: HashMap<SessionKey, u32, KeyHashing> = HashMap::default();
/// let key = SessionKey::random();
/// live.insert(key.clone(), 1);
/// assert_eq!(live.get(&key), Some(&1));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

/// Builds [`KeyHasher`]s: the hasher parameter of a map keyed by [`SessionKey`].
pub type KeyHashing = std::hash::BuildHasherDefault<KeyHasher>;

impl KeyHasher {
    /// The first eight bytes of `bytes`, padded with zeros.
    fn word(bytes: &[u8]) -> u64 {
        // A key always has eight: one load, where a copy of a variable length is a call.
        if let Some(first) = bytes.first_chunk::<8>() {
            return u64::from_le_bytes(*first);
        }
        let mut word = [0u8; 8];
        word[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(word)
    }
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        // Hex digits use few of each byte's values: spread the bits over the word (the
        // product carries them up, the fold brings them back down), since maps take their
        // buckets from the low bits and their tags from the top ones.
        let spread = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        spread ^ (spread >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        // `str` hashing ends with a one-byte terminator; only the text counts.
        if bytes.len() > 1 {
            let high = bytes.get(8..).map_or(0, Self::word);
            self.0 = self.0.rotate_left(5) ^ Self::word(bytes) ^ high.rotate_left(4);
        }
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey({})", self.as_str())
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionKey {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionKey::parse(s)
    }
}

impl AsRef<str> for SessionKey {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for SessionKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SessionKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        SessionKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn key_hashes_spread_over_buckets_and_tags() {
        use std::hash::BuildHasher;
        let hashes: Vec<u64> = (0..10_000)
            .map(|_| KeyHashing::default().hash_one(SessionKey::random()))
            .collect();
        assert_eq!(hashes.iter().collect::<HashSet<_>>().len(), hashes.len());
        // Maps take buckets from the low bits and a 7-bit tag from the top: both must vary,
        // and so must the middle bits the request queue picks its shard by.
        for (what, bits) in [("low", 0), ("middle", 32), ("top", 57)] {
            let values: HashSet<u64> = hashes.iter().map(|h| (h >> bits) & 0x7f).collect();
            assert_eq!(values.len(), 128, "{what} bits take every value");
        }
        // The same key hashes alike, whichever copy of it.
        let key = SessionKey::random();
        let again = SessionKey::parse(key.as_str()).unwrap();
        assert_eq!(
            KeyHashing::default().hash_one(&key),
            KeyHashing::default().hash_one(&again)
        );
    }

    #[test]
    fn a_key_hashes_as_its_text_and_orders_as_it() {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let (a, b) = (SessionKey::random(), SessionKey::random());
        let std = BuildHasherDefault::<DefaultHasher>::default();
        assert_eq!(std.hash_one(&a), std.hash_one(a.as_str()));
        assert_eq!(
            KeyHashing::default().hash_one(&a),
            KeyHashing::default().hash_one(a.as_str())
        );
        assert_eq!(a.cmp(&b), a.as_str().cmp(b.as_str()));
        assert_eq!(a.to_string(), a.as_str());
        assert_eq!(SessionKey::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn generated_tokens_are_distinct_and_parse() {
        let tokens: HashSet<String> = (0..1000)
            .map(|_| SessionToken::generate().as_str().to_owned())
            .collect();
        assert_eq!(tokens.len(), 1000);
        for t in &tokens {
            assert_eq!(SessionToken::parse(t).unwrap().as_str(), t);
        }
    }

    #[test]
    fn key_is_sha256_hex_of_token() {
        let token = SessionToken::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        // SHA-256 of the 43 ASCII 'A's.
        let expected = hex::encode(Sha256::digest(
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ));
        assert_eq!(token.key().as_str(), expected);
        assert_ne!(token.key().as_str(), token.as_str());
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let good = SessionToken::generate();
        let g = good.as_str();
        assert!(matches!(
            SessionToken::parse(""),
            Err(IdError::Length { found: 0, .. })
        ));
        assert!(matches!(
            SessionToken::parse(&g[..42]),
            Err(IdError::Length { .. })
        ));
        assert!(matches!(
            SessionToken::parse(&format!("{g}A")),
            Err(IdError::Length { .. })
        ));
        for bad in ['/', '\\', '.', '+', '=', ' ', '%', '\0'] {
            let text = format!("{}{}", &g[..42], bad);
            assert!(
                matches!(
                    SessionToken::parse(&text),
                    Err(IdError::Alphabet { position: 42 })
                ),
                "{bad:?} accepted"
            );
        }
        // Multi-byte characters change the byte length or fail the alphabet check.
        let text = format!("{}é", &g[..41]);
        assert!(SessionToken::parse(&text).is_err());
        // 'B' at the end leaves non-zero trailing bits: not the canonical spelling.
        let text = format!("{}B", &g[..42]);
        let canonical = SessionToken::parse(&text).is_ok();
        let last_bits_zero = URL_SAFE_NO_PAD.decode(&text).is_ok();
        assert_eq!(canonical, last_bits_zero);
    }

    #[test]
    fn token_debug_is_redacted() {
        let token = SessionToken::generate();
        let shown = format!("{token:?}");
        assert!(!shown.contains(token.as_str()));
    }

    #[test]
    fn keys_parse_strictly() {
        let key = SessionKey::random();
        assert_eq!(SessionKey::parse(key.as_str()).unwrap(), key);
        assert!(SessionKey::parse(&key.as_str().to_uppercase()).is_err());
        assert!(SessionKey::parse(&format!("../{}", &key.as_str()[3..])).is_err());
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<SessionKey>(&json).unwrap(), key);
        assert!(serde_json::from_str::<SessionKey>("\"zz\"").is_err());
    }
}
