//! What a driver hands the suite: its factory, the context each call gets, and why a store
//! could not be made.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use futures::future::BoxFuture;
use session_core::{ClientSideStore, Codec, SessionKey, SessionStore};

use crate::check::chain;

/// What a factory is told when asked for a store.
///
/// Every case works in its own namespace, so cases run in parallel against one backend. A
/// factory maps the namespace to whatever isolates data in its backend: a key prefix, a table, a
/// database, a directory. Called twice with the same namespace, it must return stores that see
/// the same records (the codec-switch case relies on it).
#[derive(Clone)]
pub struct StoreContext {
    namespace: String,
    codec: Arc<dyn Codec>,
}

impl StoreContext {
    /// A fresh, unique namespace: lowercase ASCII letters, digits and `_`, starting with a
    /// letter, at most 24 characters, so it is valid as a prefix, table, database or folder name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The codec the store must read and write with.
    pub fn codec(&self) -> Arc<dyn Codec> {
        self.codec.clone()
    }

    /// A value shared by every call with this namespace in this process, made by `init` the
    /// first time. In-process stores use it so two calls with one namespace see one set of
    /// records:
    ///
    /// ```
    /// # use session_conformance::StoreContext;
    /// # use session_core::MemoryStore;
    /// fn memory(cx: &StoreContext) -> MemoryStore {
    ///     cx.shared(MemoryStore::new).with_codec(cx.codec())
    /// }
    /// ```
    pub fn shared<T: Clone + Send + Sync + 'static>(&self, init: impl FnOnce() -> T) -> T {
        type Registry = Mutex<HashMap<(TypeId, String), Box<dyn Any + Send + Sync>>>;
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        let mut map = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let slot = map
            .entry((TypeId::of::<T>(), self.namespace.clone()))
            .or_insert_with(|| Box::new(init()));
        match slot.downcast_ref::<T>() {
            Some(value) => value.clone(),
            None => unreachable!("registry slots are keyed by type"),
        }
    }
}

impl fmt::Debug for StoreContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreContext")
            .field("namespace", &self.namespace)
            .field("codec", &self.codec.name())
            .finish()
    }
}

/// Why a factory could not make a store.
#[derive(Debug)]
pub enum SetupError {
    /// The backend is not available here (no URL in the environment, no container engine ...).
    /// The suite reports its cases as ignored with this reason, or fails them when the
    /// environment requires the backend (see [`crate::provision`]).
    Skip(String),
    /// The backend is there but setting up the store failed.
    Failed(String),
}

impl SetupError {
    /// The backend is unavailable, for `reason`.
    pub fn skip(reason: impl Into<String>) -> Self {
        SetupError::Skip(reason.into())
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Skip(reason) => write!(f, "backend unavailable: {reason}"),
            SetupError::Failed(reason) => write!(f, "store setup failed: {reason}"),
        }
    }
}

impl std::error::Error for SetupError {}

impl From<session_core::Error> for SetupError {
    fn from(err: session_core::Error) -> Self {
        SetupError::Failed(chain(&err))
    }
}

pub(crate) type ErasedFactory = Arc<
    dyn Fn(StoreContext) -> BoxFuture<'static, Result<Arc<dyn SessionStore>, SetupError>>
        + Send
        + Sync,
>;

pub(crate) type ErasedClientFactory = Arc<
    dyn Fn(StoreContext) -> BoxFuture<'static, Result<Arc<dyn ClientSideStore>, SetupError>>
        + Send
        + Sync,
>;

/// Makes client-side stores for the request-level cases.
#[derive(Clone)]
pub(crate) struct ClientFactory(pub(crate) ErasedClientFactory);

impl ClientFactory {
    pub(crate) async fn make(
        &self,
        namespace: &str,
        codec: Arc<dyn Codec>,
    ) -> Result<Arc<dyn ClientSideStore>, SetupError> {
        (self.0)(StoreContext {
            namespace: namespace.to_owned(),
            codec,
        })
        .await
    }
}

/// Makes stores for the cases, from a driver's factory.
#[derive(Clone)]
pub(crate) struct StoreFactory(pub(crate) ErasedFactory);

impl StoreFactory {
    pub(crate) async fn make(
        &self,
        namespace: &str,
        codec: Arc<dyn Codec>,
    ) -> Result<Arc<dyn SessionStore>, SetupError> {
        (self.0)(StoreContext {
            namespace: namespace.to_owned(),
            codec,
        })
        .await
    }
}

/// A namespace unique across processes and runs: a random run id, a counter, and a hint.
pub(crate) fn namespace(hint: &str) -> String {
    static RUN: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let run = RUN.get_or_init(|| SessionKey::random().as_str()[..8].to_owned());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let hint: String = hint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("t{run}_{n}_{hint}")
}
