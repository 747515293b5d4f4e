//! The table definition, and creating it for development and tests.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use session_core::{Operation, Result};

use crate::error::{build, map};
use crate::store::{DynamoStore, OWNER_INDEX};

impl DynamoStore {
    /// Creates the table (on-demand billing), its owner index, and TTL on `x`; an existing
    /// table is left alone. For development and tests: production tables are usually
    /// provisioned with the definition in the crate docs.
    pub async fn create_table(&self) -> Result<()> {
        const OP: Operation = Operation::Migrate;
        let key = |name: &str| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| build(e, OP))
        };
        let string = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| build(e, OP))
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(OWNER_INDEX)
            .key_schema(key("o")?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(|e| build(e, OP))?;
        let created = self
            .client()
            .create_table()
            .table_name(self.table())
            .key_schema(key("k")?)
            .attribute_definitions(string("k")?)
            .attribute_definitions(string("o")?)
            .global_secondary_indexes(index)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(e) => return Err(map(e, OP)),
        }
        self.wait_until_active().await?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("x")
            .enabled(true)
            .build()
            .map_err(|e| build(e, OP))?;
        self.client()
            .update_time_to_live()
            .table_name(self.table())
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| map(e, OP))?;
        Ok(())
    }

    async fn wait_until_active(&self) -> Result<()> {
        use aws_sdk_dynamodb::types::TableStatus;
        for _ in 0..120 {
            let table = self
                .client()
                .describe_table()
                .table_name(self.table())
                .send()
                .await
                .map_err(|e| map(e, Operation::Migrate))?;
            if table.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(session_core::Error::config(format!(
            "table {} did not become active within a minute",
            self.table()
        ))
        .with_store(crate::error::NAME))
    }
}
