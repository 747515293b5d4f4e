//! Which DynamoDB table keeps sessions, and how the store reaches it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use session_core::Codec;
use session_core::codec::default_codec;

/// How long a call may take by default, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings for a [`DynamoStore`](crate::DynamoStore): the table, optionally another endpoint
/// (a local emulator), and the options every driver has (codec, time limit).
///
/// ```
/// use std::time::Duration;
/// use session_dynamo::DynamoConfig;
///
/// let config = DynamoConfig::new("sessions")
///     .with_endpoint("http://127.0.0.1:8000")
///     .with_timeout(Duration::from_millis(800));
/// assert_eq!(config.table(), "sessions");
/// ```
#[derive(Clone)]
pub struct DynamoConfig {
    pub(crate) table: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) codec: Arc<dyn Codec>,
}

impl DynamoConfig {
    /// Sessions in `table` (which must exist; see
    /// [`DynamoStore::create_table`](crate::DynamoStore::create_table)), with the defaults: the
    /// service's own endpoint, the client's operation timeout or else 2 seconds
    /// ([`DEFAULT_TIMEOUT`]), and the MessagePack codec.
    pub fn new(table: impl Into<String>) -> Self {
        DynamoConfig {
            table: table.into(),
            endpoint: None,
            timeout: None,
            codec: default_codec(),
        }
    }

    /// Sends requests to `endpoint` (a URL) instead of the service's: a local emulator. Used by
    /// [`DynamoStore::connect`](crate::DynamoStore::connect); a client passed to
    /// [`DynamoStore::with_client`](crate::DynamoStore::with_client) keeps its own.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Bounds every call, retries included, and each connection attempt, by `timeout`. A call
    /// that takes longer fails with a temporary
    /// [`ErrorKind::Timeout`](session_core::ErrorKind::Timeout), which the session layer
    /// answers with `503`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Writes each item's `d` attribute with `codec` (MessagePack by default); items written
    /// with the other codec stay readable, so a switch needs no migration.
    pub fn with_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// The table sessions are kept in.
    pub fn table(&self) -> &str {
        &self.table
    }
}

impl fmt::Debug for DynamoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoConfig")
            .field("table", &self.table)
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("codec", &self.codec.name())
            .finish()
    }
}
