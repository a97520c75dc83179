//! Notifications through the real EventBridge client: the function puts one event per redeployed or failed service
//! on moto's default bus, a rule of the user's (`source: ecs-redeploy`) sends them to an SQS queue, and the test
//! reads them there.

use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::notify::sdk::SdkEventBridge;
use ecs_redeploy_testkit::fleet::{self, ACCOUNT, ServiceSpec, registry};
use ecs_redeploy_testkit::harness::Harness;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::events::load_now;
use crate::scenarios::FailingUpdate;
use crate::support::{FunctionEcs, MotoAccount, config, invoke};

#[tokio::test]
async fn each_redeployed_or_failed_service_is_announced_on_the_bus() {
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("shop", "web", &[&app]),
            ServiceSpec::new("shop", "broken", &[&app]),
            ServiceSpec::new("shop", "legacy", &[&format!("{}/app:v1", registry())]),
        ],
    )
    .await;
    let http = Client::builder(TokioExecutor::new()).build_http();
    let moto = MotoAccount {
        client: &http,
        endpoint: &env.moto.endpoint,
        account: ACCOUNT,
    };
    let queue_url = moto
        .announcements_queue("announcements", "ecs-redeploy-announcements")
        .await;

    let bus = SdkEventBridge::new(
        aws_sdk_eventbridge::Client::new(&env.moto.function_sdk_config()),
        "default",
    );
    let ecs = FailingUpdate::new(env.function_ecs(), "broken");
    let redeployer = Redeployer::new(ecs, config(&[])).with_notifier(bus);
    let event = load_now("ecr-push.json");
    let failed = invoke(&redeployer, &event).await.expect_err("broken failed");
    let report = match failed {
        ecs_redeploy::trigger::lambda::InvocationError::Incomplete { report, .. } => report,
        other => panic!("{other}"),
    };
    assert_eq!((report.counts.notified, report.counts.notify_failed), (2, 0));

    let received = moto.receive(&queue_url).await;
    let mut announced: Vec<(String, Value)> = received["Messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let event: Value = serde_json::from_str(m["Body"].as_str().unwrap()).unwrap();
            assert_eq!(event["source"], "ecs-redeploy");
            (
                event["detail-type"].as_str().unwrap().to_owned(),
                event["detail"].clone(),
            )
        })
        .collect();
    announced.sort_by(|a, b| a.1["service"].as_str().cmp(&b.1["service"].as_str()));
    let kinds: Vec<(&str, &str)> = announced
        .iter()
        .map(|(kind, detail)| (kind.as_str(), detail["service"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ECS Service Redeploy Failed", "broken"),
            ("ECS Service Redeployed", "web")
        ],
        "the skipped service is not announced"
    );
    let web = &announced[1].1;
    let digest = event["detail"]["image-digest"].as_str().unwrap();
    assert_eq!(web["to_digest"], digest);
    assert_eq!(web["image"], format!("{app}@{digest}"));
    assert_eq!(
        (web["trigger"].as_str(), web["method"].as_str()),
        (Some("push"), Some("force"))
    );
    assert_eq!(web["event_id"], event["id"]);
    assert!(web["deployment_id"].as_str().is_some_and(|id| !id.is_empty()));
    let broken = &announced[0].1;
    assert!(
        broken["error"]
            .as_str()
            .is_some_and(|e| e.contains("AccessDeniedException")),
        "{broken}"
    );
}

#[tokio::test]
async fn a_bus_that_refuses_never_fails_a_redeploy() {
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    fleet::seed(&env.seeder(), &[ServiceSpec::new("shop", "web", &[&app])]).await;
    // A bus that does not exist: every PutEvents entry is refused.
    let bus = SdkEventBridge::new(
        aws_sdk_eventbridge::Client::new(&env.moto.function_sdk_config()),
        "no-such-bus",
    );
    let redeployer = Redeployer::new(env.function_ecs(), config(&[])).with_notifier(bus);
    let report = invoke(&redeployer, &load_now("ecr-push.json"))
        .await
        .expect("the redeploy succeeds");
    assert_eq!(report.counts.redeployed, 1);
    assert_eq!((report.counts.notified, report.counts.notify_failed), (0, 1));
}
