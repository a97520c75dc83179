//! Staged rollouts through the real SDK clients against the strict front's deployment model: `shop/canary` is wave
//! 1, `shop/web` wave 2, `shop/plain` carries no wave tag. The front holds each rollout `IN_PROGRESS` until the
//! test completes it or rolls it back and sends the real-shape `ECS Deployment State Change` events, which reach
//! the function in SQS batches as the queue delivers them; moto's DynamoDB keeps the function's records, moto's
//! EventBridge routes its notifications to a queue the test reads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ecs_redeploy::config::Mode;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::lock::dynamodb::DynamoDbLock;
use ecs_redeploy::notify::sdk::SdkEventBridge;
use ecs_redeploy::report::{Report, Status};
use ecs_redeploy::trigger::sqs::{BatchOutcome, messages, process_batch};
use ecs_redeploy_testkit::fleet::{self, ACCOUNT, REGION, ServiceSpec, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::moto::create_lock_table;
use ecs_redeploy_testkit::registry::{observe_services, push_image};
use ecs_redeploy_testkit::sqs::batch;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::events::load_now;
use crate::support::{FunctionEcs, MotoAccount, config, invoke, outcomes};

const TABLE: &str = "ecs-redeploy-locks";
const QUEUE: &str = "wave-notices";
const WAVE: &str = "ecs-redeploy-wave";
const WAKES: &str = "ecs-redeploy-events";

fn arn(name: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/{name}")
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
    async fn start() -> World {
        World::with(&[], false).await
    }

    /// canary (wave 1), web (wave 2) and plain (no tag) run `app:latest` (first digest); rollouts are held; the
    /// function has the lock table, the bus, `settings`, and reads the time from the front's ECS clock.
    /// With `wakes`, `WAVE_QUEUE` names a queue of moto's, sent to with the function's recorded SQS client.
    async fn with(settings: &[(&str, &str)], wakes: bool) -> World {
        let env = Harness::start_serial().await;
        push_image(&env.moto, &env.front, "app", "latest", "v1").await;
        let app = format!("{}/app:latest", registry());
        fleet::seed(
            &env.seeder(),
            &[
                ServiceSpec::new("shop", "canary", &[&app]).tagged(WAVE, "1"),
                ServiceSpec::new("shop", "web", &[&app]).tagged(WAVE, "2"),
                ServiceSpec::new("shop", "plain", &[&app]),
            ],
        )
        .await;
        observe_services(&env.front, &["shop"]).await;
        env.front.hold_rollouts(true);
        create_lock_table(&env.moto.dynamodb_client(), TABLE).await;
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
                json!({"Name": "waves", "EventPattern": r#"{"source": ["ecs-redeploy"]}"#}),
            )
            .await;
            moto.call(
                "events",
                "PutTargets",
                json!({"Rule": "waves",
                       "Targets": [{"Id": "queue", "Arn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}")}]}),
            )
            .await;
            url
        };
        let bus = SdkEventBridge::new(
            aws_sdk_eventbridge::Client::new(&env.moto.function_sdk_config()),
            "default",
        );
        let lock = DynamoDbLock::new(env.moto.function_dynamodb_client(), TABLE);
        let mut vars = vec![("LOCK_TABLE", TABLE.to_owned())];
        vars.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let sqs = aws_sdk_sqs::Client::new(&env.moto.function_sdk_config());
        if wakes {
            let created = aws_sdk_sqs::Client::new(&env.moto.sdk_config())
                .create_queue()
                .queue_name(WAKES)
                .send()
                .await;
            let url = created.expect("the wake queue").queue_url.expect("a URL");
            vars.push(("WAVE_QUEUE", url));
        }
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let config = config(&vars);
        let waker = config
            .wave_queue
            .clone()
            .map(|url| ecs_redeploy::wake::sdk::SdkSqsWaker::new(sqs, url));
        let ecs_now = env.front.ecs_clock();
        let mut redeployer = Redeployer::with_lock(env.function_ecs(), lock, config)
            .with_registry(ecs_redeploy::ecr::sdk::SdkEcr::new(env.moto.ecr_client()))
            .with_notifier(bus)
            .with_clock(Arc::new(move || {
                DateTime::<Utc>::from_timestamp_micros((ecs_now() * 1e6) as i64).expect("a time")
            }));
        if let Some(waker) = waker {
            redeployer = redeployer.with_waker(waker);
        }
        World {
            env,
            http,
            queue_url,
            redeployer,
        }
    }

    /// Pushes a new image and delivers its event; the run's report.
    async fn push(&self, content: &str) -> (String, Report) {
        let digest = push_image(&self.env.moto, &self.env.front, "app", "latest", content).await;
        let report = invoke(&self.redeployer, &pushed(&digest)).await.expect("delivered");
        (digest, report)
    }

    /// The service's deployment event for its current deployment, delivered in an SQS batch.
    async fn deliver(&self, service: &str, event_name: &str) -> BatchOutcome {
        let event = self.env.front.deployment_event(&arn(service), event_name);
        let read = messages(batch(&[event.to_string()]), Utc::now()).expect("an SQS batch");
        process_batch(&self.redeployer, read, Mode::Apply).await
    }

    async fn sweep(&self) -> Report {
        self.redeployer.sweep(&[], Mode::Apply).await
    }

    /// `UpdateService` calls moto applied, by service name.
    fn deployed(&self) -> BTreeMap<String, u64> {
        self.env
            .front
            .applied_updates()
            .into_iter()
            .map(|(service, n)| (service.trim_start_matches("shop/").to_owned(), n))
            .collect()
    }

    /// The `ECS Rollout Halted` notifications that reached the queue since the last call.
    async fn halts(&self) -> Vec<Value> {
        let moto = MotoAccount {
            client: &self.http,
            endpoint: &self.env.moto.endpoint,
            account: ACCOUNT,
        };
        let mut halts = Vec::new();
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
                if event["detail-type"] == "ECS Rollout Halted" {
                    halts.push(event["detail"].clone());
                }
                moto.call(
                    "sqs",
                    "DeleteMessage",
                    json!({"QueueUrl": self.queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
                )
                .await;
            }
        }
        halts
    }
}

