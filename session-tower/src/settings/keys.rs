//! The catalog of settings: each key in the file, its environment variable, and how its value
//! is read into [`Settings`].

use std::path::PathBuf;
use std::time::Duration;

use crate::session::OnLoadError;
use cookie::SameSite;

use super::{SecretList, Settings};
use crate::options::CommitOn;

/// Every setting: its key in the file and its environment variable.
pub(super) const KEYS: &[(&str, &str)] = &[
    ("driver", "SESSION_DRIVER"),
    ("lifetime", "SESSION_LIFETIME"),
    ("absolute_lifetime", "SESSION_ABSOLUTE_LIFETIME"),
    ("touch_interval", "SESSION_TOUCH_INTERVAL"),
    ("expire_on_close", "SESSION_EXPIRE_ON_CLOSE"),
    ("cookie_name", "SESSION_COOKIE_NAME"),
    ("secure_cookie", "SESSION_SECURE_COOKIE"),
    ("same_site", "SESSION_SAME_SITE"),
    ("http_only", "SESSION_HTTP_ONLY"),
    ("path", "SESSION_PATH"),
    ("domain", "SESSION_DOMAIN"),
    ("host_prefix", "SESSION_HOST_PREFIX"),
    ("commit_on", "SESSION_COMMIT_ON"),
    ("on_load_error", "SESSION_ON_LOAD_ERROR"),
    ("retry_budget", "SESSION_RETRY_BUDGET"),
    ("wait_timeout", "SESSION_WAIT_TIMEOUT"),
    ("lock", "SESSION_LOCK"),
    ("save_every_request", "SESSION_SAVE_EVERY_REQUEST"),
    ("no_store_signed_in", "SESSION_NO_STORE_SIGNED_IN"),
    ("files_path", "SESSION_FILES_PATH"),
    ("redis_url", "SESSION_REDIS_URL"),
    ("redis_cluster", "SESSION_REDIS_CLUSTER"),
    ("redis_replica_acks", "SESSION_REDIS_REPLICA_ACKS"),
    ("redis_ack_timeout", "SESSION_REDIS_ACK_TIMEOUT"),
    ("database_url", "SESSION_DATABASE_URL"),
    ("dynamodb_table", "SESSION_DYNAMODB_TABLE"),
    ("dynamodb_endpoint", "SESSION_DYNAMODB_ENDPOINT"),
    ("cookie_keys", "SESSION_COOKIE_KEYS"),
];

/// Where a setting's value came from, for error messages.
pub(super) fn origin(file_key: &str, env_var: Option<&str>) -> String {
    match env_var {
        Some(var) => format!("environment variable {var}"),
        None => format!("setting {file_key:?} in the settings file"),
    }
}

pub(super) fn apply(s: &mut Settings, key: &str, text: &str) -> Result<(), String> {
    let text = text.trim();
    let optional = |t: &str| (!t.is_empty()).then(|| t.to_owned());
    match key {
        "driver" => s.driver = text.parse()?,
        "lifetime" => s.session.idle_timeout = parse_duration(text)?,
        "absolute_lifetime" => {
            s.session.absolute_timeout = match text.to_ascii_lowercase().as_str() {
                "" | "none" | "off" => None,
                _ => Some(parse_duration(text)?),
            }
        }
        "touch_interval" => s.session.touch_interval = parse_duration_allow_zero(text)?,
        "expire_on_close" => s.cookie.expire_on_close = parse_bool(text)?,
        "cookie_name" => s.cookie.name = text.to_owned(),
        "secure_cookie" => s.cookie.secure = parse_bool(text)?,
        "same_site" => {
            s.cookie.same_site = match text.to_ascii_lowercase().as_str() {
                "lax" => SameSite::Lax,
                "strict" => SameSite::Strict,
                "none" => SameSite::None,
                _ => return Err("expected lax, strict or none".into()),
            }
        }
        "http_only" => s.cookie.http_only = parse_bool(text)?,
        "path" => s.cookie.path = text.to_owned(),
        "domain" => s.cookie.domain = optional(text),
        "host_prefix" => s.cookie.host_prefix = parse_bool(text)?,
        "commit_on" => {
            s.commit_on = match text.to_ascii_lowercase().as_str() {
                "always" => CommitOn::Always,
                "not_server_error" => CommitOn::NotServerError,
                "success" => CommitOn::Success,
                _ => return Err("expected always, not_server_error or success".into()),
            }
        }
        "on_load_error" => {
            s.session.on_load_error = match text.to_ascii_lowercase().as_str() {
                "fail" => OnLoadError::Fail,
                "start_fresh" => OnLoadError::StartFresh,
                _ => return Err("expected fail or start_fresh".into()),
            }
        }
        "retry_budget" => s.session.retry_budget = parse_duration_allow_zero(text)?,
        "wait_timeout" => s.session.wait_timeout = parse_duration(text)?,
        "lock" => s.lock = parse_bool(text)?,
        "save_every_request" => s.session.save_every_request = parse_bool(text)?,
        "no_store_signed_in" => s.no_store_signed_in = parse_bool(text)?,
        "files_path" => s.store.files_path = PathBuf::from(text),
        "redis_url" => s.store.redis_url = optional(text),
        "redis_cluster" => {
            s.store.redis_cluster = text
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect()
        }
        "redis_replica_acks" => {
            s.store.redis_replica_acks = text
                .parse()
                .map_err(|_| "expected a number of replicas (0 for none)".to_owned())?
        }
        "redis_ack_timeout" => s.store.redis_ack_timeout = parse_duration(text)?,
        "database_url" => s.store.database_url = optional(text),
        "dynamodb_table" => s.store.dynamodb_table = optional(text),
        "dynamodb_endpoint" => s.store.dynamodb_endpoint = optional(text),
        "cookie_keys" => {
            s.store.cookie_keys = SecretList(
                text.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        }
        _ => return Err("unknown setting".into()),
    }
    Ok(())
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration_allow_zero(text)?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// A bare number is minutes (as `SESSION_LIFETIME=120` means two hours); a suffix `ms`, `s`,
/// `m`, `h` or `d` names the unit.
fn parse_duration_allow_zero(text: &str) -> Result<Duration, String> {
    const HINT: &str = "expected minutes, or a whole number followed by ms, s, m, h or d (\"90s\")";
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| HINT.to_owned())?;
    if unit.trim() == "ms" {
        return Ok(Duration::from_millis(n));
    }
    let secs = match unit.trim() {
        "" | "m" | "min" => n.checked_mul(60),
        "s" => Some(n),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => return Err(HINT.into()),
    }
    .ok_or_else(|| "is too long".to_owned())?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_minutes_or_units() {
        assert_eq!(parse_duration("120").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        for bad in ["", "0", "-5", "5 weeks", "1.5h", "h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_duration(&format!("{}d", u64::MAX)).is_err());
    }
}
