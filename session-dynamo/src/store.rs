//! The DynamoDB store.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use session_core::chrono::{DateTime, Utc};
use session_core::kit::{self, now_millis};
use session_core::{
    Capabilities, Codec, Error, ErrorKind, Operation, Record, Result, SessionKey, SessionStore,
    WalkCursor, WalkPage, async_trait,
};

use crate::config::{DEFAULT_TIMEOUT, DynamoConfig};
use crate::error::{NAME, map};

/// The owner index, a global secondary index on `o`.
pub const OWNER_INDEX: &str = "owner-index";
/// DynamoDB refuses items over 400 KB; keys and attributes take some of it.
const MAX_DATA: usize = 390 * 1024;

type Item = HashMap<String, AttributeValue>;

/// Sessions in a DynamoDB table.
///
/// Every read is strongly consistent; `create`, `save` and `touch` are conditional writes
/// (key absent or expired; version matches; item live). Expiry is native: the `x` attribute
/// (epoch seconds) is the table's TTL attribute, and loads filter items that have expired but
/// that DynamoDB has not deleted yet (that can take days).
///
/// | capability | |
/// |---|---|
/// | conditional writes | yes (condition expressions) |
/// | revocable | yes |
/// | native expiry | yes (TTL on `x`) |
/// | sweep | no: not needed |
/// | owner index | yes (GSI `owner-index` on `o`; hits are re-read consistently) |
/// | walk | yes (a consistent, paginated `Scan`) |
/// | shared across processes | yes |
/// | maximum record | 399360 bytes encoded (390 KiB; DynamoDB's item limit is 400 KB) |
///
/// See the crate docs for the table definition, the IAM actions and the cost per operation.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    codec: Arc<dyn Codec>,
}

impl DynamoStore {
    /// A store with the client from the standard AWS configuration (environment, profile,
    /// instance role), at `config`'s endpoint if it names one (feature `env-config`, on by
    /// default).
    #[cfg(feature = "env-config")]
    pub async fn connect(config: DynamoConfig) -> Result<Self> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let aws = loader.load().await;
        Ok(DynamoStore::with_client(Client::new(&aws), config))
    }

    /// A store on a `client` the application already has, keeping sessions in `config`'s
    /// table (`config`'s endpoint is not used: the client has its own).
    ///
    /// Every call is bounded: by `config`'s timeout when it sets one, else by the client's
    /// operation timeout, else by [`DEFAULT_TIMEOUT`].
    pub fn with_client(client: Client, config: DynamoConfig) -> Self {
        let bounded = client
            .config()
            .timeout_config()
            .is_some_and(|t| t.operation_timeout().is_some());
        let timeout = match config.timeout {
            Some(timeout) => Some(timeout),
            None if bounded => None,
            None => Some(DEFAULT_TIMEOUT),
        };
        let client = match timeout {
            Some(timeout) => {
                let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .connect_timeout(timeout)
                    .build();
                let bounded = client
                    .config()
                    .to_builder()
                    .timeout_config(timeouts)
                    .build();
                Client::from_conf(bounded)
            }
            None => client,
        };
        DynamoStore {
            client,
            table: config.table.into(),
            codec: config.codec,
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn encode(&self, record: &Record, op: Operation) -> Result<Vec<u8>> {
        kit::encode(&*self.codec, record, Some(MAX_DATA), NAME, op)
    }

    /// Reads `key` consistently; `None` when absent or expired.
    async fn get(&self, key: &SessionKey, op: Operation) -> Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key("k", s(key.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map(e, op))?;
        Ok(output.item.filter(|item| is_live(item, now_millis())))
    }

    fn record(&self, item: &Item, op: Operation) -> Result<Record> {
        let data = match item.get("d") {
            Some(AttributeValue::B(blob)) => blob.as_ref(),
            _ => return Err(malformed(op, "no data attribute")),
        };
        let version = number(item, "v")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0);
        let expires = number(item, "xm").ok_or_else(|| malformed(op, "no expiry attribute"))?;
        kit::decode(&*self.codec, data, version, expires, NAME).map_err(|e| e.with_operation(op))
    }
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .field("codec", &self.codec.name())
            .finish_non_exhaustive()
    }
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text.parse().ok(),
        _ => None,
    }
}

fn is_live(item: &Item, now: i64) -> bool {
    number(item, "xm").is_some_and(|xm| xm > now)
}

fn malformed(op: Operation, what: &str) -> Error {
    Error::new(ErrorKind::Decode, op)
        .with_store(NAME)
        .with_context(format!("malformed session item: {what}"))
}

/// Epoch seconds for the TTL attribute, rounded up so DynamoDB never deletes early.
fn ttl_seconds(at: DateTime<Utc>) -> i64 {
    (at.timestamp_millis() + 999).div_euclid(1000)
}

