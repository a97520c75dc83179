//! An in-memory stand-in for the ECS port, for the engine's unit tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{
    Container, ContainerImage, DESCRIBE_REVISIONS_MAX, DESCRIBE_SERVICES_MAX, Deployment, DeploymentController,
    DeploymentStatus, DescribeFailure, DescribedServices, EcsApi, EcsError, EcsErrorKind, EcsUsage, Service,
    ServiceDeployment, ServiceRevision, TaskDefinition, VersionConsistency, short_name,
};

pub const ACCOUNT_PREFIX: &str = "arn:aws:ecs:us-east-1:123456789012";

/// An in-memory ECS: clusters of services, task definitions, scripted failures, call counts.
#[derive(Default)]
pub struct FakeEcs {
    pub clusters: BTreeMap<String, Vec<Service>>,
    pub task_definitions: HashMap<String, TaskDefinition>,
    pub failing_updates: Vec<String>,
    pub failing_listings: Vec<String>,
    pub failing_describes: Vec<String>,
    pub missing_services: Vec<String>,
    pub calls: Mutex<BTreeMap<&'static str, usize>>,
    pub updated: Mutex<Vec<String>>,
    /// `register_revision` calls: source task definition, container name → image.
    pub registered: Mutex<Vec<(String, BTreeMap<String, String>)>>,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Service deployments and revisions by ARN, for services whose `current_deployment` / `current_revisions`
    /// name them.
    pub service_deployments: BTreeMap<String, ServiceDeployment>,
    pub service_revisions: BTreeMap<String, ServiceRevision>,
    /// `describe_service_revisions` fails (access denied) when set.
    pub revisions_denied: bool,
}

impl FakeEcs {
    pub fn add_service(&mut self, cluster: &str, name: &str, images: &[&str], tags: &[(&str, &str)]) {
        let td_arn = format!("{ACCOUNT_PREFIX}:task-definition/{name}:1");
        self.add_service_on(cluster, name, &td_arn, images, tags);
    }

    pub fn add_service_on(&mut self, cluster: &str, name: &str, td_arn: &str, images: &[&str], tags: &[(&str, &str)]) {
        self.task_definitions.insert(
            td_arn.to_owned(),
            TaskDefinition {
                arn: td_arn.to_owned(),
                containers: images
                    .iter()
                    .enumerate()
                    .map(|(i, image)| Container {
                        name: format!("c{i}"),
                        image: (*image).to_owned(),
                        version_consistency: VersionConsistency::Enabled,
                    })
                    .collect(),
                pinned: Default::default(),
                runtime_platform: None,
            },
        );
        self.clusters.entry(cluster.to_owned()).or_default().push(Service {
            arn: format!("{ACCOUNT_PREFIX}:service/{cluster}/{name}"),
            name: name.to_owned(),
            cluster_arn: format!("{ACCOUNT_PREFIX}:cluster/{cluster}"),
            status: "ACTIVE".to_owned(),
            task_definition: td_arn.to_owned(),
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            deployments: Vec::new(),
            deployment_controller: DeploymentController::Ecs,
            current_deployment: None,
            current_revisions: Vec::new(),
        });
    }

    /// Records what service `cluster/name` runs: a current deployment whose target is a revision with these
    /// container digests (container `cN` for position N; `None`: not resolved yet), made at `created_at`.
    pub fn set_running(
        &mut self,
        cluster: &str,
        name: &str,
        digests: &[Option<&str>],
        created_at: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let service = self
            .clusters
            .get_mut(cluster)
            .into_iter()
            .flatten()
            .find(|s| s.name == name)
            .expect("a known service");
        let revision = format!(
            "{ACCOUNT_PREFIX}:service-revision/{}/{name}/{}",
            short_name(&service.cluster_arn),
            self.service_revisions.len() + 1
        );
        let deployment = revision.replace("service-revision", "service-deployment");
        service.current_deployment = Some(deployment.clone());
        service.current_revisions = vec![revision.clone()];
        self.service_deployments.insert(
            deployment.clone(),
            ServiceDeployment {
                arn: deployment,
                service_arn: service.arn.clone(),
                status: Some(DeploymentStatus::Successful),
                status_reason: None,
                started_at: created_at,
                finished_at: created_at,
                updated_at: created_at,
                stopped_at: None,
                target_revision: Some(revision.clone()),
                rollback: None,
            },
        );
        self.service_revisions.insert(
            revision.clone(),
            revision_running(revision, service.arn.clone(), created_at, digests),
        );
    }