fn reason_of<'r>(report: &'r Report, service: &str) -> (&'static str, Status, &'r str) {
    let entry = report
        .services
        .iter()
        .find(|s| s.service == service)
        .unwrap_or_else(|| panic!("{service} is not in the report: {}", report.summary()));
    (entry.reason.code(), entry.outcome, entry.detail.as_str())
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
}

#[tokio::test]
async fn wave_2_waits_while_wave_1_rolls_out_and_wave_1_completion_starts_it_once() {
    let world = World::start().await;
    let (digest, report) = world.push("v2").await;
    // Wave 1 and the untagged service deploy on the push; wave 2 waits, naming whom it waits for.
    let (reason, status, detail) = reason_of(&report, "web");
    assert_eq!(
        (reason, status),
        ("waiting-for-wave", Status::Skipped),
        "{}",
        report.summary()
    );
    assert_eq!(detail, "waits for wave 1: shop/canary not completed");
    assert_eq!(reason_of(&report, "canary").1, Status::Redeployed);
    assert_eq!(reason_of(&report, "plain").1, Status::Redeployed);
    let waves: BTreeMap<&str, Value> = report
        .services
        .iter()
        .map(|s| (s.service.as_str(), serde_json::to_value(s.wave).unwrap()))
        .collect();
    assert_eq!(
        waves,
        BTreeMap::from([("canary", json!(1)), ("plain", Value::Null), ("web", json!(2))])
    );
    assert_eq!((report.counts.waiting, report.counts.halted), (1, 0));
    let rollout = serde_json::to_value(&report.waves).unwrap();
    assert_eq!(rollout[0]["current_wave"], 1, "{rollout}");
    assert_eq!(rollout[0]["digest"], digest.as_str());

    // The same push again, and a sweep: wave 1 is still rolling out, so wave 2 still waits; nothing deploys twice.
    let (_, again) = world.push_again(&digest).await;
    assert_eq!(reason_of(&again, "web").0, "waiting-for-wave", "{}", again.summary());
    let swept = world.sweep().await;
    assert_eq!(reason_of(&swept, "web").0, "waiting-for-wave", "{}", swept.summary());
    assert_eq!(world.deployed(), counts(&[("canary", 1), ("plain", 1)]));

    // plain completing finishes no wave: no run, no scan.
    world.env.front.complete_deployment(&arn("plain"));
    let before = world.env.front.calls().total().settled();
    let plain_done = world.deliver("plain", "SERVICE_DEPLOYMENT_COMPLETED").await;
    assert!(
        plain_done.report.is_none(),
        "{:?}",
        plain_done.report.map(|r| r.summary())
    );
    // One DescribeServiceDeployments for the outcome, no scan.
    assert_eq!(world.env.front.calls().total().settled() - before, 1);

    // canary's completion event starts wave 2 in the same invocation.
    world.env.front.complete_deployment(&arn("canary"));
    let done = world.deliver("canary", "SERVICE_DEPLOYMENT_COMPLETED").await;
    let started = done.report.expect("the completion started wave 2");
    assert_eq!(
        reason_of(&started, "web").1,
        Status::Redeployed,
        "{}",
        started.summary()
    );
    assert!(done.failed_messages.is_empty());
    // Delivered again (at least once): the record is closed, wave 2 is not deployed twice.
    let repeated = world.deliver("canary", "SERVICE_DEPLOYMENT_COMPLETED").await;
    assert!(repeated.report.is_none());
    world.sweep().await;
    assert_eq!(world.deployed(), counts(&[("canary", 1), ("plain", 1), ("web", 1)]));
}

