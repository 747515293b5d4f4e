//! The suite: a driver's factory, the named cases, and the runner that turns them into tests.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use libtest_mimic::{Arguments, Failed, Trial};
use session_core::codec::default_codec;
use session_core::{Capabilities, ClientSideStore, Codec, SessionKey, SessionStore};

use crate::case::{Case, Fixture};
use crate::check::{CaseError, chain};
use crate::provision;

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

type ErasedFactory = Arc<
    dyn Fn(StoreContext) -> BoxFuture<'static, Result<Arc<dyn SessionStore>, SetupError>>
        + Send
        + Sync,
>;

type ErasedClientFactory = Arc<
    dyn Fn(StoreContext) -> BoxFuture<'static, Result<Arc<dyn ClientSideStore>, SetupError>>
        + Send
        + Sync,
>;

/// Makes client-side stores for the request-level cases.
#[derive(Clone)]
pub(crate) struct ClientFactory(ErasedClientFactory);

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
pub(crate) struct StoreFactory(ErasedFactory);

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

/// The conformance suite for one store.
///
/// A driver's `tests/conformance.rs` (declared with `harness = false`) hands its factory to the
/// suite and runs it; every case becomes a test named `store::<case>`, filterable as usual:
///
/// ```no_run
/// use session_conformance::Suite;
/// use session_core::MemoryStore;
///
/// fn main() -> std::process::ExitCode {
///     Suite::new("memory", |cx| async move {
///         Ok(cx.shared(MemoryStore::new).with_codec(cx.codec()))
///     })
///     .run()
/// }
/// ```
///
/// Cases the store's [`Capabilities`] exclude are reported as ignored, never as passed.
pub struct Suite {
    name: String,
    factory: StoreFactory,
    client: Option<ClientFactory>,
    case_timeout: Duration,
    required: Option<bool>,
}

/// How one case ended, as [`Suite::report`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The case ran and held.
    Passed,
    /// The case ran and failed, with the reason.
    Failed(String),
    /// The case did not run, with the reason.
    Ignored(String),
}

/// Every case's outcome, by name, in suite order.
#[derive(Debug, Clone)]
pub struct Report {
    /// `(case name, outcome)` pairs.
    pub outcomes: Vec<(String, Outcome)>,
}

impl Report {
    /// Names of the cases with this kind of outcome.
    fn names(&self, pick: impl Fn(&Outcome) -> bool) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| pick(o))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Names of the failed cases.
    pub fn failed(&self) -> Vec<&str> {
        self.names(|o| matches!(o, Outcome::Failed(_)))
    }

    /// Names of the passed cases.
    pub fn passed(&self) -> Vec<&str> {
        self.names(|o| matches!(o, Outcome::Passed))
    }

    /// Names of the ignored cases.
    pub fn ignored(&self) -> Vec<&str> {
        self.names(|o| matches!(o, Outcome::Ignored(_)))
    }

    /// The outcome of the case named `name`.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.outcomes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o)
    }
}

/// What the probe found before any case ran.
enum Probe {
    Ready(Capabilities),
    Unavailable { reason: String, required: bool },
    Broken(String),
}

