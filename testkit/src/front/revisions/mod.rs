//! ECS service revisions and service deployments, which moto lacks: the front records one revision and one
//! service deployment each time ECS would start a deployment, resolves the revision's image tags to digests
//! as version consistency does, and answers for them in the real API's shapes. Times are ECS clock epoch
//! seconds, as the deployments the front dates.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;

use super::registry::ImageRegistry;

mod render;

/// A service by cluster and service name, however a request or an ARN names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct ServiceKey {
    pub(super) cluster: String,
    pub(super) service: String,
}

/// What an answer shows of a service.
#[derive(Clone, Debug)]
pub(super) struct SeenService {
    pub(super) key: ServiceKey,
    pub(super) arn: String,
    pub(super) cluster_arn: String,
    pub(super) desired_count: i64,
    pub(super) launch_type: Option<String>,
}

/// A task definition's ARN and its containers' (name, image).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TaskDefinitionImages {
    pub(super) arn: String,
    pub(super) containers: Vec<(String, String)>,
    /// The containers whose `versionConsistency` is `disabled`: ECS resolves no tag for them, and their
    /// revision records no `imageDigest`.
    pub(super) unresolved: Vec<String>,
}

#[derive(Debug)]
struct Revision {
    arn: String,
    key: ServiceKey,
    task_definition: TaskDefinitionImages,
    created_at: f64,
    /// When version consistency resolves the tags, with the digests the registry had then.
    resolves_at: f64,
}

#[derive(Debug)]
struct Deployment {
    arn: String,
    key: ServiceKey,
    target: usize,
    /// What ran when it started: the revisions then current.
    sources: Vec<usize>,
    created_at: f64,
    /// `f64::INFINITY` while held: a rollout that stays `IN_PROGRESS` until the test completes it.
    completes_at: f64,
    rollback: Option<Rollback>,
    /// The `ecs-svc/…` id of the PRIMARY deployment moto made for it, as deployment events name it.
    ecs_id: Option<String>,
}

#[derive(Debug)]
struct Rollback {
    started_at: f64,
    revision: usize,
    /// `ROLLBACK_IN_PROGRESS` until then (`f64::INFINITY`: until the test completes it), `ROLLBACK_SUCCESSFUL` after.
    finishes_at: f64,
}

#[derive(Debug)]
struct ServiceRecord {
    seen: SeenService,
    revisions: Vec<usize>,
    deployments: Vec<usize>,
}

/// A current revision and what its tasks are doing.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Converging,
    Steady,
    Draining,
}

#[derive(Debug, Default)]
pub(super) struct ServiceHistory {
    state: Mutex<History>,
}

#[derive(Debug, Default)]
struct History {
    resolve_delay: Duration,
    registry: ImageRegistry,
    services: HashMap<ServiceKey, ServiceRecord>,
    revisions: Vec<Revision>,
    deployments: Vec<Deployment>,
    revision_by_arn: HashMap<String, usize>,
    deployment_by_arn: HashMap<String, usize>,
    task_definitions: HashMap<String, TaskDefinitionImages>,
    last_id: u64,
    /// Deployments made from now on stay `IN_PROGRESS` until [`ServiceHistory::complete`].
    hold_rollouts: bool,
}

impl ServiceHistory {
    pub(super) fn new(resolve_delay: Duration) -> Self {
        let history = History {
            resolve_delay,
            ..History::default()
        };
        Self {
            state: Mutex::new(history),
        }
    }

