//! `register_revision` and `deploy_revision` against a mocked client: what the new revision is registered
//! with, down to the JSON on the wire, and what `UpdateService` is asked to deploy.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::operation::register_task_definition::{RegisterTaskDefinitionInput, RegisterTaskDefinitionOutput};

use super::errors::wire_error;
use super::*;

const SOURCE: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";
pub(super) const SOURCE_ARN: &str = SOURCE;
const REGISTERED: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8";
const APP: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest";
pub(super) const APP_IMAGE: &str = APP;
const PINNED: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest@sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub(super) const PINNED_IMAGE: &str = PINNED;
const ENVOY: &str = "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29";
const ROLE: &str = "arn:aws:iam::123456789012:role/";

/// Records the JSON body of every `RegisterTaskDefinition` request as sent.
#[derive(Clone, Debug, Default)]
struct RegisterBodies(Arc<Mutex<Vec<serde_json::Value>>>);

impl Intercept for RegisterBodies {
    fn name(&self) -> &'static str {
        "RegisterBodies"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        if request.headers().get("x-amz-target") == Some("AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition") {
            let body = request.body().bytes().expect("an in-memory body");
            self.0.lock().unwrap().push(serde_json::from_slice(body)?);
        }
        Ok(())
    }
}

fn recorded(rules: &[&Rule], bodies: &RegisterBodies) -> SdkEcs {
    let bodies = bodies.clone();
    SdkEcs::new(
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules, move |c| c
            .retry_config(RetryConfig::disabled())
            .interceptor(bodies.clone())),
        mock_client!(aws_sdk_resourcegroupstagging, RuleMode::MatchAny, &[]),
    )
}

