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
pub struct Sqs;
impl Service for Sqs {
    const NAME: &'static str = "sqs";
}

/// The deploy lock's table.
#[derive(Debug)]
pub struct Dynamodb;
impl Service for Dynamodb {
    const NAME: &'static str = "dynamodb";
}

#[derive(Debug)]
pub struct Lambda;
impl Service for Lambda {
    const NAME: &'static str = "lambda";
}

/// The ARNs of every resource of `resource_type` (`ecs:service`, `lambda:function`) tagged `tag_key`, all pages of
/// the tagging API at its page maximum; the ECS and Lambda adapters share it for `SELECT=opted-in`.
pub async fn tagged_arns(
    tagging: &aws_sdk_resourcegroupstagging::Client,
    resource_type: &str,
    tag_key: &str,
    page_max: i32,
) -> Result<Vec<String>, SdkError<aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesError>> {
    let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder()
        .key(tag_key)
        .build();
    let mappings = tagging
        .get_resources()
        .resource_type_filters(resource_type)
        .tag_filters(filter)
        .resources_per_page(page_max)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await?;
    Ok(mappings
        .iter()
        .filter_map(|m| m.resource_arn().map(str::to_owned))
        .collect())
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

/// A failed call to service `S`: the operation, its kind, in `message` our own words (what the call was for, or
/// why an answer is unusable; empty when the source says it all), and the source: what the service answered
/// ([`ServiceAnswer`], `Code: message`) or the SDK's transport error. Each is said once in a rendered chain.
#[derive(Debug, thiserror::Error)]
pub struct AwsError<S: Service> {
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    pub service: PhantomData<S>,
}

impl<S: Service> fmt::Display for AwsError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed", S::NAME, self.operation)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// What a service answered to a failed call, in its own words; the SDK's error is kept in `sdk` (for
/// `downcast_ref`), not as a source, whose text would repeat the code and message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServiceAnswer {
    pub code: String,
    pub message: String,
    pub sdk: Box<dyn std::error::Error + Send + Sync>,
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
    /// [`ErrorKind::Other`]); the SDK's full account goes to the debug log. The message is empty: the source
    /// says what happened ([`AwsError::context`] adds what the call was for).
    pub fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>, classify: fn(&str) -> ErrorKind) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        debug!(service = S::NAME, operation, error = %DisplayErrorContext(&error), "aws call failed");
        let answer = error.as_service_error().map(|service_error| {
            let code = service_error.code().unwrap_or("UnknownError").to_owned();
            let message = service_error.message().unwrap_or("no message").to_owned();
            (code, message)
        });
        let (kind, source): (ErrorKind, Box<dyn std::error::Error + Send + Sync>) = match answer {
            Some((code, message)) => (
                classify(&code),
                Box::new(ServiceAnswer {
                    code,
                    message,
                    sdk: Box::new(error),
                }),
            ),
            None => (ErrorKind::Other, Box::new(error)),
        };
        AwsError {
            operation,
            kind,
            message: String::new(),
            source: Some(source),
            service: PhantomData,
        }
    }

    /// The same error with our words on what the call was for (`claim of `…` on table `…``).
    pub fn context(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The service's answer, when it answered.
    pub fn answer(&self) -> Option<&ServiceAnswer> {
        self.source.as_deref().and_then(|source| source.downcast_ref())
    }

    /// Whether calling again may succeed: throttling, a conflicting operation and transport or server failures may
    /// pass; a missing resource, a refused parameter or a denied permission will not.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Throttling | ErrorKind::Conflict | ErrorKind::Other
        )
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

    #[test]
    fn an_sdk_error_renders_its_code_and_message_once() {
        use aws_sdk_ecs::error::ErrorMetadata;
        use aws_sdk_ecs::operation::list_services::ListServicesError;
        use aws_sdk_ecs::types::error::ClusterNotFoundException;

        let meta = |code: &str, message: &str| ErrorMetadata::builder().code(code).message(message).build();
        let kind = |code: &str| match code {
            "ThrottlingException" => ErrorKind::Throttling,
            "ClusterNotFoundException" => ErrorKind::NotFound,
            _ => ErrorKind::Other,
        };
        let unmodeled = ListServicesError::generic(meta("ThrottlingException", "Rate exceeded"));
        let modeled = ListServicesError::ClusterNotFoundException(
            ClusterNotFoundException::builder()
                .message("Cluster not found.")
                .meta(meta("ClusterNotFoundException", "Cluster not found."))
                .build(),
        );
        for (error, code, message, expected_kind) in [
            (unmodeled, "ThrottlingException", "Rate exceeded", ErrorKind::Throttling),
            (
                modeled,
                "ClusterNotFoundException",
                "Cluster not found.",
                ErrorKind::NotFound,
            ),
        ] {
            let error = AwsError::<Ecs>::from_sdk("ListServices", SdkError::service_error(error, ()), kind);
            assert_eq!(error.kind, expected_kind);
            assert!(error.message.is_empty(), "{error:?}");
            let answer = error.answer().expect("the service's answer");
            assert_eq!((answer.code.as_str(), answer.message.as_str()), (code, message));
            assert!(answer.sdk.downcast_ref::<SdkError<ListServicesError, ()>>().is_some());
            let rendered = crate::error_chain::render(&error);
            assert_eq!(rendered, format!("ecs ListServices failed: {code}: {message}"));
            let with_context = error.context("cluster `prod`");
            assert_eq!(
                crate::error_chain::render(&with_context),
                format!("ecs ListServices failed: cluster `prod`: {code}: {message}")
            );
        }

        let timeout = SdkError::<ListServicesError, ()>::timeout_error(std::io::Error::other("attempt timed out"));
        let error = AwsError::<Ecs>::from_sdk("ListServices", timeout, kind);
        assert_eq!(error.kind, ErrorKind::Other);
        assert!(error.answer().is_none());
        let rendered = crate::error_chain::render(&error);
        assert_eq!(rendered.matches("attempt timed out").count(), 1, "{rendered}");
        assert!(rendered.starts_with("ecs ListServices failed: "), "{rendered}");
    }
}
