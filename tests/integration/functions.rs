//! Container-image Lambda functions through the real SDK against moto's Lambda, which resolves an image tag
//! through moto's ECR (`MOTO_LAMBDA_STUB_ECR=false`): `CodeSha256` becomes the pushed image's digest. moto cannot
//! show an update in progress, a conflict, a `RevisionId` or nested repository names: the fake Lambda does
//! (src/engine/functions/tests.rs), and aws-smithy-mocks the adapter (src/lambda/sdk/tests.rs).

use ecs_redeploy::config::{Config, Mode};
use ecs_redeploy::domain::function::{FunctionReport, FunctionSelection};
use ecs_redeploy::domain::push::Push;
use ecs_redeploy::domain::reason::Reason;
use ecs_redeploy::ecs::pace::Pacing;
use ecs_redeploy::engine::functions::{discover, execute, plan};
use ecs_redeploy::lambda::sdk::SdkLambda;
use ecs_redeploy::lock::dynamodb::DynamoDbLock;
use ecs_redeploy::report::Status;
use ecs_redeploy_testkit::fleet::registry;
use ecs_redeploy_testkit::functions::{alias_version, code_sha256, create_alias, create_image_function};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::registry::push_image;

use crate::support::config;

fn lambda(env: &Harness) -> SdkLambda {
    SdkLambda::new(
        env.moto.function_lambda_client(),
        env.moto.function_tagging_client(),
        Pacing::Documented,
    )
}

fn push(repository: &str, tag: &str, digest: &str) -> Push {
    Push::from_image_uri(&format!("{}/{repository}:{tag}@{digest}", registry())).expect("a push")
}

/// discover → plan → execute for `pushes`, as a run does; the entries by function name.
async fn run(env: &Harness, config: &Config, pushes: &[Push], mode: Mode) -> Vec<FunctionReport> {
    let lambda = lambda(env);
    let scan = discover(&lambda, config, Some(pushes), 4).await.expect("listed");
    let selection = FunctionSelection {
        tag_key: &config.tag_key,
        select: config.select,
    };
    let planned = plan(&scan.functions, pushes, &vec![None; pushes.len()], selection);
    let mut reports = execute(&lambda, &None::<DynamoDbLock>, planned, mode, 4).await;
    reports.extend(scan.failed);
    reports.sort_by(|a, b| a.function.cmp(&b.function));
    reports
}

fn entry<'r>(reports: &'r [FunctionReport], name: &str) -> &'r FunctionReport {
    reports
        .iter()
        .find(|r| r.function == name)
        .unwrap_or_else(|| panic!("{name} not reported: {reports:?}"))
}

#[tokio::test]
async fn the_function_on_the_pushed_tag_gets_the_pushed_digest_and_the_others_are_untouched() {
    let env = Harness::start().await;
    let old = push_image(&env.moto, &env.front, "app", "latest", "old").await;
    let v1 = push_image(&env.moto, &env.front, "app", "v1", "v1").await;
    create_image_function(&env.moto, "worker", "app:latest", &[]).await;
    create_image_function(&env.moto, "pinned-tag", "app:v1", &[]).await;
    create_image_function(&env.moto, "opted-out", "app:latest", &[("ecs-redeploy", "off")]).await;
    assert_eq!(format!("sha256:{}", code_sha256(&env.moto, "worker").await), old);

    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;
    let reports = run(&env, &config(&[]), &[push("app", "latest", &new)], Mode::Apply).await;

    let worker = entry(&reports, "worker");
    assert_eq!(
        (worker.outcome, worker.reason),
        (Status::Redeployed, Reason::ImageMatch),
        "{worker:?}"
    );
    assert_eq!(worker.from.as_deref(), Some(old.as_str()));
    assert_eq!(worker.to.as_deref(), Some(new.as_str()));
    assert_eq!(
        format!("sha256:{}", code_sha256(&env.moto, "worker").await),
        new,
        "Lambda resolved the push"
    );
    assert_eq!(entry(&reports, "pinned-tag").reason, Reason::TagMismatch);
    assert_eq!(entry(&reports, "opted-out").reason, Reason::OptedOut);
    assert_eq!(format!("sha256:{}", code_sha256(&env.moto, "pinned-tag").await), v1);
    assert_eq!(format!("sha256:{}", code_sha256(&env.moto, "opted-out").await), old);

    // A repeat of the push finds the digest running.
    let again = run(&env, &config(&[]), &[push("app", "latest", &new)], Mode::Apply).await;
    assert_eq!(entry(&again, "worker").reason, Reason::AlreadyRunning);
}

