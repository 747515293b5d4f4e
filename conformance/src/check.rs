//! What a case returns, and the assertions cases use.

use std::error::Error as StdError;
use std::fmt;

use session_core::{Error, ErrorKind};

/// Why a case failed: a message for the person reading the test output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseError(String);

impl CaseError {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        CaseError(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Error> for CaseError {
    fn from(err: Error) -> Self {
        CaseError(format!("unexpected store error: {}", chain(&err)))
    }
}

/// The outcome of one case.
pub type CaseResult = Result<(), CaseError>;

/// `err` and its sources, joined with ": ".
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Fails the case with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::check::CaseError::new(format!($($fmt)+)));
        }
    };
}

/// Fails the case unless both sides are equal, showing both.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($fmt:tt)+) => {
        // `match` keeps temporaries alive for the whole comparison, as `assert_eq!` does.
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    return Err($crate::check::CaseError::new(format!(
                        "{}\n  found:    {:?}\n  expected: {:?}",
                        format!($($fmt)+), left, right
                    )));
                }
            }
        }
    };
}

pub(crate) use {ensure, ensure_eq};

/// Succeeds when `result` is an error of `kind`; `what` names the call for the message.
pub fn expect_kind<T: fmt::Debug>(
    result: Result<T, Error>,
    kind: ErrorKind,
    what: &str,
) -> CaseResult {
    match result {
        Err(err) if err.kind() == kind => Ok(()),
        Err(err) => Err(CaseError::new(format!(
            "{what}: expected a {kind:?} error, got {:?} ({})",
            err.kind(),
            chain(&err)
        ))),
        Ok(value) => Err(CaseError::new(format!(
            "{what}: expected a {kind:?} error, but it succeeded with {value:?}"
        ))),
    }
}
