//! How a deployment the function started ended, decided from what ECS said of it: its `ECS Deployment State
//! Change` event (if one came) and the service deployment `DescribeServiceDeployments` returns (if it could be
//! read). Pure: no SDK types, no clock; the event's age is an input.

use std::time::Duration;

use serde::Serialize;

use crate::ecs::DeploymentStatus;

/// `detail.eventName`: what the deployment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentEventName {
    /// Started, or a rollback started (`reason` tells them apart).
    InProgress,
    /// Reached steady state: the deployment's own, or a rollback's.
    Completed,
    /// The circuit breaker or an alarm failed it.
    Failed,
}

impl DeploymentEventName {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "SERVICE_DEPLOYMENT_IN_PROGRESS" => Some(DeploymentEventName::InProgress),
            "SERVICE_DEPLOYMENT_COMPLETED" => Some(DeploymentEventName::Completed),
            "SERVICE_DEPLOYMENT_FAILED" => Some(DeploymentEventName::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentEventName::InProgress => "SERVICE_DEPLOYMENT_IN_PROGRESS",
            DeploymentEventName::Completed => "SERVICE_DEPLOYMENT_COMPLETED",
            DeploymentEventName::Failed => "SERVICE_DEPLOYMENT_FAILED",
        }
    }
}

/// The `outcome` of a rollout notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutOutcome {
    /// The deployment reached steady state.
    Completed,
    /// It failed, and ECS did not roll it back (no rollback configured, or stopped by a person).
    Failed,
    /// ECS rolled it back (circuit breaker, alarm, or `StopServiceDeployment` with `ROLLBACK`): the service runs
    /// its previous revision, and the deployment's digest is held.
    RolledBack,
}

impl RolloutOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutOutcome::Completed => "completed",
            RolloutOutcome::Failed => "failed",
            RolloutOutcome::RolledBack => "rolled-back",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            RolloutOutcome::Completed,
            RolloutOutcome::Failed,
            RolloutOutcome::RolledBack,
        ]
        .into_iter()
        .find(|o| o.as_str() == value)
    }
}

/// What told us to look at the deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Its event, `age` after ECS sent it (`updatedAt`, else the envelope's `time`).
    Event { name: DeploymentEventName, age: Duration },
    /// The sweep: the record stayed open past the timeout, so the event was lost (or is very late).
    Sweep,
}

/// What to do with the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Close it with this outcome and notify.
    Close(RolloutOutcome),
    /// ECS's record does not yet say how it ended: leave it open (the sweep looks again).
    Open,
    /// The event says it ended but ECS's record does not yet say how; a retry of the event soon will.
    Retry,
}

/// How long after a `FAILED` event ECS's record may still show the deployment `IN_PROGRESS` before the failure
/// is taken as one without rollback: ECS sets `ROLLBACK_REQUESTED` at once when it rolls back (its rollback event
/// follows the failure), so a deployment still `IN_PROGRESS` this long after is one ECS stopped rolling.
pub const ROLLBACK_GRACE: Duration = Duration::from_secs(15 * 60);

