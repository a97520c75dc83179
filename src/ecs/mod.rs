//! The ECS port: what the redeployer needs from Amazon ECS, in our own vocabulary.
//! `sdk` adapts it to `aws_sdk_ecs` (with `revision` for pin mode's new revisions); `fake` is the
//! in-memory stand-in of the unit tests.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};

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

/// A service deployment as `DescribeServiceDeployments` tells it: which service revision it moves to, how it
/// stands, and whether it is being (or was) rolled back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDeployment {
    pub arn: String,
    pub service_arn: String,
    /// `status`; `None` when ECS gave none.
    pub status: Option<DeploymentStatus>,
    /// `statusReason`: ECS's own words on why the deployment stands as it does.
    pub status_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// `stoppedAt`: set when a person stopped the deployment, or when it failed with no rollback configured.
    pub stopped_at: Option<DateTime<Utc>>,
    /// `targetServiceRevision`: the revision the deployment was started for (still its target after a rollback).
    pub target_revision: Option<String>,
    /// `rollback`: set once a circuit breaker, an alarm or a person rolled the deployment back.
    pub rollback: Option<DeploymentRollback>,
}

/// `rollback` of a service deployment. ECS creates no revision for a rollback: it keeps the deployment, sets a
/// `ROLLBACK_*` status and deploys the last successful revision again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeploymentRollback {
    /// `rollback.serviceRevisionArn`: the revision the rollback returns to.
    pub revision: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// `ServiceDeploymentStatus`, value for value; a value this build does not know is kept as ECS spelled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeploymentStatus {
    Pending,
    Successful,
    Stopped,
    StopRequested,
    InProgress,
    RollbackRequested,
    RollbackInProgress,
    RollbackSuccessful,
    RollbackFailed,
    Unknown(String),
}

impl DeploymentStatus {
    pub fn parse(value: &str) -> Self {
        match value {
            "PENDING" => DeploymentStatus::Pending,
            "SUCCESSFUL" => DeploymentStatus::Successful,
            "STOPPED" => DeploymentStatus::Stopped,
            "STOP_REQUESTED" => DeploymentStatus::StopRequested,
            "IN_PROGRESS" => DeploymentStatus::InProgress,
            "ROLLBACK_REQUESTED" => DeploymentStatus::RollbackRequested,
            "ROLLBACK_IN_PROGRESS" => DeploymentStatus::RollbackInProgress,
            "ROLLBACK_SUCCESSFUL" => DeploymentStatus::RollbackSuccessful,
            "ROLLBACK_FAILED" => DeploymentStatus::RollbackFailed,
            other => DeploymentStatus::Unknown(other.to_owned()),
        }
    }

    /// The value as ECS spells it.
    pub fn as_str(&self) -> &str {
        match self {
            DeploymentStatus::Pending => "PENDING",
            DeploymentStatus::Successful => "SUCCESSFUL",
            DeploymentStatus::Stopped => "STOPPED",
            DeploymentStatus::StopRequested => "STOP_REQUESTED",
            DeploymentStatus::InProgress => "IN_PROGRESS",
            DeploymentStatus::RollbackRequested => "ROLLBACK_REQUESTED",
            DeploymentStatus::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            DeploymentStatus::RollbackSuccessful => "ROLLBACK_SUCCESSFUL",
            DeploymentStatus::RollbackFailed => "ROLLBACK_FAILED",
            DeploymentStatus::Unknown(value) => value,
        }
    }

    /// `ROLLBACK_*`: ECS gave up on the deployment's target and returns (or tried to return) to an older revision.
    pub fn is_rollback(&self) -> bool {
        matches!(
            self,
            DeploymentStatus::RollbackRequested
                | DeploymentStatus::RollbackInProgress
                | DeploymentStatus::RollbackSuccessful
                | DeploymentStatus::RollbackFailed
        )
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ServiceDeployment {
    /// The revision the service converges to: the one a rollback returns to, else the target.
    pub fn converging_revision(&self) -> Option<&str> {
        self.rollback
            .as_ref()
            .and_then(|r| r.revision.as_deref())
            .or(self.target_revision.as_deref())
    }

    /// Whether ECS rolled the deployment back: a `ROLLBACK_*` status, or a `rollback` without a status.
    pub fn rolled_back(&self) -> bool {
        match &self.status {
            Some(status) => status.is_rollback(),
            None => self.rollback.is_some(),
        }
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
    /// In `UpdateService`'s answer only: the service's `currentServiceDeployment`, the service deployment the
    /// update started (its outcome is read from it). ECS documents no mapping from `id` (`ecs-svc/…`) to it.
    pub service_deployment: Option<String>,
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

pub use crate::aws::ErrorKind as EcsErrorKind;

/// A failed ECS call (or tagging API call, which serves ECS's listing of tagged services).
pub type EcsError = crate::aws::AwsError<crate::aws::Ecs>;

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

    /// `UpdateService(forceNewDeployment=true)`; returns the new primary deployment. `known`: the service's
    /// deployments before the call (as the scan described them) — after an answer lost to a 5xx, a reset or a
    /// timeout, a deployment not among them is the call's own, and the call is not sent again.
    fn force_new_deployment(
        &self,
        cluster: &str,
        service: &str,
        known: &[Deployment],
    ) -> impl Future<Output = Result<Deployment, EcsError>> + Send;

    /// Registers a new revision of `source` (a task-definition ARN) with every field and tag (except `aws:` keys)
    /// preserved and the named containers' images replaced; returns the new revision's ARN. After an answer lost
    /// to a 5xx, a reset or a timeout, the family's newest revision, when it is newer than `source` and names
    /// exactly these images, is the call's own: no second revision is registered.
    fn register_revision(
        &self,
        source: &str,
        images: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, EcsError>> + Send;

    /// `UpdateService(taskDefinition)`: deploys `task_definition` to the service; returns the new primary deployment.
    /// `known` as for [`EcsApi::force_new_deployment`].
    fn deploy_revision(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        known: &[Deployment],
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
    fn deployment_statuses_round_trip_and_keep_unknown_values() {
        use super::DeploymentStatus;
        for value in [
            "PENDING",
            "SUCCESSFUL",
            "STOPPED",
            "STOP_REQUESTED",
            "IN_PROGRESS",
            "ROLLBACK_REQUESTED",
            "ROLLBACK_IN_PROGRESS",
            "ROLLBACK_SUCCESSFUL",
            "ROLLBACK_FAILED",
        ] {
            let status = DeploymentStatus::parse(value);
            assert!(!matches!(status, DeploymentStatus::Unknown(_)), "{value}");
            assert_eq!(status.as_str(), value);
            assert_eq!(status.is_rollback(), value.starts_with("ROLLBACK_"), "{value}");
        }
        let new = DeploymentStatus::parse("PAUSED");
        assert_eq!(new, DeploymentStatus::Unknown("PAUSED".to_owned()));
        assert!(!new.is_rollback());
    }

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
