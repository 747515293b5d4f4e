//! The commands that work on one store: count, list, show, revoke, sweep, keygen.

use std::collections::HashSet;

use serde_json::json;
use sessions::chrono::{DateTime, Duration, SecondsFormat, Utc};
use sessions::{
    ErrorKind, Lifetime, Record, SessionKey, SessionStore, SessionToken, Settings, WalkCursor,
};

use crate::{Failure, Outcome};

/// Records read per page when a command walks a store.
const PAGE: usize = 500;

/// How results are printed: for people, or as JSON.
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// Prints `human` for people, or `value` as JSON.
    pub(crate) fn print(&self, human: impl FnOnce() -> String, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", human());
        }
    }
}

/// Walks the whole store, calling `each` for every live record once (a store may repeat a
/// record during a walk, as Redis's `SCAN` can while its table grows; repeats are dropped
/// here). What it remembers per record is 16 bytes of its key, so counting a million sessions
/// takes tens of megabytes, not the records.
pub(crate) async fn walk_all(
    store: &dyn SessionStore,
    mut each: impl FnMut(Record) -> Result<(), Failure>,
) -> Outcome {
    let mut seen: HashSet<u128> = HashSet::new();
    let mut cursor: Option<WalkCursor> = None;
    loop {
        let page = store.walk(cursor.as_ref(), PAGE).await.map_err(|e| {
            if e.kind() == ErrorKind::Unsupported {
                Failure::Store(format!(
                    "the {} store cannot list every session (no walk): {e}",
                    store.name()
                ))
            } else {
                Failure::from(e)
            }
        })?;
        for record in page.records {
            if seen.insert(fingerprint(&record.key)) {
                each(record)?;
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// The first 128 bits of a key (itself a SHA-256 in hex): enough to tell keys apart.
fn fingerprint(key: &SessionKey) -> u128 {
    u128::from_str_radix(&key.as_str()[..32], 16).unwrap_or_default()
}

/// The keys of `owner`'s live sessions: from the owner index, or by walking a store without
/// one.
async fn keys_of(store: &dyn SessionStore, owner: &str) -> Result<Vec<SessionKey>, Failure> {
    match store.list_by_owner(owner).await {
        Ok(keys) => Ok(keys),
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            let mut keys = Vec::new();
            walk_all(store, |record| {
                if record.owner.as_deref() == Some(owner) {
                    keys.push(record.key);
                }
                Ok(())
            })
            .await?;
            keys.sort();
            Ok(keys)
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn count(store: &dyn SessionStore, owner: Option<&str>, out: &Output) -> Outcome {
    let n = match owner {
        Some(owner) => keys_of(store, owner).await?.len() as u64,
        None => {
            let mut n = 0u64;
            walk_all(store, |_| {
                n += 1;
                Ok(())
            })
            .await?;
            n
        }
    };
    out.print(
        || match owner {
            Some(owner) => format!("{n} live sessions of {owner}"),
            None => format!("{n} live sessions"),
        },
        json!({ "count": n, "owner": owner, "store": store.name() }),
    );
    Ok(())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// When the session was last active, as far as its idle expiry tells: the expiry less the idle
/// timeout it was given (its own lifetime, or the settings').
fn last_active(record: &Record, settings: &Settings) -> DateTime<Utc> {
    let idle = match record.lifetime {
        Some(Lifetime::Idle(idle)) => idle,
        _ => settings.session.idle_timeout,
    };
    let idle = Duration::from_std(idle).unwrap_or(Duration::zero());
    (record.expires_at - idle).max(record.created_at)
}

pub(crate) async fn list(
    store: &dyn SessionStore,
    owner: &str,
    settings: &Settings,
    out: &Output,
) -> Outcome {
    let mut rows = Vec::new();
    for key in keys_of(store, owner).await? {
        // Gone since it was listed: not live any more.
        if let Some(record) = store.load(&key).await? {
            rows.push(record);
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    let json_rows: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.key.as_str(),
                "created": time(r.created_at),
                "last_active": time(last_active(r, settings)),
                "expires": time(r.expires_at),
                "deadline": r.deadline.map(time),
            })
        })
        .collect();
    out.print(
        || {
            let mut text = format!("{} live sessions of {owner}", rows.len());
            if !rows.is_empty() {
                text.push_str(&format!(
                    "\n{:<14} {:<21} {:<21} {:<21}",
                    "id", "created", "last active", "expires"
                ));
            }
            for r in &rows {
                text.push_str(&format!(
                    "\n{:<14} {:<21} {:<21} {:<21}",
                    &r.key.as_str()[..12],
                    time(r.created_at),
                    time(last_active(r, settings)),
                    time(r.expires_at)
                ));
            }
            text
        },
        json!({ "owner": owner, "sessions": json_rows }),
    );
    Ok(())
}

/// The store key a token names; a token that is not one is a usage error.
fn key_of(token: &str) -> Result<SessionKey, Failure> {
    SessionToken::parse(token.trim())
        .map(|t| t.key())
        .map_err(|e| Failure::Usage(format!("that is not a session token: {e}")))
}

pub(crate) async fn show(store: &dyn SessionStore, token: &str, out: &Output) -> Outcome {
    let key = key_of(token)?;
    let Some(record) = store.load(&key).await? else {
        return Err(Failure::NotFound(
            "no live session has that token (it may have expired or been revoked)".into(),
        ));
    };
    let value = json!({
        "id": record.key.as_str(),
        "owner": record.owner,
        "version": record.version,
        "created": time(record.created_at),
        "expires": time(record.expires_at),
        "deadline": record.deadline.map(time),
        "lifetime": record.lifetime.map(|l| format!("{l:?}")),
        "data": record.data,
        "flash": record.flash,
    });
    out.print(
        || serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()),
        value.clone(),
    );
    Ok(())
}

pub(crate) async fn revoke(
    store: &dyn SessionStore,
    token: Option<&str>,
    owner: Option<&str>,
    out: &Output,
) -> Outcome {
    match (token, owner) {
        (_, Some(owner)) => {
            let ended = match store.delete_by_owner(owner).await {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Unsupported => {
                    let keys = keys_of(store, owner).await?;
                    for key in &keys {
                        store.delete(key).await?;
                    }
                    keys.len() as u64
                }
                Err(e) => return Err(e.into()),
            };
            out.print(
                || format!("ended {ended} sessions of {owner}"),
                json!({ "owner": owner, "revoked": ended }),
            );
            Ok(())
        }
        (Some(token), None) => {
            let key = key_of(token)?;
            if store.load(&key).await?.is_none() {
                return Err(Failure::NotFound(
                    "no live session has that token; nothing to revoke".into(),
                ));
            }
            store.delete(&key).await?;
            out.print(|| "ended the session".to_owned(), json!({ "revoked": 1 }));
            Ok(())
        }
        (None, None) => Err(Failure::Usage(
            "revoke needs a token or --owner USER".into(),
        )),
    }
}

pub(crate) async fn sweep(store: &dyn SessionStore, out: &Output) -> Outcome {
    match store.sweep().await {
        Ok(n) => {
            out.print(
                || format!("deleted {n} expired sessions"),
                json!({ "swept": n, "store": store.name() }),
            );
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::Unsupported && store.capabilities().native_ttl => {
            out.print(
                || {
                    format!(
                        "the {} store expires sessions by itself; nothing to sweep",
                        store.name()
                    )
                },
                json!({ "swept": 0, "store": store.name(), "native_expiry": true }),
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn keygen(out: &Output) -> Outcome {
    let key = sessions::cookie::Key::generate().to_base64();
    out.print(
        || format!("SESSION_COOKIE_KEYS={key}"),
        json!({ "key": key, "setting": "SESSION_COOKIE_KEYS" }),
    );
    if !out.json {
        eprintln!(
            "To rotate, put the new key first and keep the old ones after it, comma-separated: \
             cookies sealed with an old key still open, and are sealed again with the new one."
        );
    }
    Ok(())
}
