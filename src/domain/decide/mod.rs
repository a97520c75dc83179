//! The decision: does a push affect a service, and what to do with it. Pure: no SDK, no async, no
//! clock — the push's time and the service's deployments are data.
//!
//! `decide` = relate (each container to the push) → intent (the service's tag) → classify (which
//! containers to redeploy, or the closest miss) → gate (status, opt-in) → hold (a digest ECS rolled back) →
//! truth (what the service runs) → force | pin.

use std::collections::{BTreeMap, BTreeSet};

use super::image::{ImageRef, Registry};
use super::policy::{Method, ServicePolicy, TagPolicy, Verdict};
use super::push::{Push, Trigger};
use super::reason::Reason;
use super::running::{RolledBack, Running, Unknown};
use crate::config::{NewRevisions, Select};
use crate::ecs::{Container, Service, TaskDefinition, VersionConsistency};
use truth::Truth;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Redeploy(Method),
    Skip,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Redeploy(_) => "redeploy",
            Action::Skip => "skip",
        }
    }

    pub fn method(self) -> Option<Method> {
        match self {
            Action::Redeploy(method) => Some(method),
            Action::Skip => None,
        }
    }
}

/// The report's `decision`: `redeploy` or `skip` (its `method` says how).
impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub reason: Reason,
    /// One human sentence naming the container and image behind the reason.
    pub detail: String,
    /// Containers the redeploy is for.
    pub containers: Vec<String>,
    /// For `Pin`: container name → the image its new revision names.
    pub images: BTreeMap<String, String>,
    pub warnings: Vec<String>,
    /// Container → the digest it runs (`None`: not resolved yet), for the containers the decision is about,
    /// when ECS recorded them.
    pub running: BTreeMap<String, Option<String>>,
    /// For a redeploy: container → the pushed digest it moves to.
    pub to: BTreeMap<String, String>,
}

impl Decision {
    pub fn skip(reason: Reason, detail: String) -> Self {
        Decision {
            action: Action::Skip,
            reason,
            detail,
            containers: Vec::new(),
            images: BTreeMap::new(),
            warnings: Vec::new(),
            running: BTreeMap::new(),
            to: BTreeMap::new(),
        }
    }
}

/// How services are selected and what they get by default.
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    pub tag_key: &'a str,
    pub select: Select,
    pub default_method: Method,
    pub new_revisions: NewRevisions,
}

/// How one container that refers to the pushed repository relates to the push.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Relation {
    /// Same registry, repository and tag, no digest: what a force redeploy refreshes.
    SameTag,
    /// Same tag, pinned to another digest: pin mode moves it to the pushed one.
    SameTagOtherDigest,
    /// Pinned to exactly the pushed digest.
    AlreadyPinned,
    /// Same registry and repository, another tag: a policy may follow the push.
    OtherTag {
        tag: String,
        digest: bool,
    },
    /// Pinned by digest only, to another digest.
    DigestOnly,
    OtherRegistry(Registry),
}

/// What the service asks for: a method, and with a tag policy the policy other tags must satisfy
/// (a policy always pins: the tag it moves to is written into a new revision).
struct Intent<'p> {
    method: Method,
    policy: Option<&'p TagPolicy>,
}

/// The containers to redeploy, and whether a tag policy moves them from another tag.
struct Candidates<'c> {
    containers: Vec<&'c Container>,
    follows_policy: bool,
}

