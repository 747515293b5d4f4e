//! What a client-side store must do with a cookie value: give back exactly what it sealed, and
//! open nothing else.

use std::sync::Arc;

use session_core::chrono::{Duration, Utc};
use session_core::{ClientSideStore, Opened, Record, SessionToken};

use crate::case::{Fixture, cases, long_lived};
use crate::check::{CaseError, CaseResult, ensure, ensure_eq};

cases!("store":
    sealed_cookie_opens_to_the_token_and_record_it_sealed => ClientSide,
    edited_moved_or_expired_cookie_never_opens => ClientSide,
    seals_on_many_threads_never_repeat => ClientSide,
);

const COOKIE: &str = "id";

async fn storage(fx: &Fixture) -> Result<Arc<dyn ClientSideStore>, CaseError> {
    fx.client_storage()
        .await?
        .ok_or_else(|| CaseError::new("a client-side suite made no client-side store"))
}

/// A live record under `token`, holding a little data and an owner.
fn sample(token: &SessionToken) -> Record {
    let mut record = long_lived();
    record.key = token.key();
    record.owner = Some("ada".into());
    record.insert("cart", vec![1, 2, 3]).expect("a plain value");
    record
        .insert("name", "Ada Lovelace")
        .expect("a plain value");
    record
}

async fn sealed_cookie_opens_to_the_token_and_record_it_sealed(fx: Fixture) -> CaseResult {
    let storage = storage(&fx).await?;
    let token = SessionToken::generate();
    let record = sample(&token);
    let value = storage.seal(COOKIE, &token, &record)?;
    ensure!(
        !value.contains(token.as_str()),
        "the cookie value shows the session token in the clear"
    );
    match storage.open(COOKIE, &value) {
        Opened::Valid {
            token: opened,
            record: back,
            reseal,
        } => {
            ensure!(opened == token, "opening gave back another token");
            ensure_eq!(back.key, token.key(), "the opened record's key");
            ensure_eq!(back.data, record.data, "the opened record's data");
            ensure_eq!(back.owner, record.owner, "the opened record's owner");
            ensure_eq!(
                back.expires_at.timestamp_millis(),
                record.expires_at.timestamp_millis(),
                "the opened record's expiry"
            );
            ensure!(
                !reseal,
                "a value sealed with the current key asks to be sealed again"
            );
        }
        Opened::Invalid(reason) => {
            return Err(CaseError::new(format!(
                "a fresh seal did not open: {reason}"
            )));
        }
        _ => return Err(CaseError::new("a fresh seal did not open")),
    }
    // Two seals of one record differ (fresh nonces), and both open.
    let again = storage.seal(COOKIE, &token, &record)?;
    ensure!(
        again != value,
        "sealing twice gave the same value: no fresh nonce"
    );
    ensure!(
        matches!(storage.open(COOKIE, &again), Opened::Valid { .. }),
        "the second seal did not open"
    );
    Ok(())
}

async fn edited_moved_or_expired_cookie_never_opens(fx: Fixture) -> CaseResult {
    let storage = storage(&fx).await?;
    let token = SessionToken::generate();
    let value = storage.seal(COOKIE, &token, &sample(&token))?;
    let opens = |name: &str, value: &str| !matches!(storage.open(name, value), Opened::Invalid(_));

    // Every character replaced by another, one at a time, and every truncation.
    for at in 0..value.len() {
        let original = value.as_bytes()[at];
        let other = if original == b'A' { 'B' } else { 'A' };
        let mut edited = value.clone();
        edited.replace_range(at..=at, &other.to_string());
        ensure!(
            !opens(COOKIE, &edited),
            "the value with character {at} changed still opens"
        );
        ensure!(
            !opens(COOKIE, &value[..at]),
            "the value cut to {at} characters still opens"
        );
    }
    ensure!(
        !opens("other", &value),
        "the value opens under another cookie name"
    );
    for garbage in ["", "=", "%%%", "AAAA", "\u{1F600}", &"A".repeat(5000)] {
        ensure!(!opens(COOKIE, garbage), "{garbage:?} opens");
    }

    // Sealed, but expired or past the absolute deadline.
    let mut expired = sample(&token);
    expired.expires_at = Utc::now() - Duration::seconds(1);
    let value = storage.seal(COOKIE, &token, &expired)?;
    ensure!(!opens(COOKIE, &value), "an expired session opens");
    let mut past_deadline = sample(&token);
    past_deadline.deadline = Some(Utc::now() - Duration::seconds(1));
    let value = storage.seal(COOKIE, &token, &past_deadline)?;
    ensure!(
        !opens(COOKIE, &value),
        "a session past its absolute deadline opens"
    );
    Ok(())
}

/// Sealing the same session over and over, on several threads at once, never gives the same
/// value twice: a nonce drawn per thread from a counter alone, or a generator that every
/// thread starts from the same state, repeats here (and under a stream cipher a repeated
/// nonce gives the plaintexts away).
async fn seals_on_many_threads_never_repeat(fx: Fixture) -> CaseResult {
    const THREADS: usize = 4;
    const SEALS: usize = 250;
    let storage = storage(&fx).await?;
    let token = SessionToken::generate();
    let record = sample(&token);
    let values = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    (0..SEALS)
                        .map(|_| storage.seal(COOKIE, &token, &record))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| CaseError::new("a sealing thread panicked"))
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut seen = std::collections::HashSet::new();
    for value in values
        .into_iter()
        .map(|sealed| sealed.map_err(CaseError::from))
    {
        for value in value? {
            ensure!(
                seen.insert(value),
                "two seals of one session gave the same value (a repeated nonce)"
            );
        }
    }
    ensure_eq!(seen.len(), THREADS * SEALS, "values sealed");
    Ok(())
}
