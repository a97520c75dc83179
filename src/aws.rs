//! The SDK configuration every AWS client of the function is built from: the standard chain (env, profile,
//! region, `AWS_ENDPOINT_URL[_<SERVICE>]`), the retries `RETRY_MODE` and `MAX_ATTEMPTS` set, and timeouts that
//! retry a stalled call rather than wait it out. A client of one more service is `Client::new(&sdk)`.
//! And the one error type of a failed call, [`AwsError`], for every port's adapter.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use tracing::debug;

// The smithy types every SDK crate re-exports (`aws_smithy_types`' `DisplayErrorContext` among them).
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::config::{Config, RetryMode};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// One slow answer should be retried, not wait for Lambda's own timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// Loads the standard AWS configuration chain with the SDK's retries and timeouts set from `config`.
pub async fn load_sdk_config(config: &Config) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config(config))
        .timeout_config(timeout_config(ATTEMPT_TIMEOUT))
        .load()
        .await
}

/// `RETRY_MODE` and `MAX_ATTEMPTS` as the SDK's retry configuration.
pub fn retry_config(config: &Config) -> RetryConfig {
    match config.retry_mode {
        RetryMode::Standard => RetryConfig::standard(),
        RetryMode::Adaptive => RetryConfig::adaptive(),
    }
    .with_max_attempts(config.max_attempts)
}

/// Connect and per-attempt timeouts: a stalled call is retried rather than waited out.
pub fn timeout_config(attempt_timeout: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt_timeout)
        .build()
}

/// The AWS service a call went to: how errors name it.
pub trait Service: fmt::Debug + Send + Sync + 'static {
    const NAME: &'static str;
}

#[derive(Debug)]
pub struct Ecs;
impl Service for Ecs {
    const NAME: &'static str = "ecs";
}

#[derive(Debug)]
pub struct Ecr;
impl Service for Ecr {
    const NAME: &'static str = "ecr";
}

#[derive(Debug)]
pub struct Lambda;
impl Service for Lambda {
    const NAME: &'static str = "lambda";
}

/// What kind of failure a call met, as far as retrying it is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Throttling,
    NotFound,
    InvalidParameter,
    AccessDenied,
    /// Another operation on the resource is in progress, or the revision a conditional call named moved
    /// (Lambda's `ResourceConflictException`, `PreconditionFailedException`): it may pass once that ends.
    Conflict,
    /// Transport failures, timeouts, server errors and anything unclassified.
    Other,
}

/// A failed call to service `S`: the operation, its kind, and in `message` what the service said (`Code: message`)
/// or our own words; the SDK's error is kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("{} {operation} failed: {message}", S::NAME)]
pub struct AwsError<S: Service> {
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    pub service: PhantomData<S>,
}

impl<S: Service> AwsError<S> {
    pub fn new(operation: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            kind,
            message: message.into(),
            source: None,
            service: PhantomData,
        }
    }

    /// An SDK error, its kind by `classify` of the service's error code (an answer that is no service error is
    /// [`ErrorKind::Other`]); the SDK's full account goes to the debug log.
    pub fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>, classify: fn(&str) -> ErrorKind) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let (code, message) = summary(&error);
        debug!(service = S::NAME, operation, error = %DisplayErrorContext(&error), "aws call failed");
        AwsError {
            operation,
            kind: code.map_or(ErrorKind::Other, classify),
            message,
            source: Some(Box::new(error)),
            service: PhantomData,
        }
    }

    /// Whether calling again may succeed: throttling, a conflicting operation and transport or server failures may
    /// pass; a
    /// missing resource, a refused parameter or a denied permission will not.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Throttling | ErrorKind::Conflict | ErrorKind::Other
        )
    }
}

/// An SDK error in one line: the service's `Code: message` when it answered (with its code), else the error and
/// its sources (a timeout, a dropped connection) without the SDK's debug dump.
pub(crate) fn summary<E, R>(error: &SdkError<E, R>) -> (Option<&str>, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    match error.as_service_error() {
        Some(service_error) => {
            let code = service_error.code().unwrap_or("UnknownError");
            let message = format!("{code}: {}", service_error.message().unwrap_or("no message"));
            (Some(code), message)
        }
        None => (None, crate::error_chain::render(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_timeouts_follow_the_settings() {
        let config = Config::from_lookup(|key| match key {
            "RETRY_MODE" => Some("adaptive".to_owned()),
            "MAX_ATTEMPTS" => Some("7".to_owned()),
            _ => None,
        })
        .unwrap();
        let retry = retry_config(&config);
        assert_eq!(retry.max_attempts(), 7);
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
        let timeout = timeout_config(ATTEMPT_TIMEOUT);
        assert_eq!(timeout.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeout.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
    }

    #[test]
    fn an_error_names_service_operation_and_message_once_and_keeps_its_source() {
        let mut error = AwsError::<Ecr>::new("BatchGetImage", ErrorKind::NotFound, "ImageNotFound: no such digest");
        assert_eq!(
            error.to_string(),
            "ecr BatchGetImage failed: ImageNotFound: no such digest"
        );
        assert!(!error.retryable());
        error.source = Some(Box::new(std::io::Error::other("connection reset")));
        let rendered = crate::error_chain::render(&error);
        assert_eq!(
            rendered,
            "ecr BatchGetImage failed: ImageNotFound: no such digest: connection reset"
        );
        for part in ["ecr", "BatchGetImage", "no such digest", "connection reset"] {
            assert_eq!(rendered.matches(part).count(), 1, "{part} in {rendered}");
        }
        let throttled = AwsError::<Ecs>::new("ListServices", ErrorKind::Throttling, "slow down");
        assert_eq!(throttled.to_string(), "ecs ListServices failed: slow down");
        assert!(throttled.retryable());
    }
}
