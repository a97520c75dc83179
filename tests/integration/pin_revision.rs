//! Pin mode's ECS operations through the strict front: a rich Fargate revision registered in moto is cloned
//! with one image replaced, and a service is pointed at the clone; moto's state is the judge.

use std::collections::BTreeMap;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    Compatibility, ContainerCondition, ContainerDefinition, ContainerDependency, CpuArchitecture,
    EfsVolumeConfiguration, EphemeralStorage, HealthCheck, KeyValuePair, LogConfiguration, LogDriver, MountPoint,
    NetworkMode, OsFamily, PidMode, PortMapping, ProxyConfiguration, RuntimePlatform, Secret, Tag, TaskDefinition,
    TaskDefinitionField, Ulimit, UlimitName, Volume,
};
use ecs_redeploy::ecs::{EcsApi, EcsErrorKind, PINNED_TAG};

use crate::support::FunctionEcs;
use ecs_redeploy_testkit::fleet::{self, ACCOUNT, REGION, ServiceSpec, registry};
use ecs_redeploy_testkit::harness::Harness;

const FAMILY: &str = "pinned-web";
const DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const STACK_TAG: &str = "aws:cloudformation:stack-name";

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn web(image: &str) -> ContainerDefinition {
    let secret = Secret::builder()
        .name("DB_PASSWORD")
        .value_from(format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/web/db"))
        .build();
    let logs = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", "/ecs/pinned-web")
        .options("awslogs-region", REGION)
        .options("awslogs-stream-prefix", "web")
        .build();
    let health = HealthCheck::builder()
        .command("CMD-SHELL")
        .command("curl -f http://localhost:8080/health || exit 1")
        .interval(15)
        .timeout(5)
        .retries(3)
        .start_period(30)
        .build();
    let after_envoy = ContainerDependency::builder()
        .container_name("envoy")
        .condition(ContainerCondition::Healthy)
        .build();
    let nofile = Ulimit::builder()
        .name(UlimitName::Nofile)
        .soft_limit(65_536)
        .hard_limit(65_536)
        .build();
    ContainerDefinition::builder()
        .name("web")
        .image(image)
        .cpu(512)
        .memory_reservation(1024)
        .essential(true)
        .port_mappings(PortMapping::builder().container_port(8080).name("http").build())
        .environment(KeyValuePair::builder().name("MODE").value("production").build())
        .environment(KeyValuePair::builder().name("PORT").value("8080").build())
        .secrets(secret.expect("a complete secret"))
        .log_configuration(logs.expect("a complete log configuration"))
        .health_check(health.expect("a complete health check"))
        .depends_on(after_envoy.expect("a complete dependency"))
        .ulimits(nofile.expect("a complete ulimit"))
        .mount_points(
            MountPoint::builder()
                .source_volume("data")
                .container_path("/data")
                .build(),
        )
        .docker_labels("team", "core")
        .docker_labels("service", "web")
        .build()
}

fn envoy() -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("envoy")
        .image("public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod")
        .essential(true)
        .memory_reservation(128)
        .user("1337")
        .build()
}

/// Registers the source revision straight in moto: Fargate, with most of what a task definition can say.
async fn register_source(client: &Client, web_image: &str) -> String {
    let efs = EfsVolumeConfiguration::builder()
        .file_system_id("fs-12345678")
        .root_directory("/web")
        .build()
        .expect("a complete EFS volume");
    let proxy = ProxyConfiguration::builder()
        .container_name("envoy")
        .properties(KeyValuePair::builder().name("IgnoredUID").value("1337").build())
        .properties(KeyValuePair::builder().name("AppPorts").value("8080").build())
        .build()
        .expect("a complete proxy configuration");
    let output = client
        .register_task_definition()
        .family(FAMILY)
        .execution_role_arn(role("web-execution"))
        .task_role_arn(role("web-task"))
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("1024")
        .memory("2048")
        .pid_mode(PidMode::Task)
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::Arm64)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(40).build())
        .volumes(Volume::builder().name("data").efs_volume_configuration(efs).build())
        .volumes(Volume::builder().name("scratch").build())
        .proxy_configuration(proxy)
        .container_definitions(web(web_image))
        .container_definitions(envoy())
        .tags(Tag::builder().key("team").value("core").build())
        // Real ECS refuses `aws:` tags from callers but shows those CloudFormation set; moto takes them as given.
        .tags(Tag::builder().key(STACK_TAG).value("web-prod").build())
        .send()
        .await
        .expect("register the source revision");
    let arn = output.task_definition().and_then(|d| d.task_definition_arn());
    arn.expect("an ARN").to_owned()
}

