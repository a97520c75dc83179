//! The ECS port over `aws_sdk_ecs::Client`: with `revision`, the only code that knows the ECS SDK's types.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_ecs::error::DisplayErrorContext;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder;
use aws_sdk_ecs::types::{self as sdk, ServiceField, TaskDefinitionField};
use chrono::{DateTime, Utc};
use tracing::debug;

use std::sync::Arc;

use super::pace::{Category, Pacer, Pacing};
use super::usage::{CountAttempts, UsageCounter};
use aws_sdk_resourcegroupstagging::types::TagFilter;

use super::{
    Container, ContainerImage, DESCRIBE_SERVICES_MAX, Deployment, DeploymentController, DeploymentRollback,
    DeploymentStatus, DescribeFailure, DescribedServices, EcsApi, EcsError, EcsErrorKind, EcsUsage, LIST_PAGE_MAX,
    NO_ARN, PINNED_TAG, RuntimePlatform, Service, ServiceDeployment, ServiceRevision, TAGGED_PAGE_MAX, TaskDefinition,
    VersionConsistency, pinned_containers,
};

#[derive(Clone, Debug)]
pub struct SdkEcs {
    client: aws_sdk_ecs::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    pacer: Arc<Pacer>,
    usage: Arc<UsageCounter>,
}

impl SdkEcs {
    /// ECS calls paced to the documented buckets (see [`SdkEcs::paced`]), every attempt counted.
    pub fn new(client: aws_sdk_ecs::Client, tagging: aws_sdk_resourcegroupstagging::Client) -> Self {
        let usage = Arc::new(UsageCounter::default());
        let counted = client
            .config()
            .to_builder()
            .interceptor(CountAttempts(Arc::clone(&usage)))
            .build();
        SdkEcs {
            client: aws_sdk_ecs::Client::from_conf(counted),
            tagging,
            pacer: Arc::new(Pacer::new(Pacing::Documented)),
            usage,
        }
    }

    /// The same port with `pacing` (`ECS_PACING`).
    pub fn paced(self, pacing: Pacing) -> Self {
        SdkEcs {
            pacer: Arc::new(Pacer::new(pacing)),
            ..self
        }
    }
}

impl SdkEcs {
    /// Every page of a listing. Pages are requested one by one rather than through the SDK's paginator, so each
    /// request waits for its own token and none is spent on the end of the listing.
    async fn all_pages<F, Fut>(&self, category: Category, mut page: F) -> Result<Vec<String>, EcsError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<(Vec<String>, Option<String>), EcsError>>,
    {
        let mut items = Vec::new();
        let mut next_token = None;
        loop {
            let (found, next) = self.pacer.call(category, page(next_token)).await?;
            items.extend(found);
            next_token = next;
            if next_token.is_none() {
                return Ok(items);
            }
        }
    }
}

impl EcsApi for SdkEcs {
    fn usage(&self) -> EcsUsage {
        self.usage.read()
    }

