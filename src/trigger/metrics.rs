//! One CloudWatch Embedded Metric Format record per invocation, printed to stdout: CloudWatch Logs turns it
//! into metrics without an API call (CloudWatch "Embedded metric format specification").

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::domain::report::Counts;
use crate::ecs::EcsUsage;

/// What started the invocation: the `Trigger` dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A bare EventBridge event.
    Push,
    /// An SQS batch of them.
    Batch,
    /// A bare scheduled event: the sweep.
    Sweep,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Push => "push",
            Trigger::Batch => "batch",
            Trigger::Sweep => "sweep",
        }
    }
}

/// The metrics of one invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct InvocationMetrics {
    trigger: Trigger,
    redeployed: usize,
    skipped: usize,
    failed: usize,
    /// Services a sweep found running something other than what their tag points to.
    drift: usize,
    /// Notifications EventBridge did not take.
    notify_failed: usize,
    ecs: EcsUsage,
    duration: Duration,
}

impl InvocationMetrics {
    /// `counts`: the report's, when a run was made (an ignored or invalid event makes none).
    pub fn new(trigger: Trigger, counts: Option<&Counts>, ecs: EcsUsage, duration: Duration) -> Self {
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
            redeployed,
            skipped,
            failed,
            drift,
            notify_failed,
            ecs,
            duration,
        }
    }

    /// The EMF line: metrics as root members, declared under `_aws`, with `Trigger` as the one dimension.
    pub fn emf(&self, namespace: &str, at: DateTime<Utc>) -> String {
        let values: [(&str, &str, f64); 8] = [
            ("Redeployed", "Count", self.redeployed as f64),
            ("Skipped", "Count", self.skipped as f64),
            ("Failed", "Count", self.failed as f64),
            ("Drift", "Count", self.drift as f64),
            ("NotifyFailed", "Count", self.notify_failed as f64),
            ("EcsCalls", "Count", self.ecs.attempts as f64),
            ("Throttled", "Count", self.ecs.throttled as f64),
            ("DurationMs", "Milliseconds", self.duration.as_secs_f64() * 1000.0),
        ];
        let mut record = Map::new();
        record.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Trigger"]],
                    "Metrics": values.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
                }],
            }),
        );
        record.insert("Trigger".into(), self.trigger.as_str().into());
        for (name, _, value) in values {
            record.insert(name.into(), json!(value));
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
            notified: 4,
            notify_failed: 1,
        };
        let usage = EcsUsage {
            attempts: 42,
            throttled: 2,
        };
        let metrics = InvocationMetrics::new(Trigger::Batch, Some(&counts), usage, Duration::from_millis(1500));
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
                            {"Name": "DurationMs", "Unit": "Milliseconds"}
                        ]
                    }]
                },
                "Trigger": "batch",
                "Redeployed": 3.0, "Skipped": 3.0, "Failed": 2.0, "Drift": 2.0, "NotifyFailed": 1.0,
                "EcsCalls": 42.0, "Throttled": 2.0, "DurationMs": 1500.0
            })
        );
    }

    #[test]
    fn an_invocation_without_a_run_reports_zeros() {
        let metrics = InvocationMetrics::new(Trigger::Push, None, EcsUsage::default(), Duration::ZERO);
        let record: Value = serde_json::from_str(&metrics.emf("ns", Utc::now())).unwrap();
        assert_eq!(
            (record["Trigger"].as_str(), record["Redeployed"].as_f64()),
            (Some("push"), Some(0.0))
        );
    }
}
