//! Queued delivery: an SQS batch whose message bodies are EventBridge events. Every push of the batch
//! is planned against one fleet scan; a message is reported failed (and so redelivered, then dead-
//! lettered after the queue's `maxReceiveCount`) only when a service behind one of its own pushes failed,
//! a scan step failed (it may have hidden any push's services), or its body is not a valid event.

use std::collections::BTreeSet;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use super::eventbridge::{Classified, EventError, classify_at};
use crate::config::Mode;
use crate::domain::push::Push;
use crate::domain::rollout::RolloutReport;
use crate::ecr::EcrApi;
use crate::ecs::EcsApi;
use crate::engine::Redeployer;
use crate::lock::DeployLock;
use crate::notify::Notifier;
use crate::report::{Report, Status};

/// An SQS event as Lambda's event source mapping delivers it: `Records` of `eventSource` `aws:sqs`.
pub fn is_sqs_event(value: &Value) -> bool {
    value.get("Records").and_then(Value::as_array).is_some_and(|records| {
        records
            .iter()
            .all(|r| r.get("eventSource") == Some(&Value::from("aws:sqs")))
    })
}

/// One message of a batch, classified.
pub struct Message {
    pub id: String,
    pub body: Result<Classified, EventError>,
}

/// Reads the batch; a record that is not an SQS message is an error for the whole event.
pub fn messages(value: Value, now: DateTime<Utc>) -> Result<Vec<Message>, EventError> {
    let event: SqsEvent = serde_path_to_error::deserialize(value).map_err(|source| EventError::Envelope { source })?;
    event
        .records
        .into_iter()
        .enumerate()
        .map(|(position, record)| {
            let id = record
                .message_id
                .ok_or(EventError::MissingField("Records[].messageId"))?;
            let body = match record.body {
                Some(body) => serde_json::from_str(&body)
                    .map_err(|source| EventError::Json { source })
                    .and_then(|value| classify_at(value, now)),
                None => Err(EventError::MissingField("Records[].body")),
            };
            if let Err(error) = &body {
                warn!(message_id = %id, position, %error, "message body is not a valid event; reported failed");
            }
            Ok(Message { id, body })
        })
        .collect()
}

/// What a batch did: the report of its pushes (if any), what came of the deployments its deployment events
/// name (if any), and the messages to redeliver.
#[derive(Debug, Serialize)]
pub struct BatchOutcome {
    pub report: Option<Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollouts: Option<RolloutReport>,
    pub failed_messages: Vec<String>,
}

impl BatchOutcome {
    pub fn response(&self) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = self
            .failed_messages
            .iter()
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.clone();
                failure
            })
            .collect();
        response
    }
}

/// Runs every push of the batch through one scan; names the messages that must be redelivered.
pub async fn process_batch<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier>(
    redeployer: &Redeployer<E, L, R, N>,
    messages: Vec<Message>,
    mode: Mode,
) -> BatchOutcome {
    let mut pushes: Vec<Push> = Vec::new();
    // The messages each push came in: a redelivered event is one push carried by two messages.
    let mut owners: Vec<Vec<usize>> = Vec::new();
    let mut failed: BTreeSet<usize> = BTreeSet::new();
    // The messages that asked for a sweep: they own every push the sweep finds.
    let mut sweeps: Vec<usize> = Vec::new();
    let mut rollouts: Option<RolloutReport> = None;
    for (position, message) in messages.iter().enumerate() {
        match &message.body {
            // Each on its own: one record read and at most one service-deployment read, no fleet scan.
            Ok(Classified::Deployment(change)) => match super::lambda::not_followed(redeployer, mode) {
                Some((reason, detail)) => {
                    info!(message_id = %message.id, reason, detail, "event ignored");
                }
                None => {
                    let (followed, moving_on) = redeployer.follow_rollout(change, Utc::now()).await;
                    if followed.has_failures() {
                        failed.insert(position);
                    }
                    rollouts.get_or_insert_with(RolloutReport::default).extend(followed);
                    // A finished wave starts the next one in this batch's run: the message owns its pushes.
                    for push in moving_on {
                        match pushes.iter().position(|p| *p == push) {
                            Some(same) => owners[same].push(position),
                            None => {
                                pushes.push(push);
                                owners.push(vec![position]);
                            }
                        }
                    }
                }
            },
            Ok(Classified::Push(push)) => match pushes.iter().position(|p| p == push) {
                Some(same) => owners[same].push(position),
                None => {
                    pushes.push(push.clone());
                    owners.push(vec![position]);
                }
            },
            Ok(Classified::Sweep) => sweeps.push(position),
            // The tag as it points now joins the batch's run; the message owns that push.
            Ok(Classified::WaveWake(push)) => {
                for push in redeployer.current_tags(std::slice::from_ref(push)).await {
                    match pushes.iter().position(|p| *p == push) {
                        Some(same) => owners[same].push(position),
                        None => {
                            pushes.push(push);
                            owners.push(vec![position]);
                        }
                    }
                }
            }
            Ok(Classified::Ignored(why)) => {
                info!(message_id = %message.id, reason = why.code(), detail = %why, "event ignored");
            }
            Err(_) => {
                failed.insert(position);
            }
        }
    }
    let report = if pushes.is_empty() && sweeps.is_empty() {
        None
    } else {
        let report = if sweeps.is_empty() {
            redeployer.run(&pushes, mode).await
        } else {
            redeployer.sweep(&pushes, mode).await
        };
        // The sweep's pushes follow the batch's own in the report.
        owners.resize(report.pushes.len(), sweeps.clone());
        // Failed services and functions, by the pushes they were decided for.
        let failures = report
            .services
            .iter()
            .filter(|s| s.outcome == Status::Failed)
            .map(|s| &s.push_positions)
            .chain(
                report
                    .functions
                    .iter()
                    .filter(|f| f.outcome == Status::Failed)
                    .map(|f| &f.push_positions),
            );
        // A failed scan step, or a service or function that could not be examined, may hide any push's: all are
        // retried.
        let unattributable = !report.scan_errors.is_empty() || failures.clone().any(Vec::is_empty);
        if unattributable {
            failed.extend(owners.iter().flatten().copied());
        } else {
            failed.extend(failures.flat_map(|positions| positions.iter().flat_map(|&i| owners[i].iter().copied())));
        }
        Some(report)
    };
    BatchOutcome {
        report,
        rollouts,
        failed_messages: failed.into_iter().map(|i| messages[i].id.clone()).collect(),
    }
}

#[cfg(test)]
mod tests;
