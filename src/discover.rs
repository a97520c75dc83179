//! Discovery: every service in scope with its task definition. List → describe (10 at a time) →
//! task definitions (once per revision, cached for the warm process); every step fans out at most
//! `MAX_CONCURRENCY` calls, and a failure is recorded against the services or cluster it concerns
//! while everything else carries on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{StreamExt, stream};

use crate::config::{ClusterScope, Config};
use crate::ecs::{DESCRIBE_SERVICES_MAX, EcsApi, EcsError, Service, TaskDefinition, short_name};
use crate::report::ScanError;

/// Task-definition revisions are immutable, so a warm process never needs to describe one twice.
#[derive(Default)]
pub struct TaskDefinitionCache(Mutex<HashMap<String, Arc<TaskDefinition>>>);

/// A service that could not be examined: it is reported as failed with this reason.
pub struct Unexamined {
    pub cluster: String,
    pub arn: String,
    pub reason: &'static str,
    pub error: String,
}

pub struct Discovery {
    pub clusters: usize,
    pub services: Vec<(Service, Arc<TaskDefinition>)>,
    pub unexamined: Vec<Unexamined>,
    pub scan_errors: Vec<ScanError>,
}

impl Discovery {
    /// Every service seen, examined or not.
    pub fn scanned(&self) -> usize {
        self.services.len() + self.unexamined.len()
    }
}

pub async fn discover<E: EcsApi>(ecs: &E, config: &Config, cache: &TaskDefinitionCache) -> Discovery {
    let limit = config.max_concurrency.get();
    let mut scan_errors = Vec::new();
    let mut unexamined = Vec::new();

    let clusters = match &config.clusters {
        ClusterScope::Listed(clusters) => clusters.clone(),
        ClusterScope::All => ecs.list_clusters().await.unwrap_or_else(|e| {
            scan_errors.push(scan_error(None, "list-clusters", &e));
            Vec::new()
        }),
    };

    let listed: Vec<_> = stream::iter(&clusters)
        .map(|cluster| async move { (cluster, ecs.list_services(cluster).await) })
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
            let result = ecs.describe_services(cluster, &batch).await;
            (cluster, batch, result)
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    let mut services = Vec::new();
    for (cluster, batch, result) in described {
        let cluster = short_name(cluster).to_owned();
        match result {
            Ok(found) => {
                services.extend(found.services);
                unexamined.extend(found.failures.into_iter().map(|f| Unexamined {
                    cluster: cluster.clone(),
                    arn: f.arn,
                    reason: "describe-failed",
                    error: format!("DescribeServices reported {}", f.reason),
                }));
            }
            Err(e) => unexamined.extend(batch.into_iter().map(|arn| Unexamined {
                cluster: cluster.clone(),
                arn,
                reason: "describe-failed",
                error: e.to_string(),
            })),
        }
    }

    let task_definitions = cache.load(ecs, &services, limit).await;
    let mut examined = Vec::new();
    for service in services {
        match task_definitions.get(&service.task_definition) {
            Some(Ok(td)) => {
                let td = Arc::clone(td);
                examined.push((service, td));
            }
            failed => unexamined.push(Unexamined {
                cluster: short_name(&service.cluster_arn).to_owned(),
                error: match failed {
                    Some(Err(error)) => error.clone(),
                    _ => "task definition was not described".to_owned(),
                },
                arn: service.arn,
                reason: "task-definition-unavailable",
            }),
        }
    }
    Discovery {
        clusters: clusters.len(),
        services: examined,
        unexamined,
        scan_errors,
    }
}

impl TaskDefinitionCache {
    /// Describes each distinct revision not yet cached, at most `limit` at a time.
    async fn load<E: EcsApi>(
        &self,
        ecs: &E,
        services: &[Service],
        limit: usize,
    ) -> HashMap<String, Result<Arc<TaskDefinition>, String>> {
        let wanted: BTreeSet<&str> = services.iter().map(|s| s.task_definition.as_str()).collect();
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
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
            .map(|arn| async move { (arn, ecs.describe_task_definition(arn).await) })
            .buffer_unordered(limit)
            .collect()
            .await;
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
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
}

fn scan_error(cluster: Option<&String>, step: &'static str, error: &EcsError) -> ScanError {
    ScanError {
        cluster: cluster.map(|c| short_name(c).to_owned()),
        step,
        error: error.to_string(),
    }
}
