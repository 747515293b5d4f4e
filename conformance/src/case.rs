//! A case: a name, what it needs from the store, and the code that checks one behaviour.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use futures::future::BoxFuture;
use session_core::chrono::{DateTime, Duration, Utc};
use session_core::codec::default_codec;
use session_core::{
    Capabilities, ClientSideStore, Codec, Record, SessionKey, SessionLock, SessionStore, StoreLock,
};

use crate::check::{CaseError, CaseResult};
use crate::setup::{ClientFactory, SetupError, StoreFactory};

/// What a case needs from the store's [`Capabilities`] to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    Nothing,
    ConditionalWrites,
    /// A session the server can end, and store calls a test can count: a server-side store.
    Revocable,
    Sweep,
    NoSweep,
    OwnerIndex,
    NoOwnerIndex,
    Walk,
    NoWalk,
    SizeLimit,
    /// A client-side store (sessions sealed in the cookie): the suite was made with
    /// `Suite::client_side`.
    ClientSide,
}

impl Needs {
    pub(crate) fn unmet(self, caps: &Capabilities, client_side: bool) -> Option<&'static str> {
        match self {
            Needs::ClientSide if !client_side => {
                Some("the store keeps sessions on the server; the case is for client-side stores")
            }
            Needs::Nothing => None,
            Needs::ConditionalWrites if !caps.conditional_writes => {
                Some("the store does not declare conditional writes")
            }
            Needs::Revocable if !caps.revocable => {
                Some("the store keeps nothing server-side: no revocation, no store calls to count")
            }
            Needs::Sweep if !caps.sweep => Some("the store does not declare a sweep"),
            Needs::NoSweep if caps.sweep => Some("the store declares a sweep"),
            Needs::OwnerIndex if !caps.owner_index => {
                Some("the store does not declare an owner index")
            }
            Needs::NoOwnerIndex if caps.owner_index => Some("the store declares an owner index"),
            Needs::Walk if !caps.walk => Some("the store does not declare a walk"),
            Needs::NoWalk if caps.walk => Some("the store declares a walk"),
            Needs::SizeLimit if caps.max_record_size.is_none() => {
                Some("the store declares no maximum record size")
            }
            _ => None,
        }
    }
}

/// One named behaviour check.
#[derive(Clone, Copy)]
pub(crate) struct Case {
    pub(crate) group: &'static str,
    pub(crate) name: &'static str,
    pub(crate) needs: Needs,
    pub(crate) run: fn(Fixture) -> BoxFuture<'static, CaseResult>,
}

impl Case {
    pub(crate) fn test_name(&self) -> String {
        format!("{}::{}", self.group, self.name)
    }

    pub(crate) fn unmet(&self, caps: &Capabilities, client_side: bool) -> Option<&'static str> {
        self.needs.unmet(caps, client_side)
    }
}

/// What a running case gets: stores in its own namespace, and the store's capabilities.
#[derive(Clone)]
pub(crate) struct Fixture {
    factory: StoreFactory,
    client: Option<ClientFactory>,
    namespace: String,
    pub(crate) caps: Capabilities,
}

impl Fixture {
    pub(crate) fn new(
        factory: StoreFactory,
        client: Option<ClientFactory>,
        namespace: String,
        caps: Capabilities,
    ) -> Self {
        Fixture {
            factory,
            client,
            namespace,
            caps,
        }
    }

    /// For a client-side suite, the client-side store the layer seals sessions with.
    pub(crate) async fn client_storage(
        &self,
    ) -> Result<Option<Arc<dyn ClientSideStore>>, CaseError> {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        client
            .make(&self.namespace, default_codec())
            .await
            .map(Some)
            .map_err(|e| CaseError::new(format!("could not make a store: {e}")))
    }

    /// A store in this case's namespace, with the default codec.
    pub(crate) async fn store(&self) -> Result<Arc<dyn SessionStore>, CaseError> {
        self.store_with_codec(default_codec()).await
    }

    /// The session lock the cases test: one kept in this case's store through the store
    /// contract ([`StoreLock`]).
    pub(crate) async fn lock(&self) -> Result<Arc<dyn SessionLock>, CaseError> {
        Ok(Arc::new(StoreLock::new(self.store().await?)))
    }

    /// A store in this case's namespace (the same records as [`Fixture::store`]), with `codec`.
    pub(crate) async fn store_with_codec(
        &self,
        codec: Arc<dyn Codec>,
    ) -> Result<Arc<dyn SessionStore>, CaseError> {
        self.factory
            .make(&self.namespace, codec)
            .await
            .map_err(|e| match e {
                SetupError::Skip(r) | SetupError::Failed(r) => {
                    CaseError::new(format!("could not make a store: {r}"))
                }
            })
    }
}

/// How long records meant to expire during a case live: long enough that a loaded backend
/// still answers the case's first calls before the expiry, short enough to wait out.
pub(crate) const SHORT_TTL: StdDuration = StdDuration::from_millis(2500);

/// A record with a fresh key and `data["n"] = 0`, expiring after `ttl`.
pub(crate) fn record_expiring_in(ttl: StdDuration) -> Record {
    let mut record = Record::new(SessionKey::random(), now() + to_chrono(ttl));
    record.data.insert("n".into(), 0.into());
    record
}

/// A record that outlives any case.
pub(crate) fn long_lived() -> Record {
    record_expiring_in(StdDuration::from_secs(3600))
}

/// A record that expires [`SHORT_TTL`] from now.
pub(crate) fn short_lived() -> Record {
    record_expiring_in(SHORT_TTL)
}

/// Sleeps until a little after `instant`.
pub(crate) async fn wait_past(instant: DateTime<Utc>) {
    let left = (instant - now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + StdDuration::from_millis(300)).await;
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

pub(crate) fn to_chrono(d: StdDuration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// Milliseconds since the epoch: the precision every store keeps.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Boxes a case body; used by the case tables.
macro_rules! cases {
    ($group:literal: $($name:ident => $needs:ident),* $(,)?) => {
        pub(crate) fn all() -> Vec<$crate::case::Case> {
            vec![$($crate::case::Case {
                group: $group,
                name: stringify!($name),
                needs: $crate::case::Needs::$needs,
                run: |fx| Box::pin($name(fx)),
            }),*]
        }
    };
}

pub(crate) use cases;
