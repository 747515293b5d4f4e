//! The contract and its checks, held to each other: every `# Behavior` bullet of the store
//! trait, the client-side store, the lock, the `Session`, the layer, the CSRF layer and the templates names the conformance case that
//! checks it, every name is a case, and every case is named by a bullet.

use std::collections::BTreeSet;

use session_conformance::{CHECKLIST_CASE, Suite};

/// The documents that carry `# Behavior` lists, by path.
const SOURCES: [(&str, &str); 7] = [
    (
        "session-core/src/store.rs",
        include_str!("../../session-core/src/store.rs"),
    ),
    (
        "session-core/src/client.rs",
        include_str!("../../session-core/src/client.rs"),
    ),
    (
        "session-core/src/lock.rs",
        include_str!("../../session-core/src/lock.rs"),
    ),
    (
        "session-tower/src/session/mod.rs",
        include_str!("../../session-tower/src/session/mod.rs"),
    ),
    (
        "session-tower/src/layer.rs",
        include_str!("../../session-tower/src/layer.rs"),
    ),
    (
        "session-tower/src/csrf.rs",
        include_str!("../../session-tower/src/csrf.rs"),
    ),
    (
        "session-minijinja/src/lib.rs",
        include_str!("../../session-minijinja/src/lib.rs"),
    ),
];

/// The bullets of every `# Behavior` list in `source`, each as one line of text.
fn bullets(source: &str) -> Vec<String> {
    let mut bullets: Vec<String> = Vec::new();
    let mut in_list = false;
    let mut started = false;
    for line in source.lines() {
        let trimmed = line.trim_start();
        let doc = trimmed
            .strip_prefix("///")
            .or_else(|| trimmed.strip_prefix("//!"))
            .map(|rest| rest.strip_prefix(' ').unwrap_or(rest));
        let Some(doc) = doc else {
            in_list = false;
            continue;
        };
        if doc.trim() == "# Behavior" {
            in_list = true;
            started = false;
            continue;
        }
        if !in_list {
            continue;
        }
        if let Some(first) = doc.strip_prefix("- ") {
            bullets.push(first.to_owned());
            started = true;
        } else if started && doc.starts_with("  ") {
            if let Some(last) = bullets.last_mut() {
                last.push(' ');
                last.push_str(doc.trim());
            }
        } else if doc.trim().is_empty() && !started {
            continue;
        } else {
            in_list = false;
        }
    }
    bullets
}

/// The case names a bullet gives: code spans of the form `group::name`.
fn named_cases(bullet: &str) -> Vec<String> {
    bullet
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            let Some((group, name)) = span.split_once("::") else {
                return false;
            };
            ["store", "request", "lock"].contains(&group)
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_bullet_names_a_case_and_every_case_has_a_bullet() {
    let mut cases: BTreeSet<String> = Suite::case_names().into_iter().collect();
    cases.insert(CHECKLIST_CASE.to_owned());

    let mut problems = Vec::new();
    let mut named = BTreeSet::new();
    let mut total = 0;
    for (path, source) in SOURCES {
        let list = bullets(source);
        assert!(!list.is_empty(), "{path} has no # Behavior bullets");
        for bullet in list {
            total += 1;
            let names = named_cases(&bullet);
            if names.is_empty() {
                problems.push(format!("{path}: a bullet names no case: {bullet}"));
            }
            for name in names {
                if !cases.contains(&name) {
                    problems.push(format!("{path}: `{name}` is not a case"));
                }
                named.insert(name);
            }
        }
    }
    for case in cases.difference(&named) {
        problems.push(format!("case `{case}` has no # Behavior bullet"));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) across {total} bullets:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_parser_reads_continued_bullets_and_stops_at_prose() {
    let source = "
/// # Behavior
///
/// - One (case `store::a`).
/// - Two, continued
///   on a second line (cases `request::b`, `lock::c`).
///
/// Prose after the list, naming `store::not_a_bullet`.
";
    let found = bullets(source);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(named_cases(&found[1]), ["request::b", "lock::c"]);
    assert!(found.iter().all(|b| !b.contains("not_a_bullet")));
}
