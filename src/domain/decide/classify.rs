//! intent and classify: what the service's tag asks for, and which related containers that redeploys (or the
//! closest miss).

use std::collections::BTreeSet;

use super::relate::Relation;
use crate::domain::policy::{Method, ServicePolicy, TagPolicy, Verdict};
use crate::domain::push::Push;
use crate::domain::reason::Reason;
use crate::ecs::Container;

/// What the service asks for: a method, and with a tag policy the policy other tags must satisfy
/// (a policy always pins: the tag it moves to is written into a new revision).
pub(super) struct Intent<'p> {
    pub(super) method: Method,
    pub(super) policy: Option<&'p TagPolicy>,
}

/// The containers to redeploy, and whether a tag policy moves them from another tag.
pub(super) struct Candidates<'c> {
    pub(super) containers: Vec<&'c Container>,
    pub(super) follows_policy: bool,
}

pub(super) fn intent(policy: Option<&ServicePolicy>, default_method: Method) -> Intent<'_> {
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
pub(super) fn classify<'c>(
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
