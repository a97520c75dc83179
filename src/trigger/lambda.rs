//! The Lambda trigger, for the two shapes Lambda hands the function, told apart by their envelope: an SQS
//! batch (the event source mapping of the queue the rule feeds) and a bare EventBridge event (a direct
//! invoke, `cargo lambda invoke`). `process` is shared with the CLI.

use aws_lambda_events::sqs::SqsBatchResponse;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tracing::info;

use super::eventbridge::{Classified, EventError, classify_at};
use super::sqs;
use crate::config::Mode;
use crate::domain::report::{Invocation, Report};
use crate::ecs::EcsApi;
use crate::engine::Redeployer;
use crate::lock::DeployLock;

/// Why an invocation fails, so Lambda's retries and on-failure destination see it.
#[derive(Error)]
pub enum InvocationError {
    #[error("invalid event: {0}")]
    InvalidEvent(#[from] EventError),
    #[error(
        "redeploy incomplete for {}: {} failed, {} redeployed; every decision is in the log",
        .report.pushed_uris(), .failures.join(", "), .report.counts.redeployed
    )]
    Incomplete { report: Box<Report>, failures: Vec<String> },
}

/// The runtime logs errors with `Debug`: give it the readable message, not the whole report.
impl std::fmt::Debug for InvocationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<InvocationError> for Diagnostic {
    fn from(error: InvocationError) -> Self {
        let error_type = match error {
            InvocationError::InvalidEvent(_) => "InvalidEvent",
            InvocationError::Incomplete { .. } => "RedeployIncomplete",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// What the function answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// A bare event's result.
    Event(Invocation),
    /// An SQS batch: the messages to redeliver (Lambda deletes the others).
    Batch(SqsBatchResponse),
}

/// The Lambda handler. A bare event: after everything was attempted, any failure fails the invocation.
/// A batch: only the messages behind a failure are reported failed, so only they are redelivered.
pub async fn handle<E: EcsApi, L: DeployLock>(
    redeployer: &Redeployer<E, L>,
    event: LambdaEvent<Value>,
) -> Result<Response, InvocationError> {
    let now = chrono::Utc::now();
    if sqs::is_sqs_event(&event.payload) {
        let messages = sqs::messages(event.payload, now)?;
        let batch = sqs::process_batch(redeployer, messages, redeployer.apply_mode()).await;
        return Ok(Response::Batch(batch.response()));
    }
    let classified = classify_at(event.payload, now)?;
    match process(redeployer, classified, redeployer.apply_mode()).await {
        Invocation::Processed(report) if report.has_failures() => {
            let failures = report.failure_names();
            Err(InvocationError::Incomplete { report, failures })
        }
        invocation => Ok(Response::Event(invocation)),
    }
}

/// Acts on a classified event: logs an ignored one, runs the redeployer in `mode` for a push.
pub async fn process<E: EcsApi, L: DeployLock>(
    redeployer: &Redeployer<E, L>,
    event: Classified,
    mode: Mode,
) -> Invocation {
    match event {
        Classified::Ignored(why) => {
            info!(reason = why.code(), detail = %why, "event ignored");
            Invocation::Ignored {
                reason: why.code(),
                detail: why.to_string(),
            }
        }
        Classified::Push(push) => Invocation::Processed(Box::new(redeployer.run(&[push], mode).await)),
    }
}
