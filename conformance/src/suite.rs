//! The runner: a driver's factory and the named cases, turned into tests.

use std::future::Future;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use session_core::codec::default_codec;
use session_core::{Capabilities, ClientSideStore, SessionKey, SessionStore};

use crate::case::{Case, Fixture};
use crate::check::{CaseError, chain};
use crate::provision;
use crate::setup::{
    ClientFactory, ErasedClientFactory, ErasedFactory, SetupError, StoreContext, StoreFactory,
    namespace,
};

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
    checklist: Option<&'static str>,
}

/// The name of the case [`Suite::with_checklist`] adds.
pub const CHECKLIST_CASE: &str = "store::capabilities_match_the_documented_checklist";

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
            checklist: None,
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
                let storage = client.make(cx.namespace(), cx.codec()).await?;
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
            checklist: None,
        }
    }

    /// Whether an unavailable backend fails every case (`true`) or ignores them (`false`),
    /// overriding `SESSION_TEST_REQUIRE`.
    pub fn require_backend(mut self, required: bool) -> Self {
        self.required = Some(required);
        self
    }

    /// Adds the case [`CHECKLIST_CASE`]: the capability checklist in `source` (the store's
    /// source file, `include_str!("../src/store.rs")`, or its documentation) must agree with
    /// what the store declares; see [`crate::checklist`].
    pub fn with_checklist(mut self, source: &'static str) -> Self {
        self.checklist = Some(source);
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
        all_cases().iter().map(|c| c.test_name()).collect()
    }

    /// Runs the suite as a test binary: parses the usual test arguments (filters, `--list`,
    /// `--ignored`, `--test-threads` ...), runs the cases and returns the exit code.
    pub fn run(self) -> ExitCode {
        Suite::run_all(vec![self])
    }

    /// Runs several suites as one test binary (a driver crate with several stores, such as one
    /// per database): each case is named after its suite, `postgres::store::...`,
    /// `sqlite::request::...`, and filters and `--list` work across all of them.
    pub fn run_all(suites: Vec<Suite>) -> ExitCode {
        let mut args = Arguments::from_args();
        // Cases mostly wait on backends and on expiry; more threads than cores keeps runs short.
        if args.test_threads.is_none() {
            args.test_threads = Some(16);
        }
        let runtime = Arc::new(runtime());
        let prefix = suites.len() > 1;
        let mut trials = Vec::new();
        for suite in suites {
            trials.extend(suite.trials(&runtime, args.list, prefix));
        }
        let conclusion = libtest_mimic::run(&args, trials);
        // Containers are removed asynchronously, from a worker of the runtime.
        let _ = runtime.block_on(runtime.spawn(async { provision::shutdown() }));
        conclusion.exit_code()
    }

    /// This suite's cases as tests, named after the suite when `prefix` is set.
    fn trials(
        self,
        runtime: &Arc<tokio::runtime::Runtime>,
        list: bool,
        prefix: bool,
    ) -> Vec<Trial> {
        let suite_name = self.name.clone();
        let named = |name: String| {
            if prefix {
                format!("{suite_name}::{name}")
            } else {
                name
            }
        };
        let cases = all_cases();
        let probe = if list {
            // Listing names must not start containers.
            Probe::Ready(Capabilities::default())
        } else {
            runtime.block_on(self.probe())
        };
        let suite = Arc::new(self);
        let mut trials = Vec::with_capacity(cases.len());
        for case in cases {
            let name = named(case.test_name());
            let unmet = case.unmet(probe_caps(&probe), suite.client.is_some());
            let trial = match (&probe, unmet) {
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
        if let Some(source) = suite.checklist {
            let name = named(CHECKLIST_CASE.to_owned());
            trials.push(match &probe {
                Probe::Ready(caps) => {
                    let caps = *caps;
                    Trial::test(name, move || {
                        crate::checklist::check(source, &caps).map_err(Failed::from)
                    })
                }
                Probe::Unavailable { reason, required } => {
                    let msg = format!("backend unavailable: {reason}");
                    Trial::test(name, move || Err(Failed::from(msg))).with_ignored_flag(!required)
                }
                Probe::Broken(reason) => {
                    let msg = format!("store setup failed: {reason}");
                    Trial::test(name, move || Err(Failed::from(msg)))
                }
            });
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
        trials
    }

    /// Runs every case in this process and returns the outcomes, for testing the suite itself
    /// (or a store) from an ordinary `#[test]`. Must not be called from inside an async runtime.
    pub fn report(self) -> Report {
        let runtime = runtime();
        let probe = runtime.block_on(self.probe());
        let caps = probe_caps(&probe);
        let suite = Arc::new(self);
        let handles: Vec<_> = all_cases()
            .into_iter()
            .map(|case| {
                let name = case.test_name();
                let unmet = case.unmet(caps, suite.client.is_some());
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
        let checklist = suite.checklist.map(|source| {
            let outcome = match &probe {
                Probe::Ready(caps) => match crate::checklist::check(source, caps) {
                    Ok(()) => Outcome::Passed,
                    Err(problem) => Outcome::Failed(problem),
                },
                Probe::Unavailable { reason, required } => {
                    let reason = format!("backend unavailable: {reason}");
                    if *required {
                        Outcome::Failed(reason)
                    } else {
                        Outcome::Ignored(reason)
                    }
                }
                Probe::Broken(reason) => Outcome::Failed(reason.clone()),
            };
            (CHECKLIST_CASE.to_owned(), outcome)
        });
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
            .chain(checklist)
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

/// Every case of the suite, in order: the store contract, then requests through the layer.
fn all_cases() -> Vec<Case> {
    let mut cases = crate::store_cases::all();
    cases.extend(crate::request_cases::all());
    cases
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the test runtime: {e}"))
}