/// A revision as moto describes it, with its tags.
async fn describe(client: &Client, arn: &str) -> (TaskDefinition, Vec<Tag>) {
    let mut output = client
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .expect("describe task definition");
    let definition = output.task_definition.take().expect("a task definition");
    (definition, output.tags.take().unwrap_or_default())
}

#[tokio::test]
async fn a_cloned_revision_differs_from_its_source_only_in_the_pinned_image() {
    let env = Harness::start().await;
    let seeder = env.seeder();
    let app = format!("{}/app:latest", registry());
    let source = register_source(&seeder, &app).await;
    let pinned = format!("{app}@{DIGEST}");

    let ecs = env.function_ecs();
    let registered = ecs
        .register_revision(&source, &pairs(&[("web", &pinned)]))
        .await
        .expect("register the clone");

    let (old, old_tags) = describe(&seeder, &source).await;
    let (new, new_tags) = describe(&seeder, &registered).await;
    // The source must have kept what was registered, or comparing it with its clone proves little.
    let old_web = &old.container_definitions()[0];
    assert!(
        old.runtime_platform().is_some()
            && old.ephemeral_storage().is_some()
            && old.proxy_configuration().is_some()
            && old.volumes().len() == 2
            && !old_web.secrets().is_empty()
            && old_web.log_configuration().is_some()
            && old_web.health_check().is_some()
            && !old_web.depends_on().is_empty()
            && !old_web.ulimits().is_empty(),
        "moto kept the source's fields: {old:#?}"
    );

    assert_eq!(new.family(), Some(FAMILY));
    assert_eq!(new.revision(), old.revision() + 1);
    let expected_arn = format!(
        "arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{FAMILY}:{}",
        old.revision() + 1
    );
    assert_eq!(registered, expected_arn);
    let mut expected = old.clone();
    expected.task_definition_arn = Some(registered.clone());
    expected.revision = old.revision() + 1;
    // Set by ECS for each revision; moto sets neither.
    expected.registered_at = new.registered_at;
    expected.registered_by = new.registered_by.clone();
    expected.container_definitions.as_mut().expect("containers")[0].image = Some(pinned);
    assert_eq!(new, expected, "every field but the pinned image is the source's");

    assert_eq!(
        old_tags.iter().filter_map(|t| t.key()).collect::<Vec<_>>(),
        ["team", STACK_TAG]
    );
    assert_eq!(
        new_tags,
        [
            Tag::builder().key("team").value("core").build(),
            Tag::builder().key(PINNED_TAG).value("web").build(),
        ],
        "the source's own tags, and the mark of the container pinned"
    );
}

#[tokio::test]
async fn an_unknown_container_registers_nothing() {
    let env = Harness::start().await;
    let seeder = env.seeder();
    let source = register_source(&seeder, &format!("{}/app:latest", registry())).await;

    let ecs = env.function_ecs();
    let error = ecs
        .register_revision(&source, &pairs(&[("worker", "app:v2")]))
        .await
        .expect_err("no container is named worker");

    assert_eq!(error.kind, EcsErrorKind::InvalidParameter);
    let revisions = seeder
        .list_task_definitions()
        .family_prefix(FAMILY)
        .send()
        .await
        .expect("list task definitions");
    assert_eq!(revisions.task_definition_arns(), [source]);
}

#[tokio::test]
async fn deploying_the_new_revision_points_the_service_at_it() {
    let env = Harness::start().await;
    let seeder = env.seeder();
    let app = format!("{}/app:latest", registry());
    fleet::seed(&seeder, &[ServiceSpec::new("alpha", "web", &[&app])]).await;
    let service_of = |answer: aws_sdk_ecs::operation::describe_services::DescribeServicesOutput| {
        answer.services.and_then(|s| s.into_iter().next()).expect("the service")
    };
    let describe_web = || seeder.describe_services().cluster("alpha").services("web").send();
    let before = service_of(describe_web().await.expect("describe the service"));
    let source = before.task_definition().expect("a task definition").to_owned();

    let ecs = env.function_ecs();
    let pinned = format!("{app}@{DIGEST}");
    let registered = ecs
        .register_revision(&source, &pairs(&[("c0", &pinned)]))
        .await
        .expect("register the clone");
    let deployment = ecs
        .deploy_revision("alpha", "web", &registered, &[])
        .await
        .expect("deploy the clone");

    let after = service_of(describe_web().await.expect("describe the service"));
    assert_ne!(registered, source);
    assert_eq!(after.task_definition(), Some(registered.as_str()));
    // moto keeps the one deployment it made at creation (real ECS starts a new one): it is still the PRIMARY.
    let primary = after.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
    assert_eq!(Some(deployment.id.as_str()), primary.and_then(|d| d.id()));
    let (new, _) = describe(&seeder, &registered).await;
    assert_eq!(new.container_definitions()[0].image(), Some(pinned.as_str()));
}
