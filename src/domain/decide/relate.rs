//! relate: how each container of a task definition relates to the push (same tag, another digest, another tag,
//! another registry).

use crate::domain::image::{ImageRef, Registry};
use crate::domain::push::Push;
use crate::ecs::{Container, TaskDefinition};

/// How one container that refers to the pushed repository relates to the push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Relation {
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

/// Every container that refers to the pushed repository, with how it relates to the push.
pub(super) fn relate_containers<'t>(
    push: &Push,
    task_definition: &'t TaskDefinition,
) -> Vec<(&'t Container, Relation)> {
    task_definition
        .containers
        .iter()
        .filter_map(|c| relate(push, &ImageRef::parse(&c.image).ok()?).map(|r| (c, r)))
        .collect()
}

/// `None` when the container does not refer to the pushed repository in any registry.
/// A Docker Hub short name (`app` → `docker.io/library/app`) counts as a reference to repository
/// `app` elsewhere, so a service that meant the ECR repository learns why it did not match.
pub(super) fn relate(push: &Push, reference: &ImageRef) -> Option<Relation> {
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