    async fn list_clusters(&self) -> Result<Vec<String>, EcsError> {
        self.all_pages(Category::ClusterRead, |next_token| async {
            let page = self
                .client
                .list_clusters()
                .max_results(LIST_PAGE_MAX)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| ecs_error("ListClusters", e))?;
            Ok((page.cluster_arns.unwrap_or_default(), page.next_token))
        })
        .await
    }

    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, EcsError> {
        self.all_pages(Category::ServiceRead, |next_token| async {
            let page = self
                .client
                .list_services()
                .cluster(cluster)
                .max_results(LIST_PAGE_MAX)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| ecs_error("ListServices", e))?;
            Ok((page.service_arns.unwrap_or_default(), page.next_token))
        })
        .await
    }

    async fn list_tagged_services(&self, tag_key: &str) -> Result<Vec<String>, EcsError> {
        let filter = TagFilter::builder().key(tag_key).build();
        let mappings = self
            .tagging
            .get_resources()
            .resource_type_filters("ecs:service")
            .tag_filters(filter)
            .resources_per_page(TAGGED_PAGE_MAX)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| ecs_error("GetResources", e))?;
        Ok(mappings
            .iter()
            .filter_map(|m| m.resource_arn().map(str::to_owned))
            .collect())
    }

    async fn describe_services(&self, cluster: &str, services: &[String]) -> Result<DescribedServices, EcsError> {
        let mut described = DescribedServices::default();
        for batch in services.chunks(DESCRIBE_SERVICES_MAX) {
            let output = self
                .pacer
                .call(
                    Category::ServiceRead,
                    self.client
                        .describe_services()
                        .cluster(cluster)
                        .set_services(Some(batch.to_vec()))
                        .include(ServiceField::Tags)
                        .send(),
                )
                .await
                .map_err(|e| ecs_error("DescribeServices", e))?;
            for found in output.services() {
                match service(found, cluster) {
                    Some(service) => described.services.push(service),
                    // An ARN keys the lock and names the service in every call: without one it cannot be handled.
                    None => described.failures.push(DescribeFailure {
                        arn: format!(
                            "{}/{}",
                            super::short_name(cluster),
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
        Ok(described)
    }

    async fn describe_task_definition(&self, arn: &str) -> Result<TaskDefinition, EcsError> {
        let output = describe_with_tags(&self.client, &self.pacer, arn).await?;
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

    async fn describe_service_deployments(&self, arns: &[String]) -> Result<Vec<ServiceDeployment>, EcsError> {
        let request = self
            .client
            .describe_service_deployments()
            .set_service_deployment_arns(Some(arns.to_vec()))
            .send();
        let output = self
            .pacer
            .call(Category::ServiceDeploymentRead, request)
            .await
            .map_err(|e| ecs_error("DescribeServiceDeployments", e))?;
        Ok(output
            .service_deployments()
            .iter()
            .filter_map(|d| {
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
            })
            .collect())
    }

    async fn describe_service_revisions(&self, arns: &[String]) -> Result<Vec<ServiceRevision>, EcsError> {
        let request = self
            .client
            .describe_service_revisions()
            .set_service_revision_arns(Some(arns.to_vec()))
            .send();
        let output = self
            .pacer
            .call(Category::ServiceRevisionRead, request)
            .await
            .map_err(|e| ecs_error("DescribeServiceRevisions", e))?;
        Ok(output
            .service_revisions()
            .iter()
            .filter_map(|r| {
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
            })
            .collect())
    }

    async fn force_new_deployment(
        &self,
        cluster: &str,
        service_arn: &str,
        known: &[Deployment],
    ) -> Result<Deployment, EcsError> {
        self.update(cluster, service_arn, known, || {
            self.client
                .update_service()
                .cluster(cluster)
                .service(service_arn)
                .force_new_deployment(true)
        })
        .await
    }

    async fn register_revision(&self, source: &str, images: &BTreeMap<String, String>) -> Result<String, EcsError> {
        super::revision::register_revision(&self.client, &self.pacer, self.write_retries(), source, images).await
    }

    async fn deploy_revision(
        &self,
        cluster: &str,
        service_arn: &str,
        task_definition: &str,
        known: &[Deployment],
    ) -> Result<Deployment, EcsError> {
        self.update(cluster, service_arn, known, || {
            self.client
                .update_service()
                .cluster(cluster)
                .service(service_arn)
                .task_definition(task_definition)
        })
        .await
    }
}

impl SdkEcs {
    /// How often a write is sent at most: the SDK's configured attempts, with its initial backoff.
    fn write_retries(&self) -> write::Retries {
        let configured = self.client.config().retry_config();
        write::Retries {
            attempts: configured.map_or(1, RetryConfig::max_attempts),
            base: configured.map_or(Duration::from_millis(100), RetryConfig::initial_backoff),
        }
    }

    /// An `UpdateService` sent by [`write::write`]: never twice once ECS made a deployment for it.
    async fn update<F>(
        &self,
        cluster: &str,
        service_arn: &str,
        known: &[Deployment],
        request: F,
    ) -> Result<Deployment, EcsError>
    where
        F: Fn() -> UpdateServiceFluentBuilder,
    {
        let written = write::write(
            "UpdateService",
            self.write_retries(),
            || {
                let request = request().customize().config_override(write::single_attempt()).send();
                self.pacer.call(Category::ServiceModify, request)
            },
            || self.new_deployment(cluster, service_arn, known),
        )
        .await?;
        match written {
            write::Written::Answered(output) => updated_deployment(&output),
            write::Written::Found(deployment) => Ok(deployment),
        }
    }

    /// The newest deployment of the service that is not among `known`, as `DescribeServices` tells it now.
    async fn new_deployment(
        &self,
        cluster: &str,
        service_arn: &str,
        known: &[Deployment],
    ) -> Result<Option<Deployment>, EcsError> {
        let described = self.describe_services(cluster, &[service_arn.to_owned()]).await?;
        Ok(described
            .services
            .into_iter()
            .find(|s| s.arn == service_arn || s.name == service_arn)
            .and_then(|s| {
                s.deployments
                    .into_iter()
                    .filter(|d| !known.iter().any(|k| k.id == d.id))
                    .max_by_key(|d| d.created_at)
            }))
    }
}

/// `DescribeTaskDefinition` with the revision's tags, paced: what discovery reads and what pin mode copies.
pub(super) async fn describe_with_tags(
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

/// The deployment an `UpdateService` call started.
fn updated_deployment(output: &UpdateServiceOutput) -> Result<Deployment, EcsError> {
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
        name: s.service_name().unwrap_or(super::short_name(arn)).to_owned(),
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

pub(super) fn ecs_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> EcsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (kind, message) = match error.as_service_error() {
        Some(service_error) => {
            let code = service_error.code().unwrap_or("UnknownError");
            let kind = match code {
                "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" => EcsErrorKind::Throttling,
                "ClusterNotFoundException" | "ServiceNotFoundException" | "ServiceNotActiveException" => {
                    EcsErrorKind::NotFound
                }
                "InvalidParameterException" => EcsErrorKind::InvalidParameter,
                "AccessDeniedException" => EcsErrorKind::AccessDenied,
                _ => EcsErrorKind::Other,
            };
            (
                kind,
                format!("{code}: {}", service_error.message().unwrap_or("no message")),
            )
        }
        None => (EcsErrorKind::Other, crate::error_chain::render(&error)),
    };
    debug!(operation, error = %DisplayErrorContext(&error), "ecs call failed");
    EcsError {
        operation,
        kind,
        message,
        source: Some(Box::new(error)),
    }
}

#[cfg(test)]
mod tests;
pub(super) mod write;
