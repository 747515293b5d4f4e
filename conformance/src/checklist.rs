//! The capability checklist every store documents, held against what the store declares.
//!
//! A store's documentation carries a table headed `capability`, with one row per capability in
//! this form (the value cell
//! starts with `yes` or `no`, and the maximum record with `none` or a number of bytes; the rest
//! of the cell explains):
//!
//! ```text
//! | capability | |
//! |---|---|
//! | conditional writes | yes (a version check in one statement) |
//! | revocable | yes |
//! | native expiry | no: run a sweeper |
//! | sweep | yes |
//! | owner index | yes |
//! | walk | yes |
//! | shared across processes | yes |
//! | maximum record | none |
//! ```
//!
//! [`Suite::with_checklist`](crate::Suite::with_checklist) adds a case that reads the table from
//! the store's source and fails when a row is missing or disagrees with
//! [`SessionStore::capabilities`](session_core::SessionStore::capabilities).

use session_core::Capabilities;

/// The rows of the checklist, in the order the documentation lists them.
pub const ROWS: [&str; 8] = [
    "conditional writes",
    "revocable",
    "native expiry",
    "sweep",
    "owner index",
    "walk",
    "shared across processes",
    "maximum record",
];

/// Checks that `source` (a store's source file, or any text holding its documentation) holds
/// every row of the checklist, once, and that each agrees with `caps`. The error lists every
/// problem found.
pub fn check(source: &str, caps: &Capabilities) -> Result<(), String> {
    // Rows count only inside a table whose header's first cell is `capability`.
    let mut found: Vec<(&str, String)> = Vec::new();
    let mut in_checklist = false;
    for line in source.lines() {
        let line = line.trim_start();
        let line = line
            .strip_prefix("///")
            .or_else(|| line.strip_prefix("//!"))
            .unwrap_or(line)
            .trim();
        let Some(row) = line.strip_prefix('|') else {
            in_checklist = false;
            continue;
        };
        let mut cells = row.split('|').map(str::trim);
        let (Some(name), Some(value)) = (cells.next(), cells.next()) else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        if name == "capability" {
            in_checklist = true;
        } else if in_checklist && let Some(row) = ROWS.iter().find(|r| **r == name) {
            found.push((row, value.to_owned()));
        }
    }
    let mut problems = Vec::new();
    for row in ROWS {
        let values: Vec<&String> = found
            .iter()
            .filter(|(r, _)| *r == row)
            .map(|(_, v)| v)
            .collect();
        let value = match values.as_slice() {
            [] => {
                problems.push(format!("no row for \"{row}\""));
                continue;
            }
            [one] => one.as_str(),
            _ => {
                problems.push(format!("{} rows for \"{row}\"", values.len()));
                continue;
            }
        };
        if let Err(problem) = agrees(row, value, caps) {
            problems.push(format!("\"{row}\": {problem}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the documented capability checklist disagrees with capabilities(): {}",
            problems.join("; ")
        ))
    }
}

fn agrees(row: &str, value: &str, caps: &Capabilities) -> Result<(), String> {
    let first: String = value
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    if row == "maximum record" {
        let declared = caps.max_record_size;
        let documented = if first == "none" {
            None
        } else {
            let digits: String = value
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(|c| c.is_ascii_digit() || *c == '_' || *c == ',')
                .filter(char::is_ascii_digit)
                .collect();
            match digits.parse::<usize>() {
                Ok(n) => Some(n),
                Err(_) => return Err(format!("{value:?} is neither `none` nor a number of bytes")),
            }
        };
        return if documented == declared {
            Ok(())
        } else {
            Err(format!("documented {documented:?}, declared {declared:?}"))
        };
    }
    let documented = match first.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(format!("{value:?} starts with neither yes nor no")),
    };
    let declared = match row {
        "conditional writes" => caps.conditional_writes,
        "revocable" => caps.revocable,
        "native expiry" => caps.native_ttl,
        "sweep" => caps.sweep,
        "owner index" => caps.owner_index,
        "walk" => caps.walk,
        _ => caps.shared,
    };
    if documented == declared {
        Ok(())
    } else {
        Err(format!("documented {documented}, declared {declared}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "
/// | operation | statement |
/// |---|---|
/// | sweep | `DELETE` (another table: not a checklist row) |
///
/// | capability | |
/// |---|---|
/// | conditional writes | yes (script) |
/// | revocable | yes |
/// | native expiry | yes |
/// | sweep | no: not needed |
/// | owner index | yes |
/// | walk | yes (SCAN) |
/// | shared across processes | yes |
/// | maximum record | 399_360 bytes encoded |
";

    fn caps() -> Capabilities {
        Capabilities::default()
            .with_native_ttl(true)
            .with_owner_index(true)
            .with_walk(true)
            .with_shared(true)
            .with_max_record_size(Some(399_360))
    }

    #[test]
    fn a_table_that_agrees_passes() {
        check(TABLE, &caps()).unwrap();
    }

    #[test]
    fn rows_outside_the_checklist_table_do_not_count() {
        let err = check("| sweep | yes |", &caps()).unwrap_err();
        assert!(err.contains("no row for \"sweep\""), "{err}");
    }

    #[test]
    fn a_wrong_row_a_missing_row_and_a_wrong_size_are_each_named() {
        let wrong = TABLE
            .replace("| sweep | no: not needed |", "| sweep | yes |")
            .replace("/// | revocable | yes |\n", "")
            .replace("399_360", "3000");
        let err = check(&wrong, &caps()).unwrap_err();
        assert!(
            err.contains("\"sweep\": documented true, declared false"),
            "{err}"
        );
        assert!(err.contains("no row for \"revocable\""), "{err}");
        assert!(err.contains("\"maximum record\""), "{err}");
    }

    #[test]
    fn every_store_in_session_core_documents_its_checklist() {
        let memory = session_core::MemoryStore::new();
        check(
            include_str!("../../session-core/src/memory.rs"),
            &session_core::SessionStore::capabilities(&memory),
        )
        .unwrap();
        let moka = session_core::MokaStore::new();
        check(
            include_str!("../../session-core/src/moka.rs"),
            &session_core::SessionStore::capabilities(&moka),
        )
        .unwrap();
    }
}