#[async_trait]
impl SessionStore for DynamoStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .with_owner_index(true)
            .with_native_ttl(true)
            .with_shared(true)
            .with_walk(true)
            .with_max_record_size(Some(MAX_DATA))
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        match self.get(key, Operation::Load).await? {
            Some(item) => self.record(&item, Operation::Load).map(Some),
            None => Ok(None),
        }
    }

    async fn create(&self, record: &Record) -> Result<()> {
        const OP: Operation = Operation::Create;
        let data = self.encode(record, OP)?;
        let mut put = self
            .client
            .put_item()
            .table_name(&*self.table)
            .item("k", s(record.key.as_str()))
            .item("v", n(crate::version(record.version)))
            .item("x", n(ttl_seconds(record.expires_at)))
            .item("xm", n(record.expires_at.timestamp_millis()))
            .item("d", AttributeValue::B(Blob::new(data)))
            // An expired item that TTL has not removed yet may be replaced.
            .condition_expression("attribute_not_exists(k) OR xm <= :now")
            .expression_attribute_values(":now", n(now_millis()));
        if let Some(owner) = &record.owner {
            put = put.item("o", s(owner));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::already_exists(OP).with_store(NAME))
            }
            Err(e) => Err(map(e, OP)),
        }
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        const OP: Operation = Operation::Save;
        let data = self.encode(record, OP)?;
        let now = now_millis();
        let update = match &record.owner {
            Some(_) => "SET v = v + :one, x = :x, xm = :xm, d = :d, o = :o",
            None => "SET v = v + :one, x = :x, xm = :xm, d = :d REMOVE o",
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&*self.table)
            .key("k", s(record.key.as_str()))
            .update_expression(update)
            .condition_expression("attribute_exists(k) AND v = :expected AND xm > :now")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":x", n(ttl_seconds(record.expires_at)))
            .expression_attribute_values(":xm", n(record.expires_at.timestamp_millis()))
            .expression_attribute_values(":d", AttributeValue::B(Blob::new(data)))
            .expression_attribute_values(":expected", n(crate::version(record.version)))
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(owner) = &record.owner {
            request = request.expression_attribute_values(":o", s(owner));
        }
        match request.send().await {
            Ok(_) => Ok(record.version + 1),
            Err(e) => {
                let failed = e.as_service_error().and_then(|s| match s {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item.clone()),
                    _ => None,
                });
                let Some(old) = failed else {
                    return Err(map(e, OP));
                };
                // The failed condition tells gone from changed; read if the item was not returned.
                let old = match old {
                    Some(item) => Some(item).filter(|i| is_live(i, now)),
                    None => self.get(&record.key, OP).await?,
                };
                Err(match old {
                    None => Error::not_found(OP).with_store(NAME),
                    Some(item) => kit::version_conflict(
                        NAME,
                        OP,
                        number(&item, "v")
                            .and_then(|v| u64::try_from(v).ok())
                            .unwrap_or_default(),
                        record.version,
                    ),
                })
            }
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        const OP: Operation = Operation::Touch;
        let result = self
            .client
            .update_item()
            .table_name(&*self.table)
            .key("k", s(key.as_str()))
            .update_expression("SET x = :x, xm = :xm")
            .condition_expression("attribute_exists(k) AND xm > :now")
            .expression_attribute_values(":x", n(ttl_seconds(expires_at)))
            .expression_attribute_values(":xm", n(expires_at.timestamp_millis()))
            .expression_attribute_values(":now", n(now_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::not_found(OP).with_store(NAME))
            }
            Err(e) => Err(map(e, OP)),
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&*self.table)
            .key("k", s(key.as_str()))
            .send()
            .await
            .map_err(|e| map(e, Operation::Delete))?;
        Ok(())
    }

    async fn sweep(&self) -> Result<u64> {
        Err(Error::unsupported(
            Operation::Sweep,
            "DynamoDB deletes expired sessions by TTL; loads filter those not yet deleted",
        )
        .with_store(NAME))
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionKey>> {
        const OP: Operation = Operation::ListByOwner;
        let mut candidates = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&*self.table)
                .index_name(OWNER_INDEX)
                .key_condition_expression("o = :o")
                .expression_attribute_values(":o", s(owner))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| map(e, OP))?;
            for item in page.items() {
                if let Some(AttributeValue::S(key)) = item.get("k") {
                    candidates.push(key.clone());
                }
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        // The index is eventually consistent: confirm each hit with a consistent read.
        let mut live = Vec::new();
        for text in candidates {
            let key = SessionKey::parse(&text).map_err(|e| {
                malformed(OP, "a key in the owner index is not a session key").with_source(e)
            })?;
            if let Some(item) = self.get(&key, OP).await?
                && matches!(item.get("o"), Some(AttributeValue::S(o)) if o == owner)
            {
                live.push(key);
            }
        }
        live.sort();
        Ok(live)
    }

    /// One `Scan` page of at most `limit` items, read consistently; the cursor is the key
    /// DynamoDB says the page ended at. Items past their expiry that TTL has not removed yet
    /// are left out, so a page may be short.
    async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage> {
        const OP: Operation = Operation::Walk;
        let start = from
            .map(|c| c.key(NAME))
            .transpose()?
            .map(|key| HashMap::from([("k".to_owned(), s(key.as_str()))]));
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        let page = self
            .client
            .scan()
            .table_name(&*self.table)
            .limit(limit)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| map(e, OP))?;
        let now = now_millis();
        let mut records = Vec::new();
        for item in page.items() {
            if is_live(item, now) {
                records.push(self.record(item, OP)?);
            }
        }
        let next = match page.last_evaluated_key() {
            Some(last) => match last.get("k") {
                Some(AttributeValue::S(key)) => {
                    let key = SessionKey::parse(key).map_err(|e| {
                        malformed(OP, "the scan ended at a key that is not a session key")
                            .with_source(e)
                    })?;
                    Some(WalkCursor::after(&key))
                }
                _ => return Err(malformed(OP, "the scan ended at an item without a key")),
            },
            None => None,
        };
        Ok(WalkPage { records, next })
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64> {
        const OP: Operation = Operation::DeleteByOwner;
        let mut deleted = 0;
        for key in self.list_by_owner(owner).await? {
            // Only if it still belongs to this owner.
            let result = self
                .client
                .delete_item()
                .table_name(&*self.table)
                .key("k", s(key.as_str()))
                .condition_expression("o = :o")
                .expression_attribute_values(":o", s(owner))
                .send()
                .await;
            match result {
                Ok(_) => deleted += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(map(e, OP)),
            }
        }
        Ok(deleted)
    }
}
