//! Digest truth: whether a service already runs what was pushed, decided from the digests ECS recorded for the
//! revision the service converges to rather than from deployment times, which rollbacks and unrelated
//! deployments fool.

use std::collections::BTreeMap;

use chrono::TimeDelta;

use super::Decision;
use crate::domain::image::ImageRef;
use crate::domain::push::{Push, Trigger};
use crate::domain::reason::Reason;
use crate::domain::running::{HoldSource, RolledBack, Running, RunningRevision, Unknown};
use crate::ecs::{Container, VersionConsistency};

static NO_DIGEST_RECORDED: Unknown = Unknown::VersionConsistencyDisabled;

/// What the running digests say about a redeploy.
pub(super) enum Truth<'r> {
    /// Nothing to do: the pushed digest runs, or a deployment is resolving the tag right now.
    Skip(Decision),
    /// The containers run something else (or a digest not yet resolved by an older deployment).
    Redeploy,
    /// Digests unknown: a push falls back to deployment times; a sweep cannot tell drift.
    Unknown(&'r Unknown),
}

/// `pushed` is every digest the push stands for: its own and, for an image index, its platform manifests (ECS
/// records the index digest when the agent resolves the tag; where a platform's manifest digest is recorded
/// instead, it still counts as the push).
pub(super) fn check<'r>(push: &Push, running: &'r Running, containers: &[&Container], pushed: &[&str]) -> Truth<'r> {
    let revision = match running {
        Running::Known(revision) => revision,
        Running::Unknown(why) => return Truth::Unknown(why),
    };
    if containers
        .iter()
        .any(|c| c.version_consistency == VersionConsistency::Disabled)
    {
        return Truth::Unknown(&NO_DIGEST_RECORDED);
    }
    let digests: Vec<(&str, Option<&str>)> = containers
        .iter()
        .map(|c| {
            let digest = revision.digests.get(&c.name).and_then(Option::as_deref);
            (c.name.as_str(), digest)
        })
        .collect();
    if !pushed.is_empty() && digests.iter().all(|(_, d)| d.is_some_and(|d| pushed.contains(&d))) {
        let names = digests
            .iter()
            .map(|(c, _)| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let what = match push.trigger {
            Trigger::Push => "the pushed",
            Trigger::Sweep => "what the tag points to now,",
        };
        let detail = format!(
            "{names} already run{} {what} {} ({}{})",
            if digests.len() == 1 { "s" } else { "" },
            pushed[0],
            short_revision(revision),
            rolled_back(revision)
        );
        return Truth::Skip(Decision::skip(Reason::AlreadyRunning, detail));
    }
    let unresolved: Vec<&str> = digests.iter().filter(|(_, d)| d.is_none()).map(|(c, _)| *c).collect();
    if unresolved.is_empty() || !resolving_since_push(push, revision) {
        return Truth::Redeploy;
    }
    let since = match (push.trigger, revision.created_at) {
        (Trigger::Sweep, _) | (_, None) => String::new(),
        (Trigger::Push, Some(created)) => format!(", created at {created} after the push at {}", push_time(push)),
    };
    let detail = format!(
        "{}{since} has not resolved `{}` for {} yet: its deployment pulls what the tag points to now",
        short_revision(revision),
        push.tag,
        unresolved
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    Truth::Skip(Decision::skip(Reason::RollingOut, detail))
}

/// The containers a rolled-back deployment ran (or was to run) on a digest of the push: deploying the push again
/// would start what ECS gave up on. A target whose tag was never resolved was to run the push when it was made
/// after it (an event's push; a sweep's has no time, so it cannot tell). Empty: the push is something else.
pub(super) fn rolled_back_containers<'c>(
    push: &Push,
    rolled_back: &RolledBack,
    containers: &[&'c Container],
    pushed: &[&str],
) -> Vec<&'c Container> {
    let made_after_push = match (push.trigger, push.time, rolled_back.target_created_at) {
        (Trigger::Push, Some(pushed_at), Some(created)) => created >= pushed_at + TimeDelta::seconds(1),
        _ => false,
    };
    containers
        .iter()
        .copied()
        .filter(|c| match rolled_back.digests.get(&c.name) {
            Some(Some(digest)) => pushed.contains(&digest.as_str()),
            Some(None) => made_after_push,
            None => false,
        })
        .collect()
}

/// The skip of a push whose digest ECS rolled back: the deployment, ECS's reason, when, and the way out.
pub(super) fn held(push: &Push, rolled_back: &RolledBack, held: &[&Container]) -> Decision {
    let names = held
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let digest = push.digest.as_deref().unwrap_or("the pushed digest");
    let whose = match rolled_back.source {
        HoldSource::CurrentDeployment => "ECS rolled back",
        HoldSource::OwnRecord => "ecs-redeploy's record says ECS rolled back its",
    };
    let status = rolled_back
        .status
        .as_ref()
        .map_or_else(String::new, |s| format!(" ({s})"));
    let reason = rolled_back
        .status_reason
        .as_deref()
        .map_or_else(String::new, |r| format!(": \"{r}\""));
    let when = rolled_back.at.map_or_else(String::new, |at| format!(" at {at}"));
    let detail = format!(
        "{whose} deployment {}{status}{when}{reason}; its target {} was to run {names} on {digest}, which this {} \
         would deploy again. Push a fixed image, or deploy this one deliberately with `apply --image \
         {}@{digest} --retry-rolled-back`",
        short_arn(&rolled_back.deployment),
        short_arn(&rolled_back.target_revision),
        push.trigger.as_str(),
        ImageRef {
            digest: None,
            ..push.image()
        },
    );
    Decision::skip(Reason::RolledBack, detail)
}

/// `…/service-deployment/prod/web/abc` → `abc`.
fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Whether an unresolved revision will resolve the tag to the push: it was made after the push (the tag then
/// already pointed to it), or — for a sweep, which found the tag as it is now — at any time. Within the event's
/// own second time cannot tell, and a duplicate deployment is cheaper than a missed one: redeploy.
fn resolving_since_push(push: &Push, revision: &RunningRevision) -> bool {
    match (push.trigger, push.time, revision.created_at) {
        (Trigger::Sweep, _, _) => true,
        (Trigger::Push, Some(pushed_at), Some(created)) => created >= pushed_at + TimeDelta::seconds(1),
        (Trigger::Push, _, _) => false,
    }
}

fn push_time(push: &Push) -> String {
    push.time.map_or_else(String::new, |t| t.to_string())
}

fn short_revision(revision: &RunningRevision) -> String {
    format!(
        "service revision {}",
        revision.arn.rsplit('/').next().unwrap_or(&revision.arn)
    )
}

fn rolled_back(revision: &RunningRevision) -> &'static str {
    if revision.rolled_back_to {
        ", which a rollback returned to"
    } else {
        ""
    }
}

/// Container → running digest of the given containers, when known.
pub(super) fn running_digests(running: &Running, containers: &[&Container]) -> BTreeMap<String, Option<String>> {
    match running.digests() {
        Some(digests) => containers
            .iter()
            .map(|c| (c.name.clone(), digests.get(&c.name).cloned().flatten()))
            .collect(),
        None => BTreeMap::new(),
    }
}
