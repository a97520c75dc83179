//! The redeployer: finds the services a push affects and redeploys each once.
//! Discovery is list → describe (10 at a time) → task definitions (once per revision, cached for
//! the warm process); every step fans out at most `MAX_CONCURRENCY` calls, and a failure is
//! recorded against the services or cluster it concerns while everything else carries on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{StreamExt, stream};
use tracing::{debug, info, warn};

use crate::config::{ClusterScope, Config, RunMode};
use crate::decide::{self, Action, Decision, Selection};
use crate::ecs::{DESCRIBE_SERVICES_MAX, EcsApi, EcsError, Service, TaskDefinition, short_name};
use crate::event::Push;
use crate::report::{Mode, Outcome, Report, ScanError, ServiceReport};

pub struct Redeployer<E> {
    ecs: E,
    config: Config,
    /// Task-definition revisions are immutable, so a warm process never needs to describe one twice.
    task_definitions: Mutex<HashMap<String, Arc<TaskDefinition>>>,
}

/// A service that could not be examined: it is reported as failed with this reason.
struct Unexamined {
    cluster: String,
    arn: String,
    reason: &'static str,
    error: String,
}

impl<E: EcsApi> Redeployer<E> {
    pub fn new(ecs: E, config: Config) -> Self {
        Redeployer {
            ecs,
            config,
            task_definitions: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The mode `apply` runs in: `DRY_RUN=true` turns it into a plan.
    pub fn apply_mode(&self) -> Mode {
        match self.config.run_mode {
            RunMode::Apply => Mode::Apply,
            RunMode::Plan => Mode::Plan,
        }
    }

    pub async fn run(&self, push: &Push, mode: Mode) -> Report {
        let limit = self.config.max_concurrency.get();
        let mut scan_errors = Vec::new();
        let mut unexamined = Vec::new();

        let clusters = match &self.config.clusters {
            ClusterScope::Listed(clusters) => clusters.clone(),
            ClusterScope::All => self.ecs.list_clusters().await.unwrap_or_else(|e| {
                scan_errors.push(scan_error(None, "list-clusters", &e));
                Vec::new()
            }),
        };

        let listed: Vec<_> = stream::iter(&clusters)
            .map(|cluster| async move { (cluster, self.ecs.list_services(cluster).await) })
            .buffer_unordered(limit)
            .collect()
            .await;
        let mut batches = Vec::new();
        for (cluster, result) in listed {
            match result {
                Ok(arns) => batches.extend(arns.chunks(DESCRIBE_SERVICES_MAX).map(|b| (cluster, b.to_vec()))),
                Err(e) => scan_errors.push(scan_error(Some(cluster), "list-services", &e)),
            }
        }

        let described: Vec<_> = stream::iter(batches)
            .map(|(cluster, batch)| async move {
                let result = self.ecs.describe_services(cluster, &batch).await;
                (cluster, batch, result)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        let mut services = Vec::new();
        for (cluster, batch, result) in described {
            match result {
                Ok(found) => {
                    services.extend(found.services);
                    unexamined.extend(found.failures.into_iter().map(|f| Unexamined {
                        cluster: short_name(cluster).to_owned(),
                        arn: f.arn,
                        reason: "describe-failed",
                        error: format!("DescribeServices reported {}", f.reason),
                    }));
                }
                Err(e) => unexamined.extend(batch.into_iter().map(|arn| Unexamined {
                    cluster: short_name(cluster).to_owned(),
                    arn,
                    reason: "describe-failed",
                    error: e.to_string(),
                })),
            }
        }
        let scanned = services.len() + unexamined.len();

        let task_definitions = self.task_definitions(&services).await;
        let selection = Selection {
            tag_key: &self.config.tag_key,
            select: self.config.select,
        };
        let mut decided = Vec::new();
        for service in services {
            let task_definition = task_definitions
                .get(&service.task_definition)
                .cloned()
                .unwrap_or_else(|| Err("task definition was not described".to_owned()));
            match task_definition {
                Ok(td) => match decide::decide(push, &service, &td, selection) {
                    Some(decision) => decided.push((service, decision)),
                    None => debug!(service = %service.arn, "unrelated to the push"),
                },
                Err(error) => unexamined.push(Unexamined {
                    cluster: short_name(&service.cluster_arn).to_owned(),
                    arn: service.arn,
                    reason: "task-definition-unavailable",
                    error,
                }),
            }
        }

        let mut reports: Vec<ServiceReport> = stream::iter(decided)
            .map(|(service, decision)| self.act(service, decision, mode))
            .buffer_unordered(limit)
            .collect()
            .await;
        reports.extend(unexamined.into_iter().map(failed_unexamined));

        let report = Report::new(push, mode, clusters.len(), scanned, reports, scan_errors);
        log(&report);
        report
    }

    /// Describes each distinct revision not yet cached, at most `MAX_CONCURRENCY` at a time.
    async fn task_definitions(&self, services: &[Service]) -> HashMap<String, Result<Arc<TaskDefinition>, String>> {
        let wanted: BTreeSet<&str> = services.iter().map(|s| s.task_definition.as_str()).collect();
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = self.task_definitions.lock().unwrap_or_else(PoisonError::into_inner);
            for arn in wanted {
                match cache.get(arn) {
                    Some(td) => {
                        found.insert(arn.to_owned(), Ok(Arc::clone(td)));
                    }
                    None => missing.push(arn),
                }
            }
        }
        let fetched: Vec<_> = stream::iter(missing)
            .map(|arn| async move { (arn, self.ecs.describe_task_definition(arn).await) })
            .buffer_unordered(self.config.max_concurrency.get())
            .collect()
            .await;
        let mut cache = self.task_definitions.lock().unwrap_or_else(PoisonError::into_inner);
        for (arn, result) in fetched {
            let entry = match result {
                Ok(td) => {
                    let td = Arc::new(td);
                    cache.insert(arn.to_owned(), Arc::clone(&td));
                    Ok(td)
                }
                Err(e) => Err(e.to_string()),
            };
            found.insert(arn.to_owned(), entry);
        }
        found
    }

    async fn act(&self, service: Service, decision: Decision, mode: Mode) -> ServiceReport {
        let mut report = ServiceReport {
            cluster: short_name(&service.cluster_arn).to_owned(),
            service: service.name.clone(),
            service_arn: service.arn.clone(),
            task_definition: Some(service.task_definition.clone()),
            decision: Some(decision.action),
            reason: decision.reason.code(),
            detail: decision.detail,
            containers: decision.containers,
            warnings: decision.warnings,
            outcome: Outcome::Skipped,
            deployment_id: None,
            error: None,
        };
        match (decision.action, mode) {
            (Action::Skip, _) => {}
            (Action::Redeploy, Mode::Plan) => report.outcome = Outcome::Planned,
            (Action::Redeploy, Mode::Apply) => {
                match self.ecs.force_new_deployment(&service.cluster_arn, &service.arn).await {
                    Ok(deployment) => {
                        report.outcome = Outcome::Redeployed;
                        report.deployment_id = Some(deployment.id);
                    }
                    Err(e) => {
                        report.outcome = Outcome::Failed;
                        report.error = Some(e.to_string());
                    }
                }
            }
        }
        report
    }
}

fn scan_error(cluster: Option<&String>, step: &'static str, error: &EcsError) -> ScanError {
    ScanError {
        cluster: cluster.map(|c| short_name(c).to_owned()),
        step,
        error: error.to_string(),
    }
}

fn failed_unexamined(u: Unexamined) -> ServiceReport {
    ServiceReport {
        cluster: u.cluster,
        service: short_name(&u.arn).to_owned(),
        service_arn: u.arn,
        task_definition: None,
        decision: None,
        reason: u.reason,
        detail: "the service could not be examined".to_owned(),
        containers: Vec::new(),
        warnings: Vec::new(),
        outcome: Outcome::Failed,
        deployment_id: None,
        error: Some(u.error),
    }
}

/// One line per decision and one summary line, with fields for CloudWatch Logs Insights.
fn log(report: &Report) {
    let image = report.image.uri.as_str();
    for s in &report.services {
        let decision = s.decision.map_or("none", Action::as_str);
        let outcome = s.outcome.as_str();
        match &s.error {
            Some(error) => warn!(
                cluster = %s.cluster, service = %s.service, service_arn = %s.service_arn, image,
                decision, reason = s.reason, detail = %s.detail, outcome, error = %error, "decision"
            ),
            None => info!(
                cluster = %s.cluster, service = %s.service, service_arn = %s.service_arn, image,
                decision, reason = s.reason, detail = %s.detail, outcome,
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