/// The outcome. `status` is `None` when the service deployment could not be read (never recorded, older than
/// 90 days, `MISSING`); `rollback` whether it has a `rollback` block.
///
/// - Any `ROLLBACK_*` status (or a rollback without status) is `rolled-back`, whichever event came: the
///   `COMPLETED` event after a circuit-breaker rollback may name the failed deployment itself (then it is not a
///   completion), or the deployment rolled back to (then it is not ours, or ours and closed long ago).
/// - `FAILED` without rollback: `STOPPED` or unreadable is `failed`; still `IN_PROGRESS`/`PENDING` is retried
///   for [`ROLLBACK_GRACE`] (ECS may not have recorded the rollback yet), then `failed`.
/// - `COMPLETED`: `completed`, unless ECS's record says it stopped (then `failed`).
/// - The sweep closes only what ECS's record says has ended: `SUCCESSFUL`, `STOPPED`, `ROLLBACK_*`.
pub fn decide(seen: Seen, status: Option<&DeploymentStatus>, rollback: bool) -> Verdict {
    let rolled_back = match status {
        Some(status) => status.is_rollback(),
        None => rollback,
    };
    if rolled_back {
        return Verdict::Close(RolloutOutcome::RolledBack);
    }
    let stopped = matches!(
        status,
        Some(DeploymentStatus::Stopped | DeploymentStatus::StopRequested)
    );
    match seen {
        Seen::Event {
            name: DeploymentEventName::Failed,
            age,
        } => match status {
            Some(DeploymentStatus::InProgress | DeploymentStatus::Pending) if age < ROLLBACK_GRACE => Verdict::Retry,
            _ => Verdict::Close(RolloutOutcome::Failed),
        },
        Seen::Event {
            name: DeploymentEventName::Completed,
            ..
        } if stopped => Verdict::Close(RolloutOutcome::Failed),
        Seen::Event {
            name: DeploymentEventName::Completed,
            ..
        } => Verdict::Close(RolloutOutcome::Completed),
        // Not followed: the outcome comes with the FAILED or COMPLETED event.
        Seen::Event {
            name: DeploymentEventName::InProgress,
            ..
        } => Verdict::Open,
        Seen::Sweep => match status {
            Some(DeploymentStatus::Successful) => Verdict::Close(RolloutOutcome::Completed),
            _ if stopped => Verdict::Close(RolloutOutcome::Failed),
            _ => Verdict::Open,
        },
    }
}

/// What a run that followed deployments did with each: the report of a deployment event, or the sweep's part.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RolloutReport {
    pub rollouts: Vec<RolloutEntry>,
    pub counts: RolloutCounts,
}

/// One deployment looked at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RolloutEntry {
    pub service_arn: String,
    pub deployment_id: String,
    /// `notified`, `ignored`, `open` (not ended yet), `retry` (the event is to be delivered again) or `failed`.
    pub result: &'static str,
    pub outcome: Option<RolloutOutcome>,
    /// Why: `not-ours`, `not-tracked`, `already-notified`, `still-open`, `not-ended-yet`, `lock-failed`,
    /// `ecs-failed`, or the outcome itself.
    pub reason: &'static str,
    pub detail: String,
    pub duration_s: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RolloutCounts {
    pub completed: usize,
    pub failed: usize,
    pub rolled_back: usize,
    pub ignored: usize,
    pub open: usize,
    /// Lookups that failed, and events to be delivered again: the invocation (or the batch item) fails.
    pub errors: usize,
    pub notified: usize,
    pub notify_failed: usize,
    /// How long each closed rollout took, start to finish (the `RolloutSeconds` metric).
    #[serde(skip)]
    pub durations: Vec<i64>,
}

impl RolloutCounts {
    /// Adds another run's counts (a batch's deployment events and its sweep).
    pub fn add(&mut self, other: &RolloutCounts) {
        self.completed += other.completed;
        self.failed += other.failed;
        self.rolled_back += other.rolled_back;
        self.ignored += other.ignored;
        self.open += other.open;
        self.errors += other.errors;
        self.notified += other.notified;
        self.notify_failed += other.notify_failed;
        self.durations.extend_from_slice(&other.durations);
    }
}

impl RolloutReport {
    pub fn push(&mut self, entry: RolloutEntry) {
        match (entry.result, entry.outcome) {
            (NOTIFIED, Some(outcome)) => {
                match outcome {
                    RolloutOutcome::Completed => self.counts.completed += 1,
                    RolloutOutcome::Failed => self.counts.failed += 1,
                    RolloutOutcome::RolledBack => self.counts.rolled_back += 1,
                }
                self.counts.durations.extend(entry.duration_s);
            }
            (IGNORED, _) => self.counts.ignored += 1,
            (OPEN, _) => self.counts.open += 1,
            _ => self.counts.errors += 1,
        }
        self.rollouts.push(entry);
    }

