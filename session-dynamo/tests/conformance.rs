//! The conformance suite against DynamoDB: `SESSION_TEST_DYNAMODB_ENDPOINT`, or moto's server in
//! a container. One table per case.

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use session_conformance::{SetupError, Suite, provision};
use session_dynamo::{DynamoConfig, DynamoStore};
use tokio::sync::OnceCell;

/// The operation limit in the cases: they check behaviour, not latency, and a machine running
/// every suite at once can take seconds per statement (the outage tests check the limit).
const CASE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn client() -> Result<Client, SetupError> {
    let endpoint = provision::dynamodb().await?;
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(&endpoint.url)
        .build();
    Ok(Client::from_conf(config))
}

fn main() -> std::process::ExitCode {
    Suite::new("dynamodb", |cx| async move {
        let config = DynamoConfig::new(cx.namespace())
            .with_codec(cx.codec())
            .with_timeout(CASE_LIMIT);
        let store = DynamoStore::with_client(client().await?, config);
        // Calls with one namespace create its table once.
        let created = cx.shared(|| Arc::new(OnceCell::<()>::new()));
        created.get_or_try_init(|| store.create_table()).await?;
        Ok(store)
    })
    .with_checklist(include_str!("../src/store.rs"))
    .run()
}
