//! Digest truth and the sweep through the real SDK clients: moto's ECR gives the digests (`PutImage`), the strict
//! front serves what moto lacks — each service's revisions and deployments, with the tags resolved to the digests
//! the test's registry holds once the resolve delay has passed on the ECS clock — and the function decides.

use std::time::Duration;

use ecs_redeploy::domain::push::Push;
use ecs_redeploy::ecr::sdk::SdkEcr;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::report::{Report, Status};
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, deployment_ids, redeployed, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::registry::{deploy_and_roll_back, observe_services, push_image};
use serde_json::Value;

use crate::events::load_now;
use crate::support::{FunctionEcs, config, invoke, outcomes};

/// The push event of `repository:tag@digest`, dated now.
fn event(repository: &str, tag: &str, digest: &str) -> Value {
    let mut event = load_now("ecr-push.json");
    event["detail"]["repository-name"] = repository.into();
    event["detail"]["image-tag"] = tag.into();
    event["detail"]["image-digest"] = digest.into();
    event
}

fn service<'r>(report: &'r Report, name: &str) -> &'r ecs_redeploy::report::ServiceReport {
    report
        .services
        .iter()
        .find(|s| s.service == name)
        .unwrap_or_else(|| panic!("{name} not reported"))
}

/// web, checkout and legacy run app:latest's old digest. legacy was deployed (the old digest again) and rolled
/// back before the push; after the push, checkout is deployed — its tag resolves to the push — and its circuit
/// breaker rolls it back to its last completed revision, which runs the old digest. Returns the environment,
/// the old and the pushed digest, and the push's event.
async fn a_push_that_ecs_rolled_back() -> (Harness, String, String, Value) {
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    let old = push_image(&env.moto, &env.front, "app", "latest", "old").await;
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("shop", "web", &[&app]),
            ServiceSpec::new("shop", "checkout", &[&app]),
            ServiceSpec::new("shop", "legacy", &[&app]),
        ],
    )
    .await;
    observe_services(&env.front, &["shop"]).await;
    env.front.advance_clock(Duration::from_secs(5));
    deploy_and_roll_back(&env.front, "shop", "legacy").await;

    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;
    let pushed = event("app", "latest", &new);
    env.front.advance_clock(Duration::from_secs(5));
    deploy_and_roll_back(&env.front, "shop", "checkout").await;
    (env, old, new, pushed)
}

#[tokio::test]
async fn a_digest_ecs_rolled_back_is_held_until_a_fixed_push_and_another_rollback_redeploys() {
    let (env, old, new, pushed) = a_push_that_ecs_rolled_back().await;
    let redeployer = Redeployer::new(env.function_ecs(), config(&[])).with_registry(SdkEcr::new(env.moto.ecr_client()));
    let before = deployment_ids(&env.seeder(), &["shop"]).await;
    let report = invoke(&redeployer, &pushed).await.expect("delivered");
    let after = deployment_ids(&env.seeder(), &["shop"]).await;
    // legacy's rollback was of a deployment that ran the old digest: it is redeployed like web.
    assert_eq!(redeployed(&before, &after), ["shop/legacy", "shop/web"]);
    for name in ["web", "legacy"] {
        let s = service(&report, name);
        assert_eq!(
            (s.reason.code(), s.outcome),
            ("image-match", Status::Redeployed),
            "{name}: {}",
            s.detail
        );
        assert_eq!(s.from.get("c0"), Some(&Some(old.clone())), "{name}");
        assert_eq!(s.to.get("c0"), Some(&new), "{name}");
    }
    // checkout's rolled-back deployment ran the pushed digest: held, from ECS's own record.
    let checkout = service(&report, "checkout");
    assert_eq!(
        (checkout.reason.code(), checkout.outcome),
        ("rolled-back", Status::Skipped),
        "{}",
        checkout.detail
    );
    for part in ["ROLLBACK_SUCCESSFUL", "circuit breaker", &new, "--retry-rolled-back"] {
        assert!(checkout.detail.contains(part), "`{part}` in {}", checkout.detail);
    }
    assert_eq!(
        checkout.running.get("c0"),
        Some(&Some(old.clone())),
        "it runs what it was rolled back to"
    );

    // The same delivery again, without a lock table: web and legacy run the push now, checkout is still held.
    let report = invoke(&redeployer, &pushed).await.expect("delivered");
    assert_eq!(
        outcomes(&report).into_iter().collect::<Vec<_>>(),
        [
            ("checkout".to_owned(), ("rolled-back", Status::Skipped)),
            ("legacy".to_owned(), ("already-running", Status::Skipped)),
            ("web".to_owned(), ("already-running", Status::Skipped)),
        ]
    );
    // The sweep leaves it alone too, and lists the drift as held.
    let swept = redeployer.sweep(&[], ecs_redeploy::config::Mode::Apply).await;
    assert_eq!(outcomes(&swept)["checkout"], ("rolled-back", Status::Skipped));
    assert_eq!(swept.drift.len(), 1, "{:?}", swept.drift);
    let drift = &swept.drift[0];
    assert_eq!(
        (
            drift.service.as_str(),
            drift.held,
            drift.running_digest.as_ref(),
            &drift.current_digest
        ),
        ("checkout", true, Some(&old), &new)
    );
    assert_eq!(swept.counts.redeployed, 0);
    assert_eq!(
        redeployed(&after, &deployment_ids(&env.seeder(), &["shop"]).await),
        Vec::<String>::new()
    );

    // A fixed image is another digest: deployed as usual.
    let fixed = push_image(&env.moto, &env.front, "app", "latest", "fixed").await;
    env.front.advance_clock(Duration::from_secs(2));
    let report = invoke(&redeployer, &event("app", "latest", &fixed))
        .await
        .expect("delivered");
    let checkout = service(&report, "checkout");
    assert_eq!(
        (checkout.reason.code(), checkout.outcome),
        ("image-match", Status::Redeployed),
        "{}",
        checkout.detail
    );
    assert_eq!(checkout.to.get("c0"), Some(&fixed));
}