/// Decides for one service. `None`: no container refers to the pushed repository at all, so the
/// service is unrelated to the push and not worth a report line. `running` is what the service runs;
/// `rolled_back` a deployment of it that ECS rolled back (its current one, or one the function's own record keeps);
/// `manifests` are the platform manifests of a pushed image index (they stand for the push too).
pub fn decide(
    push: &Push,
    service: &Service,
    task_definition: &TaskDefinition,
    running: &Running,
    rolled_back: Option<&RolledBack>,
    manifests: &[String],
    selection: Selection,
) -> Option<Decision> {
    let mut related = relate_containers(push, task_definition);
    if push.trigger == Trigger::Sweep {
        // A sweep's push is a tag of this registry it read, not news for another registry's images: those are
        // reported `not-checkable` by the sweep itself.
        related.retain(|(_, relation)| !matches!(relation, Relation::OtherRegistry(_)));
    }
    if related.is_empty() {
        return None;
    }
    let policy = match service
        .tags
        .get(selection.tag_key)
        .map(|v| ServicePolicy::parse(v))
        .transpose()
    {
        Ok(policy) => policy,
        Err(error) => return Some(Decision::skip(Reason::InvalidPolicy, error.to_string())),
    };
    let intent = intent(policy.as_ref(), selection.default_method);
    let candidates = match classify(push, &related, &intent, &task_definition.pinned) {
        Ok(candidates) => candidates,
        Err((reason, detail)) => return Some(Decision::skip(reason, detail)),
    };
    let containers: Vec<String> = candidates.containers.iter().map(|c| c.name.clone()).collect();
    let pushed: Vec<&str> = push.digest.iter().chain(manifests).map(String::as_str).collect();
    let held = rolled_back
        .map(|r| {
            (
                r,
                truth::rolled_back_containers(push, r, &candidates.containers, &pushed),
            )
        })
        .filter(|(_, held)| !held.is_empty());
    let decision = match (gate::gate(service, policy.as_ref(), selection), held) {
        (Some(skip), _) => skip,
        (None, Some((rolled_back, held))) if !push.retry_rolled_back => truth::held(push, rolled_back, &held),
        (None, held) => retried(
            held.map(|(r, _)| r),
            match truth::check(push, running, &candidates.containers, &pushed) {
                Truth::Skip(skip) => skip,
                Truth::Redeploy => {
                    let decision = redeploy(push, service, &candidates, &intent, None);
                    match running {
                        // Say why a deployment after the push did not count: the service went back.
                        Running::Known(revision) if revision.rolled_back_to && decision.action != Action::Skip => {
                            Decision {
                                detail: format!(
                                    "{}; a rollback returned the service to an older revision",
                                    decision.detail
                                ),
                                ..decision
                            }
                        }
                        _ => decision,
                    }
                }
                Truth::Unknown(why) if push.trigger == Trigger::Sweep => Decision::skip(
                    Reason::RunningUnknown,
                    format!("{why}: a sweep redeploys only the drift it can see"),
                ),
                Truth::Unknown(why) => redeploy(push, service, &candidates, &intent, Some(why)),
            },
        ),
    };
    let decision = match decision.action {
        Action::Redeploy(Method::Pin) if selection.new_revisions == NewRevisions::Disabled => Decision::skip(
            Reason::RevisionsDisabled,
            format!(
                "{}: that takes a new task-definition revision, and NEW_REVISIONS=disabled registers none (the role \
                 may not): set the stack's NewRevisions parameter (CDK: newRevisions) to Enabled",
                decision.detail
            ),
        ),
        _ => decision,
    };
    let to = match (decision.action, &push.digest) {
        (Action::Redeploy(_), Some(digest)) => containers.iter().map(|c| (c.clone(), digest.clone())).collect(),
        _ => BTreeMap::new(),
    };
    Some(Decision {
        containers,
        running: truth::running_digests(running, &candidates.containers),
        to,
        ..decision
    })
}

/// A redeploy of a digest ECS rolled back, asked for by a person (`--retry-rolled-back`), says so.
fn retried(rolled_back: Option<&RolledBack>, decision: Decision) -> Decision {
    match rolled_back {
        Some(rolled_back) if decision.action != Action::Skip => {
            let mut decision = decision;
            decision.warnings.push(format!(
                "ECS rolled back deployment {} of this digest; deployed again as asked (--retry-rolled-back)",
                rolled_back
                    .deployment
                    .rsplit('/')
                    .next()
                    .unwrap_or(&rolled_back.deployment)
            ));
            decision
        }
        _ => decision,
    }
}

/// Force or pin. `unknown`: why what the service runs is not known; force then falls back to deployment times.
fn redeploy(
    push: &Push,
    service: &Service,
    candidates: &Candidates,
    intent: &Intent,
    unknown: Option<&Unknown>,
) -> Decision {
    let mut decision = match intent.method {
        Method::Force => force(push, service, candidates, unknown.is_some()),
        Method::Pin => pin(push, candidates, intent),
    };
    if let Some(why) = unknown {
        decision
            .warnings
            .push(format!("{why}: decided without the running digests"));
    }
    decision
}

/// Whether the service may be redeployed at all (active, not opted out, opted in when it must be, a controller
/// `UpdateService` drives); an invalid policy tag counts as in scope, so its decision reports it.
pub fn in_scope(service: &Service, selection: Selection) -> bool {
    match service.tags.get(selection.tag_key).map(|v| ServicePolicy::parse(v)) {
        // The service's decision reports the invalid tag.
        Some(Err(_)) => true,
        Some(Ok(policy)) => gate::gate(service, Some(&policy), selection).is_none(),
        None => gate::gate(service, None, selection).is_none(),
    }
}

