//! The DynamoDB endpoint frozen mid-test: every call fails with a temporary timeout within the
//! store's limit instead of waiting out the pause, and the store recovers by itself, with every
//! write acknowledged before the pause still there.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use session_conformance::provision::{self, DYNAMODB, Ready};
use session_core::chrono::Utc;
use session_core::{ErrorKind, Record, SessionKey, SessionStore};
use session_dynamo::DynamoStore;

const TIMEOUT: Duration = Duration::from_millis(800);

/// An emulator container of its own (this test freezes it), and a store on it; `None` when no
/// container can be started and DynamoDB is not required.
async fn own_endpoint() -> Option<(provision::Container, DynamoStore)> {
    let image = provision::image_for(&DYNAMODB);
    let container = match provision::start_container(&image, 5000, Ready::Stderr("Running on"), &[])
        .await
    {
        Ok(container) => container,
        Err(reason) if !provision::required("dynamodb") => {
            eprintln!(
                "skipped: no DynamoDB container ({reason}); set SESSION_TEST_REQUIRE=all to fail"
            );
            return None;
        }
        Err(reason) => panic!("DynamoDB is required but no container started: {reason}"),
    };
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(format!("http://{}:{}", container.host, container.port))
        .build();
    let store = DynamoStore::new(Client::from_conf(config), "outage");
    provision::retry("creating the table", Duration::from_secs(60), || {
        store.create_table()
    })
    .await
    .expect("create the table");
    Some((container, store.with_timeout(TIMEOUT)))
}

/// Awaits `operation`, failing the test (rather than hanging it) if the store does not give up
/// by itself within 15 s.
async fn within<T>(operation: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), operation)
        .await
        .expect("the store held the call for 15 s against a frozen endpoint")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_endpoint_times_out_instead_of_holding_the_request() {
    let Some((container, store)) = own_endpoint().await else {
        return;
    };
    let expires = Utc::now() + session_core::chrono::Duration::minutes(10);
    let mut records = Vec::new();
    for _ in 0..4 {
        let record = Record::new(SessionKey::random(), expires);
        store.create(&record).await.expect("create while up");
        records.push(record);
    }

    container.pause().await.expect("pause the container");
    let mut longest = Duration::ZERO;
    let fresh = Record::new(SessionKey::random(), expires);
    let calls = [
        (
            "load",
            within(store.load(&records[0].key)).await.map(|_| ()),
        ),
        ("save", within(store.save(&records[1])).await.map(|_| ())),
        ("create", within(store.create(&fresh)).await),
    ];
    for (what, result) in calls {
        let err = result.expect_err("a frozen endpoint answered");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err:?}");
        assert!(err.is_temporary(), "{what}: {err:?}");
    }
    for _ in 0..3 {
        let started = Instant::now();
        let err = within(store.load(&records[2].key))
            .await
            .expect_err("a frozen endpoint answered");
        let took = started.elapsed();
        longest = longest.max(took);
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
        assert!(
            took < TIMEOUT * 3,
            "a load took {took:?} against a {TIMEOUT:?} limit"
        );
    }
    eprintln!("longest call while frozen: {longest:?}");

    container.unpause().await.expect("unpause");
    let ready = Instant::now();
    let back = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Some(r)) = store.load(&records[3].key).await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the store recovers once the endpoint answers again");
    eprintln!("recovered {:?} after the unpause", ready.elapsed());
    assert_eq!(back.key, records[3].key);
    for record in &records {
        assert!(
            store.load(&record.key).await.expect("load").is_some(),
            "an acknowledged write was lost"
        );
    }
}
