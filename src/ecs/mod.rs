//! The ECS port: what the redeployer needs from Amazon ECS, in our own vocabulary.
//! `sdk` adapts it to `aws_sdk_ecs` (with `revision` for pin mode's new revisions); `fake` is the
//! in-memory stand-in of the unit tests.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};
use thiserror::Error;

#[cfg(test)]
pub mod fake;
pub mod pace;
mod revision;
pub mod sdk;
mod usage;

/// `DescribeServices` takes at most this many services per call.
pub const DESCRIBE_SERVICES_MAX: usize = 10;
/// `ListServices` / `ListClusters` page size maximum.
pub const LIST_PAGE_MAX: i32 = 100;
/// `GetResources` (Resource Groups Tagging API) page size maximum.
pub const TAGGED_PAGE_MAX: i32 = 100;
/// `DescribeServiceDeployments` and `DescribeServiceRevisions` take at most this many ARNs per call.
pub const DESCRIBE_REVISIONS_MAX: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub cluster_arn: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    pub tags: BTreeMap<String, String>,
    pub deployments: Vec<Deployment>,
    pub deployment_controller: DeploymentController,
    /// `currentServiceDeployment`: the service deployment ECS is carrying out or carried out last.
    pub current_deployment: Option<String>,
    /// `currentServiceRevisions`: the revisions whose tasks run now (more than one while a deployment rolls).
    pub current_revisions: Vec<String>,
}

/// A service deployment: which service revision it moves to, and whether it is being (or was) rolled back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDeployment {
    pub arn: String,
    pub service_arn: String,
    /// `targetServiceRevision`: the revision the deployment was started for.
    pub target_revision: Option<String>,
    /// `rollback.serviceRevisionArn`: the revision a rollback returns to. ECS creates no revision for a rollback:
    /// it keeps the deployment, sets a `ROLLBACK_*` status and deploys the last successful revision again.
    pub rollback_revision: Option<String>,
}

impl ServiceDeployment {
    /// The revision the service converges to: the one a rollback returns to, else the target.
    pub fn converging_revision(&self) -> Option<&str> {
        self.rollback_revision.as_deref().or(self.target_revision.as_deref())
    }
}

/// A service revision as `DescribeServiceRevisions` tells it: when it was made and what each container runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRevision {
    pub arn: String,
    pub service_arn: String,
    pub created_at: Option<DateTime<Utc>>,
    pub images: Vec<ContainerImage>,
}

/// `containerImages[]`: the image a container names and the digest ECS resolved it to — `None` until the first
/// task of the revision's deployment resolved the tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerImage {
    pub container: String,
    pub image: String,
    pub digest: Option<String>,
}

/// Who deploys a service's new task definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentController {
    /// ECS itself: rolling updates, and ECS-native blue/green.
    Ecs,
    /// CodeDeploy blue/green: a new task definition goes through a CodeDeploy deployment.
    CodeDeploy,
    /// A third-party controller, through task sets.
    External,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDefinition {
    pub arn: String,
    pub containers: Vec<Container>,
    /// Containers whose `repo:tag@digest` ecs-redeploy wrote itself (the [`PINNED_TAG`] of the revision).
    pub pinned: BTreeSet<String>,
    /// `runtimePlatform`, as ECS spells it (`ARM64`, `LINUX`); `None` when the revision names none.
    pub runtime_platform: Option<RuntimePlatform>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimePlatform {
    /// `X86_64` or `ARM64`; `None`: not set.
    pub cpu_architecture: Option<String>,
    /// `LINUX`, `WINDOWS_SERVER_2022_CORE`, …; `None`: not set.
    pub os_family: Option<String>,
}

/// The task-definition tag on every revision pin mode registers: the names of the containers it pinned,
/// space-separated. Pin mode moves a `repo:tag@digest` to a newer digest only in those containers; anyone
/// else's `tag@digest` is a deliberate pin, left alone.
pub const PINNED_TAG: &str = "ecs-redeploy:pinned";

/// The container names a [`PINNED_TAG`] value lists.
pub fn pinned_containers(tag_value: &str) -> BTreeSet<String> {
    tag_value.split_whitespace().map(str::to_owned).collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub version_consistency: VersionConsistency,
}

/// Whether ECS resolves a container's tag to a digest once per deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionConsistency {
    Enabled,
    /// Tasks of one deployment may resolve the tag differently, or use a cached image.
    Disabled,
}

/// Services of one `DescribeServices` answer: the found ones and the ARNs ECS reported as failures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescribedServices {
    pub services: Vec<Service>,
    pub failures: Vec<DescribeFailure>,
}

