//! `versionConsistency: disabled` through the real SDK clients: ECS resolves no tag for such a container and its
//! service revision records no `imageDigest` (the strict front does the same), so the function cannot tell what
//! the service runs and falls back to deployment times: redeploy unless the newest deployment started at least a
//! second after the push, and say that it decided without the running digests.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::VersionConsistency;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::report::{Report, ServiceReport, Status};
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, deployment_ids, redeployed, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::registry::{observe_services, push_image};
use serde_json::Value;

use crate::events::event_after_seeding;
use crate::support::{FunctionEcs, config, invoke, outcomes};

const NO_DIGEST: &str = "versionConsistency disabled, so ECS records no digest for it: decided without the running \
                         digests";

fn service<'r>(report: &'r Report, name: &str) -> &'r ServiceReport {
    let found = report.services.iter().find(|s| s.service == name);
    found.unwrap_or_else(|| panic!("{name} not reported: {:?}", outcomes(report)))
}

/// Service name → the `imageDigest` its current revision records for `c0`, read with the SDK through the front.
async fn recorded_digests(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    names: &[&str],
) -> BTreeMap<String, Option<String>> {
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names.iter().map(|n| (*n).to_owned()).collect()))
        .send()
        .await
        .expect("described");
    let mut digests = BTreeMap::new();
    for s in described.services() {
        let [current] = s.current_service_revisions() else {
            panic!("one current revision: {s:?}");
        };
        let revisions = ecs
            .describe_service_revisions()
            .service_revision_arns(current.arn().expect("arn"))
            .send()
            .await
            .expect("revision described");
        let [revision] = revisions.service_revisions() else {
            panic!("one revision: {revisions:?}");
        };
        let [image] = revision.container_images() else {
            panic!("one container: {revision:?}");
        };
        assert_eq!(image.container_name(), Some("c0"));
        let name = s.service_name().expect("name").to_owned();
        digests.insert(name, image.image_digest().map(str::to_owned));
    }
    digests
}

/// The push event of `app:latest@digest`, after the seeding (see `event_after_seeding`).
fn pushed(env: &Harness, digest: &str) -> Value {
    let mut event = event_after_seeding(&env.front, "ecr-push.json");
    event["detail"]["repository-name"] = "app".into();
    event["detail"]["image-tag"] = "latest".into();
    event["detail"]["image-digest"] = digest.into();
    event
}

#[tokio::test]
async fn without_version_consistency_no_digest_is_recorded_and_a_push_falls_back_to_deployment_times() {
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    let old = push_image(&env.moto, &env.front, "app", "latest", "old").await;
    let loose = ServiceSpec {
        version_consistency: Some(VersionConsistency::Disabled),
        ..ServiceSpec::new("shop", "loose", &[&app])
    };
    fleet::seed(&env.seeder(), &[ServiceSpec::new("shop", "strict", &[&app]), loose]).await;
    observe_services(&env.front, &["shop"]).await;
    assert_eq!(
        recorded_digests(&env.function_client(), "shop", &["strict", "loose"]).await,
        BTreeMap::from([("loose".to_owned(), None), ("strict".to_owned(), Some(old.clone()))]),
        "ECS records the digest of a container with version consistency only"
    );

    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;
    let event = pushed(&env, &new);
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));
    let before = deployment_ids(&env.seeder(), &["shop"]).await;
    let report = invoke(&redeployer, &event).await.expect("delivered");
    let after = deployment_ids(&env.seeder(), &["shop"]).await;
    assert_eq!(redeployed(&before, &after), ["shop/loose", "shop/strict"]);
    let (strict, unknown) = (service(&report, "strict"), service(&report, "loose"));
    assert_eq!(
        (strict.reason.code(), strict.outcome),
        ("image-match", Status::Redeployed)
    );
    assert_eq!(
        strict.from.get("c0"),
        Some(&Some(old.clone())),
        "strict runs what ECS recorded"
    );
    assert!(strict.warnings.is_empty(), "{:?}", strict.warnings);
    // Its only deployment is from before the push: redeployed, saying it could not compare digests.
    assert_eq!(
        (unknown.reason.code(), unknown.outcome),
        ("image-match", Status::Redeployed)
    );
    assert_eq!(
        unknown.running.get("c0").cloned().flatten(),
        None,
        "no digest known for c0: {:?}",
        unknown.running
    );
    assert!(
        unknown.warnings.iter().any(|w| w.ends_with(NO_DIGEST)),
        "{:?}",
        unknown.warnings
    );

    // The same delivery again: strict runs the pushed digest; for loose only time tells, and its new deployment
    // started after the push.
    let again = invoke(&redeployer, &event).await.expect("delivered");
    assert_eq!(
        redeployed(&after, &deployment_ids(&env.seeder(), &["shop"]).await),
        Vec::<String>::new()
    );
    let (strict, unknown) = (service(&again, "strict"), service(&again, "loose"));
    assert_eq!(
        (strict.reason.code(), strict.outcome),
        ("already-running", Status::Skipped)
    );
    assert_eq!(
        (unknown.reason.code(), unknown.outcome),
        ("already-deployed", Status::Skipped)
    );
    assert!(
        unknown.warnings.iter().any(|w| w.ends_with(NO_DIGEST)),
        "{:?}",
        unknown.warnings
    );
    assert_eq!(
        recorded_digests(&env.function_client(), "shop", &["strict", "loose"]).await,
        BTreeMap::from([("loose".to_owned(), None), ("strict".to_owned(), Some(new))]),
        "the redeploys' revisions: the new digest resolved for strict, still none for loose"
    );
}
