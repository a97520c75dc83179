//! Digest truth: whether a service already runs what was pushed, decided from the digests ECS recorded for the
//! revision the service converges to rather than from deployment times, which rollbacks and unrelated
//! deployments fool.

use std::collections::BTreeMap;

use chrono::TimeDelta;

use super::Decision;
use crate::domain::push::{Origin, Push};
use crate::domain::reason::Reason;
use crate::domain::running::{Running, RunningRevision, Unknown};
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
        let what = match push.origin {
            Origin::Event => "the pushed",
            Origin::Sweep => "what the tag points to now,",
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
    let since = match (push.origin, revision.created_at) {
        (Origin::Sweep, _) | (_, None) => String::new(),
        (Origin::Event, Some(created)) => format!(", created at {created} after the push at {}", push_time(push)),
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

/// Whether an unresolved revision will resolve the tag to the push: it was made after the push (the tag then
/// already pointed to it), or — for a sweep, which found the tag as it is now — at any time. Within the event's
/// own second time cannot tell, and a duplicate deployment is cheaper than a missed one: redeploy.
fn resolving_since_push(push: &Push, revision: &RunningRevision) -> bool {
    match (push.origin, push.time, revision.created_at) {
        (Origin::Sweep, _, _) => true,
        (Origin::Event, Some(pushed_at), Some(created)) => created >= pushed_at + TimeDelta::seconds(1),
        (Origin::Event, _, _) => false,
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
