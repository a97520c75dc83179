//! The notification port: one EventBridge event per redeployed or failed service, so people and other
//! systems hear what changed without reading logs. `sdk` puts them on a bus with `aws_sdk_eventbridge`;
//! `None` (an absent `Option`) stands in when `NOTIFY_BUS` is unset, `fake` in the unit tests.
//!
//! Notifying is best effort: a notification that cannot be delivered is logged and counted, never an
//! error, because the deployment it reports has happened (or failed) either way, and failing the
//! invocation would only make the queue redeliver pushes that are already done.

use std::future::Future;

use serde::Serialize;

use std::collections::BTreeSet;

use crate::domain::policy::Method;
use crate::domain::push::Trigger;
use crate::domain::reason::Reason;
use crate::report::{PushedImage, Report, Status};

#[cfg(test)]
pub mod fake;
pub mod sdk;

/// The `source` of every event: what a rule matches on to receive them.
pub const SOURCE: &str = "ecs-redeploy";

/// What happened to the service; the event's `detail-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    Redeployed,
    RedeployFailed,
    /// A deployment the function started reached steady state.
    RolloutCompleted,
    /// A deployment the function started failed, or ECS rolled it back.
    RolloutFailed,
    /// A staged rollout stopped: a service of an earlier wave failed to deploy the digest.
    RolloutHalted,
    /// A container-image Lambda function's code was updated to the pushed image.
    FunctionRedeployed,
    FunctionRedeployFailed,
}

impl NotificationKind {
    pub fn detail_type(self) -> &'static str {
        match self {
            NotificationKind::Redeployed => "ECS Service Redeployed",
            NotificationKind::RedeployFailed => "ECS Service Redeploy Failed",
            NotificationKind::RolloutCompleted => "ECS Service Rollout Completed",
            NotificationKind::RolloutFailed => "ECS Service Rollout Failed",
            NotificationKind::RolloutHalted => "ECS Rollout Halted",
            NotificationKind::FunctionRedeployed => "Lambda Function Redeployed",
            NotificationKind::FunctionRedeployFailed => "Lambda Function Redeploy Failed",
        }
    }
}

/// One event. Every field but `kind` is the event's `detail`, with its field name as the key; absent values
/// are `null`, so every event of a detail-type has the same keys and a rule or a consumer can rely on them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    #[serde(skip)]
    pub kind: NotificationKind,
    /// `None` (`null`) for a Lambda function's event.
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub service_arn: Option<String>,
    pub image: String,
    pub from_digest: Option<String>,
    pub to_digest: Option<String>,
    pub method: Option<Method>,
    pub reason: Reason,
    pub deployment_id: Option<String>,
    pub new_task_definition: Option<String>,
    pub error: Option<String>,
    pub trigger: Trigger,
    /// The id of the EventBridge event behind a push; `None` for a sweep or an image given on the CLI.
    pub event_id: Option<String>,
    /// The service's wave in a staged rollout; `None` without the wave tag.
    pub wave: Option<crate::domain::wave::Wave>,
    /// A Lambda function's event only: its name and ARN (a service's event has neither key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
}

impl Notification {
    /// The event's `detail`, as JSON.
    pub fn detail(&self) -> String {
        serde_json::to_string(self).expect("strings, options and unit enums always serialize")
    }
}

/// An event about how a deployment the function started ended: the 14 keys of its `ECS Service Redeployed`
/// notification (as recorded when it started; `trigger` is the run that followed it) and five of the outcome's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RolloutNotification {
    #[serde(skip)]
    pub kind: NotificationKind,
    #[serde(flatten)]
    pub redeployed: serde_json::Map<String, serde_json::Value>,
    pub outcome: &'static str,
    pub status_reason: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_s: Option<i64>,
}

impl RolloutNotification {
    pub fn detail(&self) -> String {
        serde_json::to_string(self).expect("a map, strings and numbers always serialize")
    }
}

/// A staged rollout halted: once per pushed digest (with the lock table), naming the wave that failed, the waves
/// held and the service whose deployment failed with ECS's reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HaltNotification {
    pub image: String,
    pub digest: String,
    pub failed_wave: crate::domain::wave::Wave,
    pub halted_waves: Vec<crate::domain::wave::Wave>,
    pub service: String,
    pub reason: String,
}

impl Announcement for HaltNotification {
    fn detail_type(&self) -> &'static str {
        NotificationKind::RolloutHalted.detail_type()
    }
    fn detail(&self) -> String {
        serde_json::to_string(self).expect("strings and numbers always serialize")
    }
    fn service_arn(&self) -> &str {
        &self.service
    }
}

/// What a bus is given: a redeploy's event or a rollout's.
pub trait Announcement: Send + Sync {
    fn detail_type(&self) -> &'static str;
    fn detail(&self) -> String;
    /// The service, for the log line of an event the bus refused.
    fn service_arn(&self) -> &str;
}

impl Announcement for Notification {
    fn detail_type(&self) -> &'static str {
        self.kind.detail_type()
    }
    fn detail(&self) -> String {
        Notification::detail(self)
    }
    fn service_arn(&self) -> &str {
        self.service_arn
            .as_deref()
            .or(self.function_arn.as_deref())
            .unwrap_or_default()
    }
}

