//! Outcomes of the function's own deployments through the real SDK clients: the strict front holds each rollout
//! `IN_PROGRESS` until the test completes it or rolls it back (`ROLLBACK_IN_PROGRESS` → `ROLLBACK_SUCCESSFUL`) and
//! sends the real-shape `ECS Deployment State Change` events; moto's DynamoDB keeps the records, moto's EventBridge
//! routes the notifications through a rule to an SQS queue, where the test reads them.

use chrono::{TimeDelta, Utc};
use ecs_redeploy::domain::rollout::RolloutReport;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::lock::dynamodb::DynamoDbLock;
use ecs_redeploy::notify::sdk::SdkEventBridge;
use ecs_redeploy::report::Invocation;
use ecs_redeploy::trigger::lambda::{Response, handle};
use ecs_redeploy_testkit::fleet::{self, ACCOUNT, REGION, ServiceSpec, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::moto::create_lock_table;
use ecs_redeploy_testkit::registry::{observe_services, push_image};
use ecs_redeploy_testkit::sqs::batch;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use crate::events::load_now;
use crate::support::{FunctionEcs, MotoAccount, config, invoke};

const TABLE: &str = "ecs-redeploy-locks";
const QUEUE: &str = "rollouts";

fn web_arn() -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/web")
}

/// The push event of `app:latest@digest`, dated now.
fn pushed(digest: &str) -> Value {
    let mut event = load_now("ecr-push.json");
    event["detail"]["image-digest"] = digest.into();
    event
}

type App = Redeployer<ecs_redeploy::ecs::sdk::SdkEcs, DynamoDbLock, ecs_redeploy::ecr::sdk::SdkEcr, SdkEventBridge>;

struct World {
    env: Harness,
    http: Client<HttpConnector, http_body_util::Full<hyper::body::Bytes>>,
    queue_url: String,
    redeployer: App,
}

