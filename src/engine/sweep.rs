//! The sweep: no event needed. Every tag the fleet's containers follow in the ECR registry of their own account
//! and Region is asked what it points to now — one `BatchGetImage` per repository for up to 100 of its tags —
//! and each answer becomes a push, decided like any other against what the services run. Images elsewhere
//! cannot be asked, and their services are reported `not-checkable`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use futures_util::{StreamExt, stream};
use tracing::warn;

use super::images::ManifestCache;
use super::plan::Planned;
use crate::domain::decide::{Decision, Selection, in_scope};
use crate::domain::image::{ImageRef, Registry};
use crate::domain::outcome::{Outcome, ScanFailure, ServiceId, ServiceResult, StepError};
use crate::domain::push::{Push, Trigger};
use crate::domain::reason::Reason;
use crate::ecr::{BATCH_GET_IMAGE_MAX, EcrApi};
use crate::ecs::{Service, TaskDefinition, short_name};

/// The tags in use, by registry and repository, and the services none of whose images can be asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InUse {
    pub tags: BTreeMap<(Registry, String), BTreeSet<String>>,
    /// Service position in the fleet → the images it uses that no sweep can check.
    pub not_checkable: Vec<(usize, Vec<String>)>,
}

/// Pure: what the services in scope follow. A container follows a tag of an ECR repository in its service's own
/// registry when it names the tag without a digest, or with a digest ecs-redeploy pinned; a hand-written
/// `tag@digest` or a bare digest follows nothing.
pub fn in_use(fleet: &[(Service, Arc<TaskDefinition>)], selection: Selection) -> InUse {
    let mut found = InUse::default();
    for (position, (service, task_definition)) in fleet.iter().enumerate() {
        if !in_scope(service, selection) {
            continue;
        }
        let own = own_registry(&service.arn);
        let mut followed = 0;
        let mut elsewhere = Vec::new();
        for container in &task_definition.containers {
            let Ok(image) = ImageRef::parse(&container.image) else {
                elsewhere.push(container.image.clone());
                continue;
            };
            if own.as_ref() != Some(&image.registry) {
                elsewhere.push(container.image.clone());
                continue;
            }
            let follows = image.digest.is_none() || task_definition.pinned.contains(&container.name);
            if let (true, Some(tag)) = (follows, image.effective_tag()) {
                found
                    .tags
                    .entry((image.registry.clone(), image.repository.clone()))
                    .or_default()
                    .insert(tag.to_owned());
                followed += 1;
            }
        }
        if followed == 0 && !elsewhere.is_empty() {
            found.not_checkable.push((position, elsewhere));
        }
    }
    found
}

/// The ECR registry of the account and Region in a service ARN (`arn:aws:ecs:REGION:ACCOUNT:service/…`).
pub(super) fn own_registry(service_arn: &str) -> Option<Registry> {
    let mut parts = service_arn.split(':').skip(3);
    let (region, account) = (parts.next()?, parts.next()?);
    Registry::ecr(account, region).ok()
}

/// What each tag in use points to now, as pushes found by the sweep. A lookup a retry may get past is a scan
/// failure (the services following those tags were not checked); a refused one (a repository outside the
/// function's `RepositoryFilter`, or gone) is logged and skipped, so it never fails every sweep.
pub async fn current<R: EcrApi>(
    ecr: &R,
    tags: &BTreeMap<(Registry, String), BTreeSet<String>>,
    manifests: &ManifestCache,
    limit: usize,
) -> (Vec<Push>, Vec<ScanFailure>) {
    let requests: Vec<(&Registry, &str, Vec<String>)> = tags
        .iter()
        .flat_map(|((registry, repository), tags)| {
            let tags: Vec<String> = tags.iter().cloned().collect();
            tags.chunks(BATCH_GET_IMAGE_MAX)
                .map(|chunk| (registry, repository.as_str(), chunk.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    let answers: Vec<_> = stream::iter(requests)
        .map(|(registry, repository, tags)| async move {
            let Registry::Ecr { account, .. } = registry else {
                unreachable!("only ECR registries are in use by the sweep");
            };
            (
                registry,
                repository,
                ecr.tagged_images(account, repository, &tags).await,
            )
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    let mut pushes = Vec::new();
    let mut failures = Vec::new();
    for (registry, repository, answer) in answers {
        match answer {
            Ok(images) => {
                for (tag, image) in images {
                    manifests.insert(&image.digest, image.manifest);
                    pushes.push(Push {
                        registry: registry.clone(),
                        repository: repository.to_owned(),
                        tag,
                        digest: Some(image.digest),
                        event_id: None,
                        time: None,
                        replicated_from: None,
                        trigger: Trigger::Sweep,
                        retry_rolled_back: false,
                    });
                }
            }
            Err(error) if !error.retryable() => warn!(
                repository,
                reason = "repository-not-readable",
                %error,
                "skipped: the sweep cannot read this repository's tags; its services are left as they are"
            ),
            Err(error) => failures.push(ScanFailure {
                cluster: None,
                step: "ecr-tags",
                error: StepError::Ecr(error),
            }),
        }
    }
    pushes.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    (pushes, failures)
}

/// What a sweep adds to a run: a push for every tag in use (what it points to now), the steps that failed,
/// and a skip for each service none of whose images can be checked.
#[derive(Debug, Default)]
pub struct Findings {
    pub pushes: Vec<Push>,
    pub failures: Vec<ScanFailure>,
    pub not_checkable: Vec<ServiceResult>,
}

/// A sweep's findings. Without a registry to ask, no tag is read.
pub async fn findings<R: EcrApi>(
    fleet: &[(Service, Arc<TaskDefinition>)],
    selection: Selection<'_>,
    ecr: Option<&R>,
    manifests: &ManifestCache,
    limit: usize,
) -> Findings {
    let in_use = in_use(fleet, selection);
    let (pushes, failures) = match ecr {
        Some(ecr) => current(ecr, &in_use.tags, manifests, limit).await,
        None => (Vec::new(), Vec::new()),
    };
    Findings {
        pushes,
        failures,
        not_checkable: not_checkable(fleet, in_use.not_checkable),
    }
}

/// A service some push relates to (in another registry, say) is reported by its decision, not as not-checkable.
pub(super) fn keep_undecided(not_checkable: &mut Vec<ServiceResult>, planned: &[Planned]) {
    let decided: HashSet<&str> = planned.iter().map(|p| p.service.arn.as_str()).collect();
    not_checkable.retain(|r| !decided.contains(r.service.arn.as_str()));
}

/// A skip for each service whose images no sweep can check.
pub fn not_checkable(
    fleet: &[(Service, Arc<TaskDefinition>)],
    services: Vec<(usize, Vec<String>)>,
) -> Vec<ServiceResult> {
    services
        .into_iter()
        .map(|(position, images)| {
            let (service, task_definition) = &fleet[position];
            let detail = format!(
                "no image in this account's and Region's ECR registry: {} (a sweep asks only that registry; pushes \
                 to the others still redeploy through their events)",
                images.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
            );
            ServiceResult {
                service: ServiceId {
                    cluster: short_name(&service.cluster_arn).to_owned(),
                    name: service.name.clone(),
                    arn: service.arn.clone(),
                },
                task_definition: Some(task_definition.arn.clone()),
                decision: Decision::skip(Reason::NotCheckable, detail),
                pushes: Vec::new(),
                outcome: Outcome::Skipped,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
