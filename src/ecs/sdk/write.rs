//! The two writes, `UpdateService` and `RegisterTaskDefinition`, retried by hand rather than by the SDK: the SDK
//! retries a 5xx, a reset or a timeout blindly, and when ECS had acted before the answer was lost that deploys the
//! service twice (or registers a second revision). Here a write is retried at once only where ECS provably did not
//! act — it throttled the call. After an answer that may follow the write (a 5xx, a dropped connection, a
//! timeout) the outcome is read first: a deployment the service did not have before the attempt (by id), or the
//! family's newest revision with exactly the images asked for, is the write's own, and counts as done. Any other
//! refusal (4xx) is the answer. Reads keep the SDK's retries.

use std::future::Future;
use std::time::Duration;

use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};

use super::error::ecs_error;
use crate::ecs::EcsError;

/// The per-call configuration that takes the SDK's own retries off a write.
pub(in crate::ecs) fn single_attempt() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
}

/// What a failed write attempt says about whether ECS acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::ecs) enum Acted {
    /// ECS throttled the call: it did nothing, so the call may be sent again.
    No,
    /// ECS refused the call (a 4xx other than throttling): sending it again would be refused again.
    Refused,
    /// The answer may have been lost after the write: read what happened before sending it again.
    Unknown,
}

/// Codes ECS (and the AWS JSON protocol) use for a server-side failure, whatever the HTTP status says.
const SERVER_CODES: [&str; 4] = [
    "ServerException",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
];

pub(in crate::ecs) fn acted<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Acted {
    match error {
        SdkError::ServiceError(failure) => {
            let code = failure.err().code().unwrap_or_default();
            let status = failure.raw().status().as_u16();
            if matches!(
                code,
                "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded"
            ) {
                Acted::No
            } else if SERVER_CODES.contains(&code) || status >= 500 {
                Acted::Unknown
            } else {
                Acted::Refused
            }
        }
        // Nothing was sent.
        SdkError::ConstructionFailure(_) => Acted::Refused,
        // Sent, then no (readable) answer: a timeout, a reset, a dropped connection, an unreadable body.
        _ => Acted::Unknown,
    }
}

/// How a write is retried: at most `attempts` sends, waiting `backoff(n)` before the n-th resend.
#[derive(Clone, Copy, Debug)]
pub(in crate::ecs) struct Retries {
    pub attempts: u32,
    pub base: Duration,
}

impl Retries {
    /// 100 ms, doubling, at most 20 s: the SDK's standard backoff without its jitter.
    fn backoff(&self, resend: u32) -> Duration {
        let factor = 2u32.saturating_pow(resend.saturating_sub(1));
        self.base.saturating_mul(factor).min(Duration::from_secs(20))
    }
}

/// A write's outcome: ECS's answer, or what reading found the write had done after its answer was lost.
#[derive(Debug)]
pub(in crate::ecs) enum Written<O, T> {
    Answered(O),
    Found(T),
}

/// Sends a write until it succeeds, is refused, or `settled` finds that an attempt whose answer was lost took
/// effect. `settled` failing leaves the write's own error as the answer: whether ECS acted is then unknown, and a
/// retry of the whole run reads what the service runs again before deciding.
pub(in crate::ecs) async fn write<O, T, E, Send, SendFut, Settled, SettledFut>(
    operation: &'static str,
    retries: Retries,
    send: Send,
    settled: Settled,
) -> Result<Written<O, T>, EcsError>
where
    E: ProvideErrorMetadata + std::error::Error + std::marker::Send + Sync + 'static,
    Send: Fn() -> SendFut,
    SendFut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    Settled: Fn() -> SettledFut,
    SettledFut: Future<Output = Result<Option<T>, EcsError>>,
{
    let mut attempt = 1;
    loop {
        let error = match send().await {
            Ok(answer) => return Ok(Written::Answered(answer)),
            Err(error) => error,
        };
        let acted = acted(&error);
        let error = ecs_error(operation, error);
        match acted {
            Acted::Refused => return Err(error),
            Acted::No => {}
            Acted::Unknown => match settled().await {
                Ok(Some(found)) => {
                    tracing::info!(operation, %error, "the answer was lost, but the write took effect");
                    return Ok(Written::Found(found));
                }
                Ok(None) => {}
                Err(read) => {
                    tracing::warn!(operation, %error, %read, "whether the write took effect is unknown");
                    return Err(error);
                }
            },
        }
        if attempt >= retries.attempts {
            return Err(error);
        }
        tokio::time::sleep(retries.backoff(attempt)).await;
        attempt += 1;
    }
}
