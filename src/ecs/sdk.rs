//! The ECS port over `aws_sdk_ecs::Client`: with `revision`, the only code that knows the ECS SDK's types. `read`
//! maps the answers to the port's types, `write` sends the two writes at most once, `error` classifies failures.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_ecs::types::ServiceField;

use super::pace::{Category, Pacer, Pacing};
use super::usage::{CountAttempts, UsageCounter};
use super::{
    DESCRIBE_SERVICES_MAX, Deployment, DescribedServices, EcsApi, EcsError, EcsUsage, LIST_PAGE_MAX, ServiceDeployment,
    ServiceRevision, TAGGED_PAGE_MAX, TaskDefinition,
};
use error::ecs_error;

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
        crate::aws::tagged_arns(&self.tagging, "ecs:service", tag_key, TAGGED_PAGE_MAX)
            .await
            .map_err(|e| ecs_error("GetResources", e))
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
            read::add_described(&mut described, &output, cluster);
        }
        Ok(described)
    }

    async fn describe_task_definition(&self, arn: &str) -> Result<TaskDefinition, EcsError> {
        let output = read::describe_with_tags(&self.client, &self.pacer, arn).await?;
        read::task_definition(&output, arn)
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
            .filter_map(read::service_deployment)
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
            .filter_map(read::service_revision)
            .collect())
    }

    async fn force_new_deployment(
        &self,
        cluster: &str,
        service_arn: &str,
        known: &[Deployment],
    ) -> Result<Deployment, EcsError> {
        self.update(cluster, service_arn, known, Update::ForceNewDeployment)
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
        self.update(cluster, service_arn, known, Update::TaskDefinition(task_definition))
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

    /// The one `UpdateService` call, paced and sent by [`write::write`]: never twice once ECS made a deployment
    /// for it.
    async fn update(
        &self,
        cluster: &str,
        service_arn: &str,
        known: &[Deployment],
        change: Update<'_>,
    ) -> Result<Deployment, EcsError> {
        let written = write::write(
            "UpdateService",
            self.write_retries(),
            || {
                let request = self.client.update_service().cluster(cluster).service(service_arn);
                let request = match change {
                    Update::ForceNewDeployment => request.force_new_deployment(true),
                    Update::TaskDefinition(task_definition) => request.task_definition(task_definition),
                };
                let request = request.customize().config_override(write::single_attempt()).send();
                self.pacer.call(Category::ServiceModify, request)
            },
            || self.new_deployment(cluster, service_arn, known),
        )
        .await?;
        match written {
            write::Written::Answered(output) => read::updated_deployment(&output),
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

/// What an `UpdateService` call changes.
#[derive(Clone, Copy)]
enum Update<'a> {
    ForceNewDeployment,
    TaskDefinition(&'a str),
}

mod error;
pub(super) mod read;
#[cfg(test)]
mod tests;
pub(super) mod write;
