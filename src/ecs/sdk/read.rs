//! The reads' answers in our vocabulary: the only code that maps `aws_sdk_ecs` types to the port's, and
//! `DescribeTaskDefinition` with tags, which discovery and pin mode share.

use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types::{self as sdk, TaskDefinitionField};
use chrono::{DateTime, Utc};

use super::error::ecs_error;
use crate::ecs::pace::{Category, Pacer};
use crate::ecs::{
    Container, ContainerImage, Deployment, DeploymentController, DeploymentRollback, DeploymentStatus, DescribeFailure,
    DescribedServices, EcsError, EcsErrorKind, NO_ARN, PINNED_TAG, RuntimePlatform, Service, ServiceDeployment,
    ServiceRevision, TaskDefinition, VersionConsistency, pinned_containers,
};

/// `DescribeTaskDefinition` with the revision's tags, paced: what discovery reads and what pin mode copies.
pub(in crate::ecs) async fn describe_with_tags(
    client: &aws_sdk_ecs::Client,
    pacer: &Pacer,
    arn: &str,
) -> Result<DescribeTaskDefinitionOutput, EcsError> {
    let request = client
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send();
    pacer
        .call(Category::TaskDefinitionRead, request)
        .await
        .map_err(|e| ecs_error("DescribeTaskDefinition", e))
}

/// A `DescribeServices` answer's services and failures, added to `described`.
pub(super) fn add_described(described: &mut DescribedServices, output: &DescribeServicesOutput, cluster: &str) {
    for found in output.services() {
        match service(found, cluster) {
            Some(service) => described.services.push(service),
            // An ARN keys the lock and names the service in every call: without one it cannot be handled.
            None => described.failures.push(DescribeFailure {
                arn: format!(
                    "{}/{}",
                    crate::ecs::short_name(cluster),
                    found.service_name().unwrap_or("(no name)")
                ),
                reason: NO_ARN.to_owned(),
            }),
        }
    }
    described
        .failures
        .extend(output.failures().iter().map(|f| DescribeFailure {
            arn: f.arn().unwrap_or_default().to_owned(),
            reason: f.reason().unwrap_or("unknown").to_owned(),
        }));
}

/// A `DescribeTaskDefinition` answer of `arn` as the port's task definition.
pub(super) fn task_definition(output: &DescribeTaskDefinitionOutput, arn: &str) -> Result<TaskDefinition, EcsError> {
    let definition = output.task_definition().ok_or_else(|| {
        EcsError::new(
            "DescribeTaskDefinition",
            EcsErrorKind::Other,
            "answer has no taskDefinition",
        )
    })?;
    Ok(TaskDefinition {
        arn: definition.task_definition_arn().unwrap_or(arn).to_owned(),
        containers: definition
            .container_definitions()
            .iter()
            .map(|c| Container {
                name: c.name().unwrap_or_default().to_owned(),
                image: c.image().unwrap_or_default().to_owned(),
                version_consistency: match c.version_consistency() {
                    Some(sdk::VersionConsistency::Disabled) => VersionConsistency::Disabled,
                    _ => VersionConsistency::Enabled,
                },
            })
            .collect(),
        pinned: output
            .tags()
            .iter()
            .find(|t| t.key() == Some(PINNED_TAG))
            .and_then(|t| t.value())
            .map(pinned_containers)
            .unwrap_or_default(),
        runtime_platform: definition.runtime_platform().map(|p| RuntimePlatform {
            cpu_architecture: p.cpu_architecture().map(|a| a.as_str().to_owned()),
            os_family: p.operating_system_family().map(|o| o.as_str().to_owned()),
        }),
    })
}

