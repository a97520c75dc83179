//! Execution of a plan: claim each redeploy in the deploy lock, register the new revisions pin mode
//! needs (one per distinct source revision and images, shared by its services), deploy, then complete
//! or release each claim. Every step fans out at most `limit` calls; one failure never stops the others.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::{StreamExt, stream};
use tracing::warn;

use crate::config::Mode;
use crate::domain::decide::{Action, Decision};
use crate::domain::outcome::{Deployed, Failure, Outcome, ServiceId, ServiceResult};
use crate::domain::policy::Method;
use crate::domain::reason::Reason;
use crate::ecs::{EcsApi, EcsError, Service, short_name};
use crate::lock::{Claim, DeployLock};

use super::fleet::Unexamined;
use super::plan::{Planned, fold_claim};

/// The ECS port, the lock and the fan-out bound execution works with.
pub struct Executor<'a, E, L> {
    pub ecs: &'a E,
    pub lock: &'a L,
    pub limit: usize,
}

impl<E: EcsApi, L: DeployLock> Executor<'_, E, L> {
    /// Carries out `planned` in `mode`; every planned and unexamined service gets a result.
    pub async fn execute(&self, planned: Vec<Planned>, unexamined: Vec<Unexamined>, mode: Mode) -> Vec<ServiceResult> {
        let mut results: Vec<ServiceResult> = unexamined.into_iter().map(unexamined_result).collect();
        let mut redeploys = Vec::new();
        for entry in planned {
            match (entry.decision.action, mode) {
                (Action::Redeploy(_), Mode::Apply) => redeploys.push(entry),
                (Action::Redeploy(_), Mode::Plan) => results.push(finish(entry, Outcome::Planned)),
                (Action::Skip, _) => results.push(finish(entry, Outcome::Skipped)),
            }
        }
        let (claimed, refused) = self.claim(redeploys).await;
        results.extend(refused);
        let registrations = self.register(&claimed).await;
        let revisions: Vec<_> = claimed.iter().map(|entry| registrations.for_entry(entry)).collect();
        drop(registrations);
        let deployed: Vec<ServiceResult> = stream::iter(claimed.into_iter().zip(revisions))
            .map(|(entry, revision)| self.deploy(entry, revision))
            .buffer_unordered(self.limit)
            .collect()
            .await;
        results.extend(deployed);
        results
    }

    /// Claims every redeploy; those another delivery holds become skips, a failed claim a failure.
    async fn claim(&self, redeploys: Vec<Planned>) -> (Vec<Planned>, Vec<ServiceResult>) {
        let answers: Vec<(Planned, Option<Result<Claim, _>>)> = stream::iter(redeploys)
            .map(|entry| async move {
                let answer = match &entry.lock_key {
                    Some(key) => Some(self.lock.claim(key).await),
                    None => None,
                };
                (entry, answer)
            })
            .buffer_unordered(self.limit)
            .collect()
            .await;
        let mut claimed = Vec::new();
        let mut refused = Vec::new();
        for (entry, answer) in answers {
            match answer {
                None | Some(Ok(Claim::Acquired)) => claimed.push(entry),
                Some(Ok(Claim::Held(state))) => {
                    let decision = fold_claim(entry.decision, state);
                    refused.push(finish(Planned { decision, ..entry }, Outcome::Skipped));
                }
                Some(Err(error)) => refused.push(finish(entry, Outcome::Failed(Failure::Lock(error)))),
            }
        }
        (claimed, refused)
    }

    /// Registers one new revision per distinct source revision and images among the pin redeploys.
    async fn register<'p>(&self, claimed: &'p [Planned]) -> Registrations<'p> {
        let mut wanted: BTreeMap<RevisionKey<'p>, usize> = BTreeMap::new();
        for entry in claimed
            .iter()
            .filter(|e| e.decision.action == Action::Redeploy(Method::Pin))
        {
            let next = wanted.len();
            wanted.entry(RevisionKey::of(entry)).or_insert(next);
        }
        let mut requests: Vec<(RevisionKey<'p>, usize)> = wanted.iter().map(|(k, i)| (*k, *i)).collect();
        requests.sort_by_key(|(_, i)| *i);
        let registered: Vec<Result<String, Arc<EcsError>>> = stream::iter(requests)
            .map(|(key, _)| async move {
                self.ecs
                    .register_revision(key.source, key.images)
                    .await
                    .map_err(Arc::new)
            })
            .buffered(self.limit)
            .collect()
            .await;
        Registrations { wanted, registered }
    }

    async fn deploy(&self, entry: Planned, revision: Option<Result<String, Arc<EcsError>>>) -> ServiceResult {
        let cluster = entry.service.cluster_arn.as_str();
        let service = entry.service.arn.as_str();
        let deployed = match revision {
            Some(Ok(arn)) => self
                .ecs
                .deploy_revision(cluster, service, &arn, &entry.service.deployments)
                .await
                .map(|d| Deployed {
                    deployment_id: d.id,
                    service_deployment: d.service_deployment,
                    new_task_definition: Some(arn),
                })
                .map_err(Failure::from),
            Some(Err(error)) => Err(Failure::Ecs(error)),
            None => self
                .ecs
                .force_new_deployment(cluster, service, &entry.service.deployments)
                .await
                .map(|d| Deployed {
                    deployment_id: d.id,
                    service_deployment: d.service_deployment,
                    new_task_definition: None,
                })
                .map_err(Failure::from),
        };
        if let Some(key) = &entry.lock_key {
            let settled = match &deployed {
                Ok(_) => self.lock.complete(key).await,
                Err(_) => self.lock.release(key).await,
            };
            if let Err(error) = settled {
                warn!(service, error = %crate::error_chain::render(&error), "the deploy lock was not settled; a repeat waits for the claim to expire");
            }
        }
        let outcome = match deployed {
            Ok(deployed) => Outcome::Redeployed(deployed),
            Err(failure) => Outcome::Failed(failure),
        };
        finish(entry, outcome)
    }
}