/// Whether a container of the task definition refers to the pushed repository (in any registry).
pub fn refers_to(push: &Push, task_definition: &TaskDefinition) -> bool {
    !relate_containers(push, task_definition).is_empty()
}

/// Every container that refers to the pushed repository, with how it relates to the push.
fn relate_containers<'t>(push: &Push, task_definition: &'t TaskDefinition) -> Vec<(&'t Container, Relation)> {
    task_definition
        .containers
        .iter()
        .filter_map(|c| relate(push, &ImageRef::parse(&c.image).ok()?).map(|r| (c, r)))
        .collect()
}

fn intent(policy: Option<&ServicePolicy>, default_method: Method) -> Intent<'_> {
    match policy {
        Some(ServicePolicy::Method(method)) => Intent {
            method: *method,
            policy: None,
        },
        Some(ServicePolicy::Track(tag_policy)) => Intent {
            method: Method::Pin,
            policy: Some(tag_policy),
        },
        Some(ServicePolicy::Off | ServicePolicy::Default) | None => Intent {
            method: default_method,
            policy: None,
        },
    }
}

/// The containers the intent redeploys; with none, the closest miss as a skip. `pinned` names the containers
/// whose `tag@digest` ecs-redeploy wrote: only those does pin mode move to a newer digest.
fn classify<'c>(
    push: &Push,
    related: &[(&'c Container, Relation)],
    intent: &Intent,
    pinned: &BTreeSet<String>,
) -> Result<Candidates<'c>, (Reason, String)> {
    let mut candidates = Candidates {
        containers: Vec::new(),
        follows_policy: false,
    };
    let mut misses: Vec<(Reason, String)> = Vec::new();
    for (container, relation) in related {
        let name = &container.name;
        match (relation, intent.policy) {
            (Relation::SameTag, _) => candidates.containers.push(container),
            (Relation::SameTagOtherDigest, _) if intent.method == Method::Pin && pinned.contains(name) => {
                candidates.containers.push(container)
            }
            (Relation::SameTagOtherDigest, _) if intent.method == Method::Pin => misses.push((
                Reason::DigestPinned,
                format!(
                    "container `{name}` is pinned by hand (`{}`; ecs-redeploy did not write that digest): a \
                     deliberate pin is left alone; drop the digest to follow `{}`",
                    container.image, push.tag
                ),
            )),
            (Relation::AlreadyPinned, _) => misses.push((
                Reason::AlreadyDeployed,
                format!("container `{name}` already runs the pushed digest"),
            )),
            (Relation::OtherTag { digest: true, .. }, Some(_)) if !pinned.contains(name) => misses.push((
                Reason::DigestPinned,
                format!(
                    "container `{name}` is pinned by hand (`{}`; ecs-redeploy did not write that digest): a \
                     deliberate pin is left alone; drop the digest to let the tag policy move it",
                    container.image
                ),
            )),
            (Relation::OtherTag { tag: current, .. }, Some(tag_policy)) => {
                match tag_policy.evaluate(current, &push.tag) {
                    Verdict::Accept => {
                        candidates.containers.push(container);
                        candidates.follows_policy = true;
                    }
                    Verdict::Reject(why) => misses.push((
                        Reason::PolicyRejected,
                        format!(
                            "`{tag_policy}` keeps container `{name}` on `{current}`: {why} ({})",
                            why.code()
                        ),
                    )),
                }
            }
            (Relation::SameTagOtherDigest, _) => misses.push((
                Reason::DigestPinned,
                format!(
                    "container `{name}` is pinned by digest (`{}`), which a force redeploy does not change; \
                     tag the service `pin` to follow `{}`",
                    container.image, push.tag
                ),
            )),
            (Relation::DigestOnly, _) => misses.push((
                Reason::DigestPinned,
                format!(
                    "container `{name}` is pinned by digest only (`{}`): nothing says which tag it follows",
                    container.image
                ),
            )),
            (Relation::OtherTag { tag: current, .. }, None) => misses.push((
                Reason::TagMismatch,
                format!("container `{name}` uses tag `{current}`, not `{}`", push.tag),
            )),
            (Relation::OtherRegistry(registry), _) => misses.push((
                Reason::OtherRegistry,
                format!(
                    "container `{name}` uses `{}` from registry `{registry}`, not `{}`",
                    push.repository, push.registry
                ),
            )),
        }
    }
    if !candidates.containers.is_empty() {
        return Ok(candidates);
    }
    // `related` is not empty, so neither are the misses; the first of the closest wins.
    let (reason, detail) = misses
        .into_iter()
        .min_by_key(|(reason, _)| *reason)
        .expect("a related container is a candidate or a miss");
    Err((reason, detail))
}