impl World {
    /// The push event of `digest` delivered once more (EventBridge delivers at least once).
    async fn push_again(&self, digest: &str) -> (String, Report) {
        let report = invoke(&self.redeployer, &pushed(digest)).await.expect("delivered");
        (digest.to_owned(), report)
    }
}

#[tokio::test]
async fn a_rollback_in_wave_1_halts_wave_2_once_and_is_not_retried() {
    let world = World::start().await;
    let (digest, _) = world.push("bad").await;
    world.env.front.start_roll_back(&arn("canary"));
    let failed = world.deliver("canary", "SERVICE_DEPLOYMENT_FAILED").await;
    let halted = failed.report.expect("the failure is a wave's end");
    let (reason, status, detail) = reason_of(&halted, "web");
    assert_eq!(
        (reason, status),
        ("wave-halted", Status::Skipped),
        "{}",
        halted.summary()
    );
    assert!(
        detail.contains("shop/canary") && detail.contains("circuit breaker"),
        "{detail}"
    );
    assert_eq!(reason_of(&halted, "canary").0, "rolled-back");
    assert_eq!(halted.counts.halted, 1);

    // The sweep sees the same halt; the notification went out once.
    world.env.front.complete_deployment(&arn("canary"));
    let swept = world.sweep().await;
    assert_eq!(reason_of(&swept, "web").0, "wave-halted", "{}", swept.summary());
    assert_eq!(reason_of(&swept, "canary").0, "rolled-back");
    let halts = world.halts().await;
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["digest"], digest.as_str());
    assert_eq!(
        (
            &halts[0]["failed_wave"],
            &halts[0]["halted_waves"],
            &halts[0]["service"]
        ),
        (&json!(1), &json!([2]), &json!("shop/canary"))
    );
    assert!(
        halts[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("circuit breaker"))
    );
    assert_eq!(world.deployed(), counts(&[("canary", 1), ("plain", 1)]));

    // A new digest lifts the halt: its wave 1 deploys.
    let (_, fixed) = world.push("fixed").await;
    assert_eq!(reason_of(&fixed, "canary").1, Status::Redeployed, "{}", fixed.summary());
    assert_eq!(reason_of(&fixed, "web").0, "waiting-for-wave");
}

#[tokio::test]
async fn a_lost_completion_event_is_caught_by_the_sweep() {
    let world = World::start().await;
    world.push("v2").await;
    world.env.front.complete_deployment(&arn("canary"));
    let swept = world.sweep().await;
    assert_eq!(reason_of(&swept, "web").1, Status::Redeployed, "{}", swept.summary());
    assert_eq!(world.deployed(), counts(&[("canary", 1), ("plain", 1), ("web", 1)]));
}

#[tokio::test]
async fn a_newer_push_supersedes_the_rollout() {
    let world = World::start().await;
    world.push("v2").await;
    // v3 arrives while wave 1 still rolls v2 out: wave 1 moves to v3, wave 2 waits for v3's wave 1.
    let (v3, newer) = world.push("v3").await;
    assert_eq!(reason_of(&newer, "canary").1, Status::Redeployed, "{}", newer.summary());
    assert_eq!(reason_of(&newer, "web").0, "waiting-for-wave");
    world.env.front.complete_deployment(&arn("canary"));
    let done = world.deliver("canary", "SERVICE_DEPLOYMENT_COMPLETED").await;
    let started = done.report.expect("wave 2 starts");
    let web = started.services.iter().find(|s| s.service == "web").expect("web");
    assert_eq!(web.outcome, Status::Redeployed, "{}", started.summary());
    assert_eq!(web.to.values().collect::<Vec<_>>(), [&v3], "wave 2 never gets v2");
    assert_eq!(world.deployed()["web"], 1);
}

