//! The DynamoDB endpoint frozen mid-test: every call fails with a temporary timeout within the
//! store's limit instead of waiting out the pause, and the store recovers by itself, with every
//! write acknowledged before the pause still there.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use session_conformance::outage::frozen_then_back;
use session_conformance::provision::{self, DYNAMODB, Ready};
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

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_endpoint_times_out_instead_of_holding_the_request() {
    if let Some((container, store)) = own_endpoint().await {
        frozen_then_back(&container, &store, TIMEOUT).await;
    }
}
