//! The decision: does a push affect a service, and what to do with it. Pure: no SDK, no async.

use serde::Serialize;

use crate::config::Select;
use crate::ecs::{Container, Service, TaskDefinition, VersionConsistency};
use crate::event::Push;
use crate::image::{ImageRef, Registry};

const OPT_OUT: &str = "off";
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

/// Why a service is redeployed or skipped; `code()` is the stable name in reports and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    ImageMatch,
    OptedOut,
    NotOptedIn,
    ServiceNotActive,
    DigestPinned,
    TagMismatch,
    OtherRegistry,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::ImageMatch => "image-match",
            Reason::OptedOut => "opted-out",
            Reason::NotOptedIn => "not-opted-in",
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
    pub reason: Reason,
    /// One human sentence naming the container and image behind the reason.
    pub detail: String,
    /// Containers that use the pushed image.
    pub containers: Vec<String>,
    pub warnings: Vec<String>,
}

/// How a service's tags select it.
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    pub tag_key: &'a str,
    pub select: Select,
}

/// Why a container that refers to the pushed repository does not match it, closest first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Miss {
    DigestPinned,
    TagMismatch(String),
    OtherRegistry(Registry),
}

/// Decides for one service. `None`: no container refers to the pushed repository at all, so the
/// service is unrelated to the push and not worth a report line.
pub fn decide(
    push: &Push,
    service: &Service,
    task_definition: &TaskDefinition,
    selection: Selection,
) -> Option<Decision> {
    let image = ImageRef {
        digest: None,
        ..push.image()
    };
    let mut matched: Vec<&Container> = Vec::new();
    let mut misses: Vec<(Miss, &Container)> = Vec::new();
    for container in &task_definition.containers {
        let Ok(reference) = ImageRef::parse(&container.image) else {
            continue;
        };
        match compare(push, &reference) {
            Some(Ok(())) => matched.push(container),
            Some(Err(miss)) => misses.push((miss, container)),
            None => {}
        }
    }

    if matched.is_empty() {
        let (closest, container) = misses.into_iter().min_by(|a, b| a.0.cmp(&b.0))?;
        let name = &container.name;
        let (reason, detail) = match closest {
            Miss::DigestPinned => (
                Reason::DigestPinned,
                format!(
                    "container `{name}` is pinned by digest (`{}`); a force redeploy would not change it",
                    container.image
                ),
            ),
            Miss::TagMismatch(tag) => (
                Reason::TagMismatch,
                format!("container `{name}` uses tag `{tag}`, not `{}`", push.tag),
            ),
            Miss::OtherRegistry(registry) => (
                Reason::OtherRegistry,
                format!(
                    "container `{name}` uses `{}` from registry `{registry}`, not `{}`",
                    push.repository, push.registry
                ),
            ),
        };
        return Some(skip(reason, detail));
    }

    let containers: Vec<String> = matched.iter().map(|c| c.name.clone()).collect();
    let names = containers
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if service.status != ACTIVE {
        return Some(Decision {
            containers,
            ..skip(
                Reason::ServiceNotActive,
                format!("service is {}, not {ACTIVE}", service.status),
            )
        });
    }
    let tag_value = service.tags.get(selection.tag_key).map(|v| v.trim());
    if tag_value.is_some_and(|v| v.eq_ignore_ascii_case(OPT_OUT)) {
        return Some(Decision {
            containers,
            ..skip(Reason::OptedOut, format!("tag `{}` is `{OPT_OUT}`", selection.tag_key))
        });
    }
    if selection.select == Select::OptedIn && tag_value.is_none() {
        return Some(Decision {
            containers,
            ..skip(
                Reason::NotOptedIn,
                format!("SELECT=opted-in and the service has no `{}` tag", selection.tag_key),
            )
        });
    }
    let warnings = matched
        .iter()
        .filter(|c| c.version_consistency == VersionConsistency::Disabled)
        .map(|c| {
            format!(
                "container `{}` has versionConsistency disabled: its tasks may keep a cached image; pin mode is the remedy",
                c.name
            )
        })
        .collect();
    Some(Decision {
        action: Action::Redeploy,
        reason: Reason::ImageMatch,
        detail: format!("{names} use{} `{image}`", if containers.len() == 1 { "s" } else { "" }),
        containers,
        warnings,
    })
}

fn skip(reason: Reason, detail: String) -> Decision {
    Decision {
        action: Action::Skip,
        reason,
        detail,
        containers: Vec::new(),
        warnings: Vec::new(),
    }
}

/// `None` when the container does not refer to the pushed repository in any registry.
/// A Docker Hub short name (`app` → `docker.io/library/app`) counts as a reference to repository
/// `app` elsewhere, so a service that meant the ECR repository learns why it did not match.
fn compare(push: &Push, reference: &ImageRef) -> Option<Result<(), Miss>> {
    let same_repository = reference.repository == push.repository;
    let hub_short_name = reference.registry == Registry::Host("docker.io".into())
        && reference.repository.strip_prefix("library/") == Some(push.repository.as_str());
    if !same_repository && !hub_short_name {
        return None;
    }
    if reference.registry != push.registry || !same_repository {
        return Some(Err(Miss::OtherRegistry(reference.registry.clone())));
    }
    if reference.digest.is_some() {
        return Some(Err(Miss::DigestPinned));
    }
    match reference.effective_tag() {
        Some(tag) if tag == push.tag => Some(Ok(())),
        Some(tag) => Some(Err(Miss::TagMismatch(tag.to_owned()))),
        None => Some(Err(Miss::DigestPinned)),
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
