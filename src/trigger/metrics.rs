//! One CloudWatch Embedded Metric Format record per invocation, printed to stdout: CloudWatch Logs turns it
//! into metrics without an API call (CloudWatch "Embedded metric format specification").

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::domain::push::Trigger;
use crate::domain::rollout::RolloutCounts;
use crate::ecs::EcsUsage;
use crate::report::Counts;

/// What started the invocation: the `Trigger` dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvokedBy {
    /// A bare EventBridge event (`push`) or scheduled event (`sweep`): named as its report's trigger.
    Run(Trigger),
    /// An SQS batch of them.
    Batch,
    /// A bare `ECS Deployment State Change` event.
    Deployment,
}

impl InvokedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            InvokedBy::Run(trigger) => trigger.as_str(),
            InvokedBy::Batch => "batch",
            InvokedBy::Deployment => "deployment",
        }
    }
}

/// The metrics of one invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct InvocationMetrics {
    trigger: InvokedBy,
    redeployed: usize,
    skipped: usize,
    failed: usize,
    /// Services a sweep found running something other than what their tag points to.
    drift: usize,
    /// Notifications EventBridge did not take.
    notify_failed: usize,
    /// Staged rollouts: services held as `waiting-for-wave`, and as `wave-halted`.
    waiting: usize,
    halted: usize,
    /// Container-image Lambda functions updated, and those whose update failed (apart from the services).
    functions_redeployed: usize,
    functions_failed: usize,
    /// Rollouts of the function's own deployments notified as completed, and as failed or rolled back.
    rollouts_completed: usize,
    rollouts_failed: usize,
    /// How long each notified rollout took, start to finish.
    rollout_seconds: Vec<i64>,
    ecs: EcsUsage,
    duration: Duration,
}

impl InvocationMetrics {
    /// `counts`: the report's, when a run was made (an ignored or invalid event makes none).
    pub fn new(trigger: InvokedBy, counts: Option<&Counts>, ecs: EcsUsage, duration: Duration) -> Self {
        Self::with_rollouts(trigger, counts, None, ecs, duration)
    }

    /// `rollouts`: the counts of the deployments followed (a deployment event's, or a sweep's lost ones).
    pub fn with_rollouts(
        trigger: InvokedBy,
        counts: Option<&Counts>,
        rollouts: Option<&RolloutCounts>,
        ecs: EcsUsage,
        duration: Duration,
    ) -> Self {
        let (redeployed, skipped, failed, drift, notify_failed) = counts.map_or((0, 0, 0, 0, 0), |c| {
            (
                c.redeployed,
                c.skipped + c.planned,
                c.failed + c.scan_errors,
                c.drifted,
                c.notify_failed,
            )
        });
        InvocationMetrics {
            trigger,
            functions_redeployed: counts.map_or(0, |c| c.functions.redeployed),
            functions_failed: counts.map_or(0, |c| c.functions.failed),
            redeployed,
            skipped,
            failed,
            drift,
            notify_failed: notify_failed + rollouts.map_or(0, |r| r.notify_failed),
            waiting: counts.map_or(0, |c| c.waiting),
            halted: counts.map_or(0, |c| c.halted),
            rollouts_completed: rollouts.map_or(0, |r| r.completed),
            rollouts_failed: rollouts.map_or(0, |r| r.failed + r.rolled_back),
            rollout_seconds: rollouts.map_or_else(Vec::new, |r| r.durations.clone()),
            ecs,
            duration,
        }
    }