#[tokio::test]
async fn a_person_can_deploy_a_held_digest_deliberately() {
    let (env, _, new, _) = a_push_that_ecs_rolled_back().await;
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));
    let image = format!("{}/app:latest@{new}", registry());
    let retry = Push {
        retry_rolled_back: true,
        ..Push::from_image_uri(&image).expect("an image URI")
    };
    let before = deployment_ids(&env.seeder(), &["shop"]).await;
    let report = redeployer.run(&[retry], ecs_redeploy::config::Mode::Apply).await;
    assert_eq!(
        redeployed(&before, &deployment_ids(&env.seeder(), &["shop"]).await),
        ["shop/checkout", "shop/legacy", "shop/web"]
    );
    let checkout = service(&report, "checkout");
    assert_eq!(
        (checkout.reason.code(), checkout.outcome),
        ("image-match", Status::Redeployed),
        "{}",
        checkout.detail
    );
    assert!(
        checkout.warnings.iter().any(|w| w.contains("--retry-rolled-back")),
        "{:?}",
        checkout.warnings
    );
}

#[tokio::test]
async fn a_redeploy_still_resolving_is_rolling_out() {
    let env = Harness::start().await;
    env.front.set_resolve_delay(Duration::from_secs(30));
    let app = format!("{}/app:latest", registry());
    push_image(&env.moto, &env.front, "app", "latest", "old").await;
    fleet::seed(&env.seeder(), &[ServiceSpec::new("shop", "web", &[&app])]).await;
    observe_services(&env.front, &["shop"]).await;
    env.front.advance_clock(Duration::from_secs(60));
    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;
    let pushed = event("app", "latest", &new);
    env.front.advance_clock(Duration::from_secs(2));

    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));
    let first = invoke(&redeployer, &pushed).await.expect("delivered");
    assert_eq!(outcomes(&first)["web"], ("image-match", Status::Redeployed));
    let repeat = invoke(&redeployer, &pushed).await.expect("delivered");
    let web = service(&repeat, "web");
    assert_eq!(
        (web.reason.code(), web.outcome),
        ("rolling-out", Status::Skipped),
        "{}",
        web.detail
    );
    assert_eq!(web.running.get("c0"), Some(&None), "not resolved yet");
    env.front.advance_clock(Duration::from_secs(31));
    let later = invoke(&redeployer, &pushed).await.expect("delivered");
    let web = service(&later, "web");
    assert_eq!(
        (web.reason.code(), web.running.get("c0")),
        ("already-running", Some(&Some(new)))
    );
}

#[tokio::test]
async fn a_sweep_catches_a_lost_push_and_a_second_sweep_changes_nothing() {
    let env = Harness::start().await;
    let (app, worker) = (
        format!("{}/app:latest", registry()),
        format!("{}/app-worker:latest", registry()),
    );
    let elsewhere = format!("210987654321.dkr.ecr.{}.amazonaws.com/app:latest", fleet::REGION);
    push_image(&env.moto, &env.front, "app", "latest", "app-1").await;
    let old_worker = push_image(&env.moto, &env.front, "app-worker", "latest", "worker-1").await;
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("shop", "web", &[&app]),
            ServiceSpec::new("shop", "jobs", &[&worker]),
            ServiceSpec::new("shop", "batch", &[&worker, &app]),
            ServiceSpec::new("shop", "partner", &[&elsewhere]),
        ],
    )
    .await;
    observe_services(&env.front, &["shop"]).await;
    // A push whose event never arrives.
    let new_worker = push_image(&env.moto, &env.front, "app-worker", "latest", "worker-2").await;
    env.front.advance_clock(Duration::from_secs(2));

    let redeployer =
        Redeployer::new(env.function_ecs(), config(&[])).with_registry(SdkEcr::new(env.moto.function_ecr_client()));
    let before = deployment_ids(&env.seeder(), &["shop"]).await;
    let report = redeployer.sweep(&[], ecs_redeploy::config::Mode::Apply).await;
    let after = deployment_ids(&env.seeder(), &["shop"]).await;
    assert_eq!(redeployed(&before, &after), ["shop/batch", "shop/jobs"]);
    assert_eq!(outcomes(&report)["web"], ("already-running", Status::Skipped));
    assert_eq!(outcomes(&report)["partner"], ("not-checkable", Status::Skipped));
    let mut drift: Vec<(String, String, Option<String>, String)> = report
        .drift
        .iter()
        .map(|d| {
            (
                d.service.clone(),
                d.container.clone(),
                d.running_digest.clone(),
                d.current_digest.clone(),
            )
        })
        .collect();
    drift.sort();
    assert_eq!(
        drift,
        [
            (
                "batch".to_owned(),
                "c0".to_owned(),
                Some(old_worker.clone()),
                new_worker.clone()
            ),
            ("jobs".to_owned(), "c0".to_owned(), Some(old_worker), new_worker),
        ]
    );
    assert_eq!(report.counts.drifted, 2);
    // Two repositories in use in this account's registry: two ECR calls, whatever the number of services.
    assert_eq!(report.pushes.len(), 2);

    let again = redeployer.sweep(&[], ecs_redeploy::config::Mode::Apply).await;
    assert_eq!(
        redeployed(&after, &deployment_ids(&env.seeder(), &["shop"]).await),
        Vec::<String>::new()
    );
    assert!(again.drift.is_empty(), "{:?}", again.drift);
    assert_eq!(again.counts.redeployed, 0);
}
