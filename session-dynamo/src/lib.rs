//! DynamoDB sessions.
//!
//! [`DynamoStore`] keeps one item per session, reads it strongly consistently, and makes
//! `create`, `save` and `touch` conditional writes, so concurrent requests never overwrite each
//! other and a deleted session never comes back. DynamoDB's TTL deletes expired items.
//!
//! ```no_run
//! # async fn run() -> Result<(), session_core::Error> {
//! use session_dynamo::{DynamoConfig, DynamoStore};
//! use session_tower::SessionLayer;
//!
//! let store = DynamoStore::connect(DynamoConfig::new("sessions")).await?;
//! let layer = SessionLayer::new(store)?;
//! # Ok(()) }
//! ```
//!
//! # Table
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `k` | S, partition key | the session key (SHA-256 of the visitor's token, never the token) |
//! | `v` | N | version, for conditional saves |
//! | `x` | N | idle expiry, epoch **seconds**: the table's TTL attribute |
//! | `xm` | N | idle expiry, epoch milliseconds: what loads and conditions compare |
//! | `o` | S, optional | owner; partition key of the global secondary index `owner-index` (keys only) |
//! | `d` | B | the encoded record |
//!
//! [`DynamoStore::create_table`] creates it for development and tests. To provision it yourself
//! (CloudFormation shown; any tool works):
//!
//! ```yaml
//! SessionsTable:
//!   Type: AWS::DynamoDB::Table
//!   Properties:
//!     TableName: sessions
//!     BillingMode: PAY_PER_REQUEST
//!     AttributeDefinitions:
//!       - { AttributeName: k, AttributeType: S }
//!       - { AttributeName: o, AttributeType: S }
//!     KeySchema:
//!       - { AttributeName: k, KeyType: HASH }
//!     GlobalSecondaryIndexes:
//!       - IndexName: owner-index
//!         KeySchema: [{ AttributeName: o, KeyType: HASH }]
//!         Projection: { ProjectionType: KEYS_ONLY }
//!     TimeToLiveSpecification: { AttributeName: x, Enabled: true }
//! ```
//!
//! # IAM actions
//!
//! On the table and `table/sessions/index/owner-index`: `dynamodb:GetItem`, `dynamodb:PutItem`,
//! `dynamodb:UpdateItem`, `dynamodb:DeleteItem`, `dynamodb:Query`. [`DynamoStore::create_table`]
//! also needs `dynamodb:CreateTable`, `dynamodb:DescribeTable` and `dynamodb:UpdateTimeToLive`;
//! a walk (the `sessions` operator tool's count, list and migrate) needs `dynamodb:Scan`.
//!
//! # Cost per operation
//!
//! For a session item of up to 1 KB (a typical session; each further KB of item adds one write
//! unit to writes, each further 4 KB one read unit to reads):
//!
//! | operation | requests | capacity |
//! |---|---|---|
//! | load | 1 `GetItem`, strongly consistent | 1 read unit |
//! | create | 1 `PutItem` | 1 write unit, +1 when it has an owner (index) |
//! | save | 1 `UpdateItem` | 1 write unit, +1 when the owner changes; a refused save also costs 1, plus 1 read when the refusal must be told apart |
//! | touch | 1 `UpdateItem` | 1 write unit (writes count the whole item) |
//! | delete | 1 `DeleteItem` | 1 write unit, +1 when it had an owner |
//! | list by owner | 1 `Query` per page + 1 `GetItem` per session | 0.5 read unit per page + 1 per session |
//! | walk, one page | 1 `Scan`, strongly consistent | 1 read unit per 4 KB scanned |
//!
//! With the session layer, a request that only reads costs one read unit; the idle expiry is
//! refreshed by a touch at most once per `touch_interval` (60 seconds by default).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod schema;
mod store;

pub use config::{DEFAULT_TIMEOUT, DynamoConfig};
pub use store::{DynamoStore, OWNER_INDEX};

/// Versions are unsigned in records and numbers in DynamoDB; `i64` holds every reachable one.
fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
