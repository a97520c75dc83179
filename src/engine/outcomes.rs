//! Following the deployments the function started to their outcome. Each one is recorded in the lock table
//! when it starts; its `ECS Deployment State Change` event (or, if that was lost, the sweep) reads ECS's record of
//! the service deployment, decides the outcome (`domain::rollout::decide`), closes the record with one
//! conditional write — so exactly one caller notifies, however often ECS delivers the event — and announces it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{StreamExt, stream};
use serde_json::Value;
use tracing::{info, warn};

use crate::domain::rollout::{
    self, FAILED, IGNORED, NOTIFIED, OPEN, RETRY, RolloutEntry, RolloutOutcome, RolloutReport, Seen, Verdict,
};
use crate::ecs::{DESCRIBE_REVISIONS_MAX, EcsApi, ServiceDeployment};
use crate::lock::{DeployLock, DeploymentRecord, RolledBackRecord};
use crate::notify::{NotificationKind, RolloutNotification};
use crate::trigger::deployment::DeploymentChange;

/// How long a record stays open before the sweep reads its outcome itself: well past the few seconds an event
/// takes, so the sweep does not race the event it stands in for.
pub const LOST_EVENT_AFTER: Duration = Duration::from_secs(15 * 60);
/// The most open records one sweep resolves; older ones first, the rest on the next sweep.
pub const SWEEP_RECORDS_MAX: usize = 200;

/// What started the look at a deployment: the `trigger` of its notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowedBy {
    Deployment,
    Sweep,
}

impl FollowedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowedBy::Deployment => "deployment",
            FollowedBy::Sweep => "sweep",
        }
    }
}

/// The ECS port, the lock and the fan-out bound outcomes are followed with.
pub struct Follower<'a, E, L> {
    pub ecs: &'a E,
    pub lock: &'a L,
    pub limit: usize,
}

/// A record to close, and what ECS said of it.
struct Closing<'r> {
    record: &'r DeploymentRecord,
    outcome: RolloutOutcome,
    deployment: Option<&'r ServiceDeployment>,
    event_reason: Option<&'r str>,
    event_time: Option<DateTime<Utc>>,
}

