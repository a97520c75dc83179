//! The plan: one decision per related service for a whole set of pushes, against one fleet scan.
//! Pure: the fleet and the pushes are data, and so is the deploy lock's answer folded in later.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::domain::decide::{Action, Decision, Selection, decide, refers_to};
use crate::domain::platform;
use crate::domain::push::Push;
use crate::domain::reason::Reason;
use crate::domain::running::{RolledBack, Running, Unknown};
use crate::domain::wave::Wave;
use crate::ecr::PushedManifest;
use crate::ecs::{Service, TaskDefinition};
use crate::lock::{ClaimState, LockKey};

/// A related service and what to do with it.
#[derive(Clone, Debug)]
pub struct Planned {
    pub service: Service,
    pub decision: Decision,
    /// Positions of the pushes behind the decision.
    pub pushes: Vec<usize>,
    /// For a redeploy of pushes that all name their digest: the deploy lock's key.
    pub lock_key: Option<LockKey>,
    /// The wave its wave tag names (set by the wave gate); `None` without the tag.
    pub wave: Option<Wave>,
}

/// The services of the fleet a push that counts refers to: the ones whose running digests matter.
pub fn related<'f>(pushes: &[Push], fleet: &'f [(Service, Arc<TaskDefinition>)]) -> Vec<&'f Service> {
    let counted = newest_per_image(pushes);
    fleet
        .iter()
        .filter(|(_, td)| counted.iter().any(|&i| refers_to(&pushes[i], td)))
        .map(|(service, _)| service)
        .collect()
}

/// Decides for every examined service of the fleet against every push that counts; services no push
/// relates to are left out.
/// `manifests[i]` is what push `i` is made of and for, when ECR said; `running` what each service (by ARN) runs;
/// `rolled_back` the services (by ARN) with a deployment ECS rolled back, whose digests are held.
pub fn plan(
    pushes: &[Push],
    manifests: &[Option<PushedManifest>],
    fleet: &[(Service, Arc<TaskDefinition>)],
    running: &HashMap<String, Running>,
    rolled_back: &HashMap<String, RolledBack>,
    selection: Selection,
) -> Vec<Planned> {
    let counted = newest_per_image(pushes);
    let not_loaded = Running::Unknown(Unknown::NotLoaded);
    fleet
        .iter()
        .filter_map(|(service, task_definition)| {
            let runs = running.get(&service.arn).unwrap_or(&not_loaded);
            let decisions = counted.iter().filter_map(|&i| {
                let manifest = manifests.get(i).and_then(Option::as_ref);
                let index = manifest.map_or(&[][..], |m| m.manifests.as_slice());
                let held = rolled_back.get(&service.arn);
                let decision = decide(&pushes[i], service, task_definition, runs, held, index, selection)?;
                Some((
                    i,
                    platform::check(
                        decision,
                        manifest.map(|m| &m.platforms),
                        task_definition.runtime_platform.as_ref(),
                    ),
                ))
            });
            let (decision, behind) = merge(decisions)?;
            // A deliberate retry of a rolled-back digest is a person's one command, not a redelivery: the lock's done
            // marker of the first attempt must not stop it.
            let retried = behind.iter().any(|&i| pushes[i].retry_rolled_back);
            let lock_key = match decision.action {
                Action::Redeploy(_) if !retried => lock_key(service, pushes, &behind),
                _ => None,
            };
            Some(Planned {
                service: service.clone(),
                decision,
                pushes: behind,
                lock_key,
                wave: None,
            })
        })
        .collect()
}

/// Positions of the pushes that count: for each registry, repository and tag the newest (by event time,
/// then by position), so a repeated or superseded push of the same tag is acted on once.
fn newest_per_image(pushes: &[Push]) -> Vec<usize> {
    let mut newest: BTreeMap<(String, &str, &str), usize> = BTreeMap::new();
    for (i, push) in pushes.iter().enumerate() {
        let key = (push.registry.to_string(), push.repository.as_str(), push.tag.as_str());
        newest
            .entry(key)
            .and_modify(|kept| {
                if pushes[*kept].time <= push.time {
                    *kept = i;
                }
            })
            .or_insert(i);
    }
    let mut counted: Vec<usize> = newest.into_values().collect();
    counted.sort_unstable();
    counted
}

/// One decision from a service's decisions for several pushes: every redeploy folded into one
/// (a service is deployed once, with every pushed image); without one, the closest miss.
fn merge(decisions: impl Iterator<Item = (usize, Decision)>) -> Option<(Decision, Vec<usize>)> {
    let (redeploys, skips): (Vec<_>, Vec<_>) = decisions.partition(|(_, d)| d.action != Action::Skip);
    let mut redeploys = redeploys.into_iter();
    let Some((first, mut merged)) = redeploys.next() else {
        return skips
            .into_iter()
            .min_by_key(|(_, d)| d.reason)
            .map(|(i, decision)| (decision, vec![i]));
    };
    let mut behind = vec![first];
    // The method comes from the service's tag, so it is the same for every push.
    for (i, decision) in redeploys {
        behind.push(i);
        merged.reason = merged.reason.min(decision.reason);
        merged.detail = format!("{}; {}", merged.detail, decision.detail);
        for container in decision.containers {
            if !merged.containers.contains(&container) {
                merged.containers.push(container);
            }
        }
        merged.images.extend(decision.images);
        merged.warnings.extend(decision.warnings);
        merged.running.extend(decision.running);
        merged.to.extend(decision.to);
    }
    Some((merged, behind))
}

/// `SERVICE_ARN#DIGEST` for one push, digests joined by `+` for several; `None` when a push names no
/// digest (nothing identifies what is deployed).
fn lock_key(service: &Service, pushes: &[Push], behind: &[usize]) -> Option<LockKey> {
    let digests: Option<Vec<&str>> = behind.iter().map(|&i| pushes[i].digest.as_deref()).collect();
    let mut digests = digests?;
    digests.sort_unstable();
    Some(LockKey::new(&service.arn, digests.join("+")))
}

/// The deploy lock's answer for a planned redeploy: held by another delivery, it becomes a skip.
pub fn fold_claim(decision: Decision, held: ClaimState) -> Decision {
    let (reason, detail) = match held {
        ClaimState::Done => (Reason::AlreadyDeployed, "the lock table records this push as deployed"),
        ClaimState::InProgress => (Reason::InProgress, "another delivery of this push is deploying it"),
    };
    Decision {
        containers: decision.containers,
        ..Decision::skip(reason, detail.to_owned())
    }
}

#[cfg(test)]
mod tests;
