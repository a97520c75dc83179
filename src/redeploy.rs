//! The redeployer: decides for every discovered service and redeploys each affected one once —
//! guarded by the deploy lock, sharing one new revision among services on the same revision.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, stream};
use tracing::{debug, info, warn};

use crate::config::{Config, RunMode};
use crate::decide::{self, Action, Decision, Method, Reason, Selection};
use crate::discover::{Discovery, TaskDefinitionCache, Unexamined, discover};
use crate::ecs::{EcsApi, Service, short_name};
use crate::event::Push;
use crate::lock::{Claim, ClaimState, DeployLock, LockKey, NoLock};
use crate::report::{Mode, Outcome, Report, ServiceReport};

pub struct Redeployer<E, L = NoLock> {
    ecs: E,
    lock: L,
    config: Config,
    task_definitions: TaskDefinitionCache,
}

/// A service the decision says to redeploy, with its report line filled in as it goes.
struct Job {
    service: Service,
    lock_key: Option<LockKey>,
    report: ServiceReport,
}

impl<E: EcsApi> Redeployer<E, NoLock> {
    pub fn new(ecs: E, config: Config) -> Self {
        Redeployer::with_lock(ecs, NoLock, config)
    }
}

impl<E: EcsApi, L: DeployLock> Redeployer<E, L> {
    pub fn with_lock(ecs: E, lock: L, config: Config) -> Self {
        Redeployer {
            ecs,
            lock,
            config,
            task_definitions: TaskDefinitionCache::default(),
        }
    }

    /// The mode `apply` runs in: `DRY_RUN=true` turns it into a plan.
    pub fn apply_mode(&self) -> Mode {
        match self.config.run_mode {
            RunMode::Apply => Mode::Apply,
            RunMode::Plan => Mode::Plan,
        }
    }

    pub async fn run(&self, push: &Push, mode: Mode) -> Report {
        let discovery = discover(&self.ecs, &self.config, &self.task_definitions).await;
        let scanned = discovery.scanned();
        let Discovery {
            clusters,
            services,
            unexamined,
            scan_errors,
        } = discovery;
        let selection = Selection {
            tag_key: &self.config.tag_key,
            select: self.config.select,
            default_action: self.config.default_action,
        };
        let mut reports: Vec<ServiceReport> = unexamined.into_iter().map(failed_unexamined).collect();
        let mut jobs = Vec::new();
        for (service, task_definition) in services {
            let Some(decision) = decide::decide(push, &service, &task_definition, selection) else {
                debug!(service = %service.arn, "unrelated to the push");
                continue;
            };
            let report = decided_report(&service, decision);
            match (report.decision, mode) {
                (Some(Action::Redeploy), Mode::Apply) => jobs.push(Job {
                    lock_key: push.digest.as_ref().map(|d| LockKey::new(&service.arn, d)),
                    service,
                    report,
                }),
                (Some(Action::Redeploy), Mode::Plan) => reports.push(ServiceReport {
                    outcome: Outcome::Planned,
                    ..report
                }),
                _ => reports.push(report),
            }
        }
        reports.extend(self.execute(jobs).await);
        let report = Report::new(push, mode, clusters, scanned, reports, scan_errors);
        log(&report);
        report
    }