impl<E: EcsApi, L: DeployLock> Follower<'_, E, L> {
    /// One deployment event: the report of what it amounted to and the notification to send, if any.
    pub async fn follow(
        &self,
        change: &DeploymentChange,
        now: DateTime<Utc>,
    ) -> (RolloutReport, Vec<RolloutNotification>) {
        let mut report = RolloutReport::default();
        let mut notifications = Vec::new();
        let entry = |result, reason, detail: String| RolloutEntry {
            service_arn: change.service_arn.clone(),
            deployment_id: change.deployment_id.clone(),
            result,
            outcome: None,
            reason,
            detail,
            duration_s: None,
        };
        if !self.lock.tracks_deployments() {
            report.push(entry(
                IGNORED,
                "not-tracked",
                "no LOCK_TABLE: the function keeps no record of the deployments it starts, so none is followed".into(),
            ));
            return log(report, notifications);
        }
        let stored = match self.lock.deployment(&change.service_arn, &change.deployment_id).await {
            Ok(stored) => stored,
            Err(error) => {
                report.push(entry(FAILED, "lock-failed", crate::error_chain::render(&error)));
                return log(report, notifications);
            }
        };
        let Some(stored) = stored else {
            report.push(entry(
                IGNORED,
                "not-ours",
                format!(
                    "no record of deployment `{}`: the function did not start it (or it is the deployment a rollback \
                     returned to)",
                    change.deployment_id
                ),
            ));
            return log(report, notifications);
        };
        if let Some(outcome) = &stored.outcome {
            report.push(entry(
                IGNORED,
                "already-notified",
                format!("its outcome `{outcome}` was notified already: a repeated event, or a rollback's own end"),
            ));
            return log(report, notifications);
        }
        let record = &stored.record;
        let read = match &record.service_deployment_arn {
            Some(arn) => self.ecs.describe_service_deployments(std::slice::from_ref(arn)).await,
            None => Ok(Vec::new()),
        };
        let deployments = match read {
            Ok(found) => found,
            Err(error) if error.retryable() => {
                report.push(entry(FAILED, "ecs-failed", crate::error_chain::render(&error)));
                return log(report, notifications);
            }
            Err(error) => {
                warn!(error = %crate::error_chain::render(&error), "the service deployment cannot be read; the outcome is the event's");
                Vec::new()
            }
        };
        let deployment = deployments.first();
        let event_time = change.updated_at;
        let age = (now - event_time.unwrap_or(now)).to_std().unwrap_or_default();
        let verdict = rollout::decide(
            Seen::Event {
                name: change.event_name,
                age,
            },
            deployment.and_then(|d| d.status.as_ref()),
            deployment.is_some_and(|d| d.rollback.is_some()),
        );
        let closing = match verdict {
            Verdict::Retry => {
                report.push(entry(
                    RETRY,
                    "not-ended-yet",
                    "the deployment failed but ECS has not recorded yet whether it rolls it back; the event is \
                     delivered again"
                        .into(),
                ));
                return log(report, notifications);
            }
            Verdict::Open => {
                report.push(entry(
                    OPEN,
                    "still-open",
                    "ECS's record says the deployment has not ended".into(),
                ));
                return log(report, notifications);
            }
            Verdict::Close(outcome) => Closing {
                record,
                outcome,
                deployment,
                event_reason: change.reason.as_deref(),
                event_time,
            },
        };
        let (closed, notification) = self.close(closing, FollowedBy::Deployment, now).await;
        report.push(closed);
        notifications.extend(notification);
        log(report, notifications)
    }

    /// The sweep's part: every record still open [`LOST_EVENT_AFTER`] after it started, read from ECS in
    /// batches of [`DESCRIBE_REVISIONS_MAX`] and closed as its event would have closed it.
    pub async fn close_lost(&self, now: DateTime<Utc>) -> (RolloutReport, Vec<RolloutNotification>) {
        let mut report = RolloutReport::default();
        let mut notifications = Vec::new();
        if !self.lock.tracks_deployments() {
            return (report, notifications);
        }
        let cutoff = now - chrono::TimeDelta::from_std(LOST_EVENT_AFTER).unwrap_or_default();
        let open = match self.lock.open_deployments(cutoff, SWEEP_RECORDS_MAX).await {
            Ok(open) => open,
            Err(error) => {
                warn!(error = %crate::error_chain::render(&error), "the open deployment records cannot be read; the next sweep tries again");
                report.push(RolloutEntry {
                    service_arn: String::new(),
                    deployment_id: String::new(),
                    result: FAILED,
                    outcome: None,
                    reason: "lock-failed",
                    detail: crate::error_chain::render(&error),
                    duration_s: None,
                });
                return (report, notifications);
            }
        };
        let arns: Vec<String> = open.iter().filter_map(|r| r.service_deployment_arn.clone()).collect();
        let batches: Vec<_> = stream::iter(arns.chunks(DESCRIBE_REVISIONS_MAX))
            .map(|chunk| async move { (chunk, self.ecs.describe_service_deployments(chunk).await) })
            .buffer_unordered(self.limit)
            .collect()
            .await;
        let mut found: BTreeMap<&str, ServiceDeployment> = BTreeMap::new();
        let mut unread: Vec<&str> = Vec::new();
        for (chunk, answer) in batches {
            match answer {
                Ok(deployments) => found.extend(deployments.into_iter().filter_map(|d| {
                    let arn = chunk.iter().find(|a| **a == d.arn)?;
                    Some((arn.as_str(), d))
                })),
                Err(error) => {
                    warn!(error = %crate::error_chain::render(&error), "service deployments cannot be read; their records stay open");
                    unread.extend(chunk.iter().map(String::as_str));
                }
            }
        }
        for record in &open {
            let arn = record.service_deployment_arn.as_deref();
            let entry = |result, reason, detail: String| RolloutEntry {
                service_arn: record.service_arn.clone(),
                deployment_id: record.deployment_id.clone(),
                result,
                outcome: None,
                reason,
                detail,
                duration_s: None,
            };
            if arn.is_some_and(|a| unread.contains(&a)) {
                report.push(entry(FAILED, "ecs-failed", "DescribeServiceDeployments failed".into()));
                continue;
            }
            let deployment = arn.and_then(|a| found.get(a));
            match rollout::decide(
                Seen::Sweep,
                deployment.and_then(|d| d.status.as_ref()),
                deployment.is_some_and(|d| d.rollback.is_some()),
            ) {
                Verdict::Close(outcome) => {
                    let closing = Closing {
                        record,
                        outcome,
                        deployment,
                        event_reason: None,
                        event_time: None,
                    };
                    let (closed, notification) = self.close(closing, FollowedBy::Sweep, now).await;
                    report.push(closed);
                    notifications.extend(notification);
                }
                Verdict::Open | Verdict::Retry => report.push(entry(
                    OPEN,
                    "still-open",
                    match deployment {
                        Some(d) => format!(
                            "ECS's record says `{}`",
                            d.status.as_ref().map_or("no status", |s| s.as_str())
                        ),
                        None => "ECS has no record of the service deployment (yet)".into(),
                    },
                )),
            }
        }
        (report, notifications)
    }

    /// Closes the record; the notification when this call closed it.
    async fn close(
        &self,
        closing: Closing<'_>,
        by: FollowedBy,
        now: DateTime<Utc>,
    ) -> (RolloutEntry, Option<RolloutNotification>) {
        let record = closing.record;
        let mut entry = RolloutEntry {
            service_arn: record.service_arn.clone(),
            deployment_id: record.deployment_id.clone(),
            result: NOTIFIED,
            outcome: Some(closing.outcome),
            reason: closing.outcome.as_str(),
            detail: String::new(),
            duration_s: None,
        };
        match self.lock.close_deployment(record, closing.outcome.as_str()).await {
            Ok(true) => {}
            Ok(false) => {
                entry.result = IGNORED;
                entry.outcome = None;
                entry.reason = "already-notified";
                entry.detail = "another delivery of the event (or the sweep) closed the record first".into();
                return (entry, None);
            }
            Err(error) => {
                entry.result = FAILED;
                entry.outcome = None;
                entry.reason = "lock-failed";
                entry.detail = crate::error_chain::render(&error);
                return (entry, None);
            }
        }
        let notification = notification(&closing, by, now);
        if closing.outcome == RolloutOutcome::RolledBack
            && let Some(digest) = &record.to_digest
        {
            let hold = RolledBackRecord {
                service_arn: record.service_arn.clone(),
                digest: digest.clone(),
                deployment_id: record.deployment_id.clone(),
                service_deployment_arn: record.service_deployment_arn.clone(),
                status_reason: notification.status_reason.clone(),
                at: closing
                    .deployment
                    .and_then(|d| d.rollback.as_ref()?.started_at)
                    .or(closing.event_time)
                    .or(Some(now)),
            };
            // The record says rolled-back either way; ECS's current deployment holds the digest too, until another
            // deployment becomes current.
            if let Err(error) = self.lock.hold_rolled_back(&hold).await {
                warn!(error = %crate::error_chain::render(&error), "the rolled-back digest's hold was not written");
            }
        }
        entry.duration_s = notification.duration_s;
        entry.detail = notification
            .status_reason
            .clone()
            .unwrap_or_else(|| format!("deployment {}", closing.outcome.as_str()));
        (entry, Some(notification))
    }
}