    /// Ends the current deployment of `cluster/name` (made by [`FakeEcs::set_running`]) with `status`, its target
    /// a new revision whose containers resolved to `target_digests`. A `ROLLBACK_*` status returns the service
    /// to the revision it ran, as ECS does; any other leaves the target as what the service converges to.
    pub fn end_deployment(
        &mut self,
        cluster: &str,
        name: &str,
        status: DeploymentStatus,
        target_digests: &[Option<&str>],
    ) {
        let service = self
            .clusters
            .get(cluster)
            .into_iter()
            .flatten()
            .find(|s| s.name == name)
            .expect("a known service");
        let deployment_arn = service.current_deployment.clone().expect("set_running first");
        let target = format!(
            "{ACCOUNT_PREFIX}:service-revision/{}/{name}/{}",
            short_name(&service.cluster_arn),
            self.service_revisions.len() + 1
        );
        let service_arn = service.arn.clone();
        let deployment = self
            .service_deployments
            .get_mut(&deployment_arn)
            .expect("the deployment set_running made");
        let previous = deployment.target_revision.replace(target.clone());
        let created_at = deployment.started_at;
        deployment.rollback = status.is_rollback().then(|| super::DeploymentRollback {
            revision: previous,
            started_at: created_at,
            reason: Some("circuit breaker tripped".to_owned()),
        });
        deployment.status_reason = Some(format!("deployment ended {status}"));
        deployment.status = Some(status);
        self.service_revisions.insert(
            target.clone(),
            revision_running(target, service_arn, created_at, target_digests),
        );
    }

    pub fn calls(&self, operation: &str) -> usize {
        self.calls.lock().unwrap().get(operation).copied().unwrap_or(0)
    }

