//! Exactly once under duplicates and retries, pin mode, tag policies and replication, in moto
//! behind the strict front. The front's call counts say how many deployments really happened.

use std::collections::BTreeMap;

use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::lock::dynamodb::DynamoDbLock;
use ecs_redeploy::report::Status;
use serde_json::Value;

use crate::events::event_after_seeding;
use crate::scenarios::FailingUpdate;
use crate::support::{FunctionEcs, config, invoke, outcomes};
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::moto::create_lock_table;

const TABLE: &str = "ecs-redeploy-locks";

fn app_fleet(names: &[&str]) -> Vec<ServiceSpec> {
    let app = format!("{}/app:latest", registry());
    names.iter().map(|n| ServiceSpec::new("shop", n, &[&app])).collect()
}

#[tokio::test]
async fn sequential_duplicates_deploy_each_service_once() {
    let env = Harness::start().await;
    fleet::seed(&env.seeder(), &app_fleet(&["web", "worker", "admin"])).await;
    let event = event_after_seeding(&env.front, "ecr-push.json");
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));

    let first = invoke(&redeployer, &event).await.unwrap();
    assert_eq!(first.counts.redeployed, 3);
    // The front's registry holds no digest for app:latest here, so the new revisions stay unresolved: made after
    // the push, they are rolling it out.
    for _ in 0..2 {
        let again = invoke(&redeployer, &event).await.unwrap();
        assert_eq!(again.services.len(), 3, "{:?}", outcomes(&again));
        assert!(
            again
                .services
                .iter()
                .all(|s| s.reason.code() == "rolling-out" && s.outcome == Status::Skipped),
            "{:?}",
            outcomes(&again)
        );
    }
    assert_eq!(
        env.front.calls().action("UpdateService").forwarded,
        3,
        "one deployment per service"
    );
}

#[tokio::test]
async fn concurrent_duplicates_deploy_each_service_once_with_the_lock_table() {
    let env = Harness::start_serial().await;
    let names = ["a", "b", "c", "d", "e", "f"];
    fleet::seed(&env.seeder(), &app_fleet(&names)).await;
    create_lock_table(&env.moto.dynamodb_client(), TABLE).await;
    let event = event_after_seeding(&env.front, "ecr-push.json");
    let redeployers: Vec<_> = (0..3)
        .map(|_| {
            let lock = DynamoDbLock::new(env.moto.function_dynamodb_client(), TABLE);
            Redeployer::with_lock(env.function_ecs(), lock, config(&[("LOCK_TABLE", TABLE)]))
        })
        .collect();

    let reports = futures_util::future::join_all(redeployers.iter().map(|r| invoke(r, &event))).await;
    let mut redeployed: Vec<String> = Vec::new();
    for report in reports {
        let report = report.expect("no invocation fails");
        for s in &report.services {
            match (s.outcome, s.reason.code()) {
                (Status::Redeployed, _) => redeployed.push(s.service.clone()),
                (Status::Skipped, "in-progress" | "already-deployed") => {}
                other => panic!("{}: {other:?}", s.service),
            }
        }
    }
    redeployed.sort();
    assert_eq!(
        redeployed, names,
        "each service redeployed by exactly one of the three deliveries"
    );
    assert_eq!(env.front.calls().action("UpdateService").forwarded, 6);
}

#[tokio::test]
async fn a_retry_after_a_partial_failure_finishes_the_rest_and_repeats_nothing() {
    let env = Harness::start_serial().await;
    fleet::seed(&env.seeder(), &app_fleet(&["one", "broken", "three"])).await;
    create_lock_table(&env.moto.dynamodb_client(), TABLE).await;
    let event = event_after_seeding(&env.front, "ecr-push.json");
    let with_lock = || DynamoDbLock::new(env.moto.function_dynamodb_client(), TABLE);

    let failing = FailingUpdate::new(env.function_ecs(), "broken");
    let first = Redeployer::with_lock(failing, with_lock(), config(&[]));
    let error = invoke(&first, &event).await.expect_err("the first delivery fails");
    assert!(error.to_string().contains("shop/broken"), "{error}");

    let retry = Redeployer::with_lock(env.function_ecs(), with_lock(), config(&[]));
    let report = invoke(&retry, &event).await.expect("the retry succeeds");
    assert_eq!(outcomes(&report)["broken"], ("image-match", Status::Redeployed));
    assert_eq!(outcomes(&report)["one"], ("rolling-out", Status::Skipped));
    assert_eq!(outcomes(&report)["three"], ("rolling-out", Status::Skipped));
    assert_eq!(
        env.front.calls().action("UpdateService").forwarded,
        3,
        "two, then the failed one"
    );
}

