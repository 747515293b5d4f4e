//! A backend freezing under a store: the check every server driver runs in its outage test.

use std::time::{Duration, Instant};

use session_core::chrono::{Duration as Span, Utc};
use session_core::{ErrorKind, Record, SessionKey, SessionStore};

use crate::provision::Container;

/// What [`frozen_then_back`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// The longest call while the backend was frozen.
    pub longest_call: Duration,
    /// How long after the unpause the store answered again.
    pub recovered_after: Duration,
}

/// Freezes `container` under `store` (whose operation limit is `limit`) and checks, panicking
/// with a message otherwise, that:
///
/// - load, save, create and delete each fail with a temporary [`ErrorKind::Timeout`], every
///   call within three times the limit (never waiting out the pause);
/// - after the unpause the store answers again by itself, within 20 s;
/// - every write acknowledged before the pause is still there.
///
/// For a driver's outage test, on a container of its own (this freezes it).
pub async fn frozen_then_back(
    container: &Container,
    store: &dyn SessionStore,
    limit: Duration,
) -> Outage {
    let expires = Utc::now() + Span::minutes(10);
    let mut records = Vec::new();
    for _ in 0..5 {
        let record = Record::new(SessionKey::random(), expires);
        store.create(&record).await.expect("create while up");
        records.push(record);
    }

    container.pause().await.expect("pause the container");
    let fresh = Record::new(SessionKey::random(), expires);
    let calls = [
        (
            "load",
            within(store.load(&records[0].key)).await.map(|_| ()),
        ),
        ("save", within(store.save(&records[1])).await.map(|_| ())),
        ("create", within(store.create(&fresh)).await),
        ("delete", within(store.delete(&records[2].key)).await),
    ];
    for (what, result) in calls {
        let err = result.expect_err("a frozen backend answered");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err:?}");
        assert!(err.is_temporary(), "{what}: {err:?}");
    }
    let mut longest_call = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let err = within(store.load(&records[3].key))
            .await
            .expect_err("a frozen backend answered");
        let took = started.elapsed();
        longest_call = longest_call.max(took);
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
        assert!(
            took < limit * 3,
            "a load took {took:?} against a {limit:?} limit"
        );
    }

    container.unpause().await.expect("unpause");
    let ready = Instant::now();
    let back = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Some(r)) = store.load(&records[4].key).await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the store recovers once the backend answers again");
    let recovered_after = ready.elapsed();
    assert_eq!(back.key, records[4].key);
    // The delete during the pause may or may not have reached the backend before it froze.
    for record in [&records[0], &records[1], &records[3], &records[4]] {
        assert!(
            store.load(&record.key).await.expect("load").is_some(),
            "an acknowledged write was lost"
        );
    }
    eprintln!(
        "{}: longest call while frozen {longest_call:?}, answering again {recovered_after:?} after the unpause",
        store.name()
    );
    Outage {
        longest_call,
        recovered_after,
    }
}

/// Awaits `call`, panicking (rather than hanging the test) if the store does not give up by
/// itself within 15 s.
async fn within<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), call)
        .await
        .expect("the store held the call for 15 s against a frozen backend")
}
