//! The platform check through the real SDK clients: ECR's `BatchGetImage` in moto tells what a pushed image
//! index is built for, ECS (behind the strict front) what each task definition runs on.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{ContainerDefinition, CpuArchitecture, OsFamily, RuntimePlatform};
use ecs_redeploy::ecr::sdk::SdkEcr;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::report::Status;
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, registry};
use ecs_redeploy_testkit::harness::Harness;

use crate::events::load_now;
use crate::support::{FunctionEcs, config, invoke, outcomes};

/// An OCI image index with one manifest per `(os, architecture)`.
fn index(platforms: &[(&str, &str)]) -> String {
    let manifests: Vec<serde_json::Value> = platforms
        .iter()
        .enumerate()
        .map(|(i, (os, architecture))| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{}", format!("{i:x}").repeat(64).chars().take(64).collect::<String>()),
                "size": 1000,
                "platform": {"os": os, "architecture": architecture},
            })
        })
        .collect();
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    })
    .to_string()
}

#[tokio::test]
async fn an_amd64_only_index_is_not_deployed_to_arm64_tasks() {
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    let seeder = env.seeder();
    fleet::seed(&seeder, &[ServiceSpec::new("mixed", "no-platform", &[&app])]).await;
    for (name, cpu) in [("arm", CpuArchitecture::Arm64), ("intel", CpuArchitecture::X8664)] {
        let registered = seeder
            .register_task_definition()
            .family(name)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("c0")
                    .image(&app)
                    .memory(128)
                    .build(),
            )
            .runtime_platform(
                RuntimePlatform::builder()
                    .cpu_architecture(cpu)
                    .operating_system_family(OsFamily::Linux)
                    .build(),
            )
            .send()
            .await
            .expect("register");
        let td = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .unwrap();
        seeder
            .create_service()
            .cluster("mixed")
            .service_name(name)
            .task_definition(td)
            .desired_count(1)
            .send()
            .await
            .expect("create service");
    }
    let ecr = env.moto.ecr_client();
    ecr.create_repository()
        .repository_name("app")
        .send()
        .await
        .expect("repository");
    let pushed = ecr
        .put_image()
        .repository_name("app")
        .image_tag("latest")
        .image_manifest(index(&[("linux", "amd64"), ("unknown", "unknown")]))
        .image_manifest_media_type("application/vnd.oci.image.index.v1+json")
        .send()
        .await
        .expect("put image");
    let digest = pushed
        .image()
        .and_then(|i| i.image_id())
        .and_then(|i| i.image_digest())
        .unwrap();
    let mut event = load_now("ecr-push.json");
    event["detail"]["image-digest"] = digest.into();

    let redeployer =
        Redeployer::new(env.function_ecs(), config(&[])).with_registry(SdkEcr::new(env.moto.function_ecr_client()));
    let report = invoke(&redeployer, &event).await.expect("the invocation succeeds");
    assert_eq!(
        outcomes(&report),
        BTreeMap::from([
            ("arm".to_owned(), ("platform-mismatch", Status::Skipped)),
            ("intel".to_owned(), ("image-match", Status::Redeployed)),
            ("no-platform".to_owned(), ("image-match", Status::Redeployed)),
        ])
    );
    let arm = report.services.iter().find(|s| s.service == "arm").unwrap();
    assert!(
        arm.warnings.iter().any(|w| w.contains("linux/amd64")),
        "{:?}",
        arm.warnings
    );
    assert_eq!(env.front.calls().action("UpdateService").forwarded, 2);
}
