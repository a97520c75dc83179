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
use super::metrics::{InvocationMetrics, InvokedBy};
use super::sqs;
use crate::config::Mode;
use crate::domain::push::Trigger;
use crate::domain::rollout::{self, RolloutCounts};
use crate::ecr::EcrApi;
use crate::ecs::EcsApi;
use crate::engine::Redeployer;
use crate::lock::DeployLock;
use crate::notify::Notifier;
use crate::report::{Counts, Invocation, Report};

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
    #[error("deployment outcome not settled: {}; the event is to be delivered again", .0)]
    OutcomeUnsettled(String),
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
            InvocationError::OutcomeUnsettled(_) => "OutcomeUnsettled",
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
    let metrics = InvocationMetrics::with_rollouts(
        trigger,
        counts.runs.as_ref(),
        counts.rollouts.as_ref(),
        redeployer.ecs_usage() - before,
        started.elapsed(),
    );
    println!("{}", metrics.emf(redeployer.metrics_namespace(), chrono::Utc::now()));
    response
}

/// The counts of what an invocation made: a run's report, and the deployments it followed.
#[derive(Default)]
struct MadeCounts {
    runs: Option<Counts>,
    rollouts: Option<RolloutCounts>,
}

impl MadeCounts {
    fn of_report(report: &Report) -> Self {
        MadeCounts {
            runs: Some(report.counts.clone()),
            rollouts: report.rollouts.as_ref().map(|r| r.counts.clone()),
        }
    }
}

/// The response, with what it was triggered by and the counts of its report, if one was made.
async fn respond<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier>(
    redeployer: &Redeployer<E, L, R, N>,
    payload: Value,
) -> (InvokedBy, MadeCounts, Result<Response, InvocationError>) {
    let now = chrono::Utc::now();
    if sqs::is_sqs_event(&payload) {
        let batch = match sqs::messages(payload, now) {
            Ok(messages) => sqs::process_batch(redeployer, messages, redeployer.apply_mode()).await,
            Err(error) => return (InvokedBy::Batch, MadeCounts::default(), Err(error.into())),
        };
        let mut counts = batch.report.as_ref().map(MadeCounts::of_report).unwrap_or_default();
        if let Some(followed) = &batch.rollouts {
            counts
                .rollouts
                .get_or_insert_with(RolloutCounts::default)
                .add(&followed.counts);
        }
        return (InvokedBy::Batch, counts, Ok(Response::Batch(batch.response())));
    }
    let classified = match classify_at(payload, now) {
        Ok(classified) => classified,
        Err(error) => return (InvokedBy::Run(Trigger::Push), MadeCounts::default(), Err(error.into())),
    };
    let trigger = match classified {
        Classified::Sweep => InvokedBy::Run(Trigger::Sweep),
        Classified::Deployment(_) => InvokedBy::Deployment,
        _ => InvokedBy::Run(Trigger::Push),
    };
    match process(redeployer, classified, redeployer.apply_mode()).await {
        Invocation::Processed(report) if report.has_failures() => {
            let counts = MadeCounts::of_report(&report);
            let failures = report.failure_names();
            (trigger, counts, Err(InvocationError::Incomplete { report, failures }))
        }
        Invocation::Processed(report) => {
            let counts = MadeCounts::of_report(&report);
            (trigger, counts, Ok(Response::Event(Invocation::Processed(report))))
        }
        Invocation::Followed(followed) => {
            let counts = MadeCounts {
                runs: None,
                rollouts: Some(followed.counts.clone()),
            };
            if followed.has_failures() {
                let why = followed
                    .rollouts
                    .iter()
                    .filter(|r| r.result == rollout::FAILED || r.result == rollout::RETRY)
                    .map(|r| format!("{} ({}: {})", r.deployment_id, r.reason, r.detail))
                    .collect::<Vec<_>>()
                    .join(", ");
                return (trigger, counts, Err(InvocationError::OutcomeUnsettled(why)));
            }
            (trigger, counts, Ok(Response::Event(Invocation::Followed(followed))))
        }
        ignored => (trigger, MadeCounts::default(), Ok(Response::Event(ignored))),
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
        Classified::Deployment(change) => match not_followed(redeployer, mode) {
            Some((reason, detail)) => {
                info!(reason, detail, deployment_id = %change.deployment_id, "event ignored");
                Invocation::Ignored {
                    reason,
                    detail: detail.to_owned(),
                }
            }
            None => Invocation::Followed(Box::new(redeployer.follow(&change, chrono::Utc::now()).await)),
        },
    }
}

/// Why a deployment event is not followed at all, if it is not: no table to match it against, or a plan.
pub fn not_followed<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier>(
    redeployer: &Redeployer<E, L, R, N>,
    mode: Mode,
) -> Option<(&'static str, &'static str)> {
    if !redeployer.tracks_deployments() {
        return Some((
            "not-tracked",
            "no LOCK_TABLE: the function keeps no record of the deployments it starts, so none is followed",
        ));
    }
    (mode == Mode::Plan).then_some((
        "plan",
        "a plan changes nothing: `apply --event` follows the deployment (closes its record and notifies)",
    ))
}
