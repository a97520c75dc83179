//! The decision: does a push affect a service, and what to do with it. Pure: no SDK, no async.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{DefaultAction, Select};
use crate::ecs::{Container, Service, TaskDefinition, VersionConsistency};
use crate::event::Push;
use crate::image::{ImageRef, Registry};
use crate::policy::{ServicePolicy, TagPolicy, Verdict};

const ACTIVE: &str = "ACTIVE";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Redeploy,
    Skip,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Redeploy => "redeploy",
            Action::Skip => "skip",
        }
    }
}

/// How a service is redeployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `forceNewDeployment` of the same task definition: tags are resolved anew.
    Force,
    /// A new task-definition revision whose matching containers name the pushed digest.
    Pin,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Force => "force",
            Method::Pin => "pin",
        }
    }
}

/// Why a service is redeployed or skipped; `code()` is the stable name in reports and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    ImageMatch,
    PolicyMatch,
    AlreadyDeployed,
    /// A concurrent delivery of the same push holds the deploy lock.
    InProgress,
    OptedOut,
    NotOptedIn,
    InvalidPolicy,
    PolicyRejected,
    NoDigest,
    ServiceNotActive,
    DigestPinned,
    TagMismatch,
    OtherRegistry,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::ImageMatch => "image-match",
            Reason::PolicyMatch => "policy-match",
            Reason::AlreadyDeployed => "already-deployed",
            Reason::InProgress => "in-progress",
            Reason::OptedOut => "opted-out",
            Reason::NotOptedIn => "not-opted-in",
            Reason::InvalidPolicy => "invalid-policy",
            Reason::PolicyRejected => "policy-rejected",
            Reason::NoDigest => "no-digest",
            Reason::ServiceNotActive => "service-not-active",
            Reason::DigestPinned => "digest-pinned",
            Reason::TagMismatch => "tag-mismatch",
            Reason::OtherRegistry => "other-registry",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// `Some` exactly when the action is `Redeploy`.
    pub method: Option<Method>,
    pub reason: Reason,
    /// One human sentence naming the container and image behind the reason.
    pub detail: String,
    /// Containers the redeploy is for.
    pub containers: Vec<String>,
    /// For `Pin`: container name → the image its new revision names.
    pub images: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// How services are selected and what they get by default.
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    pub tag_key: &'a str,
    pub select: Select,
    pub default_action: DefaultAction,
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
    OtherTag(String),
    /// Pinned by digest only, to another digest.
    DigestOnly,
    OtherRegistry(Registry),
}

/// The service's wish, from its tag and the defaults.
enum Mode<'p> {
    Force,
    Pin,
    Track(&'p TagPolicy),
}