    /// The EMF line: metrics as root members, declared under `_aws`, with `Trigger` as the one dimension.
    /// `RolloutSeconds` is an array of values (one per rollout, as EMF allows), declared only when there is one.
    pub fn emf(&self, namespace: &str, at: DateTime<Utc>) -> String {
        let values: [(&str, &str, f64); 14] = [
            ("Redeployed", "Count", self.redeployed as f64),
            ("Skipped", "Count", self.skipped as f64),
            ("Failed", "Count", self.failed as f64),
            ("Drift", "Count", self.drift as f64),
            ("NotifyFailed", "Count", self.notify_failed as f64),
            ("EcsCalls", "Count", self.ecs.attempts as f64),
            ("Throttled", "Count", self.ecs.throttled as f64),
            ("DurationMs", "Milliseconds", self.duration.as_secs_f64() * 1000.0),
            ("RolloutsCompleted", "Count", self.rollouts_completed as f64),
            ("RolloutsFailed", "Count", self.rollouts_failed as f64),
            ("Waiting", "Count", self.waiting as f64),
            ("Halted", "Count", self.halted as f64),
            ("FunctionsRedeployed", "Count", self.functions_redeployed as f64),
            ("FunctionsFailed", "Count", self.functions_failed as f64),
        ];
        let mut declared: Vec<Value> = values
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
            .collect();
        if !self.rollout_seconds.is_empty() {
            declared.push(json!({"Name": "RolloutSeconds", "Unit": "Seconds"}));
        }
        let mut record = Map::new();
        record.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Trigger"]],
                    "Metrics": declared,
                }],
            }),
        );
        record.insert("Trigger".into(), self.trigger.as_str().into());
        for (name, _, value) in values {
            record.insert(name.into(), json!(value));
        }
        if !self.rollout_seconds.is_empty() {
            let seconds: Vec<f64> = self.rollout_seconds.iter().map(|&s| s as f64).collect();
            record.insert("RolloutSeconds".into(), json!(seconds));
        }
        Value::Object(record).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_declares_every_metric_under_one_dimension() {
        let counts = Counts {
            clusters: 2,
            scanned: 9,
            considered: 7,
            redeployed: 3,
            planned: 0,
            skipped: 3,
            failed: 1,
            scan_errors: 1,
            drifted: 2,
            waiting: 2,
            halted: 1,
            notified: 4,
            notify_failed: 1,
            functions: crate::report::FunctionCounts {
                considered: 4,
                redeployed: 2,
                failed: 1,
                skipped: 1,
                ..Default::default()
            },
        };
        let usage = EcsUsage {
            attempts: 42,
            throttled: 2,
        };
        let metrics = InvocationMetrics::new(InvokedBy::Batch, Some(&counts), usage, Duration::from_millis(1500));
        let at = "2026-12-02T10:00:00Z".parse().unwrap();
        let record: Value = serde_json::from_str(&metrics.emf("ecs-redeploy", at)).unwrap();
        assert_eq!(
            record,
            json!({
                "_aws": {
                    "Timestamp": 1_796_205_600_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "ecs-redeploy",
                        "Dimensions": [["Trigger"]],
                        "Metrics": [
                            {"Name": "Redeployed", "Unit": "Count"}, {"Name": "Skipped", "Unit": "Count"},
                            {"Name": "Failed", "Unit": "Count"}, {"Name": "Drift", "Unit": "Count"},
                            {"Name": "NotifyFailed", "Unit": "Count"},
                            {"Name": "EcsCalls", "Unit": "Count"}, {"Name": "Throttled", "Unit": "Count"},
                            {"Name": "DurationMs", "Unit": "Milliseconds"},
                            {"Name": "RolloutsCompleted", "Unit": "Count"}, {"Name": "RolloutsFailed", "Unit": "Count"},
                            {"Name": "Waiting", "Unit": "Count"}, {"Name": "Halted", "Unit": "Count"},
                            {"Name": "FunctionsRedeployed", "Unit": "Count"}, {"Name": "FunctionsFailed", "Unit": "Count"}
                        ]
                    }]
                },
                "Trigger": "batch",
                "Redeployed": 3.0, "Skipped": 3.0, "Failed": 2.0, "Drift": 2.0, "NotifyFailed": 1.0,
                "EcsCalls": 42.0, "Throttled": 2.0, "DurationMs": 1500.0,
                "RolloutsCompleted": 0.0, "RolloutsFailed": 0.0, "Waiting": 2.0, "Halted": 1.0,
                "FunctionsRedeployed": 2.0, "FunctionsFailed": 1.0
            })
        );
    }

    #[test]
    fn a_deployment_event_counts_its_rollouts_and_their_seconds() {
        let rollouts = RolloutCounts {
            completed: 1,
            failed: 1,
            rolled_back: 2,
            notify_failed: 1,
            durations: vec![90, 300, 42, 61],
            ..RolloutCounts::default()
        };
        let metrics = InvocationMetrics::with_rollouts(
            InvokedBy::Deployment,
            None,
            Some(&rollouts),
            EcsUsage::default(),
            Duration::ZERO,
        );
        let record: Value = serde_json::from_str(&metrics.emf("ns", Utc::now())).unwrap();
        assert_eq!(record["Trigger"], "deployment");
        assert_eq!(record["RolloutsCompleted"], 1.0);
        assert_eq!(record["RolloutsFailed"], 3.0);
        assert_eq!(record["NotifyFailed"], 1.0);
        assert_eq!(record["RolloutSeconds"], json!([90.0, 300.0, 42.0, 61.0]));
        let declared = &record["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert!(
            declared
                .as_array()
                .unwrap()
                .contains(&json!({"Name": "RolloutSeconds", "Unit": "Seconds"}))
        );
        // No rollout: nothing to declare, so no empty array CloudWatch would refuse.
        let none = InvocationMetrics::new(InvokedBy::Run(Trigger::Push), None, EcsUsage::default(), Duration::ZERO);
        let record: Value = serde_json::from_str(&none.emf("ns", Utc::now())).unwrap();
        assert!(record.get("RolloutSeconds").is_none());
    }

    #[test]
    fn an_invocation_without_a_run_reports_zeros() {
        let metrics = InvocationMetrics::new(InvokedBy::Run(Trigger::Push), None, EcsUsage::default(), Duration::ZERO);
        let record: Value = serde_json::from_str(&metrics.emf("ns", Utc::now())).unwrap();
        assert_eq!(
            (record["Trigger"].as_str(), record["Redeployed"].as_f64()),
            (Some("push"), Some(0.0))
        );
    }
}
