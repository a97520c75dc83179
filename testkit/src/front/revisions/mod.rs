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
    completes_at: f64,
    rollback: Option<Rollback>,
}

#[derive(Debug)]
struct Rollback {
    started_at: f64,
    revision: usize,
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
    pub(super) fn record_initial(&self, seen: SeenService, images: TaskDefinitionImages, created_at: f64, now: f64) {
        let mut state = self.state();
        if !state.services.contains_key(&seen.key) {
            state.add_deployment(seen, images, created_at, now, Vec::new());
        }
    }

    /// A deployment made at `created_at`: its revision and its service deployment, which replaces the
    /// revisions current until then.
    pub(super) fn record_deployment(&self, seen: SeenService, images: TaskDefinitionImages, created_at: f64, now: f64) {
        let mut state = self.state();
        let resolves_at = created_at + state.resolve_delay.as_secs_f64();
        let sources = match state.services.get(&seen.key) {
            Some(record) => state.current(record, now).into_iter().map(|(r, _)| r).collect(),
            None => Vec::new(),
        };
        state.add_deployment(seen, images, created_at, resolves_at, sources);
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
        });
        Ok(())
    }
}

impl History {
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
            completes_at: resolves_at,
            rollback: None,
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

/// `arn:aws:ecs:REGION:ACCOUNT:<kind>/CLUSTER/SERVICE/<id>`, from the service's ARN.
fn sibling_arn(seen: &SeenService, kind: &str, id: u64) -> String {
    let prefix: Vec<&str> = seen.arn.splitn(6, ':').take(5).collect();
    let ServiceKey { cluster, service } = &seen.key;
    format!("{}:{kind}/{cluster}/{service}/{id}", prefix.join(":"))
}

#[cfg(test)]
mod tests;
