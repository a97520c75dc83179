//! The Lambda trigger, for the shapes Lambda hands the function, told apart by their envelope: an SQS batch
//! (the event source mapping of the queue the rules feed) and a bare EventBridge event (a direct invoke,
//! `cargo lambda invoke`) — an ECR push, or the sweep's scheduled event, in either. `process` is shared with
//! the CLI.

use aws_lambda_events::sqs::SqsBatchResponse;
use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tracing::info;

use super::eventbridge::{Classified, EventError, classify_at};
use super::metrics::{InvocationMetrics, Trigger};
use super::sqs;
use crate::config::Mode;
use crate::domain::report::{Counts, Invocation, Report};
use crate::ecr::EcrApi;
use crate::ecs::EcsApi;
use crate::engine::Redeployer;
use crate::lock::DeployLock;
use crate::notify::Notifier;

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
/// Either way one metrics record (EMF) goes to stdout.
pub async fn handle<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier>(
    redeployer: &Redeployer<E, L, R, N>,
    event: LambdaEvent<Value>,
) -> Result<Response, InvocationError> {
    let started = Instant::now();
    let before = redeployer.ecs_usage();
    let (trigger, counts, response) = respond(redeployer, event.payload).await;
    let metrics = InvocationMetrics::new(
        trigger,
        counts.as_ref(),
        redeployer.ecs_usage() - before,
        started.elapsed(),
    );
    println!("{}", metrics.emf(redeployer.metrics_namespace(), chrono::Utc::now()));
    response
}

/// The response, with what it was triggered by and the counts of its report, if one was made.
async fn respond<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier>(
    redeployer: &Redeployer<E, L, R, N>,
    payload: Value,
) -> (Trigger, Option<Counts>, Result<Response, InvocationError>) {
    let now = chrono::Utc::now();
    if sqs::is_sqs_event(&payload) {
        let batch = match sqs::messages(payload, now) {
            Ok(messages) => sqs::process_batch(redeployer, messages, redeployer.apply_mode()).await,
            Err(error) => return (Trigger::Batch, None, Err(error.into())),
        };
        let counts = batch.report.as_ref().map(|r| r.counts.clone());
        return (Trigger::Batch, counts, Ok(Response::Batch(batch.response())));
    }
    let classified = match classify_at(payload, now) {
        Ok(classified) => classified,
        Err(error) => return (Trigger::Push, None, Err(error.into())),
    };
    let trigger = match classified {
        Classified::Sweep => Trigger::Sweep,
        _ => Trigger::Push,
    };
    match process(redeployer, classified, redeployer.apply_mode()).await {
        Invocation::Processed(report) if report.has_failures() => {
            let counts = Some(report.counts.clone());
            let failures = report.failure_names();
            (trigger, counts, Err(InvocationError::Incomplete { report, failures }))
        }
        Invocation::Processed(report) => {
            let counts = Some(report.counts.clone());
            (trigger, counts, Ok(Response::Event(Invocation::Processed(report))))
        }
        ignored => (trigger, None, Ok(Response::Event(ignored))),
    }
}

/// Acts on a classified event: logs an ignored one, runs the redeployer in `mode` for a push, sweeps for the
/// schedule.
pub async fn process<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier>(
    redeployer: &Redeployer<E, L, R, N>,
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
        Classified::Sweep => Invocation::Processed(Box::new(redeployer.sweep(&[], mode).await)),
    }
}