    fn state(&self) -> MutexGuard<'_, History> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_resolve_delay(&self, delay: Duration) {
        self.state().resolve_delay = delay;
    }

    pub(super) fn push_image(&self, image: &str, digest: &str, at: f64) {
        self.state().registry.push(image, digest, at);
    }

    pub(super) fn cached_task_definition(&self, arn: &str) -> Option<TaskDefinitionImages> {
        self.state().task_definitions.get(arn).cloned()
    }

    /// Remembers a task definition by its ARN, which names one revision for good.
    pub(super) fn cache_task_definition(&self, images: &TaskDefinitionImages) {
        let mut state = self.state();
        state.task_definitions.insert(images.arn.clone(), images.clone());
    }

    pub(super) fn knows(&self, key: &ServiceKey) -> bool {
        self.state().services.contains_key(key)
    }

    /// The task definition of the service's newest revision.
    pub(super) fn newest_task_definition(&self, key: &ServiceKey) -> Option<String> {
        let state = self.state();
        let newest = *state.services.get(key)?.revisions.last()?;
        Some(state.revisions[newest].task_definition.arn.clone())
    }

    /// The revision and service deployment of a service the front first sees without them (made straight
    /// in moto), as ECS made them when it created the service: completed, resolved by now.
    #[cfg(test)]
    pub(super) fn record_initial(&self, seen: SeenService, images: TaskDefinitionImages, created_at: f64, now: f64) {
        self.record_initial_as(seen, images, created_at, now, None);
    }

    /// [`Self::record_initial`] with the `ecs-svc/…` id of the service's PRIMARY deployment.
    pub(super) fn record_initial_as(
        &self,
        seen: SeenService,
        images: TaskDefinitionImages,
        created_at: f64,
        now: f64,
        ecs_id: Option<String>,
    ) {
        let mut state = self.state();
        if !state.services.contains_key(&seen.key) {
            state.add_deployment(seen, images, created_at, now, Vec::new(), ecs_id);
            let newest = state.deployments.len() - 1;
            // Made before the front held rollouts: it completed when ECS created the service.
            state.deployments[newest].completes_at = now;
        }
    }

    /// A deployment made at `created_at`: its revision and its service deployment, which replaces the
    /// revisions current until then.
    #[cfg(test)]
    pub(super) fn record_deployment(&self, seen: SeenService, images: TaskDefinitionImages, created_at: f64, now: f64) {
        self.record_deployment_as(seen, images, created_at, now, None);
    }

    /// [`Self::record_deployment`] with the `ecs-svc/…` id of the PRIMARY deployment moto made for it.
    pub(super) fn record_deployment_as(
        &self,
        seen: SeenService,
        images: TaskDefinitionImages,
        created_at: f64,
        now: f64,
        ecs_id: Option<String>,
    ) {
        let mut state = self.state();
        let resolves_at = created_at + state.resolve_delay.as_secs_f64();
        let sources = match state.services.get(&seen.key) {
            Some(record) => state.current(record, now).into_iter().map(|(r, _)| r).collect(),
            None => Vec::new(),
        };
        state.add_deployment(seen, images, created_at, resolves_at, sources, ecs_id);
    }

    /// Deployments made from now on stay `IN_PROGRESS` (`hold`) until [`Self::complete`], or complete once their
    /// revision resolves (the default).
    pub(super) fn set_hold_rollouts(&self, hold: bool) {
        self.state().hold_rollouts = hold;
    }

    /// Ends the service's current deployment now: a held rollout completes (`SUCCESSFUL`), a rollback in
    /// progress succeeds (`ROLLBACK_SUCCESSFUL`).
    pub(super) fn complete(&self, service_arn: &str, now: f64) -> Result<(), String> {
        let mut state = self.state();
        let current = state.current_deployment_of(service_arn)?;
        let deployment = &mut state.deployments[current];
        match &mut deployment.rollback {
            Some(rollback) if rollback.finishes_at > now => rollback.finishes_at = now,
            Some(_) => return Err(format!("{service_arn}: its rollback has ended already")),
            None if deployment.completes_at > now => deployment.completes_at = now,
            None => return Err(format!("{service_arn}: its current deployment has completed already")),
        }
        Ok(())
    }

    /// The `ECS Deployment State Change` event ECS sends for the service's current deployment, in the real shape:
    /// `SERVICE_DEPLOYMENT_COMPLETED` / `_FAILED` name the deployment (`ecs-svc/…`); the rollback's
    /// `SERVICE_DEPLOYMENT_IN_PROGRESS` names the deployment it returns to.
    pub(super) fn deployment_event(&self, service_arn: &str, event_name: &str, now: f64) -> Result<Value, String> {
        let state = self.state();
        let current = state.current_deployment_of(service_arn)?;
        let deployment = &state.deployments[current];
        let record = &state.services[&deployment.key];
        let own_id = deployment
            .ecs_id
            .clone()
            .ok_or_else(|| format!("{service_arn}: moto named no deployment id for it"))?;
        let (event_type, deployment_id, reason) = match (event_name, &deployment.rollback) {
            ("SERVICE_DEPLOYMENT_FAILED", _) => (
                "ERROR",
                own_id,
                "ECS deployment circuit breaker: task failed to start.".to_owned(),
            ),
            ("SERVICE_DEPLOYMENT_IN_PROGRESS", Some(rollback)) => {
                let returned_to = record
                    .deployments
                    .iter()
                    .rev()
                    .map(|&d| &state.deployments[d])
                    .find(|d| d.target == rollback.revision)
                    .and_then(|d| d.ecs_id.clone())
                    .unwrap_or_else(|| own_id.clone());
                let reason = format!("ECS deployment circuit breaker: rolling back to deploymentId {returned_to}.");
                ("INFO", returned_to, reason)
            }
            ("SERVICE_DEPLOYMENT_IN_PROGRESS", None) => {
                ("INFO", own_id.clone(), format!("ECS deployment {own_id} in progress."))
            }
            ("SERVICE_DEPLOYMENT_COMPLETED", _) => {
                ("INFO", own_id.clone(), format!("ECS deployment {own_id} completed."))
            }
            (other, _) => return Err(format!("no such eventName `{other}`")),
        };
        let seen = &record.seen;
        let mut parts = seen.arn.splitn(6, ':').skip(3);
        let (region, account) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let time = rfc3339(now);
        Ok(serde_json::json!({
            "version": "0",
            "id": format!("front-{}-{}", event_name.to_ascii_lowercase(), (now * 1000.0) as u64),
            "detail-type": "ECS Deployment State Change",
            "source": "aws.ecs",
            "account": account,
            "time": time,
            "region": region,
            "resources": [seen.arn],
            "detail": {
                "eventType": event_type,
                "eventName": event_name,
                "deploymentId": deployment_id,
                "updatedAt": time,
                "reason": reason,
            }
        }))
    }

    pub(super) fn forget(&self, key: &ServiceKey) {
        let mut state = self.state();
        state.services.remove(key);
    }

    /// `currentServiceDeployment` and `currentServiceRevisions` for the service as now seen; `None` when the
    /// front has no record of it.
    pub(super) fn current_fields(&self, seen: &SeenService, now: f64) -> Option<(Option<String>, Value)> {
        let mut state = self.state();
        state.services.get_mut(&seen.key)?.seen = seen.clone();
        let record = &state.services[&seen.key];
        let deployment = record.deployments.last().map(|&d| state.deployments[d].arn.clone());
        let desired = record.seen.desired_count;
        let summaries = state
            .current(record, now)
            .into_iter()
            .map(|(revision, phase)| state.summary(revision, phase, desired))
            .collect();
        Some((deployment, Value::Array(summaries)))
    }

    /// Rolls the service's current deployment back, as a circuit breaker with rollback does, to the
    /// revision of the last deployment that completed.
    pub(super) fn roll_back(&self, service_arn: &str, now: f64) -> Result<(), String> {
        self.start_roll_back(service_arn, now, now)
    }

    /// Starts rolling the service's current deployment back: `ROLLBACK_IN_PROGRESS` until `finishes_at`.
    pub(super) fn start_roll_back(&self, service_arn: &str, now: f64, finishes_at: f64) -> Result<(), String> {
        let mut state = self.state();
        let record = state
            .services
            .values()
            .find(|record| record.seen.arn == service_arn)
            .ok_or_else(|| format!("the front has no record of {service_arn}"))?;
        let (&current, earlier) = record
            .deployments
            .split_last()
            .ok_or_else(|| format!("{service_arn} has no service deployment to roll back"))?;
        if state.deployments[current].rollback.is_some() {
            return Err(format!("{service_arn}: its current deployment is rolled back already"));
        }
        let completed = earlier
            .iter()
            .rev()
            .find_map(|&d| state.completed_revision(d, now))
            .ok_or_else(|| format!("{service_arn}: no completed deployment to roll back to"))?;
        state.deployments[current].rollback = Some(Rollback {
            started_at: now,
            revision: completed,
            finishes_at,
        });
        Ok(())
    }
}