fn images(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn tag(key: &str, value: &str) -> sdk::Tag {
    sdk::Tag::builder().key(key).value(value).build()
}

/// The application container, with a field of nearly every kind a container definition has.
fn web(image: &str) -> sdk::ContainerDefinition {
    sdk::ContainerDefinition::builder()
        .name("web")
        .image(image)
        .cpu(256)
        .memory_reservation(512)
        .essential(true)
        .port_mappings(sdk::PortMapping::builder().container_port(8080).name("http").build())
        .environment(sdk::KeyValuePair::builder().name("MODE").value("prod").build())
        .secrets(
            sdk::Secret::builder()
                .name("DB_PASSWORD")
                .value_from("arn:aws:ssm:us-east-1:123456789012:parameter/db")
                .build()
                .unwrap(),
        )
        .log_configuration(
            sdk::LogConfiguration::builder()
                .log_driver(sdk::LogDriver::Awslogs)
                .options("awslogs-group", "/ecs/web")
                .options("awslogs-stream-prefix", "web")
                .build()
                .unwrap(),
        )
        .health_check(
            sdk::HealthCheck::builder()
                .command("CMD-SHELL")
                .command("curl -f http://localhost:8080/health")
                .interval(10)
                .retries(3)
                .build()
                .unwrap(),
        )
        .depends_on(
            sdk::ContainerDependency::builder()
                .container_name("envoy")
                .condition(sdk::ContainerCondition::Healthy)
                .build()
                .unwrap(),
        )
        .ulimits(
            sdk::Ulimit::builder()
                .name(sdk::UlimitName::Nofile)
                .soft_limit(4096)
                .hard_limit(8192)
                .build()
                .unwrap(),
        )
        .docker_labels("team", "core")
        .version_consistency(sdk::VersionConsistency::Disabled)
        .build()
}

fn envoy() -> sdk::ContainerDefinition {
    sdk::ContainerDefinition::builder()
        .name("envoy")
        .image(ENVOY)
        .essential(true)
        .user("1337")
        .build()
}

fn volume() -> sdk::Volume {
    let efs = sdk::EfsVolumeConfiguration::builder()
        .file_system_id("fs-12345678")
        .root_directory("/data")
        .build()
        .unwrap();
    sdk::Volume::builder()
        .name("data")
        .efs_volume_configuration(efs)
        .build()
}

fn proxy() -> sdk::ProxyConfiguration {
    sdk::ProxyConfiguration::builder()
        .container_name("envoy")
        .properties(sdk::KeyValuePair::builder().name("IgnoredUID").value("1337").build())
        .build()
        .unwrap()
}

#[allow(deprecated)] // Elastic Inference is retired; old revisions may still carry accelerators.
fn accelerator() -> sdk::InferenceAccelerator {
    let accelerator = sdk::InferenceAccelerator::builder()
        .device_name("eia")
        .device_type("eia2.medium");
    accelerator.build().unwrap()
}

fn constraint() -> sdk::TaskDefinitionPlacementConstraint {
    sdk::TaskDefinitionPlacementConstraint::builder()
        .r#type(sdk::TaskDefinitionPlacementConstraintType::MemberOf)
        .expression("attribute:ecs.availability-zone in [us-east-1a]")
        .build()
}

fn platform() -> sdk::RuntimePlatform {
    sdk::RuntimePlatform::builder()
        .cpu_architecture(sdk::CpuArchitecture::Arm64)
        .operating_system_family(sdk::OsFamily::Linux)
        .build()
}

/// What `DescribeTaskDefinition(include=[TAGS])` answers for `SOURCE`: every field set, output-only ones included.
/// Revision `revision` of family `web`, its `web` container on `image`: a family's newest as described.
pub(super) fn described_source(image: &str, revision: i32) -> DescribeTaskDefinitionOutput {
    let definition = sdk::TaskDefinition::builder()
        .task_definition_arn(format!(
            "arn:aws:ecs:us-east-1:123456789012:task-definition/web:{revision}"
        ))
        .family("web")
        .revision(revision)
        .container_definitions(web(image))
        .build();
    DescribeTaskDefinitionOutput::builder()
        .task_definition(definition)
        .build()
}

/// The fields a registration copies from its source, on either builder (the described `TaskDefinition`, the
/// expected `RegisterTaskDefinitionInput`: the same setters), with `web` on `image`; said once, so the source and
/// the expected request cannot drift apart.
macro_rules! copied_fields {
    ($builder:expr, $image:expr) => {
        $builder
            .family("web")
            .task_role_arn(format!("{ROLE}web-task"))
            .execution_role_arn(format!("{ROLE}web-execution"))
            .network_mode(sdk::NetworkMode::Awsvpc)
            .container_definitions(web($image))
            .container_definitions(envoy())
            .volumes(volume())
            .placement_constraints(constraint())
            .requires_compatibilities(sdk::Compatibility::Ec2)
            .cpu("1024")
            .memory("2048")
            .pid_mode(sdk::PidMode::Task)
            .ipc_mode(sdk::IpcMode::Task)
            .proxy_configuration(proxy())
            .inference_accelerators(accelerator())
            .ephemeral_storage(sdk::EphemeralStorage::builder().size_in_gib(30).build())
            .runtime_platform(platform())
            .enable_fault_injection(true)
    };
}

fn described(tags: Vec<sdk::Tag>) -> DescribeTaskDefinitionOutput {
    #[allow(deprecated)] // `inference_accelerators`: see `accelerator`.
    let definition = copied_fields!(sdk::TaskDefinition::builder(), APP)
        .task_definition_arn(SOURCE)
        .revision(7)
        .compatibilities(sdk::Compatibility::Ec2)
        .compatibilities(sdk::Compatibility::Fargate)
        .requires_attributes(
            sdk::Attribute::builder()
                .name("ecs.capability.secrets.ssm")
                .build()
                .unwrap(),
        )
        .status(sdk::TaskDefinitionStatus::Active)
        .registered_at(time(1_700_000_000, 0))
        .registered_by("arn:aws:iam::123456789012:user/deployer")
        .build();
    DescribeTaskDefinitionOutput::builder()
        .task_definition(definition)
        .set_tags(Some(tags))
        .build()
}

fn describe_rule(tags: Vec<sdk::Tag>) -> Rule {
    mock!(Client::describe_task_definition)
        .match_requests(|r| r.task_definition() == Some(SOURCE) && r.include() == [sdk::TaskDefinitionField::Tags])
        .then_output(move || described(tags.clone()))
}

/// Answers `RegisterTaskDefinition` with `REGISTERED` and keeps the typed request in `requests`.
fn register_rule(requests: &Arc<Mutex<Vec<RegisterTaskDefinitionInput>>>) -> Rule {
    let requests = Arc::clone(requests);
    mock!(Client::register_task_definition).then_compute_output(move |request| {
        requests.lock().unwrap().push(request.clone());
        let definition = sdk::TaskDefinition::builder().task_definition_arn(REGISTERED).build();
        RegisterTaskDefinitionOutput::builder()
            .task_definition(definition)
            .build()
    })
}

#[tokio::test]
async fn register_revision_copies_every_field_and_user_tag_and_replaces_only_the_named_image() {
    let tags = vec![
        tag("team", "core"),
        tag("aws:cloudformation:stack-name", "prod"),
        tag("AWS:Mixed-Case", "reserved too"),
        tag("cost-center", "42"),
    ];
    let (describe, requests, bodies) = (describe_rule(tags), Arc::default(), RegisterBodies::default());
    let register = register_rule(&requests);
    let ecs = recorded(&[&describe, &register], &bodies);

    let arn = ecs
        .register_revision(SOURCE, &images(&[("web", PINNED)]))
        .await
        .unwrap();

    assert_eq!(arn, REGISTERED);
    #[allow(deprecated)] // `inference_accelerators`: see `accelerator`.
    let expected = copied_fields!(RegisterTaskDefinitionInput::builder(), PINNED)
        .tags(tag("team", "core"))
        .tags(tag("cost-center", "42"))
        .tags(tag(PINNED_TAG, "web"))
        .build()
        .unwrap();
    assert_eq!(*requests.lock().unwrap(), vec![expected]);

    let bodies = bodies.0.lock().unwrap();
    let [body] = bodies.as_slice() else {
        panic!("one RegisterTaskDefinition request: {bodies:?}")
    };
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected_keys = vec![
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "containerDefinitions",
        "volumes",
        "placementConstraints",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "pidMode",
        "ipcMode",
        "proxyConfiguration",
        "inferenceAccelerators",
        "ephemeralStorage",
        "runtimePlatform",
        "enableFaultInjection",
        "tags",
    ];
    expected_keys.sort_unstable();
    assert_eq!(keys, expected_keys, "no output-only field on the wire");
    assert_eq!(body["containerDefinitions"][0]["image"], PINNED);
    assert_eq!(body["containerDefinitions"][1]["image"], ENVOY);
}

#[tokio::test]
async fn register_revision_drops_aws_tags_and_marks_every_container_it_pinned() {
    // (source tags, containers pinned now, the mark the new revision gets)
    let cases = [
        (
            vec![tag("aws:cloudformation:stack-name", "prod")],
            vec!["envoy"],
            "envoy",
        ),
        (vec![tag(PINNED_TAG, "web")], vec!["envoy"], "envoy web"),
        (vec![tag(PINNED_TAG, "web"), tag("team", "core")], vec!["web"], "web"),
    ];
    for (source_tags, pinned_now, mark) in cases {
        let expected_others: Vec<sdk::Tag> = source_tags
            .iter()
            .filter(|t| t.key() == Some("team"))
            .cloned()
            .collect();
        let (describe, requests, bodies) = (describe_rule(source_tags), Arc::default(), RegisterBodies::default());
        let register = register_rule(&requests);
        let ecs = recorded(&[&describe, &register], &bodies);
        let new_images: Vec<(&str, &str)> = pinned_now.iter().map(|c| (*c, "img:v2")).collect();
        ecs.register_revision(SOURCE, &images(&new_images)).await.unwrap();

        let requests = requests.lock().unwrap();
        let mut expected = expected_others;
        expected.push(tag(PINNED_TAG, mark));
        assert_eq!(requests[0].tags(), expected.as_slice(), "{pinned_now:?}");
    }
}

#[tokio::test]
async fn an_unknown_container_name_is_an_error_and_registers_nothing() {
    let (describe, requests) = (describe_rule(vec![]), Arc::default());
    let register = register_rule(&requests);
    let ecs = recorded(&[&describe, &register], &RegisterBodies::default());

    let wanted = images(&[("web", PINNED), ("worker", PINNED)]);
    let error = ecs.register_revision(SOURCE, &wanted).await.unwrap_err();

    assert_eq!(
        (error.operation, error.kind),
        ("RegisterTaskDefinition", EcsErrorKind::InvalidParameter)
    );
    assert_eq!(error.message, format!("{SOURCE} has no container named worker"));
    assert_eq!((describe.num_calls(), register.num_calls()), (1, 0));
}

/// How `register_revision` of `web` onto `PINNED` fails against `rules`.
async fn registration_error(rules: &[&Rule]) -> EcsError {
    ecs(RuleMode::MatchAny, rules)
        .register_revision(SOURCE, &images(&[("web", PINNED)]))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn register_revision_errors_name_the_failed_call() {
    let failing_describe = [wire_error(mock!(Client::describe_task_definition), "ClientException")];
    let error = registration_error(&failing_describe.iter().collect::<Vec<_>>()).await;
    assert_eq!(
        (error.operation, error.kind),
        ("DescribeTaskDefinition", EcsErrorKind::Other)
    );

    let describe = describe_rule(vec![]);
    let failing_register = wire_error(mock!(Client::register_task_definition), "InvalidParameterException");
    let error = registration_error(&[&describe, &failing_register]).await;
    assert_eq!(
        (error.operation, error.kind),
        ("RegisterTaskDefinition", EcsErrorKind::InvalidParameter)
    );
    assert_eq!(failing_register.num_calls(), 1);
}

#[tokio::test]
async fn deploy_revision_updates_the_task_definition_and_returns_the_primary_deployment() {
    let rule = mock!(Client::update_service)
        .match_requests(|r| {
            r.cluster() == Some(CLUSTER)
                && r.service() == Some("web")
                && r.task_definition() == Some(REGISTERED)
                && r.force_new_deployment().is_none()
        })
        .then_output(|| {
            let service = sdk::Service::builder()
                .deployments(sdk_deployment("ecs-svc/old", "ACTIVE", Some(time(300, 0))))
                .deployments(sdk_deployment("ecs-svc/new", "PRIMARY", Some(time(200, 0))))
                .build();
            UpdateServiceOutput::builder().service(service).build()
        });
    let deployment = ecs(RuleMode::Sequential, &[&rule])
        .deploy_revision(CLUSTER, "web", REGISTERED, &[])
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(deployment, ours("ecs-svc/new", utc(200, 0)));
}