    async fn call(&self, operation: &'static str) {
        *self.calls.lock().unwrap().entry(operation).or_default() += 1;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A service revision whose containers `c0`, `c1`, … resolved to `digests` (`None`: not yet).
fn revision_running(
    arn: String,
    service_arn: String,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    digests: &[Option<&str>],
) -> ServiceRevision {
    ServiceRevision {
        arn,
        service_arn,
        created_at,
        images: digests
            .iter()
            .enumerate()
            .map(|(i, digest)| ContainerImage {
                container: format!("c{i}"),
                image: String::new(),
                digest: digest.map(str::to_owned),
            })
            .collect(),
    }
}

impl EcsApi for FakeEcs {
    fn usage(&self) -> EcsUsage {
        let attempts = self.calls.lock().unwrap().values().sum::<usize>();
        EcsUsage {
            attempts: attempts as u64,
            throttled: 0,
        }
    }

    async fn list_clusters(&self) -> Result<Vec<String>, EcsError> {
        self.call("ListClusters").await;
        Ok(self
            .clusters
            .keys()
            .map(|c| format!("{ACCOUNT_PREFIX}:cluster/{c}"))
            .collect())
    }

    async fn list_tagged_services(&self, tag_key: &str) -> Result<Vec<String>, EcsError> {
        self.call("GetResources").await;
        let services = self.clusters.values().flatten();
        Ok(services
            .filter(|s| s.tags.contains_key(tag_key))
            .map(|s| s.arn.clone())
            .collect())
    }

    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, EcsError> {
        self.call("ListServices").await;
        let name = short_name(cluster);
        if self.failing_listings.iter().any(|c| c == name) {
            return Err(EcsError::new(
                "ListServices",
                EcsErrorKind::AccessDenied,
                "AccessDeniedException: no",
            ));
        }
        Ok(self
            .clusters
            .get(name)
            .into_iter()
            .flatten()
            .map(|s| s.arn.clone())
            .collect())
    }

    async fn describe_services(&self, cluster: &str, arns: &[String]) -> Result<DescribedServices, EcsError> {
        self.call("DescribeServices").await;
        assert!(arns.len() <= DESCRIBE_SERVICES_MAX, "batch of {}", arns.len());
        if arns
            .iter()
            .any(|a| self.failing_describes.iter().any(|f| a.ends_with(f.as_str())))
        {
            return Err(EcsError::new(
                "DescribeServices",
                EcsErrorKind::Other,
                "ServerException: boom",
            ));
        }
        let all = self.clusters.get(short_name(cluster)).cloned().unwrap_or_default();
        let (services, failures) = arns
            .iter()
            .fold((Vec::new(), Vec::new()), |(mut found, mut failed), arn| {
                match all.iter().find(|s| &s.arn == arn) {
                    Some(s) if !self.missing_services.contains(&s.name) => found.push(s.clone()),
                    _ => failed.push(DescribeFailure {
                        arn: arn.clone(),
                        reason: "MISSING".into(),
                    }),
                }
                (found, failed)
            });
        Ok(DescribedServices { services, failures })
    }

    async fn describe_task_definition(&self, arn: &str) -> Result<TaskDefinition, EcsError> {
        self.call("DescribeTaskDefinition").await;
        self.task_definitions
            .get(arn)
            .cloned()
            .ok_or_else(|| EcsError::new("DescribeTaskDefinition", EcsErrorKind::InvalidParameter, "unknown"))
    }

    async fn describe_service_deployments(&self, arns: &[String]) -> Result<Vec<ServiceDeployment>, EcsError> {
        self.call("DescribeServiceDeployments").await;
        assert!(arns.len() <= DESCRIBE_REVISIONS_MAX, "batch of {}", arns.len());
        Ok(arns
            .iter()
            .filter_map(|arn| self.service_deployments.get(arn).cloned())
            .collect())
    }

    async fn describe_service_revisions(&self, arns: &[String]) -> Result<Vec<ServiceRevision>, EcsError> {
        self.call("DescribeServiceRevisions").await;
        assert!(arns.len() <= DESCRIBE_REVISIONS_MAX, "batch of {}", arns.len());
        if self.revisions_denied {
            return Err(EcsError::new(
                "DescribeServiceRevisions",
                EcsErrorKind::AccessDenied,
                "AccessDeniedException: not authorized to perform ecs:DescribeServiceRevisions",
            ));
        }
        Ok(arns
            .iter()
            .filter_map(|arn| self.service_revisions.get(arn).cloned())
            .collect())
    }

    async fn force_new_deployment(
        &self,
        _cluster: &str,
        service: &str,
        _known: &[Deployment],
    ) -> Result<Deployment, EcsError> {
        self.call("UpdateService").await;
        if self.failing_updates.iter().any(|f| service.ends_with(&format!("/{f}"))) {
            return Err(EcsError::new(
                "UpdateService",
                EcsErrorKind::Other,
                "ServerException: injected",
            ));
        }
        self.updated.lock().unwrap().push(service.to_owned());
        Ok(Deployment {
            id: format!("ecs-svc/{}", short_name(service)),
            created_at: None,
            service_deployment: Some(format!("{service}/deployment")),
        })
    }

    /// Refuses container names the source lacks before registering, like `SdkEcs`; the new revision is the
    /// source's + 1.
    async fn register_revision(&self, source: &str, images: &BTreeMap<String, String>) -> Result<String, EcsError> {
        let invalid =
            |message: String| EcsError::new("RegisterTaskDefinition", EcsErrorKind::InvalidParameter, message);
        let definition = self
            .task_definitions
            .get(source)
            .ok_or_else(|| invalid(format!("unknown task definition {source}")))?;
        if let Some(name) = images
            .keys()
            .find(|n| definition.containers.iter().all(|c| &c.name != *n))
        {
            return Err(invalid(format!("{source} has no container named {name}")));
        }
        self.call("RegisterTaskDefinition").await;
        let (unrevised, revision) = source
            .rsplit_once(':')
            .expect("a task-definition ARN ends in :revision");
        let revision: u32 = revision.parse().expect("a numeric revision");
        self.registered
            .lock()
            .unwrap()
            .push((source.to_owned(), images.clone()));
        Ok(format!("{unrevised}:{}", revision + 1))
    }

    /// An `UpdateService` like `force_new_deployment`: counted, failing for `failing_updates`, recorded in `updated`.
    async fn deploy_revision(
        &self,
        cluster: &str,
        service: &str,
        _task_definition: &str,
        known: &[Deployment],
    ) -> Result<Deployment, EcsError> {
        self.force_new_deployment(cluster, service, known).await
    }
}