    /// Whether a retry of the event (or the next sweep) is needed.
    pub fn has_failures(&self) -> bool {
        self.counts.errors > 0
    }

    /// Appends another report's entries and counts.
    pub fn extend(&mut self, other: RolloutReport) {
        self.rollouts.extend(other.rollouts);
        self.counts.add(&other.counts);
    }
}

pub const NOTIFIED: &str = "notified";
pub const IGNORED: &str = "ignored";
pub const OPEN: &str = "open";
pub const RETRY: &str = "retry";
pub const FAILED: &str = "failed";

#[cfg(test)]
mod tests {
    use super::*;
    use DeploymentEventName::{Completed, Failed};
    use DeploymentStatus as S;

    fn event(name: DeploymentEventName) -> Seen {
        Seen::Event {
            name,
            age: Duration::from_secs(5),
        }
    }

    #[test]
    fn outcomes_are_decided_from_ecs_record_before_the_event_name() {
        let close = Verdict::Close;
        use RolloutOutcome::{Completed as Done, Failed as Fail, RolledBack};
        let table: &[(Seen, Option<DeploymentStatus>, bool, Verdict)] = &[
            (event(Failed), Some(S::RollbackRequested), true, close(RolledBack)),
            (event(Failed), Some(S::RollbackInProgress), true, close(RolledBack)),
            (event(Failed), Some(S::Stopped), false, close(Fail)),
            (event(Failed), None, false, close(Fail)),
            (event(Failed), None, true, close(RolledBack)),
            (event(Failed), Some(S::InProgress), false, Verdict::Retry),
            (event(Failed), Some(S::Pending), false, Verdict::Retry),
            // The COMPLETED event naming the failed deployment after its rollback: not a completion.
            (event(Completed), Some(S::RollbackSuccessful), true, close(RolledBack)),
            (event(Completed), Some(S::RollbackFailed), true, close(RolledBack)),
            (event(Completed), Some(S::Successful), false, close(Done)),
            // ECS's record lags the event: the event's word stands.
            (event(Completed), Some(S::InProgress), false, close(Done)),
            (event(Completed), None, false, close(Done)),
            (event(Completed), Some(S::Stopped), false, close(Fail)),
            (Seen::Sweep, Some(S::Successful), false, close(Done)),
            (Seen::Sweep, Some(S::Stopped), false, close(Fail)),
            (Seen::Sweep, Some(S::RollbackSuccessful), true, close(RolledBack)),
            (Seen::Sweep, Some(S::RollbackInProgress), true, close(RolledBack)),
            (Seen::Sweep, Some(S::InProgress), false, Verdict::Open),
            (Seen::Sweep, Some(S::Unknown("PAUSED".into())), false, Verdict::Open),
            (Seen::Sweep, None, false, Verdict::Open),
            (
                event(DeploymentEventName::InProgress),
                Some(S::InProgress),
                false,
                Verdict::Open,
            ),
        ];
        for (seen, status, rollback, expected) in table {
            assert_eq!(
                decide(*seen, status.as_ref(), *rollback),
                *expected,
                "{seen:?} {status:?} rollback={rollback}"
            );
        }
    }

    #[test]
    fn a_failure_ecs_still_shows_in_progress_past_the_grace_is_a_failure_without_rollback() {
        let late = Seen::Event {
            name: Failed,
            age: ROLLBACK_GRACE,
        };
        assert_eq!(
            decide(late, Some(&S::InProgress), false),
            Verdict::Close(RolloutOutcome::Failed)
        );
    }

    #[test]
    fn outcomes_round_trip_their_names() {
        for outcome in [
            RolloutOutcome::Completed,
            RolloutOutcome::Failed,
            RolloutOutcome::RolledBack,
        ] {
            assert_eq!(RolloutOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(RolloutOutcome::parse("done"), None);
    }
}