/// A new deployment of the same task definition. `by_time`: without running digests, unless a deployment
/// already started after the push.
fn force(push: &Push, service: &Service, candidates: &Candidates, by_time: bool) -> Decision {
    // The event's time has whole seconds: the push may have finished anywhere in that second, so
    // only a deployment from the next second on surely started after it.
    if by_time
        && let (Some(deployed), Some(pushed_at)) = (newest_deployment_time(service), push.time)
        && deployed >= pushed_at + chrono::TimeDelta::seconds(1)
    {
        let detail = format!("the newest deployment started at {deployed}, after the push at {pushed_at}");
        return Decision::skip(Reason::AlreadyDeployed, detail);
    }
    let warnings = candidates
        .containers
        .iter()
        .filter(|c| c.version_consistency == VersionConsistency::Disabled)
        .map(|c| {
            format!(
                "container `{}` has versionConsistency disabled: its tasks may keep a cached image; pin mode is the remedy",
                c.name
            )
        })
        .collect();
    let pushed = ImageRef {
        digest: None,
        ..push.image()
    };
    Decision {
        action: Action::Redeploy(Method::Force),
        detail: format!("{} `{pushed}`", names_use(candidates)),
        warnings,
        ..Decision::skip(Reason::ImageMatch, String::new())
    }
}

/// A new revision whose matching containers name the pushed digest (and tag).
fn pin(push: &Push, candidates: &Candidates, intent: &Intent) -> Decision {
    let Some(digest) = &push.digest else {
        let detail = "pinning needs the pushed digest; the push names none".to_owned();
        return Decision::skip(Reason::NoDigest, detail);
    };
    // The tag stays beside the digest: it says what the container follows, the digest what it runs.
    let pinned = push.image().to_string();
    let images = candidates
        .containers
        .iter()
        .map(|c| (c.name.clone(), pinned.clone()))
        .collect();
    let (reason, detail) = match intent.policy {
        Some(tag_policy) if candidates.follows_policy => (
            Reason::PolicyMatch,
            format!(
                "`{tag_policy}` accepts `{}`: {} move to it, pinned by digest",
                push.tag,
                names(candidates)
            ),
        ),
        _ => {
            let pushed = ImageRef {
                digest: None,
                ..push.image()
            };
            (
                Reason::ImageMatch,
                format!("{} `{pushed}`; pinning to {digest}", names_use(candidates)),
            )
        }
    };
    Decision {
        action: Action::Redeploy(Method::Pin),
        images,
        ..Decision::skip(reason, detail)
    }
}

/// "`a`, `b`"
fn names(candidates: &Candidates) -> String {
    candidates
        .containers
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "`a` uses" / "`a`, `b` use"
fn names_use(candidates: &Candidates) -> String {
    let uses = if candidates.containers.len() == 1 {
        "uses"
    } else {
        "use"
    };
    format!("{} {uses}", names(candidates))
}

fn newest_deployment_time(service: &Service) -> Option<chrono::DateTime<chrono::Utc>> {
    service.deployments.iter().filter_map(|d| d.created_at).max()
}

/// `None` when the container does not refer to the pushed repository in any registry.
/// A Docker Hub short name (`app` → `docker.io/library/app`) counts as a reference to repository
/// `app` elsewhere, so a service that meant the ECR repository learns why it did not match.
fn relate(push: &Push, reference: &ImageRef) -> Option<Relation> {
    let same_repository = reference.repository == push.repository;
    let hub_short_name = reference.registry == Registry::Host("docker.io".into())
        && reference.repository.strip_prefix("library/") == Some(push.repository.as_str());
    if !same_repository && !hub_short_name {
        return None;
    }
    if reference.registry != push.registry || !same_repository {
        return Some(Relation::OtherRegistry(reference.registry.clone()));
    }
    let pinned_to_push = reference.digest.is_some() && reference.digest == push.digest;
    Some(match (reference.effective_tag(), &reference.digest) {
        _ if pinned_to_push => Relation::AlreadyPinned,
        (Some(tag), None) if tag == push.tag => Relation::SameTag,
        (Some(tag), Some(_)) if tag == push.tag => Relation::SameTagOtherDigest,
        (Some(tag), digest) => Relation::OtherTag {
            tag: tag.to_owned(),
            digest: digest.is_some(),
        },
        (None, _) => Relation::DigestOnly,
    })
}

mod gate;
#[cfg(test)]
mod tests;
mod truth;
