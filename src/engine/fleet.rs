//! The fleet: every service in scope with its task definition, scanned once per invocation. List (clusters and their services, or
//! with `SELECT=opted-in` only the tagged services) → describe (10 at a time) →
//! task definitions (once per revision, cached for the warm process); every step fans out at most
//! `MAX_CONCURRENCY` calls, and a failure is recorded against the services or cluster it concerns
//! while everything else carries on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{StreamExt, stream};

use crate::config::{ClusterScope, Config, Select};
use crate::domain::outcome::{Failure, ScanFailure};
use crate::domain::reason::Reason;
use crate::ecs::{
    DESCRIBE_SERVICES_MAX, EcsApi, EcsError, MISSING, NO_ARN, Service, TaskDefinition, cluster_of_service, short_name,
};
use crate::report::Scanned;

/// Task-definition revisions are immutable, so a warm process never needs to describe one twice.
#[derive(Default)]
pub struct TaskDefinitionCache(Mutex<HashMap<String, Arc<TaskDefinition>>>);

/// A service that could not be examined: reported with this reason, as failed when there is a failure
/// (a retry may get further), as skipped when there is none (ECS says the service is gone).
pub struct Unexamined {
    pub cluster: String,
    pub arn: String,
    pub reason: Reason,
    pub failure: Option<Failure>,
}

pub struct Fleet {
    pub clusters: usize,
    pub services: Vec<(Service, Arc<TaskDefinition>)>,
    pub unexamined: Vec<Unexamined>,
    pub scan_failures: Vec<ScanFailure>,
}

impl Fleet {
    /// Clusters searched, and every service seen, examined or not.
    pub fn scanned(&self) -> Scanned {
        Scanned {
            clusters: self.clusters,
            services: self.services.len() + self.unexamined.len(),
        }
    }
}

pub async fn scan<E: EcsApi>(ecs: &E, config: &Config, cache: &TaskDefinitionCache) -> Fleet {
    let limit = config.max_concurrency.get();
    let mut scan_failures = Vec::new();
    let mut unexamined = Vec::new();

    let (clusters, batches) = match config.select {
        Select::Matching => listed_batches(ecs, config, &mut scan_failures, &mut unexamined).await,
        Select::OptedIn => tagged_batches(ecs, config, &mut scan_failures, &mut unexamined).await,
    };

    let described: Vec<_> = stream::iter(batches)
        .map(|(cluster, batch)| async move {
            let result = ecs.describe_services(&cluster, &batch).await;
            (cluster, batch, result)
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    let mut services = Vec::new();
    for (cluster, batch, result) in described {
        let cluster = short_name(&cluster).to_owned();
        match result {
            Ok(found) => {
                services.extend(found.services);
                // A deleted service (or a stale tagging-API entry) stays missing however often we ask, and a
                // service without an ARN cannot be named in a call: skips, not failures.
                unexamined.extend(found.failures.into_iter().map(|f| match f.reason.as_str() {
                    MISSING | NO_ARN => Unexamined {
                        cluster: cluster.clone(),
                        arn: f.arn,
                        reason: if f.reason == MISSING {
                            Reason::ServiceNotFound
                        } else {
                            Reason::NoServiceArn
                        },
                        failure: None,
                    },
                    _ => Unexamined {
                        cluster: cluster.clone(),
                        arn: f.arn,
                        reason: Reason::DescribeFailed,
                        failure: Some(Failure::Reported(format!("DescribeServices reported {}", f.reason))),
                    },
                }));
            }
            Err(e) => {
                let error = Arc::new(e);
                unexamined.extend(batch.into_iter().map(|arn| Unexamined {
                    cluster: cluster.clone(),
                    arn,
                    reason: Reason::DescribeFailed,
                    failure: Some(Failure::Ecs(Arc::clone(&error))),
                }));
            }
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
                failure: Some(match failed {
                    Some(Err(error)) => Failure::Ecs(Arc::clone(error)),
                    _ => Failure::Reported("task definition was not described".to_owned()),
                }),
                arn: service.arn,
                reason: Reason::TaskDefinitionUnavailable,
            }),
        }
    }
    Fleet {
        clusters,
        services: examined,
        unexamined,
        scan_failures,
    }
}

