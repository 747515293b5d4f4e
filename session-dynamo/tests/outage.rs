//! The DynamoDB endpoint frozen, then stopped and started again, under a store: every call fails
//! with a temporary error within the store's limit instead of waiting out the outage, and the
//! store answers again by itself within a second of the endpoint. Across the freeze every
//! acknowledged write survives; the emulator keeps nothing across a restart (a real endpoint
//! does), so after the restart the test re-creates the table, as provisioning would.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use session_conformance::outage::{frozen_then_back, stopped_then_back};
use session_conformance::provision::{self, DYNAMODB};
use session_dynamo::{DynamoConfig, DynamoStore};

const TIMEOUT: Duration = Duration::from_millis(800);

#[tokio::test(flavor = "multi_thread")]
async fn the_endpoint_frozen_then_stopped_fails_fast_and_recovers() {
    let Some(container) = provision::own_container(&DYNAMODB, &[]).await else {
        return;
    };
    let client = |timeout: Option<Duration>| {
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(DYNAMODB.url_of(&container));
        if let Some(timeout) = timeout {
            config = config.timeout_config(
                aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .build(),
            );
        }
        Client::from_conf(config.build())
    };
    let store = DynamoStore::with_client(client(None), DynamoConfig::new("outage"));
    provision::retry("creating the table", Duration::from_secs(60), || {
        store.create_table()
    })
    .await
    .expect("create the table");
    let store = DynamoStore::with_client(
        client(None),
        DynamoConfig::new("outage").with_timeout(TIMEOUT),
    );
    // A new client; creating the table is idempotent, so this readies the endpoint after a
    // restart and only asks after the freeze.
    let probe = || async {
        DynamoStore::with_client(
            client(Some(Duration::from_secs(1))),
            DynamoConfig::new("outage"),
        )
        .create_table()
        .await
        .is_ok()
    };

    frozen_then_back(&container, Arc::new(store.clone()), TIMEOUT, probe).await;
    stopped_then_back(&container, Arc::new(store), TIMEOUT, false, probe).await;
}
