//! Seeding ECS fleets into moto, and reading back which services got a new deployment.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentController, DeploymentControllerType, Tag, VersionConsistency,
};
use futures_util::{StreamExt, TryStreamExt, stream};

pub use crate::moto::{ACCOUNT, REGION};

pub fn registry() -> String {
    format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")
}

/// One service to create: its cluster, name, container images and resource tags.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub cluster: String,
    pub name: String,
    pub images: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub version_consistency: Option<VersionConsistency>,
    /// `None`: ECS's own (rolling update).
    pub controller: Option<DeploymentControllerType>,
}

impl ServiceSpec {
    pub fn new(cluster: &str, name: &str, images: &[&str]) -> Self {
        ServiceSpec {
            cluster: cluster.to_owned(),
            name: name.to_owned(),
            images: images.iter().map(|i| (*i).to_owned()).collect(),
            tags: Vec::new(),
            version_consistency: None,
            controller: None,
        }
    }

    pub fn controlled_by(mut self, controller: DeploymentControllerType) -> Self {
        self.controller = Some(controller);
        self
    }

    pub fn tagged(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// Creates the clusters, one task-definition family per distinct image list, and the services.
pub async fn seed(client: &Client, specs: &[ServiceSpec]) {
    let mut clusters: Vec<&str> = specs.iter().map(|s| s.cluster.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    for cluster in clusters {
        client
            .create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .expect("create cluster");
    }
    let mut families: HashMap<(Vec<String>, Option<VersionConsistency>), String> = HashMap::new();
    for spec in specs {
        let key = (spec.images.clone(), spec.version_consistency.clone());
        if families.contains_key(&key) {
            continue;
        }
        let family = format!("family-{}", families.len());
        let arn = register_task_definition(client, &family, &spec.images, spec.version_consistency.clone()).await;
        families.insert(key, arn);
    }
    stream::iter(specs)
        .map(|spec| {
            let task_definition = families[&(spec.images.clone(), spec.version_consistency.clone())].clone();
            async move {
                let tags = spec.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
                client
                    .create_service()
                    .cluster(&spec.cluster)
                    .service_name(&spec.name)
                    .task_definition(task_definition)
                    .desired_count(1)
                    .set_tags(Some(tags.collect()))
                    .set_deployment_controller(spec.controller.clone().map(|c| {
                        DeploymentController::builder()
                            .r#type(c)
                            .build()
                            .expect("a type is set")
                    }))
                    .send()
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await
        .expect("create services");
}

/// Registers a revision of `family` with a container per image (`c0`, `c1`, …; 128 MiB each); returns its ARN.
pub async fn register_task_definition(
    client: &Client,
    family: &str,
    images: &[String],
    version_consistency: Option<VersionConsistency>,
) -> String {
    let containers = images.iter().enumerate().map(|(i, image)| {
        ContainerDefinition::builder()
            .name(format!("c{i}"))
            .image(image)
            .memory(128)
            .set_version_consistency(version_consistency.clone())
            .build()
    });
    let output = client
        .register_task_definition()
        .family(family)
        .set_container_definitions(Some(containers.collect()))
        .send()
        .await
        .expect("register task definition");
    let arn = output.task_definition().and_then(|t| t.task_definition_arn());
    arn.expect("task definition arn").to_owned()
}

/// `cluster/service` → id of its newest deployment, for every service of `clusters`.
pub async fn deployment_ids(client: &Client, clusters: &[&str]) -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    for cluster in clusters {
        let arns = client
            .list_services()
            .cluster(*cluster)
            .send()
            .await
            .expect("list services");
        for batch in arns.service_arns().chunks(10) {
            let described = client
                .describe_services()
                .cluster(*cluster)
                .set_services(Some(batch.to_vec()))
                .send()
                .await
                .expect("describe services");
            for service in described.services() {
                let newest = service
                    .deployments()
                    .iter()
                    .max_by_key(|d| d.created_at().map(|t| (t.secs(), t.subsec_nanos())))
                    .and_then(|d| d.id())
                    .unwrap_or_default();
                ids.insert(
                    format!("{cluster}/{}", service.service_name().unwrap_or_default()),
                    newest.to_owned(),
                );
            }
        }
    }
    ids
}

/// `cluster/service` names whose deployment id differs between two snapshots.
pub fn redeployed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    after
        .iter()
        .filter(|(name, id)| before.get(*name) != Some(id))
        .map(|(name, _)| name.clone())
        .collect()
}
