//! force | pin: the redeploy decision once every check passed, and the warning of a retried rolled-back digest.

use super::classify::{Candidates, Intent};
use super::{Action, Decision};
use crate::domain::image::ImageRef;
use crate::domain::policy::Method;
use crate::domain::push::Push;
use crate::domain::reason::Reason;
use crate::domain::running::{RolledBack, Unknown};
use crate::ecs::{Service, VersionConsistency};

/// A redeploy of a digest ECS rolled back, asked for by a person (`--retry-rolled-back`), says so.
pub(super) fn retried(rolled_back: Option<&RolledBack>, decision: Decision) -> Decision {
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
pub(super) fn redeploy(
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

/// A new deployment of the same task definition. `by_time`: without running digests, unless a deployment
/// already started after the push.
pub(super) fn force(push: &Push, service: &Service, candidates: &Candidates, by_time: bool) -> Decision {
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
pub(super) fn pin(push: &Push, candidates: &Candidates, intent: &Intent) -> Decision {
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
pub(super) fn names(candidates: &Candidates) -> String {
    candidates
        .containers
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "`a` uses" / "`a`, `b` use"
pub(super) fn names_use(candidates: &Candidates) -> String {
    let uses = if candidates.containers.len() == 1 {
        "uses"
    } else {
        "use"
    };
    format!("{} {uses}", names(candidates))
}

pub(super) fn newest_deployment_time(service: &Service) -> Option<chrono::DateTime<chrono::Utc>> {
    service.deployments.iter().filter_map(|d| d.created_at).max()
}