/// `service` → (its task definition ARN, that revision's container images).
async fn running(env: &Harness, names: &[&str]) -> BTreeMap<String, (String, Vec<String>)> {
    let client = env.seeder();
    let described = client
        .describe_services()
        .cluster("shop")
        .set_services(Some(names.iter().map(|n| (*n).to_owned()).collect()))
        .send()
        .await
        .unwrap();
    let mut running = BTreeMap::new();
    for service in described.services() {
        let arn = service.task_definition().unwrap().to_owned();
        let td = client
            .describe_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .unwrap();
        let images = td.task_definition().unwrap().container_definitions().iter();
        let images = images.map(|c| c.image().unwrap_or_default().to_owned()).collect();
        running.insert(service.service_name().unwrap().to_owned(), (arn, images));
    }
    running
}

#[tokio::test]
async fn pin_mode_registers_one_revision_per_source_and_repeats_nothing() {
    let env = Harness::start().await;
    let r = registry();
    let (app, envoy) = (format!("{r}/app:latest"), format!("{r}/envoy:v1"));
    let specs = vec![
        ServiceSpec::new("shop", "a", &[&app]).tagged("ecs-redeploy", "pin"),
        ServiceSpec::new("shop", "b", &[&app]).tagged("ecs-redeploy", "pin"),
        ServiceSpec::new("shop", "c", &[&app]).tagged("ecs-redeploy", "pin"),
        ServiceSpec::new("shop", "d", &[&envoy, &app]).tagged("ecs-redeploy", "pin"),
        ServiceSpec::new("shop", "forced", &[&app]),
    ];
    fleet::seed(&env.seeder(), &specs).await;
    let names = ["a", "b", "c", "d", "forced"];
    let before = running(&env, &names).await;
    let event = event_after_seeding(&env.front, "ecr-push.json");
    let digest = event["detail"]["image-digest"].as_str().unwrap().to_owned();
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));

    let report = invoke(&redeployer, &event).await.unwrap();
    let after = running(&env, &names).await;
    assert_eq!(
        env.front.calls().action("RegisterTaskDefinition").forwarded,
        2,
        "one per source revision"
    );
    assert_eq!(after["a"].0, after["b"].0);
    assert_eq!(after["a"].0, after["c"].0);
    assert_ne!(after["a"].0, before["a"].0);
    assert_eq!(after["a"].1, vec![format!("{r}/app:latest@{digest}")]);
    assert_eq!(
        after["d"].1,
        vec![envoy.clone(), format!("{r}/app:latest@{digest}")],
        "only the match changes"
    );
    assert_eq!(after["forced"], before["forced"], "force mode keeps its revision");
    let a = report.services.iter().find(|s| s.service == "a").unwrap();
    assert_eq!(a.new_task_definition.as_ref(), Some(&after["a"].0));
    assert_eq!(report.counts.redeployed, 5);

    let again = invoke(&redeployer, &event).await.unwrap();
    assert_eq!(again.services.len(), names.len(), "{:?}", outcomes(&again));
    assert!(
        again.services.iter().all(|s| s.reason.code()
            == if s.service == "forced" {
                "rolling-out"
            } else {
                "already-deployed"
            }),
        "pinned revisions name the digest; the forced one resolves the tag: {:?}",
        outcomes(&again)
    );
    assert_eq!(
        env.front.calls().action("RegisterTaskDefinition").forwarded,
        2,
        "nothing registered again"
    );
    assert_eq!(running(&env, &names).await, after);
}

