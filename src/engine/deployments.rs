//! Following the deployments a run started: their records in the lock table, the deployment events that tell
//! their outcomes, the sweep's closing of records whose event was lost, and the holds those records keep.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tracing::warn;

use super::Redeployer;
use super::outcomes::Follower;
use crate::domain::push::Push;
use crate::domain::rollout::RolloutReport;
use crate::domain::running::{HoldSource, RolledBack};
use crate::ecr::EcrApi;
use crate::ecs::{EcsApi, Service, TaskDefinition};
use crate::lambda::LambdaApi;
use crate::lock::{DeployLock, DeploymentRecord};
use crate::notify::{Notification, NotificationKind, Notifier, RolloutNotification};
use crate::trigger::deployment::DeploymentChange;

impl<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier, F: LambdaApi> Redeployer<E, L, R, N, F> {
    /// Follows one deployment event to its outcome: notifies it if the function started the deployment and no
    /// one notified it yet.
    pub async fn follow(&self, change: &DeploymentChange, now: DateTime<Utc>) -> RolloutReport {
        self.follow_rollout(change, now).await.0
    }

    /// [`Self::follow`], and the pushes that move a staged rollout on when the event finished (or failed) a wave:
    /// the caller runs them (with its batch's pushes: one fleet scan).
    pub async fn follow_rollout(&self, change: &DeploymentChange, now: DateTime<Utc>) -> (RolloutReport, Vec<Push>) {
        let (report, notifications) = self.follower().follow(change, now).await;
        let moving_on = self.moving_on(&notifications).await;
        (self.announce(report, &notifications).await, moving_on)
    }

    /// The sweep's part in following deployments: closes, and notifies, the records still open
    /// [`super::outcomes::LOST_EVENT_AFTER`] before `now` whose deployment ECS's record says has ended.
    pub async fn close_lost(&self, now: DateTime<Utc>) -> RolloutReport {
        let (report, notifications) = self.follower().close_lost(now).await;
        self.announce(report, &notifications).await
    }

    /// With the lock table: the rolled-back digests the function's own records hold for services whose current
    /// deployment no longer tells of the rollback (a later, unrelated deployment became current). A record naming
    /// several digests (several containers) is not mapped back to its containers and holds nothing.
    pub(super) async fn add_own_holds(
        &self,
        related: &[&Service],
        fleet: &[(Service, Arc<TaskDefinition>)],
        rolled_back: &mut HashMap<String, RolledBack>,
    ) {
        if !self.lock.tracks_deployments() {
            return;
        }
        let arns: Vec<String> = related
            .iter()
            .filter(|s| !rolled_back.contains_key(&s.arn))
            .map(|s| s.arn.clone())
            .collect();
        if arns.is_empty() {
            return;
        }
        let holds = match self.lock.rolled_back(&arns).await {
            Ok(holds) => holds,
            Err(error) => {
                warn!(error = %crate::error_chain::render(&error), "the function's rolled-back records cannot be read; ECS's current deployments still hold");
                return;
            }
        };
        for hold in holds {
            let Some((_, task_definition)) = fleet.iter().find(|(s, _)| s.arn == hold.service_arn) else {
                continue;
            };
            if hold.digest.contains(',') {
                continue;
            }
            let digests = task_definition
                .containers
                .iter()
                .map(|c| (c.name.clone(), Some(hold.digest.clone())))
                .collect();
            rolled_back.insert(
                hold.service_arn.clone(),
                RolledBack {
                    deployment: hold
                        .service_deployment_arn
                        .clone()
                        .unwrap_or(hold.deployment_id.clone()),
                    status: None,
                    status_reason: hold.status_reason.clone(),
                    at: hold.at,
                    target_revision: String::new(),
                    target_created_at: None,
                    digests,
                    source: HoldSource::OwnRecord,
                },
            );
        }
    }

    /// Whether deployments are recorded and followed (a lock table is configured).
    pub fn tracks_deployments(&self) -> bool {
        self.lock.tracks_deployments()
    }

    pub(super) fn follower(&self) -> Follower<'_, E, L> {
        Follower {
            ecs: &self.ecs,
            lock: &self.lock,
            limit: self.config.max_concurrency.get(),
        }
    }

    async fn announce(&self, mut report: RolloutReport, notifications: &[RolloutNotification]) -> RolloutReport {
        if !notifications.is_empty() {
            let delivery = self.notifier.send_rollouts(notifications).await;
            report.counts.notified = delivery.sent;
            report.counts.notify_failed = delivery.failed;
        }
        report
    }

    /// With the lock table, records every deployment the run started, so its outcome can be followed. A record that
    /// cannot be written is logged: the deployment happened either way, only its outcome goes unannounced.
    pub(super) async fn record_deployments(
        &self,
        notifications: &[Notification],
        service_deployments: &HashMap<String, Option<String>>,
        started_at: DateTime<Utc>,
    ) {
        if !self.lock.tracks_deployments() {
            return;
        }
        let records = notifications
            .iter()
            .filter(|n| n.kind == NotificationKind::Redeployed)
            .filter_map(|n| {
                let deployment_id = n.deployment_id.clone()?;
                let service_arn = n.service_arn.clone()?;
                let serde_json::Value::Object(detail) = serde_json::to_value(n).ok()? else {
                    return None;
                };
                Some(DeploymentRecord {
                    service_deployment_arn: service_deployments.get(&service_arn).cloned().flatten(),
                    service_arn,
                    deployment_id,
                    started_at,
                    to_digest: n.to_digest.clone(),
                    detail,
                })
            });
        let limit = self.config.max_concurrency.get();
        let written: Vec<_> = futures_util::stream::iter(records)
            .map(|record| async move { (self.lock.record_deployment(&record).await, record) })
            .buffer_unordered(limit)
            .collect()
            .await;
        for (result, record) in written {
            if let Err(error) = result {
                warn!(
                    service_arn = %record.service_arn,
                    deployment_id = %record.deployment_id,
                    error = %crate::error_chain::render(&error),
                    "the deployment was not recorded; its outcome will not be announced"
                );
            }
        }
    }
}
