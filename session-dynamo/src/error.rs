//! DynamoDB errors as core errors: the one place native errors are mapped.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use session_core::{Error, ErrorKind, Operation};

pub(crate) const NAME: &str = "dynamodb";

/// Error codes that mean "slow down or try again".
const TRANSIENT: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "LimitExceededException",
];

/// Maps an SDK error during `op`. Throttling, service hiccups, time-outs and connection
/// failures are temporary; a missing table is a configuration error. Conditional-check
/// failures are the caller's to interpret before reaching here.
pub(crate) fn map<E, R>(err: SdkError<E, R>, op: Operation) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (kind, temporary, context) = match &err {
        SdkError::TimeoutError(_) => (ErrorKind::Timeout, true, None),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (ErrorKind::Backend, true, None)
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("");
            if code == "ResourceNotFoundException" {
                (
                    ErrorKind::Config,
                    false,
                    Some("the table does not exist; create it (see the crate docs)".to_owned()),
                )
            } else {
                (
                    ErrorKind::Backend,
                    TRANSIENT.contains(&code),
                    Some(format!("{code}: {}", service.err().message().unwrap_or(""))),
                )
            }
        }
        _ => (ErrorKind::Backend, false, None),
    };
    let mut mapped = Error::new(kind, op).with_store(NAME).with_source(err);
    if let Some(context) = context {
        mapped = mapped.with_context(context);
    }
    mapped.temporary_if(temporary)
}

/// A request that could not even be built (a bug, or an invalid table name).
pub(crate) fn build(err: impl std::error::Error + Send + Sync + 'static, op: Operation) -> Error {
    Error::new(ErrorKind::Config, op)
        .with_store(NAME)
        .with_context("invalid DynamoDB request")
        .with_source(err)
}
