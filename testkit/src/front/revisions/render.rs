//! The service history in the API's shapes: `ServiceRevision`, `ServiceDeployment` and the revision
//! summaries with their task counts.

use serde_json::{Value, json};

use super::{History, Phase, ServiceHistory};

const ROLLBACK_REASON: &str = "Service deployment rolled back because the circuit breaker threshold was exceeded.";

impl ServiceHistory {
    pub(in crate::front) fn describe_revision(&self, arn: &str, now: f64) -> Option<Value> {
        let state = self.state();
        let revision = &state.revisions[*state.revision_by_arn.get(arn)?];
        let resolved = now >= revision.resolves_at;
        let images = revision.task_definition.containers.iter().map(|(name, image)| {
            // Version consistency disabled: ECS records no digest for the container, pinned or not.
            let recorded = !revision.task_definition.unresolved.contains(name);
            let pinned = image.split_once("@").map(|(_, digest)| digest);
            let digest = pinned.filter(|_| recorded).or_else(|| {
                (recorded && resolved)
                    .then(|| state.registry.digest_at(image, revision.resolves_at))
                    .flatten()
            });
            let mut container = json!({"containerName": name, "image": image});
            if let Some(digest) = digest {
                container["imageDigest"] = json!(digest);
            }
            container
        });
        let seen = &state.services.get(&revision.key)?.seen;
        let mut answer = json!({
            "serviceRevisionArn": revision.arn,
            "serviceArn": seen.arn,
            "clusterArn": seen.cluster_arn,
            "taskDefinition": revision.task_definition.arn,
            "containerImages": images.collect::<Vec<_>>(),
            "guardDutyEnabled": false,
            "createdAt": revision.created_at,
        });
        if let Some(launch_type) = &seen.launch_type {
            answer["launchType"] = json!(launch_type);
        }
        Some(answer)
    }

    pub(in crate::front) fn describe_deployment(&self, arn: &str, now: f64) -> Option<Value> {
        let state = self.state();
        let deployment = &state.deployments[*state.deployment_by_arn.get(arn)?];
        let seen = &state.services.get(&deployment.key)?.seen;
        let desired = seen.desired_count;
        let (status, target_phase, finished_at) = match &deployment.rollback {
            Some(rollback) if now < rollback.finishes_at => ("ROLLBACK_IN_PROGRESS", None, None),
            Some(rollback) => ("ROLLBACK_SUCCESSFUL", None, Some(rollback.finishes_at)),
            None if now >= deployment.completes_at => {
                ("SUCCESSFUL", Some(Phase::Steady), Some(deployment.completes_at))
            }
            None => ("IN_PROGRESS", Some(Phase::Converging), None),
        };
        let source_phase = |source: usize| match &deployment.rollback {
            Some(rollback) if rollback.revision == source => Some(Phase::Steady),
            _ if target_phase == Some(Phase::Converging) => Some(Phase::Draining),
            _ => None,
        };
        let sources = deployment
            .sources
            .iter()
            .map(|&source| state.summary_in(source, source_phase(source), desired));
        let mut answer = json!({
            "serviceDeploymentArn": deployment.arn,
            "serviceArn": seen.arn,
            "clusterArn": seen.cluster_arn,
            "createdAt": deployment.created_at,
            "startedAt": deployment.created_at,
            "updatedAt": finished_at
                .or(deployment.rollback.as_ref().map(|r| r.started_at))
                .unwrap_or(deployment.created_at),
            "status": status,
            "targetServiceRevision": state.summary_in(deployment.target, target_phase, desired),
            "sourceServiceRevisions": sources.collect::<Vec<_>>(),
        });
        if let Some(finished_at) = finished_at {
            answer["finishedAt"] = json!(finished_at);
        }
        if let Some(rollback) = &deployment.rollback {
            answer["statusReason"] = json!(ROLLBACK_REASON);
            answer["rollback"] = json!({
                "reason": ROLLBACK_REASON,
                "startedAt": rollback.started_at,
                "serviceRevisionArn": state.revisions[rollback.revision].arn,
            });
        }
        Some(answer)
    }
}

impl History {
    pub(super) fn summary(&self, revision: usize, phase: Phase, desired: i64) -> Value {
        self.summary_in(revision, Some(phase), desired)
    }

    /// A revision summary with its task counts; `None`: a revision no task runs any more.
    fn summary_in(&self, revision: usize, phase: Option<Phase>, desired: i64) -> Value {
        let (requested, running, pending) = match phase {
            Some(Phase::Converging) => (desired, 0, desired),
            Some(Phase::Steady) => (desired, desired, 0),
            Some(Phase::Draining) => (0, desired, 0),
            None => (0, 0, 0),
        };
        json!({
            "arn": self.revisions[revision].arn,
            "requestedTaskCount": requested,
            "runningTaskCount": running,
            "pendingTaskCount": pending,
        })
    }
}