/// What identifies a new revision: the source revision and the images it gets.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RevisionKey<'p> {
    source: &'p str,
    images: &'p BTreeMap<String, String>,
}

impl<'p> RevisionKey<'p> {
    fn of(entry: &'p Planned) -> Self {
        RevisionKey {
            source: &entry.service.task_definition,
            images: &entry.decision.images,
        }
    }
}

/// The registered revisions, by the position of their request.
struct Registrations<'p> {
    wanted: BTreeMap<RevisionKey<'p>, usize>,
    registered: Vec<Result<String, Arc<EcsError>>>,
}

impl Registrations<'_> {
    /// The revision a pin redeploy moves to; `None` for a force redeploy.
    fn for_entry(&self, entry: &Planned) -> Option<Result<String, Arc<EcsError>>> {
        let position = self.wanted.get(&RevisionKey::of(entry))?;
        self.registered.get(*position).cloned()
    }
}

fn finish(entry: Planned, outcome: Outcome) -> ServiceResult {
    ServiceResult {
        service: service_id(&entry.service),
        task_definition: Some(entry.service.task_definition),
        decision: entry.decision,
        pushes: entry.pushes,
        outcome,
        wave: entry.wave,
    }
}

fn service_id(service: &Service) -> ServiceId {
    ServiceId {
        cluster: short_name(&service.cluster_arn).to_owned(),
        name: service.name.clone(),
        arn: service.arn.clone(),
    }
}

/// How a service leaves the old ARN format: the account setting applies to services created after it.
const OLD_ARN_FORMAT_DETAIL: &str = "the service has an old-format ARN (service/NAME, no cluster), which the \
     function's IAM policy (service/CLUSTER/*) does not cover, so it is not described: opt in to the long ARN \
     format (aws ecs put-account-setting-default --name serviceLongArnFormat --value enabled) and recreate the \
     service, whose new ARN is service/CLUSTER/NAME";

fn unexamined_result(u: Unexamined) -> ServiceResult {
    let detail = match u.reason {
        Reason::ServiceNotFound => {
            "DescribeServices reports the service MISSING: it was deleted, or the tagging API still lists it \
             (it is eventually consistent)"
        }
        Reason::NoServiceArn => "DescribeServices described the service without an ARN: no call can name it",
        Reason::OldArnFormat => OLD_ARN_FORMAT_DETAIL,
        _ => "the service could not be examined",
    };
    let outcome = match u.failure {
        Some(failure) => Outcome::Failed(failure),
        None => Outcome::Skipped,
    };
    ServiceResult {
        service: ServiceId {
            cluster: u.cluster,
            name: short_name(&u.arn).to_owned(),
            arn: u.arn,
        },
        task_definition: None,
        decision: Decision::skip(u.reason, detail.to_owned()),
        pushes: Vec::new(),
        outcome,
        wave: None,
    }
}
