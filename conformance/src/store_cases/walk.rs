//! Walking every live record in pages, for operators' tools (count, list, migrate).

use std::collections::BTreeSet;

use session_core::{ErrorKind, SessionKey, SessionStore, WalkCursor};

use crate::case::{Fixture, cases, long_lived, short_lived, wait_past};
use crate::check::{CaseError, CaseResult, ensure, expect_kind};

cases!("store":
    walk_yields_every_live_record_in_pages => Walk,
    walk_resumes_from_a_cursor => Walk,
    walk_refuses_a_cursor_it_did_not_make => Walk,
    walk_without_capability_is_unsupported => NoWalk,
);

/// Pages walked before a case gives up: a walk that never ends is a failure, not a hang.
const MAX_PAGES: usize = 100_000;

/// Walks from `from` to the end in pages of `limit`, checking each page's size; returns every
/// key seen (a store may repeat one) and how many pages it took.
async fn walk_all(
    store: &dyn SessionStore,
    from: Option<WalkCursor>,
    limit: usize,
) -> Result<(Vec<SessionKey>, usize), CaseError> {
    let mut cursor = from;
    let mut seen = Vec::new();
    for pages in 1..=MAX_PAGES {
        let page = store.walk(cursor.as_ref(), limit).await?;
        ensure!(
            page.records.len() <= limit,
            "a page of {} records for a limit of {limit}",
            page.records.len()
        );
        seen.extend(page.records.into_iter().map(|r| r.key));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok((seen, pages)),
        }
    }
    Err(CaseError::new(format!(
        "the walk did not end within {MAX_PAGES} pages"
    )))
}

async fn walk_yields_every_live_record_in_pages(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let live: Vec<_> = (0..11).map(|_| long_lived()).collect();
    let deleted: Vec<_> = (0..3).map(|_| long_lived()).collect();
    let expiring: Vec<_> = (0..3).map(|_| short_lived()).collect();
    for record in live.iter().chain(&deleted).chain(&expiring) {
        store.create(record).await?;
    }
    for record in &deleted {
        store.delete(&record.key).await?;
    }
    wait_past(
        expiring
            .iter()
            .map(|r| r.expires_at)
            .max()
            .unwrap_or_default(),
    )
    .await;

    // Other cases may share the backend: what this case made is checked, not the total.
    let (seen, pages) = walk_all(&*store, None, 4).await?;
    let seen: BTreeSet<SessionKey> = seen.into_iter().collect();
    let missing = live.iter().filter(|r| !seen.contains(&r.key)).count();
    ensure!(
        missing == 0,
        "{missing} of {} live records were not walked",
        live.len()
    );
    ensure!(pages >= 3, "11 records in pages of 4 took {pages} pages");
    for (what, records) in [("deleted", &deleted), ("expired", &expiring)] {
        let shown = records.iter().filter(|r| seen.contains(&r.key)).count();
        ensure!(shown == 0, "the walk yielded {shown} {what} records");
    }
    // A limit of 0 counts as 1.
    let page = store.walk(None, 0).await?;
    ensure!(
        page.records.len() <= 1,
        "a limit of 0 gave {} records",
        page.records.len()
    );
    Ok(())
}

async fn walk_resumes_from_a_cursor(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    let live: Vec<_> = (0..9).map(|_| long_lived()).collect();
    for record in &live {
        store.create(record).await?;
    }
    // Two pages, then the cursor kept as text, as a tool keeps it between runs.
    let mut before = BTreeSet::new();
    let mut cursor = None;
    for _ in 0..2 {
        let page = store.walk(cursor.as_ref(), 3).await?;
        before.extend(page.records.into_iter().map(|r| r.key));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let kept = cursor.map(|c| c.as_str().to_owned());
    let after: BTreeSet<SessionKey> = match kept {
        Some(text) => walk_all(&*store, Some(WalkCursor::new(text)), 3)
            .await?
            .0
            .into_iter()
            .collect(),
        None => BTreeSet::new(),
    };
    let missing = live
        .iter()
        .filter(|r| !before.contains(&r.key) && !after.contains(&r.key))
        .count();
    ensure!(
        missing == 0,
        "{missing} records were in neither the first pages nor the resumed walk"
    );
    Ok(())
}

async fn walk_refuses_a_cursor_it_did_not_make(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    store.create(&long_lived()).await?;
    for garbage in [
        "",
        "not a cursor",
        "\u{0}\u{ffff}",
        "-1",
        "🦀🦀🦀",
        &"z".repeat(5000),
    ] {
        expect_kind(
            store.walk(Some(&WalkCursor::new(garbage)), 5).await,
            ErrorKind::Invalid,
            &format!(
                "walk from {:?}",
                garbage.chars().take(20).collect::<String>()
            ),
        )?;
    }
    Ok(())
}

async fn walk_without_capability_is_unsupported(fx: Fixture) -> CaseResult {
    let store = fx.store().await?;
    expect_kind(store.walk(None, 10).await, ErrorKind::Unsupported, "walk")?;
    Ok(())
}