/// The rollout's notification: the recorded 14 keys, `trigger` the run that followed it, and the outcome's five.
fn notification(closing: &Closing<'_>, by: FollowedBy, now: DateTime<Utc>) -> RolloutNotification {
    let deployment = closing.deployment;
    let status_reason = deployment
        .and_then(|d| d.status_reason.clone())
        .or_else(|| deployment.and_then(|d| d.rollback.as_ref()?.reason.clone()))
        .or_else(|| closing.event_reason.map(str::to_owned));
    let started = deployment
        .and_then(|d| d.started_at)
        .unwrap_or(closing.record.started_at);
    let finished = deployment
        .and_then(|d| d.finished_at)
        .or_else(|| deployment.and_then(|d| d.rollback.as_ref()?.started_at))
        .or(closing.event_time)
        .unwrap_or(now);
    let mut redeployed = closing.record.detail.clone();
    redeployed.insert("trigger".into(), Value::from(by.as_str()));
    RolloutNotification {
        kind: match closing.outcome {
            RolloutOutcome::Completed => NotificationKind::RolloutCompleted,
            RolloutOutcome::Failed | RolloutOutcome::RolledBack => NotificationKind::RolloutFailed,
        },
        redeployed,
        outcome: closing.outcome.as_str(),
        status_reason,
        started_at: rfc3339(started),
        finished_at: Some(rfc3339(finished)),
        duration_s: Some((finished - started).num_seconds().max(0)),
    }
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn log(report: RolloutReport, notifications: Vec<RolloutNotification>) -> (RolloutReport, Vec<RolloutNotification>) {
    for entry in &report.rollouts {
        info!(
            service_arn = %entry.service_arn,
            deployment_id = %entry.deployment_id,
            result = entry.result,
            reason = entry.reason,
            detail = %entry.detail,
            "deployment event"
        );
    }
    (report, notifications)
}

#[cfg(test)]
mod tests;