impl Suite {
    /// A suite for the store `factory` makes; `name` labels output and matches
    /// `SESSION_TEST_REQUIRE` (see [`crate::provision`]).
    pub fn new<S, F, Fut>(name: impl Into<String>, factory: F) -> Self
    where
        S: SessionStore,
        F: Fn(StoreContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, SetupError>> + Send + 'static,
    {
        let factory = Arc::new(factory);
        let erased: ErasedFactory = Arc::new(move |cx| {
            let fut = factory(cx);
            Box::pin(async move { fut.await.map(|s| Arc::new(s) as Arc<dyn SessionStore>) })
        });
        Suite {
            name: name.into(),
            factory: StoreFactory(erased),
            client: None,
            case_timeout: provision::case_timeout(),
            required: None,
        }
    }

    /// A suite for a client-side store (sessions sealed in the cookie), which `factory` makes.
    ///
    /// Store-level cases run against a browser-like jar that keeps only what the store seals
    /// and opens it on every load, so they check sealing, opening, expiry and size limits.
    /// Request-level cases run through the layer's client-side mode. Cases that need what the
    /// store's capabilities deny (revocation, version checks across requests) are ignored.
    pub fn client_side<C, F, Fut>(name: impl Into<String>, factory: F) -> Self
    where
        C: ClientSideStore,
        F: Fn(StoreContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C, SetupError>> + Send + 'static,
    {
        let factory = Arc::new(factory);
        let client: ErasedClientFactory = Arc::new(move |cx| {
            let fut = factory(cx);
            Box::pin(async move { fut.await.map(|c| Arc::new(c) as Arc<dyn ClientSideStore>) })
        });
        let client = ClientFactory(client);
        let for_stores = client.clone();
        let erased: ErasedFactory = Arc::new(move |cx: StoreContext| {
            let client = for_stores.clone();
            Box::pin(async move {
                let cookies = cx.shared(crate::browser::Cookies::default);
                let storage = client.make(&cx.namespace, cx.codec.clone()).await?;
                Ok(Arc::new(crate::browser::Browser::new(storage, cookies))
                    as Arc<dyn SessionStore>)
            })
        });
        Suite {
            name: name.into(),
            factory: StoreFactory(erased),
            client: Some(client),
            case_timeout: provision::case_timeout(),
            required: None,
        }
    }

    /// Whether an unavailable backend fails every case (`true`) or ignores them (`false`),
    /// overriding `SESSION_TEST_REQUIRE`.
    pub fn require_backend(mut self, required: bool) -> Self {
        self.required = Some(required);
        self
    }

    /// Fails any case that runs longer than `timeout` (default 120 s, or
    /// `SESSION_TEST_CASE_TIMEOUT` seconds).
    pub fn with_case_timeout(mut self, timeout: Duration) -> Self {
        self.case_timeout = timeout;
        self
    }

    /// The names of the cases, in order, as tests list them.
    pub fn case_names() -> Vec<String> {
        crate::case::all().iter().map(|c| c.test_name()).collect()
    }

    /// Runs the suite as a test binary: parses the usual test arguments (filters, `--list`,
    /// `--ignored`, `--test-threads` ...), runs the cases and returns the exit code.
    pub fn run(self) -> ExitCode {
        let mut args = Arguments::from_args();
        // Cases mostly wait on backends and on expiry; more threads than cores keeps runs short.
        if args.test_threads.is_none() {
            args.test_threads = Some(16);
        }
        let runtime = Arc::new(runtime());
        let cases = crate::case::all();
        let probe = if args.list {
            // Listing names must not start containers.
            Probe::Ready(Capabilities::default())
        } else {
            runtime.block_on(self.probe())
        };
        let suite = Arc::new(self);
        let mut trials = Vec::with_capacity(cases.len());
        for case in cases {
            let name = case.test_name();
            let trial = match (&probe, case.unmet(probe_caps(&probe))) {
                (Probe::Ready(_), Some(reason)) => {
                    eprintln!("[{}] {name} ignored: {reason}", suite.name);
                    let reason = format!("not run: {reason}");
                    Trial::test(name, move || Err(Failed::from(reason))).with_ignored_flag(true)
                }
                (Probe::Ready(caps), None) => {
                    let (suite, runtime, caps) = (suite.clone(), runtime.clone(), *caps);
                    Trial::test(name, move || {
                        runtime
                            .block_on(suite.run_case(case, caps))
                            .map_err(|e| Failed::from(e.message()))
                    })
                }
                (Probe::Unavailable { reason, required }, _) => {
                    let reason = reason.clone();
                    let msg = format!("backend unavailable: {reason}");
                    Trial::test(name, move || Err(Failed::from(msg))).with_ignored_flag(!required)
                }
                (Probe::Broken(reason), _) => {
                    let msg = format!("store setup failed: {reason}");
                    Trial::test(name, move || Err(Failed::from(msg)))
                }
            };
            trials.push(trial);
        }
        match &probe {
            Probe::Unavailable { reason, required } => eprintln!(
                "[{}] backend unavailable: {reason}; {}",
                suite.name,
                if *required {
                    "required by SESSION_TEST_REQUIRE, so every case fails"
                } else {
                    "every case is ignored (set SESSION_TEST_REQUIRE=all to fail instead)"
                }
            ),
            Probe::Broken(reason) => eprintln!("[{}] store setup failed: {reason}", suite.name),
            Probe::Ready(_) => {}
        }
        let conclusion = libtest_mimic::run(&args, trials);
        // Containers are removed asynchronously, from a worker of the runtime.
        let _ = runtime.block_on(runtime.spawn(async { provision::shutdown() }));
        conclusion.exit_code()
    }

    /// Runs every case in this process and returns the outcomes, for testing the suite itself
    /// (or a store) from an ordinary `#[test]`. Must not be called from inside an async runtime.
    pub fn report(self) -> Report {
        let runtime = runtime();
        let probe = runtime.block_on(self.probe());
        let caps = probe_caps(&probe);
        let suite = Arc::new(self);
        let handles: Vec<_> = crate::case::all()
            .into_iter()
            .map(|case| {
                let name = case.test_name();
                let unmet = case.unmet(caps);
                let suite = suite.clone();
                let outcome = match (&probe, unmet) {
                    (Probe::Ready(_), Some(reason)) => Err(Outcome::Ignored(reason.into())),
                    (Probe::Ready(caps), None) => {
                        let caps = *caps;
                        Ok(runtime.spawn(async move { suite.run_case(case, caps).await }))
                    }
                    (Probe::Unavailable { reason, required }, _) => {
                        let reason = format!("backend unavailable: {reason}");
                        Err(if *required {
                            Outcome::Failed(reason)
                        } else {
                            Outcome::Ignored(reason)
                        })
                    }
                    (Probe::Broken(reason), _) => Err(Outcome::Failed(reason.clone())),
                };
                (name, outcome)
            })
            .collect();
        let outcomes = handles
            .into_iter()
            .map(|(name, outcome)| {
                let outcome = match outcome {
                    Err(decided) => decided,
                    Ok(handle) => match runtime.block_on(handle) {
                        Ok(Ok(())) => Outcome::Passed,
                        Ok(Err(e)) => Outcome::Failed(e.message().to_owned()),
                        Err(join) => Outcome::Failed(format!("case panicked: {join}")),
                    },
                };
                (name, outcome)
            })
            .collect();
        Report { outcomes }
    }

    async fn probe(&self) -> Probe {
        match self
            .factory
            .make(&namespace("probe"), default_codec())
            .await
        {
            Ok(store) => {
                let caps = store.capabilities();
                // A probe round trip proves the backend answers before the cases pile on.
                if let Err(e) = store.load(&SessionKey::random()).await {
                    return Probe::Broken(format!("first load failed: {}", chain(&e)));
                }
                Probe::Ready(caps)
            }
            Err(SetupError::Skip(reason)) => Probe::Unavailable {
                required: self
                    .required
                    .unwrap_or_else(|| provision::required(&self.name)),
                reason,
            },
            Err(SetupError::Failed(reason)) => Probe::Broken(reason),
        }
    }

    async fn run_case(&self, case: Case, caps: Capabilities) -> Result<(), CaseError> {
        let fixture = Fixture::new(
            self.factory.clone(),
            self.client.clone(),
            namespace(case.name),
            caps,
        );
        match tokio::time::timeout(self.case_timeout, (case.run)(fixture)).await {
            Ok(result) => result,
            Err(_) => Err(CaseError::new(format!(
                "case did not finish within {:?}",
                self.case_timeout
            ))),
        }
    }
}

fn probe_caps(probe: &Probe) -> &Capabilities {
    static NONE: OnceLock<Capabilities> = OnceLock::new();
    match probe {
        Probe::Ready(caps) => caps,
        _ => NONE.get_or_init(Capabilities::default),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the test runtime: {e}"))
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