impl Announcement for RolloutNotification {
    fn detail_type(&self) -> &'static str {
        self.kind.detail_type()
    }
    fn detail(&self) -> String {
        RolloutNotification::detail(self)
    }
    fn service_arn(&self) -> &str {
        self.redeployed
            .get("service_arn")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
    }
}

/// How many notifications a bus accepted and how many were lost.
/// One notification per service the report says was redeployed or failed.
pub fn of_report(report: &Report) -> Vec<Notification> {
    report
        .services
        .iter()
        .filter_map(|s| {
            let kind = match s.outcome {
                Status::Redeployed => NotificationKind::Redeployed,
                Status::Failed => NotificationKind::RedeployFailed,
                Status::Planned | Status::Skipped => return None,
            };
            let pushes: Vec<&PushedImage> = s.push_positions.iter().filter_map(|&i| report.pushes.get(i)).collect();
            let trigger = if pushes.iter().any(|p| p.trigger == Trigger::Sweep) {
                Trigger::Sweep
            } else {
                Trigger::Push
            };
            let from: BTreeSet<&str> = s.from.values().filter_map(|d| d.as_deref()).collect();
            let to: BTreeSet<&str> = s.to.values().map(String::as_str).collect();
            let event_ids: Vec<&str> = pushes.iter().filter_map(|p| p.event_id.as_deref()).collect();
            Some(Notification {
                kind,
                cluster: Some(s.cluster.clone()),
                service: Some(s.service.clone()),
                service_arn: Some(s.service_arn.clone()),
                image: s.pushed.join(", "),
                from_digest: joined(from),
                to_digest: joined(to),
                method: s.method,
                reason: s.reason,
                deployment_id: s.deployment_id.clone(),
                new_task_definition: s.new_task_definition.clone(),
                error: s.error.clone(),
                trigger,
                event_id: (!event_ids.is_empty()).then(|| event_ids.join(",")),
                wave: s.wave,
                function: None,
                function_arn: None,
            })
        })
        .chain(report.functions.iter().filter_map(|f| {
            let kind = match f.outcome {
                Status::Redeployed => NotificationKind::FunctionRedeployed,
                Status::Failed => NotificationKind::FunctionRedeployFailed,
                Status::Planned | Status::Skipped => return None,
            };
            let pushes: Vec<&PushedImage> = f.push_positions.iter().filter_map(|&i| report.pushes.get(i)).collect();
            let trigger = if pushes.iter().any(|p| p.trigger == Trigger::Sweep) {
                Trigger::Sweep
            } else {
                Trigger::Push
            };
            let event_ids: Vec<&str> = pushes.iter().filter_map(|p| p.event_id.as_deref()).collect();
            Some(Notification {
                kind,
                wave: None,
                cluster: None,
                service: None,
                service_arn: None,
                image: f.pushed.join(", "),
                from_digest: f.from.clone(),
                to_digest: f.to.clone(),
                method: None,
                reason: f.reason,
                deployment_id: None,
                new_task_definition: None,
                error: f.error.clone(),
                trigger,
                event_id: (!event_ids.is_empty()).then(|| event_ids.join(",")),
                function: Some(f.function.clone()),
                function_arn: Some(f.function_arn.clone()),
            })
        }))
        .collect()
}

/// Distinct digests, comma-separated (one for a single container, as usual); `None` when none is known.
fn joined(digests: BTreeSet<&str>) -> Option<String> {
    (!digests.is_empty()).then(|| digests.into_iter().collect::<Vec<_>>().join(","))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
}

pub trait Notifier: Send + Sync {
    /// Delivers what it can; what it cannot is logged and counted in `failed`, never returned as an error.
    fn send(&self, notifications: &[Notification]) -> impl Future<Output = Delivery> + Send;

    /// The same for the notifications of rollouts' outcomes.
    fn send_rollouts(&self, notifications: &[RolloutNotification]) -> impl Future<Output = Delivery> + Send;

    /// The same for staged rollouts that halted.
    fn send_halts(&self, notifications: &[HaltNotification]) -> impl Future<Output = Delivery> + Send;
}

/// The notifier when `NOTIFY_BUS` is unset (`None`): sends nothing. `Some(notifier)` is that notifier.
impl<N: Notifier> Notifier for Option<N> {
    async fn send(&self, notifications: &[Notification]) -> Delivery {
        match self {
            Some(notifier) => notifier.send(notifications).await,
            None => Delivery::default(),
        }
    }

    async fn send_rollouts(&self, notifications: &[RolloutNotification]) -> Delivery {
        match self {
            Some(notifier) => notifier.send_rollouts(notifications).await,
            None => Delivery::default(),
        }
    }

    async fn send_halts(&self, notifications: &[HaltNotification]) -> Delivery {
        match self {
            Some(notifier) => notifier.send_halts(notifications).await,
            None => Delivery::default(),
        }
    }
}

#[cfg(test)]
mod tests;