#[tokio::test]
async fn untagged_services_are_not_held_and_an_invalid_wave_is_a_skip() {
    let world = World::start().await;
    let app = format!("{}/app:latest", registry());
    fleet::seed(
        &world.env.seeder(),
        &[ServiceSpec::new("shop", "odd", &[&app]).tagged(WAVE, "100")],
    )
    .await;
    observe_services(&world.env.front, &["shop"]).await;
    let (_, report) = world.push("v2").await;
    assert_eq!(
        outcomes(&report).get("plain").copied(),
        Some(("image-match", Status::Redeployed))
    );
    let (reason, status, detail) = reason_of(&report, "odd");
    assert_eq!((reason, status), ("invalid-wave", Status::Skipped));
    assert!(detail.contains("`100`"), "{detail}");
}

#[tokio::test]
async fn the_bake_is_timed_on_the_ecs_clock() {
    // No WAVE_QUEUE: the sweep ends the bake.
    let world = World::with(&[("WAVE_BAKE", "600")], false).await;
    world.push("v2").await;
    world.env.front.complete_deployment(&arn("canary"));
    let done = world.deliver("canary", "SERVICE_DEPLOYMENT_COMPLETED").await;
    let baking = done.report.expect("the completion ran the rollout");
    let (reason, _, detail) = reason_of(&baking, "web");
    assert_eq!(reason, "waiting-for-wave", "{}", baking.summary());
    assert!(detail.contains("bake"), "{detail}");
    assert!(baking.waves[0].wake_at.is_some());
    // Nine minutes on the ECS clock: still baking.
    world.env.front.advance_clock(Duration::from_secs(540));
    assert_eq!(reason_of(&world.sweep().await, "web").0, "waiting-for-wave");
    // Past ten: the sweep starts wave 2, though the wall clock has moved only seconds.
    world.env.front.advance_clock(Duration::from_secs(61));
    let swept = world.sweep().await;
    assert_eq!(reason_of(&swept, "web").1, Status::Redeployed, "{}", swept.summary());
}

#[tokio::test]
async fn a_bake_ends_with_the_delayed_wake_message_on_the_ecs_clock() {
    let world = World::with(&[("WAVE_BAKE", "600")], true).await;
    world.push("v2").await;
    world.env.front.complete_deployment(&arn("canary"));
    let done = world.deliver("canary", "SERVICE_DEPLOYMENT_COMPLETED").await;
    let baking = done.report.expect("the completion ran the rollout");
    assert_eq!(reason_of(&baking, "web").0, "waiting-for-wave", "{}", baking.summary());
    let wake_at: DateTime<Utc> = baking.waves[0].wake_at.as_deref().expect("a bake").parse().unwrap();
    // One message, delayed (SQS keeps it invisible); a second run during the bake queues no second one.
    world.sweep().await;
    let queue = aws_sdk_sqs::Client::new(&world.env.moto.sdk_config());
    let url = queue
        .get_queue_url()
        .queue_name(WAKES)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attributes = queue
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attributes.attributes.unwrap_or_default();
    assert_eq!(
        delayed
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .map(String::as_str),
        Some("1")
    );
    // When it arrives (the ECS clock past the bake; the wall clock has moved seconds), it starts wave 2 alone.
    world.env.front.advance_clock(Duration::from_secs(601));
    let image = baking.waves[0].image.clone();
    let body = ecs_redeploy::wake::body(&image, &baking.waves[0].digest, wake_at, Utc::now());
    let read = messages(batch(&[body]), Utc::now()).expect("an SQS batch");
    let woken = process_batch(&world.redeployer, read, Mode::Apply).await;
    let started = woken.report.expect("the wake ran the rollout");
    assert_eq!(
        reason_of(&started, "web").1,
        Status::Redeployed,
        "{}",
        started.summary()
    );
    assert_eq!(world.deployed()["web"], 1);
}
