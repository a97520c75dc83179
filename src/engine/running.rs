//! What the related services run: the revision each converges to (the target of its current service deployment,
//! or the revision a rollback returns to) and the digests ECS recorded for it. Twenty ARNs per call — the API
//! maximum — and at most `limit` calls at a time; a failure leaves the services it concerns unknown, and the
//! decision says so. A rolled-back current deployment's target revision is described too: what it ran is what
//! the decision holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::{StreamExt, stream};
use tracing::warn;

use crate::domain::image::ImageRef;
use crate::domain::running::{HoldSource, RolledBack, Running, RunningRevision, Unknown};
use crate::ecs::{DESCRIBE_REVISIONS_MAX, EcsApi, EcsError, Service, ServiceDeployment, ServiceRevision};

/// What the related services run, and which of them ECS rolled back, by service ARN.
#[derive(Debug, Default)]
pub struct Seen {
    pub running: HashMap<String, Running>,
    /// Services whose current deployment was rolled back, with what its target ran or was to run.
    pub rolled_back: HashMap<String, RolledBack>,
    /// Each service's current service deployment, as ECS described it: how a staged rollout stands.
    pub current: HashMap<String, ServiceDeployment>,
}

/// What each of `services` runs, and what a rolled-back current deployment of it was to run.
pub async fn load<E: EcsApi>(ecs: &E, services: &[&Service], limit: usize) -> Seen {
    let deployment_arns: Vec<String> = services.iter().filter_map(|s| s.current_deployment.clone()).collect();
    let (deployments, _) = describe_all(&deployment_arns, limit, |batch| async move {
        ecs.describe_service_deployments(&batch).await
    })
    .await;
    let deployments: HashMap<&str, &ServiceDeployment> = deployments.iter().map(|d| (d.arn.as_str(), d)).collect();
    // The converging revision when the deployment tells it; otherwise every current one, the newest then wins.
    let wanted: Vec<(&Service, Vec<String>, Option<&ServiceDeployment>)> = services
        .iter()
        .map(|service| {
            let deployment = service
                .current_deployment
                .as_deref()
                .and_then(|arn| deployments.get(arn).copied());
            match deployment.and_then(ServiceDeployment::converging_revision) {
                Some(revision) => (*service, vec![revision.to_owned()], deployment),
                None => (*service, service.current_revisions.clone(), None),
            }
        })
        .collect();
    let rolled_back: Vec<(&Service, &ServiceDeployment, &str)> = wanted
        .iter()
        .filter_map(|(service, _, deployment)| {
            let deployment = (*deployment)?;
            let target = deployment.target_revision.as_deref()?;
            deployment.rolled_back().then_some((*service, deployment, target))
        })
        .collect();
    let mut revision_arns: Vec<String> = wanted.iter().flat_map(|(_, arns, _)| arns.clone()).collect();
    revision_arns.extend(rolled_back.iter().map(|(_, _, target)| (*target).to_owned()));
    revision_arns.sort_unstable();
    revision_arns.dedup();
    let (revisions, failed) = describe_all(&revision_arns, limit, |batch| async move {
        ecs.describe_service_revisions(&batch).await
    })
    .await;
    let revisions: HashMap<&str, &ServiceRevision> = revisions.iter().map(|r| (r.arn.as_str(), r)).collect();
    let rolled_back = rolled_back
        .into_iter()
        .filter_map(|(service, deployment, target)| {
            let target = revisions.get(target)?;
            Some((service.arn.clone(), hold(deployment, target)))
        })
        .collect();
    let running = wanted
        .into_iter()
        .map(|(service, arns, deployment)| {
            let running = match (arns.is_empty(), arns.iter().find_map(|arn| failed.get(arn))) {
                (true, _) => Running::Unknown(Unknown::NotRecorded),
                (false, Some(error)) => Running::Unknown(Unknown::Unavailable(Arc::clone(error))),
                (false, None) => arns
                    .iter()
                    .filter_map(|arn| revisions.get(arn.as_str()).copied())
                    .max_by_key(|r| r.created_at)
                    .map_or(Running::Unknown(Unknown::NotDescribed), |r| {
                        Running::Known(running_revision(r, deployment))
                    }),
            };
            (service.arn.clone(), running)
        })
        .collect();
    let current = services
        .iter()
        .filter_map(|service| {
            let deployment = deployments.get(service.current_deployment.as_deref()?)?;
            Some((service.arn.clone(), (*deployment).clone()))
        })
        .collect();
    Seen {
        running,
        rolled_back,
        current,
    }
}

/// A rolled-back deployment and what its target ran: the digest ECS resolved, else the one the image pins.
fn hold(deployment: &ServiceDeployment, target: &ServiceRevision) -> RolledBack {
    let rollback = deployment.rollback.as_ref();
    RolledBack {
        deployment: deployment.arn.clone(),
        status: deployment.status.clone(),
        status_reason: deployment
            .status_reason
            .clone()
            .or_else(|| rollback.and_then(|r| r.reason.clone())),
        at: rollback.and_then(|r| r.started_at).or(deployment.updated_at),
        target_revision: target.arn.clone(),
        target_created_at: target.created_at,
        digests: target
            .images
            .iter()
            .map(|image| {
                let pinned = || ImageRef::parse(&image.image).ok().and_then(|r| r.digest);
                (image.container.clone(), image.digest.clone().or_else(pinned))
            })
            .collect(),
        source: HoldSource::CurrentDeployment,
    }
}

fn running_revision(revision: &ServiceRevision, deployment: Option<&ServiceDeployment>) -> RunningRevision {
    RunningRevision {
        arn: revision.arn.clone(),
        created_at: revision.created_at,
        digests: revision
            .images
            .iter()
            .map(|image| (image.container.clone(), image.digest.clone()))
            .collect(),
        rolled_back_to: deployment
            .and_then(|d| d.rollback.as_ref())
            .is_some_and(|r| r.revision.as_deref() == Some(revision.arn.as_str())),
    }
}

/// Every answer for `arns`, in batches of the API maximum; the ARNs of failed batches map to their error.
async fn describe_all<T, F, Fut>(
    arns: &[String],
    limit: usize,
    describe: F,
) -> (Vec<T>, BTreeMap<String, Arc<EcsError>>)
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, EcsError>>,
{
    let answers: Vec<_> = stream::iter(arns.chunks(DESCRIBE_REVISIONS_MAX))
        .map(|batch| {
            let answer = describe(batch.to_vec());
            async move { (batch, answer.await) }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    let mut found = Vec::new();
    let mut failed = BTreeMap::new();
    for (batch, answer) in answers {
        match answer {
            Ok(items) => found.extend(items),
            Err(error) => {
                warn!(operation = error.operation, error = %crate::error_chain::render(&error), "what services run is unknown for this batch");
                let error = Arc::new(error);
                failed.extend(batch.iter().map(|arn| (arn.clone(), Arc::clone(&error))));
            }
        }
    }
    (found, failed)
}
