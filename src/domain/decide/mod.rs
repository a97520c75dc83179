//! The decision: does a push affect a service, and what to do with it. Pure: no SDK, no async, no
//! clock — the push's time and the service's deployments are data.
//!
//! `decide` = relate (each container to the push, `relate.rs`) → intent (the service's tag) → classify (which
//! containers to redeploy, or the closest miss; both `classify.rs`) → gate (status, opt-in, `gate.rs`) → hold
//! (a digest ECS rolled back) → truth (what the service runs, `truth.rs`) → force | pin (`redeploy.rs`).

use std::collections::BTreeMap;

use super::policy::{Method, ServicePolicy};
use super::push::{Push, Trigger};
use super::reason::Reason;
use super::running::{RolledBack, Running};
use crate::config::{NewRevisions, Select};
use crate::ecs::{Service, TaskDefinition};
use classify::{classify, intent};
use redeploy::{redeploy, retried};
use relate::{Relation, relate_containers};
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

mod classify;
mod gate;
mod redeploy;
mod relate;
#[cfg(test)]
mod tests;
mod truth;