#[tokio::test]
async fn tag_policies_move_services_to_newer_immutable_tags() {
    let env = Harness::start().await;
    let r = registry();
    let on = |tag: &str| format!("{r}/app:{tag}");
    let specs = vec![
        ServiceSpec::new("shop", "caret", &[&on("1.4.0")]).tagged("ecs-redeploy", "semver:^1.4"),
        ServiceSpec::new("shop", "major-two", &[&on("2.0.1")]).tagged("ecs-redeploy", "semver:^2"),
        ServiceSpec::new("shop", "glob", &[&on("1.0.0-main")]).tagged("ecs-redeploy", "glob:1.*"),
        ServiceSpec::new("shop", "regex", &[&on("1.4.0")]).tagged("ecs-redeploy", r"regex:1\.5\.\d+"),
        ServiceSpec::new("shop", "typo", &[&on("1.4.0")]).tagged("ecs-redeploy", "semvr:^1"),
        ServiceSpec::new("shop", "untagged", &[&on("1.4.0")]),
    ];
    fleet::seed(&env.seeder(), &specs).await;
    let mut event = event_after_seeding(&env.front, "ecr-push.json");
    event["detail"]["image-tag"] = Value::from("1.5.0");
    let digest = event["detail"]["image-digest"].as_str().unwrap().to_owned();
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));

    let report = invoke(&redeployer, &event).await.unwrap();
    let got = outcomes(&report);
    assert_eq!(got["caret"], ("policy-match", Status::Redeployed));
    assert_eq!(got["major-two"], ("policy-rejected", Status::Skipped));
    assert_eq!(got["glob"], ("policy-match", Status::Redeployed));
    assert_eq!(got["regex"], ("policy-match", Status::Redeployed));
    assert_eq!(got["typo"], ("invalid-policy", Status::Skipped));
    assert_eq!(got["untagged"], ("tag-mismatch", Status::Skipped));
    let after = running(&env, &["caret", "major-two"]).await;
    assert_eq!(after["caret"].1, vec![format!("{r}/app:1.5.0@{digest}")]);
    assert_eq!(after["major-two"].1, vec![on("2.0.1")]);
}

#[tokio::test]
async fn a_replicated_image_redeploys_services_of_the_destination_registry() {
    let env = Harness::start().await;
    fleet::seed(&env.seeder(), &app_fleet(&["web"])).await;
    let event = event_after_seeding(&env.front, "ecr-replication.json");
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));
    let report = invoke(&redeployer, &event).await.unwrap();
    assert_eq!(outcomes(&report)["web"], ("image-match", Status::Redeployed));
    assert_eq!(
        report.pushes[0].replicated_from.as_deref(),
        Some("210987654321.dkr.ecr.eu-west-1.amazonaws.com")
    );
}

#[tokio::test]
async fn pin_mode_follows_its_own_pins_and_leaves_hand_pins_alone() {
    let env = Harness::start().await;
    let r = registry();
    let app = format!("{r}/app:latest");
    let hand_pinned = format!("{r}/app:latest@sha256:{}", "9".repeat(64));
    let specs = vec![
        ServiceSpec::new("shop", "ours", &[&app]).tagged("ecs-redeploy", "pin"),
        ServiceSpec::new("shop", "by-hand", &[&hand_pinned]).tagged("ecs-redeploy", "pin"),
    ];
    fleet::seed(&env.seeder(), &specs).await;
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));

    let first = event_after_seeding(&env.front, "ecr-push.json");
    let report = invoke(&redeployer, &first).await.unwrap();
    assert_eq!(
        outcomes(&report),
        BTreeMap::from([
            ("by-hand".to_owned(), ("digest-pinned", Status::Skipped)),
            ("ours".to_owned(), ("image-match", Status::Redeployed)),
        ])
    );

    // The tag moves on: the revision ecs-redeploy pinned follows it, the person's pin still does not.
    let mut second = first.clone();
    let next_digest = format!("sha256:{}", "2".repeat(64));
    second["id"] = "second-push".into();
    second["detail"]["image-digest"] = next_digest.clone().into();
    let report = invoke(&redeployer, &second).await.unwrap();
    assert_eq!(
        outcomes(&report),
        BTreeMap::from([
            ("by-hand".to_owned(), ("digest-pinned", Status::Skipped)),
            ("ours".to_owned(), ("image-match", Status::Redeployed)),
        ])
    );
    let now = running(&env, &["ours", "by-hand"]).await;
    assert_eq!(now["ours"].1, vec![format!("{r}/app:latest@{next_digest}")]);
    assert_eq!(now["by-hand"].1, vec![hand_pinned]);
}