/// `DescribeFailure::reason` of a service ECS does not know (any more).
pub const MISSING: &str = "MISSING";
/// `DescribeFailure::reason` we give a service ECS described without an ARN.
pub const NO_ARN: &str = "NO_ARN";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeFailure {
    pub arn: String,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcsErrorKind {
    Throttling,
    NotFound,
    InvalidParameter,
    AccessDenied,
    /// Transport failures, timeouts, server errors and anything unclassified.
    Other,
}

#[derive(Debug, Error)]
#[error("ecs {operation} failed: {message}")]
pub struct EcsError {
    pub operation: &'static str,
    pub kind: EcsErrorKind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl EcsError {
    /// Whether calling again may succeed: throttling and transport or server failures may pass; a
    /// missing resource, a refused parameter or a denied permission will not.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, EcsErrorKind::Throttling | EcsErrorKind::Other)
    }

    pub fn new(operation: &'static str, kind: EcsErrorKind, message: impl Into<String>) -> Self {
        EcsError {
            operation,
            kind,
            message: message.into(),
            source: None,
        }
    }
}

/// ECS requests a port has sent since it was made: every attempt (retries included), and those ECS throttled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EcsUsage {
    pub attempts: u64,
    pub throttled: u64,
}

impl std::ops::Sub for EcsUsage {
    type Output = EcsUsage;

    /// The usage between two readings.
    fn sub(self, earlier: EcsUsage) -> EcsUsage {
        EcsUsage {
            attempts: self.attempts.saturating_sub(earlier.attempts),
            throttled: self.throttled.saturating_sub(earlier.throttled),
        }
    }
}

/// The ECS operations the redeployer uses. Listing calls return every page; `describe_services`
/// accepts any number of services and batches them to the API maximum.
pub trait EcsApi: Send + Sync {
    /// Requests sent so far, for the metrics.
    fn usage(&self) -> EcsUsage;

    fn list_clusters(&self) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    fn list_services(&self, cluster: &str) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    /// ARNs of every service in the account and region that carries `tag_key`, whatever its value
    /// (Resource Groups Tagging API): with `SELECT=opted-in` no cluster needs listing.
    fn list_tagged_services(&self, tag_key: &str) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<DescribedServices, EcsError>> + Send;

    fn describe_task_definition(&self, arn: &str) -> impl Future<Output = Result<TaskDefinition, EcsError>> + Send;

    /// At most [`DESCRIBE_REVISIONS_MAX`] service deployments; ARNs ECS does not know are left out.
    fn describe_service_deployments(
        &self,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<ServiceDeployment>, EcsError>> + Send;

    /// At most [`DESCRIBE_REVISIONS_MAX`] service revisions; ARNs ECS does not know are left out.
    fn describe_service_revisions(
        &self,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<ServiceRevision>, EcsError>> + Send;

    /// `UpdateService(forceNewDeployment=true)`; returns the new primary deployment.
    fn force_new_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<Deployment, EcsError>> + Send;

    /// Registers a new revision of `source` (a task-definition ARN) with every field and tag (except `aws:` keys)
    /// preserved and the named containers' images replaced; returns the new revision's ARN.
    fn register_revision(
        &self,
        source: &str,
        images: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, EcsError>> + Send;

    /// `UpdateService(taskDefinition)`: deploys `task_definition` to the service; returns the new primary deployment.
    fn deploy_revision(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> impl Future<Output = Result<Deployment, EcsError>> + Send;
}

/// The cluster name in a service ARN (`…:service/prod/web` → `prod`); `None` for the old format
/// (`…:service/web`), which does not name its cluster.
pub fn cluster_of_service(service_arn: &str) -> Option<&str> {
    let resource = service_arn.split(':').nth(5)?;
    let mut parts = resource.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("service"), Some(cluster), Some(_), None) => Some(cluster),
        _ => None,
    }
}

/// The last path segment of an ARN (`…:cluster/prod` → `prod`); a plain name is returned as is.
pub fn short_name(arn_or_name: &str) -> &str {
    arn_or_name.rsplit('/').next().unwrap_or(arn_or_name)
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn short_names() {
        assert_eq!(short_name("arn:aws:ecs:us-east-1:123456789012:cluster/prod"), "prod");
        assert_eq!(short_name("arn:aws:ecs:us-east-1:123456789012:service/prod/web"), "web");
        assert_eq!(short_name("arn:aws:ecs:us-east-1:123456789012:service/web"), "web");
        assert_eq!(short_name("prod"), "prod");
    }

    #[test]
    fn clusters_of_service_arns() {
        use super::cluster_of_service;
        assert_eq!(
            cluster_of_service("arn:aws:ecs:us-east-1:123456789012:service/prod/web"),
            Some("prod")
        );
        assert_eq!(
            cluster_of_service("arn:aws:ecs:us-east-1:123456789012:service/web"),
            None
        );
        assert_eq!(
            cluster_of_service("arn:aws:ecs:us-east-1:123456789012:task/prod/abc"),
            None
        );
        assert_eq!(cluster_of_service("not an arn"), None);
    }
}
