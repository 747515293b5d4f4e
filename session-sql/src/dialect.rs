//! Table names and the SQL each database speaks.

use session_core::Error;

/// Checks `name` is a plain SQL identifier (it is put into statements, never bound): a letter
/// or `_`, then letters, digits or `_`, at most 63 characters.
pub(crate) fn validate(name: &str, store: &'static str) -> Result<(), Error> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && name.len() <= 63 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(Error::config(format!(
            "table name {name:?} must be a letter or '_' followed by letters, digits or '_' (at most 63)"
        ))
        .with_store(store))
    }
}

/// The statements of one database, with the table name filled in.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) migrate: Vec<String>,
    pub(crate) load: String,
    pub(crate) insert: String,
    pub(crate) delete_expired: String,
    pub(crate) save: String,
    pub(crate) probe: String,
    pub(crate) touch: String,
    pub(crate) delete: String,
    pub(crate) sweep_batch: String,
    pub(crate) list_by_owner: String,
    pub(crate) delete_by_owner: String,
    pub(crate) walk: String,
}

/// Which SQL dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    MySql,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
}

impl Dialect {
    /// The statements for table `t`. Placeholders are written `$n` in ascending order and
    /// turned into `?` for the databases that number them by position.
    pub(crate) fn statements(self, t: &str) -> Statements {
        let q = |sql: String| match self {
            Dialect::Postgres => sql,
            Dialect::MySql | Dialect::Sqlite => positional(&sql),
        };
        let sweep_batch = match self {
            // MySQL refuses LIMIT in an IN subquery but has DELETE ... LIMIT.
            Dialect::MySql => format!("DELETE FROM {t} WHERE expires_at <= $1 LIMIT $2"),
            _ => format!(
                "DELETE FROM {t} WHERE session_key IN \
                 (SELECT session_key FROM {t} WHERE expires_at <= $1 LIMIT $2)"
            ),
        };
        Statements {
            migrate: self.migrations(t),
            load: q(format!(
                "SELECT version, expires_at, data FROM {t} WHERE session_key = $1 AND expires_at > $2"
            )),
            insert: q(format!(
                "INSERT INTO {t} (session_key, version, expires_at, owner, data) \
                 VALUES ($1, $2, $3, $4, $5)"
            )),
            delete_expired: q(format!(
                "DELETE FROM {t} WHERE session_key = $1 AND expires_at <= $2"
            )),
            save: q(format!(
                "UPDATE {t} SET version = version + 1, expires_at = $1, owner = $2, data = $3 \
                 WHERE session_key = $4 AND version = $5 AND expires_at > $6"
            )),
            probe: q(format!(
                "SELECT version FROM {t} WHERE session_key = $1 AND expires_at > $2"
            )),
            touch: q(format!(
                "UPDATE {t} SET expires_at = $1 WHERE session_key = $2 AND expires_at > $3"
            )),
            delete: q(format!("DELETE FROM {t} WHERE session_key = $1")),
            sweep_batch: q(sweep_batch),
            list_by_owner: q(format!(
                "SELECT session_key FROM {t} WHERE owner = $1 AND expires_at > $2 ORDER BY session_key"
            )),
            delete_by_owner: q(format!(
                "DELETE FROM {t} WHERE owner = $1 AND expires_at > $2"
            )),
            // Keyset pages on the primary key: each page starts after the last key of the one
            // before, so a walk reads no row twice and needs no open transaction.
            walk: q(format!(
                "SELECT session_key, version, expires_at, data FROM {t} \
                 WHERE session_key > $1 AND expires_at > $2 ORDER BY session_key LIMIT $3"
            )),
        }
    }

    /// The schema, as the crate's docs show it.
    pub(crate) fn migrations(self, t: &str) -> Vec<String> {
        match self {
            Dialect::Postgres => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\n    session_key TEXT PRIMARY KEY,\n    \
                     version BIGINT NOT NULL,\n    expires_at BIGINT NOT NULL,\n    \
                     owner TEXT NULL,\n    data BYTEA NOT NULL\n)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {t}_expires_at ON {t} (expires_at)"),
                format!("CREATE INDEX IF NOT EXISTS {t}_owner ON {t} (owner)"),
            ],
            Dialect::MySql => vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (\n    \
                 session_key CHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,\n    \
                 version BIGINT NOT NULL,\n    expires_at BIGINT NOT NULL,\n    \
                 owner VARCHAR(255) NULL,\n    data LONGBLOB NOT NULL,\n    \
                 INDEX {t}_expires_at (expires_at),\n    INDEX {t}_owner (owner)\n) \
                 DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin"
            )],
            Dialect::Sqlite => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\n    session_key TEXT PRIMARY KEY NOT NULL,\n    \
                     version INTEGER NOT NULL,\n    expires_at INTEGER NOT NULL,\n    \
                     owner TEXT NULL,\n    data BLOB NOT NULL\n)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {t}_expires_at ON {t} (expires_at)"),
                format!("CREATE INDEX IF NOT EXISTS {t}_owner ON {t} (owner)"),
            ],
        }
    }
}

/// `$1`, `$2` ... to `?` (they appear in order, so position is enough).
fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        for ok in ["sessions", "_s", "app_sessions_2", &"a".repeat(63)] {
            assert!(validate(ok, "sql").is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2sessions",
            "ses-sions",
            "s; DROP TABLE x",
            "sessions\"",
            "ü",
            &"a".repeat(64),
        ] {
            assert!(validate(bad, "sql").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn placeholders_become_positional_in_order() {
        assert_eq!(
            positional("a = $1 AND b > $2, c = $10"),
            "a = ? AND b > ?, c = ?"
        );
        let mysql = Dialect::MySql.statements("t");
        assert!(!mysql.save.contains('$'));
        assert_eq!(mysql.save.matches('?').count(), 6);
        let pg = Dialect::Postgres.statements("t");
        assert!(pg.save.contains("$6"));
    }
}
