//! Digest truth and the sweep through the real SDK clients: moto's ECR gives the digests (`PutImage`), the strict
//! front serves what moto lacks — each service's revisions and deployments, with the tags resolved to the digests
//! the test's registry holds once the resolve delay has passed on the ECS clock — and the function decides.

use std::time::Duration;

use ecs_redeploy::domain::report::{Report, Status};
use ecs_redeploy::ecr::sdk::SdkEcr;
use ecs_redeploy::engine::Redeployer;
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

fn service<'r>(report: &'r Report, name: &str) -> &'r ecs_redeploy::domain::report::ServiceReport {
    report
        .services
        .iter()
        .find(|s| s.service == name)
        .unwrap_or_else(|| panic!("{name} not reported"))
}

#[tokio::test]
async fn a_rollback_after_the_push_is_redeployed_and_a_repeat_is_not() {
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    let old = push_image(&env.moto, &env.front, "app", "latest", "old").await;
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("shop", "web", &[&app]),
            ServiceSpec::new("shop", "checkout", &[&app]),
        ],
    )
    .await;
    observe_services(&env.front, &["shop"]).await;

    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;
    let pushed = event("app", "latest", &new);
    // After the push, checkout is deployed (its tag resolves to the push) and the circuit breaker rolls it back
    // to its last completed revision, which runs the old digest: a deployment after the push that is not the push.
    env.front.advance_clock(Duration::from_secs(5));
    deploy_and_roll_back(&env.front, "shop", "checkout").await;

    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));
    let before = deployment_ids(&env.seeder(), &["shop"]).await;
    let report = invoke(&redeployer, &pushed).await.expect("delivered");
    let after = deployment_ids(&env.seeder(), &["shop"]).await;
    assert_eq!(redeployed(&before, &after), ["shop/checkout", "shop/web"]);
    for name in ["web", "checkout"] {
        let s = service(&report, name);
        assert_eq!(
            (s.reason, s.outcome),
            ("image-match", Status::Redeployed),
            "{name}: {}",
            s.detail
        );
        assert_eq!(s.from.get("c0"), Some(&Some(old.clone())), "{name}");
        assert_eq!(s.to.get("c0"), Some(&new), "{name}");
    }

    // The same delivery again, without a lock table: the redeploys' revisions resolved the tag at once (no resolve
    // delay), so both services run the push.
    let report = invoke(&redeployer, &pushed).await.expect("delivered");
    assert_eq!(
        outcomes(&report).values().collect::<Vec<_>>(),
        [
            &("already-running", Status::Skipped),
            &("already-running", Status::Skipped)
        ],
        "resolved at once: the deployments were made with no resolve delay"
    );
    assert_eq!(
        redeployed(&after, &deployment_ids(&env.seeder(), &["shop"]).await),
        Vec::<String>::new()
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
        (web.reason, web.outcome),
        ("rolling-out", Status::Skipped),
        "{}",
        web.detail
    );
    assert_eq!(web.running.get("c0"), Some(&None), "not resolved yet");
    env.front.advance_clock(Duration::from_secs(31));
    let later = invoke(&redeployer, &pushed).await.expect("delivered");
    let web = service(&later, "web");
    assert_eq!(
        (web.reason, web.running.get("c0")),
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