/// Decides for one service. `None`: no container refers to the pushed repository at all, so the
/// service is unrelated to the push and not worth a report line.
pub fn decide(
    push: &Push,
    service: &Service,
    task_definition: &TaskDefinition,
    selection: Selection,
) -> Option<Decision> {
    let related: Vec<(&Container, Relation)> = task_definition
        .containers
        .iter()
        .filter_map(|c| relate(push, &ImageRef::parse(&c.image).ok()?).map(|r| (c, r)))
        .collect();
    if related.is_empty() {
        return None;
    }
    let tag_value = service.tags.get(selection.tag_key).map(String::as_str);
    let policy = match tag_value.map(ServicePolicy::parse).transpose() {
        Ok(policy) => policy,
        Err(error) => return Some(skip(Reason::InvalidPolicy, error.to_string())),
    };
    let mode = match (&policy, selection.default_action) {
        (Some(ServicePolicy::Force), _) => Mode::Force,
        (Some(ServicePolicy::Pin), _) => Mode::Pin,
        (Some(ServicePolicy::Track(tag_policy)), _) => Mode::Track(tag_policy),
        (_, DefaultAction::Force) => Mode::Force,
        (_, DefaultAction::Pin) => Mode::Pin,
    };

    // Containers to redeploy, and whether a policy moves them to the pushed tag from another.
    let mut candidates: Vec<&Container> = Vec::new();
    let mut follows_policy = false;
    let mut closest: Option<(u8, Reason, String)> = None;
    let mut miss = |rank: u8, reason: Reason, detail: String| {
        if closest.as_ref().is_none_or(|(r, _, _)| rank < *r) {
            closest = Some((rank, reason, detail));
        }
    };
    for (container, relation) in &related {
        let name = &container.name;
        match (relation, &mode) {
            (Relation::SameTag, _) | (Relation::SameTagOtherDigest, Mode::Pin | Mode::Track(_)) => {
                candidates.push(container);
            }
            (Relation::AlreadyPinned, _) => miss(
                0,
                Reason::AlreadyDeployed,
                format!("container `{name}` already runs the pushed digest"),
            ),
            (Relation::OtherTag(current), Mode::Track(tag_policy)) => match tag_policy.evaluate(current, &push.tag) {
                Verdict::Accept => {
                    candidates.push(container);
                    follows_policy = true;
                }
                Verdict::Reject(why) => miss(
                    1,
                    Reason::PolicyRejected,
                    format!(
                        "`{tag_policy}` keeps container `{name}` on `{current}`: {why} ({})",
                        why.code()
                    ),
                ),
            },
            (Relation::SameTagOtherDigest, Mode::Force) => miss(
                2,
                Reason::DigestPinned,
                format!(
                    "container `{name}` is pinned by digest (`{}`), which a force redeploy does not change; \
                     tag the service `pin` to follow `{}`",
                    container.image, push.tag
                ),
            ),
            (Relation::DigestOnly, _) => miss(
                2,
                Reason::DigestPinned,
                format!(
                    "container `{name}` is pinned by digest only (`{}`): nothing says which tag it follows",
                    container.image
                ),
            ),
            (Relation::OtherTag(current), _) => miss(
                3,
                Reason::TagMismatch,
                format!("container `{name}` uses tag `{current}`, not `{}`", push.tag),
            ),
            (Relation::OtherRegistry(registry), _) => miss(
                4,
                Reason::OtherRegistry,
                format!(
                    "container `{name}` uses `{}` from registry `{registry}`, not `{}`",
                    push.repository, push.registry
                ),
            ),
        }
    }
    if candidates.is_empty() {
        let (_, reason, detail) = closest?;
        return Some(skip(reason, detail));
    }
    let containers: Vec<String> = candidates.iter().map(|c| c.name.clone()).collect();
    let with_containers = |decision: Decision| Decision {
        containers: containers.clone(),
        ..decision
    };

    if service.status != ACTIVE {
        let detail = format!("service is {}, not {ACTIVE}", service.status);
        return Some(with_containers(skip(Reason::ServiceNotActive, detail)));
    }
    match (&policy, selection.select) {
        (Some(ServicePolicy::Off), _) => {
            let detail = format!("tag `{}` is `off`", selection.tag_key);
            return Some(with_containers(skip(Reason::OptedOut, detail)));
        }
        (None, Select::OptedIn) => {
            let detail = format!("SELECT=opted-in and the service has no `{}` tag", selection.tag_key);
            return Some(with_containers(skip(Reason::NotOptedIn, detail)));
        }
        _ => {}
    }

    let names = containers
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let uses = if containers.len() == 1 { "uses" } else { "use" };
    let pushed = ImageRef {
        digest: None,
        ..push.image()
    };
    if let Mode::Force = mode {
        // The event's time has whole seconds: the push may have finished anywhere in that second,
        // so only a deployment from the next second on surely started after it.
        if let (Some(deployed), Some(pushed_at)) = (newest_deployment_time(service), push.time)
            && deployed >= pushed_at + chrono::TimeDelta::seconds(1)
        {
            let detail = format!("the newest deployment started at {deployed}, after the push at {pushed_at}");
            return Some(with_containers(skip(Reason::AlreadyDeployed, detail)));
        }
        let warnings = candidates
            .iter()
            .filter(|c| c.version_consistency == VersionConsistency::Disabled)
            .map(|c| {
                format!(
                    "container `{}` has versionConsistency disabled: its tasks may keep a cached image; pin mode is the remedy",
                    c.name
                )
            })
            .collect();
        return Some(Decision {
            action: Action::Redeploy,
            method: Some(Method::Force),
            reason: Reason::ImageMatch,
            detail: format!("{names} {uses} `{pushed}`"),
            containers,
            images: BTreeMap::new(),
            warnings,
        });
    }

    let Some(digest) = &push.digest else {
        let detail = "pinning needs the pushed digest; the push names none".to_owned();
        return Some(with_containers(skip(Reason::NoDigest, detail)));
    };
    // The tag stays beside the digest: it says what the container follows, the digest what it runs.
    let pinned = ImageRef {
        digest: Some(digest.clone()),
        ..push.image()
    }
    .to_string();
    let images: BTreeMap<String, String> = candidates.iter().map(|c| (c.name.clone(), pinned.clone())).collect();
    let (reason, detail) = match &mode {
        Mode::Track(tag_policy) if follows_policy => (
            Reason::PolicyMatch,
            format!(
                "`{tag_policy}` accepts `{}`: {names} move to it, pinned by digest",
                push.tag
            ),
        ),
        _ => (
            Reason::ImageMatch,
            format!("{names} {uses} `{pushed}`; pinning to {digest}"),
        ),
    };
    Some(Decision {
        action: Action::Redeploy,
        method: Some(Method::Pin),
        reason,
        detail,
        containers,
        images,
        warnings: Vec::new(),
    })
}

fn skip(reason: Reason, detail: String) -> Decision {
    Decision {
        action: Action::Skip,
        method: None,
        reason,
        detail,
        containers: Vec::new(),
        images: BTreeMap::new(),
        warnings: Vec::new(),
    }
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
        (Some(tag), _) => Relation::OtherTag(tag.to_owned()),
        (None, _) => Relation::DigestOnly,
    })
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
