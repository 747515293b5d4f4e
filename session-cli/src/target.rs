//! Which store a command works on: a URL from the command line, or the application's settings.

use std::path::Path;
use std::sync::Arc;

use sessions::{SessionStore, Settings};

use crate::Failure;

/// The settings a store URL stands for, as the `SESSION_*` variables would give them.
pub(crate) fn from_url(url: &str) -> Result<Settings, Failure> {
    let url = url.trim();
    let (scheme, rest) = url.split_once(':').ok_or_else(|| {
        Failure::Usage(format!(
            "{url:?} is not a store URL (redis://, redis-cluster://, postgres://, mysql://, sqlite://, file:, dynamodb://)"
        ))
    })?;
    let mut pairs: Vec<(&str, String)> = Vec::new();
    match scheme.to_ascii_lowercase().as_str() {
        "redis" | "rediss" => {
            pairs.push(("SESSION_DRIVER", "redis".into()));
            pairs.push(("SESSION_REDIS_URL", url.into()));
        }
        "redis-cluster" => {
            let nodes: Vec<String> = rest
                .trim_start_matches("//")
                .split(',')
                .map(|n| n.trim().trim_end_matches('/'))
                .filter(|n| !n.is_empty())
                .map(|n| format!("redis://{n}/"))
                .collect();
            if nodes.is_empty() {
                return Err(Failure::Usage(
                    "a redis-cluster: URL names its nodes, as in redis-cluster://10.0.0.1:6379,10.0.0.2:6379"
                        .into(),
                ));
            }
            pairs.push(("SESSION_DRIVER", "redis".into()));
            pairs.push(("SESSION_REDIS_CLUSTER", nodes.join(",")));
        }
        "postgres" | "postgresql" | "mysql" | "mariadb" | "sqlite" => {
            pairs.push(("SESSION_DRIVER", "database".into()));
            pairs.push(("SESSION_DATABASE_URL", url.into()));
        }
        "file" => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(Failure::Usage(
                    "a file: URL needs a directory, as in file:///var/lib/sessions".into(),
                ));
            }
            pairs.push(("SESSION_DRIVER", "file".into()));
            pairs.push(("SESSION_FILES_PATH", path.into()));
        }
        "dynamodb" => {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
            let table = table.trim_end_matches('/');
            if table.is_empty() {
                return Err(Failure::Usage(
                    "a dynamodb: URL names its table, as in dynamodb://sessions".into(),
                ));
            }
            pairs.push(("SESSION_DRIVER", "dynamodb".into()));
            pairs.push(("SESSION_DYNAMODB_TABLE", table.into()));
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("endpoint", endpoint)) => {
                        pairs.push(("SESSION_DYNAMODB_ENDPOINT", endpoint.into()))
                    }
                    _ => {
                        return Err(Failure::Usage(format!(
                            "unknown dynamodb: URL option {pair:?} (only endpoint=URL; the region \
                             and credentials come from the AWS environment)"
                        )));
                    }
                }
            }
        }
        "memory" => {
            return Err(Failure::Usage(
                "a memory store lives inside one application; this command cannot reach it".into(),
            ));
        }
        "cookie" => {
            return Err(Failure::Usage(
                "cookie sessions live in the browsers; there is no store to reach".into(),
            ));
        }
        other => {
            return Err(Failure::Usage(format!(
                "unknown store scheme {other:?} in {url:?} (redis://, postgres://, mysql://, \
                 sqlite://, file:, dynamodb://)"
            )));
        }
    }
    Settings::from_sources(None, pairs.iter().map(|(k, v)| (*k, v.as_str()))).map_err(Failure::from)
}

/// The settings a command works with: from `url` when given, else the application's.
pub(crate) fn settings(url: Option<&str>, config: Option<&Path>) -> Result<Settings, Failure> {
    match url {
        Some(url) => from_url(url),
        None => {
            let config = config.filter(|f| !f.as_os_str().is_empty());
            if let Some(file) = config
                && !file.is_file()
            {
                return Err(Failure::Usage(format!(
                    "the settings file {} does not exist",
                    file.display()
                )));
            }
            Settings::load(config).map_err(Failure::from)
        }
    }
}

/// Connects to the store `url` names, or else the one the settings name.
pub(crate) async fn open(
    url: Option<&str>,
    config: Option<&Path>,
) -> Result<Arc<dyn SessionStore>, Failure> {
    let settings = settings(url, config)?;
    connect(&settings, url.unwrap_or("the configured store")).await
}

/// Connects to the store `settings` name; `what` names it in messages.
pub(crate) async fn connect(
    settings: &Settings,
    what: &str,
) -> Result<Arc<dyn SessionStore>, Failure> {
    if settings.driver == sessions::Driver::Memory {
        return Err(Failure::Usage(
            "the settings name the memory driver (the default when none is set), which lives \
             inside one application: give --store URL, or SESSION_DRIVER and its URL"
                .into(),
        ));
    }
    sessions::store(settings).await.map_err(|e| {
        let what = sessions::kit::redacted_url(what);
        match Failure::from(e) {
            Failure::Usage(m) if m.contains("feature") => Failure::Usage(format!(
                "{what}: {m}; this build of the command leaves that store out (build session-cli \
                 with its default features, or the store's feature)"
            )),
            Failure::Usage(m) => Failure::Usage(format!("{what}: {m}")),
            Failure::Store(m) => Failure::Store(format!("cannot reach {what}: {m}")),
            other => other,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_names_its_driver() {
        for (url, driver) in [
            ("redis://127.0.0.1/", sessions::Driver::Redis),
            (
                "redis-cluster://10.0.0.1:6379,10.0.0.2:6379",
                sessions::Driver::Redis,
            ),
            ("postgres://u:p@h/db", sessions::Driver::Database),
            ("mysql://u:p@h/db", sessions::Driver::Database),
            ("sqlite://x.db", sessions::Driver::Database),
            ("file:///tmp/s", sessions::Driver::File),
            ("file:relative", sessions::Driver::File),
            (
                "dynamodb://t?endpoint=http://127.0.0.1:8000",
                sessions::Driver::DynamoDb,
            ),
        ] {
            assert_eq!(from_url(url).unwrap().driver, driver, "{url}");
        }
    }

    #[test]
    fn bad_urls_are_usage_errors_that_say_why() {
        for (url, says) in [
            ("nonsense", "not a store URL"),
            ("ftp://x", "unknown store scheme"),
            ("file:", "needs a directory"),
            ("dynamodb://", "names its table"),
            ("redis-cluster://", "names its nodes"),
            ("dynamodb://t?region=x", "unknown dynamodb: URL option"),
            ("memory:", "inside one application"),
            ("cookie:", "live in the browsers"),
        ] {
            match from_url(url) {
                Err(Failure::Usage(m)) => assert!(m.contains(says), "{url}: {m}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
