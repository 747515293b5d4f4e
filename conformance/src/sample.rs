//! Sample records for benchmarks and examples, so every driver measures the same thing.

use session_core::chrono::{Duration, Utc};
use session_core::{Record, SessionKey};

/// A signed-in user's session as applications typically keep it (about 150 bytes encoded): a
/// user id, a name, roles, a small cart and a CSRF token, expiring in two hours.
pub fn signed_in() -> Record {
    let mut record = Record::new(SessionKey::random(), Utc::now() + Duration::hours(2));
    let values: [(&str, session_core::Value); 5] = [
        ("user_id", 184_467u64.into()),
        ("name", "Ada Lovelace".into()),
        ("roles", vec!["editor", "reviewer"].into()),
        ("cart", vec![1203, 88, 4512, 77].into()),
        ("csrf", "Jx1yQm0n2Vb7w3Kp9Lr4Ts6Uh8Zc5Ad".into()),
    ];
    for (key, value) in values {
        record.data.insert(key.to_owned(), value);
    }
    record
}