#[tokio::test]
async fn the_alias_named_by_the_alias_tag_moves_to_a_new_version() {
    let env = Harness::start().await;
    push_image(&env.moto, &env.front, "hooks", "latest", "old").await;
    create_image_function(&env.moto, "webhook", "hooks:latest", &[("ecs-redeploy-alias", "live")]).await;
    create_alias(&env.moto, "webhook", "live").await;

    let new = push_image(&env.moto, &env.front, "hooks", "latest", "new").await;
    let reports = run(&env, &config(&[]), &[push("hooks", "latest", &new)], Mode::Apply).await;

    let webhook = entry(&reports, "webhook");
    assert_eq!(webhook.outcome, Status::Redeployed, "{webhook:?}");
    let version = webhook.version.clone().expect("a version published");
    assert_ne!(version, "$LATEST");
    assert_eq!(alias_version(&env.moto, "webhook", "live").await, version);
}

/// An update whose alias move failed (here: made by hand, as that attempt left it) leaves `$LATEST` on the pushed
/// digest and the alias on the old version: the next attempt moves the alias, once.
#[tokio::test]
async fn an_alias_left_behind_by_a_failed_move_is_moved_by_the_next_attempt() {
    let env = Harness::start().await;
    push_image(&env.moto, &env.front, "hooks", "latest", "old").await;
    create_image_function(&env.moto, "webhook", "hooks:latest", &[("ecs-redeploy-alias", "live")]).await;
    let client = env.moto.lambda_client();
    let old_version = client
        .publish_version()
        .function_name("webhook")
        .send()
        .await
        .expect("published")
        .version()
        .expect("a version")
        .to_owned();
    client
        .create_alias()
        .function_name("webhook")
        .name("live")
        .function_version(&old_version)
        .send()
        .await
        .expect("alias created");
    let new = push_image(&env.moto, &env.front, "hooks", "latest", "new").await;
    client
        .update_function_code()
        .function_name("webhook")
        .image_uri(format!("{}/hooks:latest", registry()))
        .send()
        .await
        .expect("the first attempt's update");
    assert_eq!(format!("sha256:{}", code_sha256(&env.moto, "webhook").await), new);

    let reports = run(&env, &config(&[]), &[push("hooks", "latest", &new)], Mode::Apply).await;
    let webhook = entry(&reports, "webhook");
    assert_eq!(webhook.outcome, Status::Redeployed, "{webhook:?}");
    let version = webhook.version.clone().expect("a version published");
    assert_ne!(version, old_version);
    assert!(
        webhook
            .detail
            .contains(&format!("alias `live` moved to version {version}")),
        "{webhook:?}"
    );
    assert_eq!(alias_version(&env.moto, "webhook", "live").await, version);

    let again = run(&env, &config(&[]), &[push("hooks", "latest", &new)], Mode::Apply).await;
    let webhook = entry(&again, "webhook");
    assert_eq!(
        (webhook.outcome, webhook.reason),
        (Status::Skipped, Reason::AlreadyRunning),
        "{webhook:?}"
    );
    assert_eq!(alias_version(&env.moto, "webhook", "live").await, version);
}

#[tokio::test]
async fn a_failure_on_one_function_does_not_stop_the_others() {
    let env = Harness::start().await;
    push_image(&env.moto, &env.front, "app", "latest", "old").await;
    for name in ["a", "b", "c"] {
        create_image_function(&env.moto, name, "app:latest", &[]).await;
    }
    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;
    // b's alias tag names an alias it does not have: its update lands, moving the alias fails (not found).
    env.moto
        .lambda_client()
        .tag_resource()
        .resource("arn:aws:lambda:us-east-1:123456789012:function:b")
        .tags("ecs-redeploy-alias", "missing")
        .send()
        .await
        .expect("tagged");
    let reports = run(&env, &config(&[]), &[push("app", "latest", &new)], Mode::Apply).await;
    let outcomes: Vec<(&str, Status)> = reports.iter().map(|r| (r.function.as_str(), r.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("a", Status::Redeployed),
            ("b", Status::Failed),
            ("c", Status::Redeployed)
        ]
    );
    let b = entry(&reports, "b");
    assert!(b.error.as_deref().is_some_and(|e| e.contains("UpdateAlias")), "{b:?}");
    for name in ["a", "c"] {
        assert_eq!(format!("sha256:{}", code_sha256(&env.moto, name).await), new, "{name}");
    }
    // The retry finds b on the pushed digest and its alias missing: a permanent skip, not a failure forever.
    let retry = run(&env, &config(&[]), &[push("app", "latest", &new)], Mode::Apply).await;
    let b = entry(&retry, "b");
    assert_eq!((b.outcome, b.reason), (Status::Skipped, Reason::AliasNotFound), "{b:?}");
}