impl History {
    /// The index of the service's current (newest) service deployment.
    fn current_deployment_of(&self, service_arn: &str) -> Result<usize, String> {
        let record = self
            .services
            .values()
            .find(|record| record.seen.arn == service_arn)
            .ok_or_else(|| format!("the front has no record of {service_arn}"))?;
        record
            .deployments
            .last()
            .copied()
            .ok_or_else(|| format!("{service_arn} has no service deployment"))
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// A revision and the service deployment that deploys it, complete once the revision resolves.
    fn add_deployment(
        &mut self,
        seen: SeenService,
        images: TaskDefinitionImages,
        created_at: f64,
        resolves_at: f64,
        sources: Vec<usize>,
        ecs_id: Option<String>,
    ) {
        let revision_arn = sibling_arn(&seen, "service-revision", self.next_id());
        let revision = self.revisions.len();
        self.revisions.push(Revision {
            arn: revision_arn.clone(),
            key: seen.key.clone(),
            task_definition: images,
            created_at,
            resolves_at,
        });
        self.revision_by_arn.insert(revision_arn, revision);
        let deployment_arn = sibling_arn(&seen, "service-deployment", self.next_id());
        let deployment = self.deployments.len();
        self.deployments.push(Deployment {
            arn: deployment_arn.clone(),
            key: seen.key.clone(),
            target: revision,
            sources,
            created_at,
            completes_at: if self.hold_rollouts { f64::INFINITY } else { resolves_at },
            rollback: None,
            ecs_id,
        });
        self.deployment_by_arn.insert(deployment_arn, deployment);
        let record = self.services.entry(seen.key.clone()).or_insert_with(|| ServiceRecord {
            seen: seen.clone(),
            revisions: Vec::new(),
            deployments: Vec::new(),
        });
        record.seen = seen;
        record.revisions.push(revision);
        record.deployments.push(deployment);
    }

    /// The revisions the service runs now, the one it converges to first: while a deployment is in
    /// progress its target and what it replaces; after a rollback only the revision rolled back to.
    fn current(&self, record: &ServiceRecord, now: f64) -> Vec<(usize, Phase)> {
        let Some(&newest) = record.deployments.last() else {
            return Vec::new();
        };
        let deployment = &self.deployments[newest];
        match &deployment.rollback {
            Some(rollback) => vec![(rollback.revision, Phase::Steady)],
            None if now >= deployment.completes_at => vec![(deployment.target, Phase::Steady)],
            None => std::iter::once((deployment.target, Phase::Converging))
                .chain(deployment.sources.iter().map(|&source| (source, Phase::Draining)))
                .collect(),
        }
    }

    /// The revision a deployment left running if it has completed: its target, or what it rolled back to.
    fn completed_revision(&self, deployment: usize, now: f64) -> Option<usize> {
        let deployment = &self.deployments[deployment];
        match &deployment.rollback {
            Some(rollback) => Some(rollback.revision),
            None => (now >= deployment.completes_at).then_some(deployment.target),
        }
    }
}

/// Epoch seconds as an RFC 3339 UTC time to the second (`2026-12-07T23:10:00Z`), as EventBridge stamps events.
fn rfc3339(epoch_seconds: f64) -> String {
    chrono::DateTime::from_timestamp(epoch_seconds.floor() as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `arn:aws:ecs:REGION:ACCOUNT:<kind>/CLUSTER/SERVICE/<id>`, from the service's ARN.
fn sibling_arn(seen: &SeenService, kind: &str, id: u64) -> String {
    let prefix: Vec<&str> = seen.arn.splitn(6, ':').take(5).collect();
    let ServiceKey { cluster, service } = &seen.key;
    format!("{}:{kind}/{cluster}/{service}/{id}", prefix.join(":"))
}

#[cfg(test)]
mod tests;