impl World {
    /// `shop/web` runs `app:latest` (first digest), rollouts are held, and the function has the lock table and
    /// the bus; a user's rule sends everything of source `ecs-redeploy` to the `rollouts` queue.
    async fn start() -> World {
        let env = Harness::start_serial().await;
        push_image(&env.moto, &env.front, "app", "latest", "v1").await;
        let app = format!("{}/app:latest", registry());
        fleet::seed(
            &env.seeder(),
            &[
                ServiceSpec::new("shop", "web", &[&app]),
                ServiceSpec::new("shop", "other", &[&app]),
            ],
        )
        .await;
        observe_services(&env.front, &["shop"]).await;
        env.front.hold_rollouts(true);
        create_lock_table(&env.moto.dynamodb_client(), TABLE).await;
        let dynamodb = env.moto.function_dynamodb_client();
        let http = Client::builder(TokioExecutor::new()).build_http();
        let queue_url = {
            let moto = MotoAccount {
                client: &http,
                endpoint: &env.moto.endpoint,
                account: ACCOUNT,
            };
            let url = moto.call("sqs", "CreateQueue", json!({"QueueName": QUEUE})).await["QueueUrl"]
                .as_str()
                .expect("a queue URL")
                .to_owned();
            moto.call(
                "events",
                "PutRule",
                json!({"Name": "rollouts", "EventPattern": r#"{"source": ["ecs-redeploy"]}"#}),
            )
            .await;
            moto.call(
                "events",
                "PutTargets",
                json!({"Rule": "rollouts",
                       "Targets": [{"Id": "queue", "Arn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}")}]}),
            )
            .await;
            url
        };
        let bus = SdkEventBridge::new(
            aws_sdk_eventbridge::Client::new(&env.moto.function_sdk_config()),
            "default",
        );
        let lock = DynamoDbLock::new(dynamodb, TABLE);
        let redeployer = Redeployer::with_lock(env.function_ecs(), lock, config(&[("LOCK_TABLE", TABLE)]))
            .with_registry(ecs_redeploy::ecr::sdk::SdkEcr::new(env.moto.ecr_client()))
            .with_notifier(bus);
        World {
            env,
            http,
            queue_url,
            redeployer,
        }
    }

    /// Pushes a new image and delivers its event: the function redeploys web (and other).
    async fn push(&self, content: &str) -> String {
        let digest = push_image(&self.env.moto, &self.env.front, "app", "latest", content).await;
        let report = invoke(&self.redeployer, &pushed(&digest)).await.expect("delivered");
        assert_eq!(report.counts.redeployed, 2, "{}", report.summary());
        digest
    }

    async fn follow(&self, event: &Value) -> RolloutReport {
        match handle(&self.redeployer, LambdaEvent::new(event.clone(), Context::default())).await {
            Ok(Response::Event(Invocation::Followed(report))) => *report,
            other => panic!("not followed: {other:?}"),
        }
    }

    /// The notifications that reached the queue since the last call: (detail-type, detail), by service.
    async fn announced(&self) -> Vec<(String, Value)> {
        let moto = MotoAccount {
            client: &self.http,
            endpoint: &self.env.moto.endpoint,
            account: ACCOUNT,
        };
        let mut all = Vec::new();
        loop {
            let received = moto
                .call(
                    "sqs",
                    "ReceiveMessage",
                    json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 10}),
                )
                .await;
            let Some(messages) = received["Messages"].as_array().filter(|m| !m.is_empty()) else {
                break;
            };
            for message in messages {
                let event: Value = serde_json::from_str(message["Body"].as_str().unwrap()).unwrap();
                all.push((
                    event["detail-type"].as_str().unwrap().to_owned(),
                    event["detail"].clone(),
                ));
                moto.call(
                    "sqs",
                    "DeleteMessage",
                    json!({"QueueUrl": self.queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
                )
                .await;
            }
        }
        all.retain(|(kind, _)| kind.starts_with("ECS Service Rollout"));
        all.sort_by(|a, b| a.1["service"].as_str().cmp(&b.1["service"].as_str()));
        all
    }
}

#[tokio::test]
async fn a_completed_rollout_is_announced_once_however_often_its_event_comes() {
    let world = World::start().await;
    let digest = world.push("v2").await;
    world.announced().await;
    world.env.front.complete_deployment(&web_arn());
    let completed = world
        .env
        .front
        .deployment_event(&web_arn(), "SERVICE_DEPLOYMENT_COMPLETED");

    // Three deliveries at once: each reads the record open, and only the conditional write picks one.
    let (a, b, c) = tokio::join!(
        world.follow(&completed),
        world.follow(&completed),
        world.follow(&completed)
    );
    let completions: usize = [&a, &b, &c].iter().map(|r| r.counts.completed).sum();
    assert_eq!(completions, 1, "{a:?} {b:?} {c:?}");
    let again = world.follow(&completed).await;
    assert_eq!(again.rollouts[0].reason, "already-notified");
    // And once more inside an SQS batch, as the queue delivers it.
    let queued = batch(&[completed.to_string()]);
    match handle(&world.redeployer, LambdaEvent::new(queued, Context::default())).await {
        Ok(Response::Batch(response)) => assert!(response.batch_item_failures.is_empty()),
        other => panic!("not a batch: {other:?}"),
    }

    let announced = world.announced().await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    let (kind, detail) = &announced[0];
    assert_eq!(kind, "ECS Service Rollout Completed");
    assert_eq!(detail.as_object().unwrap().len(), 18, "{detail}");
    assert_eq!(
        (
            detail["service"].as_str(),
            detail["outcome"].as_str(),
            detail["trigger"].as_str()
        ),
        (Some("web"), Some("completed"), Some("deployment"))
    );
    assert_eq!(detail["to_digest"], digest.as_str());
    assert_eq!(detail["deployment_id"], completed["detail"]["deploymentId"]);
    assert!(detail["duration_s"].as_i64().is_some_and(|d| d >= 0), "{detail}");
}

#[tokio::test]
async fn a_rolled_back_rollout_is_announced_failed_once_and_its_rollback_is_no_completion() {
    let world = World::start().await;
    world.push("bad").await;
    world.announced().await;
    world.env.front.start_roll_back(&web_arn());
    let failed = world
        .env
        .front
        .deployment_event(&web_arn(), "SERVICE_DEPLOYMENT_FAILED");
    let report = world.follow(&failed).await;
    assert_eq!(report.counts.rolled_back, 1, "{report:?}");
    assert_eq!(world.follow(&failed).await.rollouts[0].reason, "already-notified");

    // The rollback's start names the deployment it returns to: ignored before anything is read.
    let rolling_back = world
        .env
        .front
        .deployment_event(&web_arn(), "SERVICE_DEPLOYMENT_IN_PROGRESS");
    match handle(&world.redeployer, LambdaEvent::new(rolling_back, Context::default())).await {
        Ok(Response::Event(Invocation::Ignored { reason, .. })) => assert_eq!(reason, "in-progress"),
        other => panic!("not ignored: {other:?}"),
    }
    // The rollback completes: its COMPLETED event is no Rollout Completed, whichever id it carries.
    world.env.front.complete_deployment(&web_arn());
    let completed = world
        .env
        .front
        .deployment_event(&web_arn(), "SERVICE_DEPLOYMENT_COMPLETED");
    let same_id = world.follow(&completed).await;
    assert_eq!(same_id.rollouts[0].reason, "already-notified");
    let mut returned_to = completed.clone();
    returned_to["detail"]["deploymentId"] = "ecs-svc/0000000000000000001".into();
    assert_eq!(world.follow(&returned_to).await.rollouts[0].reason, "not-ours");

    let announced = world.announced().await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    let (kind, detail) = &announced[0];
    assert_eq!(kind, "ECS Service Rollout Failed");
    assert_eq!(detail["outcome"], "rolled-back");
    assert!(
        detail["status_reason"]
            .as_str()
            .is_some_and(|r| r.contains("circuit breaker")),
        "{detail}"
    );
}

#[tokio::test]
async fn a_deployment_the_function_did_not_start_is_ignored_as_not_ours() {
    let world = World::start().await;
    let other = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/other");
    ecs_redeploy_testkit::moto::ecs_client_for(&world.env.front.endpoint_url())
        .update_service()
        .cluster("shop")
        .service("other")
        .force_new_deployment(true)
        .send()
        .await
        .expect("deployed by someone else");
    world.env.front.complete_deployment(&other);
    let completed = world.env.front.deployment_event(&other, "SERVICE_DEPLOYMENT_COMPLETED");
    let report = world.follow(&completed).await;
    assert_eq!(
        (report.rollouts[0].result, report.rollouts[0].reason),
        ("ignored", "not-ours")
    );
    assert!(world.announced().await.is_empty());
}

#[tokio::test]
async fn the_sweep_closes_a_rollout_whose_event_was_lost() {
    let world = World::start().await;
    world.push("v2").await;
    world.announced().await;
    world.env.front.complete_deployment(&web_arn());
    world
        .env
        .front
        .complete_deployment(&format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/other"));
    // No event. Too early for the sweep: the event may still come.
    assert!(world.redeployer.close_lost(Utc::now()).await.rollouts.is_empty());
    let later = Utc::now() + TimeDelta::minutes(20);
    let report = world.redeployer.close_lost(later).await;
    assert_eq!(report.counts.completed, 2, "{report:?}");
    assert!(
        world.redeployer.close_lost(later).await.rollouts.is_empty(),
        "closed for good"
    );
    let announced = world.announced().await;
    let kinds: Vec<(&str, &str, &str)> = announced
        .iter()
        .map(|(kind, d)| {
            (
                kind.as_str(),
                d["service"].as_str().unwrap(),
                d["trigger"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("ECS Service Rollout Completed", "other", "sweep"),
            ("ECS Service Rollout Completed", "web", "sweep")
        ]
    );
    // The late event finds the record closed.
    let late = world
        .env
        .front
        .deployment_event(&web_arn(), "SERVICE_DEPLOYMENT_COMPLETED");
    assert_eq!(world.follow(&late).await.rollouts[0].reason, "already-notified");
}

#[tokio::test]
async fn a_malformed_deployment_event_fails_its_batch_item_and_never_is_dropped() {
    let world = World::start().await;
    let mut malformed = load_now("ecs-deployment-completed.json");
    malformed["detail"].as_object_mut().unwrap().remove("deploymentId");
    let mut event = malformed.clone();
    event["id"] = "good-id".into();
    let queued = batch(&[malformed.to_string()]);
    let message_id = queued["Records"][0]["messageId"].as_str().unwrap().to_owned();
    match handle(&world.redeployer, LambdaEvent::new(queued, Context::default())).await {
        Ok(Response::Batch(response)) => {
            let failed: Vec<&str> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            assert_eq!(failed, [message_id.as_str()]);
        }
        other => panic!("not a batch: {other:?}"),
    }
    let bare = handle(&world.redeployer, LambdaEvent::new(event, Context::default()))
        .await
        .expect_err("a bare malformed event fails the invocation");
    assert!(bare.to_string().contains("deploymentId"), "{bare}");
}