#[tokio::test]
async fn a_plan_and_disabled_leave_the_functions_alone() {
    let env = Harness::start().await;
    let old = push_image(&env.moto, &env.front, "app", "latest", "old").await;
    create_image_function(&env.moto, "worker", "app:latest", &[]).await;
    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;
    let planned = run(&env, &config(&[]), &[push("app", "latest", &new)], Mode::Plan).await;
    assert_eq!(entry(&planned, "worker").outcome, Status::Planned);
    let disabled = run(
        &env,
        &config(&[("LAMBDA_FUNCTIONS", "disabled")]),
        &[push("app", "latest", &new)],
        Mode::Apply,
    )
    .await;
    assert!(disabled.is_empty(), "{disabled:?}");
    assert_eq!(format!("sha256:{}", code_sha256(&env.moto, "worker").await), old);
}

/// The push event of `repository:tag@digest`, dated now.
fn event(repository: &str, tag: &str, digest: &str) -> serde_json::Value {
    let mut event = crate::events::load_now("ecr-push.json");
    event["detail"]["repository-name"] = repository.into();
    event["detail"]["image-tag"] = tag.into();
    event["detail"]["image-digest"] = digest.into();
    event
}

fn redeployer(env: &Harness, config: Config) -> ecs_redeploy::engine::Redeployer<ecs_redeploy::ecs::sdk::SdkEcs> {
    use crate::support::FunctionEcs;
    ecs_redeploy::engine::Redeployer::new(env.function_ecs(), config)
        .with_registry(ecs_redeploy::ecr::sdk::SdkEcr::new(env.moto.function_ecr_client()))
        .with_functions(lambda(env))
}

#[tokio::test]
async fn one_push_refreshes_the_service_and_the_function_on_its_tag() {
    use ecs_redeploy_testkit::fleet::{self, ServiceSpec, deployment_ids, redeployed};
    use ecs_redeploy_testkit::registry::observe_services;
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    push_image(&env.moto, &env.front, "app", "latest", "old").await;
    fleet::seed(&env.seeder(), &[ServiceSpec::new("shop", "web", &[&app])]).await;
    observe_services(&env.front, &["shop"]).await;
    create_image_function(&env.moto, "worker", "app:latest", &[]).await;
    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;

    let before = deployment_ids(&env.seeder(), &["shop"]).await;
    let report = crate::support::invoke(&redeployer(&env, config(&[])), &event("app", "latest", &new))
        .await
        .expect("delivered");
    let after = deployment_ids(&env.seeder(), &["shop"]).await;
    assert_eq!(redeployed(&before, &after), ["shop/web"]);
    assert_eq!(report.functions.len(), 1, "{:?}", report.functions);
    let worker = &report.functions[0];
    assert_eq!(
        (worker.function.as_str(), worker.outcome),
        ("worker", Status::Redeployed)
    );
    assert_eq!(worker.to.as_deref(), Some(new.as_str()));
    assert_eq!(format!("sha256:{}", code_sha256(&env.moto, "worker").await), new);
    assert_eq!(
        (report.counts.redeployed, report.counts.functions.redeployed),
        (1, 1),
        "counted apart"
    );
    // The JSON the Lambda returns names every field the report promises.
    let json = serde_json::to_value(&report).expect("serializable");
    for key in [
        "function",
        "function_arn",
        "image",
        "decision",
        "reason",
        "outcome",
        "running",
        "from",
        "to",
        "error",
    ] {
        assert!(
            json["functions"][0].get(key).is_some(),
            "functions[0] has no `{key}`: {json}"
        );
    }
}

#[tokio::test]
async fn a_sweep_catches_a_function_whose_tag_moved_without_an_event() {
    let env = Harness::start().await;
    let old = push_image(&env.moto, &env.front, "jobs", "latest", "old").await;
    create_image_function(&env.moto, "nightly", "jobs:latest", &[]).await;
    // The push's event was lost: only the sweep can tell.
    let new = push_image(&env.moto, &env.front, "jobs", "latest", "new").await;
    let redeployer = redeployer(&env, config(&[]));

    let report = redeployer.sweep(&[], Mode::Apply).await;
    assert_eq!(report.counts.functions.drifted, 1, "{:?}", report.functions);
    let nightly = &report.functions[0];
    assert_eq!(nightly.outcome, Status::Redeployed, "{nightly:?}");
    assert_eq!(
        (nightly.from.as_deref(), nightly.to.as_deref()),
        (Some(old.as_str()), Some(new.as_str()))
    );
    assert_eq!(format!("sha256:{}", code_sha256(&env.moto, "nightly").await), new);
    let drift = &report.function_drift;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(
        (
            drift[0].function.as_str(),
            drift[0].running_digest.as_deref(),
            drift[0].current_digest.as_str()
        ),
        ("nightly", Some(old.as_str()), new.as_str())
    );

    let again = redeployer.sweep(&[], Mode::Apply).await;
    assert_eq!(again.functions[0].reason, Reason::AlreadyRunning);
    assert_eq!(again.counts.functions.drifted, 0);
    assert!(again.function_drift.is_empty());
}
