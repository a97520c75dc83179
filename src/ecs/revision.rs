//! Pin mode's new revision: `RegisterTaskDefinition` with everything `DescribeTaskDefinition` says about the
//! source revision, only the named containers' images replaced.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types as sdk;

use super::pace::{Category, Pacer};
use super::sdk::read::describe_with_tags;
use super::sdk::write::{self, Retries, Written};
use super::{EcsError, EcsErrorKind, PINNED_TAG, pinned_containers};

/// ECS reserves tag keys starting with `aws:` in any case; `RegisterTaskDefinition` rejects them, and the
/// ones a source carries (e.g. `aws:cloudformation:stack-name`) belong to whoever created that revision.
const RESERVED_TAG_PREFIX: &str = "aws:";

pub(super) async fn register_revision(
    client: &Client,
    pacer: &Pacer,
    retries: Retries,
    source: &str,
    images: &BTreeMap<String, String>,
) -> Result<String, EcsError> {
    let mut described = describe_with_tags(client, pacer, source).await?;
    let mut definition = described.task_definition.take().ok_or_else(|| {
        EcsError::new(
            "DescribeTaskDefinition",
            EcsErrorKind::Other,
            "answer has no taskDefinition",
        )
    })?;
    replace_images(source, &mut definition.container_definitions, images)?;
    let family = definition.family.clone().unwrap_or_default();
    let source_revision = definition.revision;
    let tags = tags_marking_pins(described.tags.take(), images);
    let written = write::write(
        "RegisterTaskDefinition",
        retries,
        || {
            let request = clone_request(client.register_task_definition(), definition.clone())
                .set_tags(Some(tags.clone()))
                .customize()
                .config_override(write::single_attempt())
                .send();
            pacer.call(Category::TaskDefinitionModify, request)
        },
        || registered_already(client, pacer, &family, source_revision, images),
    )
    .await?;
    let arn = match written {
        Written::Answered(output) => output
            .task_definition()
            .and_then(|d| d.task_definition_arn())
            .map(str::to_owned),
        Written::Found(arn) => Some(arn),
    };
    arn.ok_or_else(|| {
        EcsError::new(
            "RegisterTaskDefinition",
            EcsErrorKind::Other,
            "answer has no taskDefinitionArn",
        )
    })
}

/// After an answer lost to a 5xx, a reset or a timeout: the family's newest revision when it is newer than the
/// source and its named containers run exactly the images asked for — the lost call's own registration (or one
/// no different from it), which a second call would only duplicate.
async fn registered_already(
    client: &Client,
    pacer: &Pacer,
    family: &str,
    source_revision: i32,
    images: &BTreeMap<String, String>,
) -> Result<Option<String>, EcsError> {
    let newest = describe_with_tags(client, pacer, family).await?;
    let Some(newest) = newest.task_definition() else {
        return Ok(None);
    };
    let same_images = images.iter().all(|(name, image)| {
        newest
            .container_definitions()
            .iter()
            .any(|c| c.name() == Some(name.as_str()) && c.image() == Some(image.as_str()))
    });
    Ok((newest.revision > source_revision && same_images)
        .then(|| newest.task_definition_arn().map(str::to_owned))
        .flatten())
}

/// Sets every input field of `RegisterTaskDefinition` (tags aside) from `definition`, as described, absent
/// ones left absent. The output-only fields (`taskDefinitionArn`, `revision`, `status`, `requiresAttributes`,
/// `compatibilities`, `registeredAt`, `registeredBy`, `deregisteredAt`, `deleteRequestedAt`) have no setter.
// Elastic Inference is retired and its setter deprecated, but a source that has accelerators must not lose
// them silently: ECS accepts or rejects the clone, and says why.
#[allow(deprecated)]
fn clone_request(
    request: RegisterTaskDefinitionFluentBuilder,
    definition: sdk::TaskDefinition,
) -> RegisterTaskDefinitionFluentBuilder {
    request
        .set_family(definition.family)
        .set_task_role_arn(definition.task_role_arn)
        .set_execution_role_arn(definition.execution_role_arn)
        .set_network_mode(definition.network_mode)
        .set_container_definitions(definition.container_definitions)
        .set_volumes(definition.volumes)
        .set_placement_constraints(definition.placement_constraints)
        .set_requires_compatibilities(definition.requires_compatibilities)
        .set_cpu(definition.cpu)
        .set_memory(definition.memory)
        .set_pid_mode(definition.pid_mode)
        .set_ipc_mode(definition.ipc_mode)
        .set_proxy_configuration(definition.proxy_configuration)
        .set_inference_accelerators(definition.inference_accelerators)
        .set_ephemeral_storage(definition.ephemeral_storage)
        .set_runtime_platform(definition.runtime_platform)
        .set_enable_fault_injection(definition.enable_fault_injection)
}

/// Gives each container named in `images` its new image. A name the source does not have is an error
/// rather than a revision that silently keeps the old image.
fn replace_images(
    source: &str,
    containers: &mut Option<Vec<sdk::ContainerDefinition>>,
    images: &BTreeMap<String, String>,
) -> Result<(), EcsError> {
    let containers: &mut [sdk::ContainerDefinition] = containers.as_deref_mut().unwrap_or_default();
    let unknown: Vec<&str> = images
        .keys()
        .filter(|name| !containers.iter().any(|c| c.name() == Some(name.as_str())))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(EcsError::new(
            "RegisterTaskDefinition",
            EcsErrorKind::InvalidParameter,
            format!("{source} has no container named {}", unknown.join(", ")),
        ));
    }
    for container in containers.iter_mut() {
        if let Some(image) = container.name().and_then(|name| images.get(name)) {
            container.image = Some(image.clone());
        }
    }
    Ok(())
}

/// The source's tags without the reserved `aws:` ones, and the [`PINNED_TAG`] naming the containers pinned
/// now and those the source's own mark named.
fn tags_marking_pins(tags: Option<Vec<sdk::Tag>>, images: &BTreeMap<String, String>) -> Vec<sdk::Tag> {
    let (marks, mut kept): (Vec<sdk::Tag>, Vec<sdk::Tag>) = tags
        .into_iter()
        .flatten()
        .filter(|tag| tag.key().is_some_and(|key| !is_reserved(key)))
        .partition(|tag| tag.key() == Some(PINNED_TAG));
    let mut pinned: BTreeSet<String> = marks
        .iter()
        .filter_map(|t| t.value())
        .flat_map(pinned_containers)
        .collect();
    pinned.extend(images.keys().cloned());
    let value = pinned.into_iter().collect::<Vec<_>>().join(" ");
    kept.push(sdk::Tag::builder().key(PINNED_TAG).value(value).build());
    kept
}

fn is_reserved(key: &str) -> bool {
    key.get(..RESERVED_TAG_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(RESERVED_TAG_PREFIX))
}