/// Services to describe, in batches of the API maximum per cluster.
type Batches = Vec<(String, Vec<String>)>;

/// An old-format service ARN (`service/NAME`) names no cluster, so no cluster-scoped policy covers it: IAM
/// authorizes every service a `DescribeServices` call names, and one such ARN would fail its whole batch on every
/// invocation. It is skipped (a retry cannot help), the others described.
fn old_arn_format(cluster: &str, arn: String) -> Unexamined {
    Unexamined {
        cluster: short_name(cluster).to_owned(),
        arn,
        reason: Reason::OldArnFormat,
        failure: None,
    }
}

/// Every service of the clusters in scope: `ListClusters` (unless listed), then `ListServices`.
async fn listed_batches<E: EcsApi>(
    ecs: &E,
    config: &Config,
    scan_failures: &mut Vec<ScanFailure>,
    unexamined: &mut Vec<Unexamined>,
) -> (usize, Batches) {
    let clusters = match &config.clusters {
        ClusterScope::Listed(clusters) => clusters.clone(),
        ClusterScope::All => ecs.list_clusters().await.unwrap_or_else(|e| {
            scan_failures.push(scan_failure(None, "list-clusters", e));
            Vec::new()
        }),
    };
    let listed: Vec<_> = stream::iter(&clusters)
        .map(|cluster| async move { (cluster, ecs.list_services(cluster).await) })
        .buffer_unordered(config.max_concurrency.get())
        .collect()
        .await;
    let mut batches = Vec::new();
    for (cluster, result) in listed {
        match result {
            Ok(arns) => {
                let (long, old): (Vec<_>, Vec<_>) = arns.into_iter().partition(|a| cluster_of_service(a).is_some());
                unexamined.extend(old.into_iter().map(|arn| old_arn_format(cluster, arn)));
                batches.extend(
                    long.chunks(DESCRIBE_SERVICES_MAX)
                        .map(|b| (cluster.clone(), b.to_vec())),
                );
            }
            Err(e) => scan_failures.push(scan_failure(Some(cluster), "list-services", e)),
        }
    }
    (clusters.len(), batches)
}

/// Only the services carrying the tag key, found by one paginated tagging-API listing and grouped
/// by the cluster their ARN names: no cluster is listed, no untagged service described.
async fn tagged_batches<E: EcsApi>(
    ecs: &E,
    config: &Config,
    scan_failures: &mut Vec<ScanFailure>,
    unexamined: &mut Vec<Unexamined>,
) -> (usize, Batches) {
    let arns = match ecs.list_tagged_services(&config.tag_key).await {
        Ok(arns) => arns,
        Err(e) => {
            scan_failures.push(scan_failure(None, "list-tagged-services", e));
            return (0, Vec::new());
        }
    };
    let in_scope = |cluster: &str| match &config.clusters {
        ClusterScope::All => true,
        ClusterScope::Listed(listed) => listed.iter().any(|c| short_name(c) == cluster),
    };
    let mut by_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for arn in arns {
        match cluster_of_service(&arn) {
            Some(cluster) if in_scope(cluster) => by_cluster.entry(cluster.to_owned()).or_default().push(arn),
            Some(_) => {}
            // Describing needs the cluster; retrying cannot find it, so skip with a reason.
            None => unexamined.push(old_arn_format("", arn)),
        }
    }
    let clusters = by_cluster.len();
    let batches = by_cluster
        .into_iter()
        .flat_map(|(cluster, arns)| {
            arns.chunks(DESCRIBE_SERVICES_MAX)
                .map(|b| (cluster.clone(), b.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    (clusters, batches)
}

impl TaskDefinitionCache {
    /// Describes each distinct revision not yet cached, at most `limit` at a time.
    async fn load<E: EcsApi>(
        &self,
        ecs: &E,
        services: &[Service],
        limit: usize,
    ) -> HashMap<String, Result<Arc<TaskDefinition>, Arc<EcsError>>> {
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
                Err(e) => Err(Arc::new(e)),
            };
            found.insert(arn.to_owned(), entry);
        }
        found
    }
}

fn scan_failure(cluster: Option<&String>, step: &'static str, error: EcsError) -> ScanFailure {
    ScanFailure {
        cluster: cluster.map(|c| short_name(c).to_owned()),
        step,
        error: error.into(),
    }
}