/// A described service deployment; `None` without its ARN or its service's.
pub(super) fn service_deployment(d: &sdk::ServiceDeployment) -> Option<ServiceDeployment> {
    Some(ServiceDeployment {
        arn: d.service_deployment_arn()?.to_owned(),
        service_arn: d.service_arn()?.to_owned(),
        status: d.status().map(|s| DeploymentStatus::parse(s.as_str())),
        status_reason: d.status_reason().map(str::to_owned),
        started_at: d.started_at().and_then(timestamp),
        finished_at: d.finished_at().and_then(timestamp),
        updated_at: d.updated_at().and_then(timestamp),
        stopped_at: d.stopped_at().and_then(timestamp),
        target_revision: d.target_service_revision().and_then(|r| r.arn()).map(str::to_owned),
        rollback: d.rollback().map(|r| DeploymentRollback {
            revision: r.service_revision_arn().map(str::to_owned),
            started_at: r.started_at().and_then(timestamp),
            reason: r.reason().map(str::to_owned),
        }),
    })
}

/// A described service revision; `None` without its ARN or its service's.
pub(super) fn service_revision(r: &sdk::ServiceRevision) -> Option<ServiceRevision> {
    Some(ServiceRevision {
        arn: r.service_revision_arn()?.to_owned(),
        service_arn: r.service_arn()?.to_owned(),
        created_at: r.created_at().and_then(timestamp),
        images: r
            .container_images()
            .iter()
            .filter_map(|c| {
                Some(ContainerImage {
                    container: c.container_name()?.to_owned(),
                    image: c.image().unwrap_or_default().to_owned(),
                    // ECS answers an empty digest, or none, until the tag is resolved.
                    digest: c.image_digest().filter(|d| !d.is_empty()).map(str::to_owned),
                })
            })
            .collect(),
    })
}

/// The deployment an `UpdateService` call started.
pub(super) fn updated_deployment(output: &UpdateServiceOutput) -> Result<Deployment, EcsError> {
    let service = output.service();
    let mut deployment = service
        .and_then(|s| newest_deployment(s.deployments()))
        .ok_or_else(|| EcsError::new("UpdateService", EcsErrorKind::Other, "answer has no deployment"))?;
    deployment.service_deployment = service.and_then(|s| s.current_service_deployment()).map(str::to_owned);
    Ok(deployment)
}

/// Our vocabulary for a described service; `None` when ECS gave it no ARN.
fn service(s: &sdk::Service, cluster: &str) -> Option<Service> {
    let arn = s.service_arn()?;
    Some(Service {
        arn: arn.to_owned(),
        name: s.service_name().unwrap_or(crate::ecs::short_name(arn)).to_owned(),
        cluster_arn: s.cluster_arn().unwrap_or(cluster).to_owned(),
        status: s.status().unwrap_or_default().to_owned(),
        task_definition: s.task_definition().unwrap_or_default().to_owned(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
            .collect(),
        deployments: s.deployments().iter().map(deployment).collect(),
        deployment_controller: match s.deployment_controller().map(|c| c.r#type()) {
            Some(sdk::DeploymentControllerType::CodeDeploy) => DeploymentController::CodeDeploy,
            Some(sdk::DeploymentControllerType::External) => DeploymentController::External,
            _ => DeploymentController::Ecs,
        },
        current_deployment: s.current_service_deployment().map(str::to_owned),
        current_revisions: s
            .current_service_revisions()
            .iter()
            .filter_map(|r| r.arn().map(str::to_owned))
            .collect(),
    })
}

fn deployment(d: &sdk::Deployment) -> Deployment {
    Deployment {
        id: d.id().unwrap_or_default().to_owned(),
        created_at: d.created_at().and_then(timestamp),
        service_deployment: None,
    }
}

fn timestamp(t: &aws_sdk_ecs::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}

/// The PRIMARY deployment, or the newest one when ECS names none primary.
fn newest_deployment(deployments: &[sdk::Deployment]) -> Option<Deployment> {
    deployments
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .or_else(|| {
            deployments
                .iter()
                .max_by_key(|d| d.created_at().map(|t| (t.secs(), t.subsec_nanos())))
        })
        .map(deployment)
}