    /// Claims, registers the shared revisions, deploys, and completes or releases each claim.
    async fn execute(&self, jobs: Vec<Job>) -> Vec<ServiceReport> {
        let limit = self.config.max_concurrency.get();
        let claimed: Vec<(Job, Result<Claim, String>)> = stream::iter(jobs)
            .map(|job| async move {
                let claim = match &job.lock_key {
                    Some(key) => self.lock.claim(key).await.map_err(|e| e.to_string()),
                    None => Ok(Claim::Acquired),
                };
                (job, claim)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        let mut done = Vec::new();
        let mut acquired = Vec::new();
        for (mut job, claim) in claimed {
            match claim {
                Ok(Claim::Acquired) => acquired.push(job),
                Ok(Claim::Held(state)) => {
                    let (reason, detail) = match state {
                        ClaimState::Done => (Reason::AlreadyDeployed, "the lock table records this push as deployed"),
                        ClaimState::InProgress => (Reason::InProgress, "another delivery of this push is deploying it"),
                    };
                    job.report.reason = reason.code();
                    job.report.detail = detail.to_owned();
                    job.report.decision = Some(Action::Skip);
                    job.report.outcome = Outcome::Skipped;
                    done.push(job.report);
                }
                Err(error) => {
                    job.report.outcome = Outcome::Failed;
                    job.report.error = Some(error);
                    done.push(job.report);
                }
            }
        }

        // One registration per distinct (source revision, new images), shared by its services.
        let sources: BTreeSet<(String, BTreeMap<String, String>)> = acquired
            .iter()
            .filter(|job| !job.report.images.is_empty())
            .map(|job| (job.service.task_definition.clone(), job.report.images.clone()))
            .collect();
        let revisions: BTreeMap<_, _> = stream::iter(sources)
            .map(|source| async move {
                let result = self.ecs.register_revision(&source.0, &source.1).await;
                (source, result.map_err(|e| e.to_string()))
            })
            .buffer_unordered(limit)
            .collect()
            .await;

        let deployed: Vec<ServiceReport> = stream::iter(acquired)
            .map(|job| {
                let revision = revisions
                    .get(&(job.service.task_definition.clone(), job.report.images.clone()))
                    .cloned();
                self.deploy(job, revision)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        done.extend(deployed);
        done
    }

    async fn deploy(&self, mut job: Job, revision: Option<Result<String, String>>) -> ServiceReport {
        let cluster = job.service.cluster_arn.as_str();
        let result = match (job.report.method, revision) {
            (Some(Method::Pin), Some(Ok(arn))) => {
                job.report.new_task_definition = Some(arn.clone());
                self.ecs
                    .deploy_revision(cluster, &job.service.arn, &arn)
                    .await
                    .map_err(|e| e.to_string())
            }
            (Some(Method::Pin), Some(Err(error))) => Err(error),
            // Every pin job's revision was registered above; never fall back to another action.
            (Some(Method::Pin), None) => Err("no revision was registered for this service".to_owned()),
            _ => self
                .ecs
                .force_new_deployment(cluster, &job.service.arn)
                .await
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(deployment) => {
                job.report.outcome = Outcome::Redeployed;
                job.report.deployment_id = Some(deployment.id);
                if let Some(key) = &job.lock_key
                    && let Err(error) = self.lock.complete(key).await
                {
                    warn!(service = %job.service.arn, %error, "deployed, but the lock was not marked done");
                }
            }
            Err(error) => {
                job.report.outcome = Outcome::Failed;
                job.report.error = Some(error);
                if let Some(key) = &job.lock_key
                    && let Err(error) = self.lock.release(key).await
                {
                    warn!(service = %job.service.arn, %error, "the lock was not released; a retry waits for it to expire");
                }
            }
        }
        job.report
    }
}

fn decided_report(service: &Service, decision: Decision) -> ServiceReport {
    ServiceReport {
        cluster: short_name(&service.cluster_arn).to_owned(),
        service: service.name.clone(),
        service_arn: service.arn.clone(),
        task_definition: Some(service.task_definition.clone()),
        decision: Some(decision.action),
        method: decision.method,
        reason: decision.reason.code(),
        detail: decision.detail,
        containers: decision.containers,
        images: decision.images,
        warnings: decision.warnings,
        outcome: Outcome::Skipped,
        new_task_definition: None,
        deployment_id: None,
        error: None,
    }
}

fn failed_unexamined(u: Unexamined) -> ServiceReport {
    ServiceReport {
        cluster: u.cluster,
        service: short_name(&u.arn).to_owned(),
        service_arn: u.arn,
        task_definition: None,
        decision: None,
        method: None,
        reason: u.reason,
        detail: "the service could not be examined".to_owned(),
        containers: Vec::new(),
        images: BTreeMap::new(),
        warnings: Vec::new(),
        outcome: Outcome::Failed,
        new_task_definition: None,
        deployment_id: None,
        error: Some(u.error),
    }
}

/// One line per decision and one summary line, with fields for CloudWatch Logs Insights.
fn log(report: &Report) {
    let image = report.image.uri.as_str();
    for s in &report.services {
        let decision = s.decision.map_or("none", Action::as_str);
        let method = s.method.map_or("", Method::as_str);
        let outcome = s.outcome.as_str();
        match &s.error {
            Some(error) => warn!(
                cluster = %s.cluster, service = %s.service, service_arn = %s.service_arn, image,
                decision, method, reason = s.reason, detail = %s.detail, outcome, error = %error, "decision"
            ),
            None => info!(
                cluster = %s.cluster, service = %s.service, service_arn = %s.service_arn, image,
                decision, method, reason = s.reason, detail = %s.detail, outcome,
                new_task_definition = s.new_task_definition.as_deref().unwrap_or(""),
                deployment_id = s.deployment_id.as_deref().unwrap_or(""), "decision"
            ),
        }
        for warning in &s.warnings {
            warn!(cluster = %s.cluster, service = %s.service, image, warning = %warning, "decision warning");
        }
    }
    for e in &report.scan_errors {
        warn!(cluster = e.cluster.as_deref().unwrap_or(""), step = e.step, error = %e.error, "scan error");
    }
    let c = &report.counts;
    info!(
        image,
        event_id = report.event_id.as_deref().unwrap_or(""),
        mode = report.mode.as_str(),
        clusters = c.clusters,
        scanned = c.scanned,
        considered = c.considered,
        redeployed = c.redeployed,
        planned = c.planned,
        skipped = c.skipped,
        failed = c.failed,
        scan_errors = c.scan_errors,
        "summary"
    );
}

#[cfg(test)]
#[path = "redeploy_tests.rs"]
mod tests;
