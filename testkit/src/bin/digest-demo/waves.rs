//! Staged rollouts in `make demo`: `staging/storefront` is wave 1 and `production/storefront` wave 2 (the
//! `ecs-redeploy-wave` tag). The deployment events reach `ecs-redeploy apply --event` in an SQS batch, as the queue
//! hands them to Lambda, so the run a completion starts is printed with them.
//!
//! 1. A push of storefront:latest: staging is redeployed, production waits (`waiting-for-wave`).
//! 2. Staging's deployment completes: its event starts production.
//! 3. A broken storefront:latest: staging is redeployed and rolled back by its circuit breaker; the FAILED event
//!    halts production (`wave-halted`) and one `ECS Rollout Halted` is announced.

use std::time::Duration;

use ecs_redeploy_testkit::fleet::{self, ACCOUNT, REGION, ServiceSpec, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::moto::create_lock_table;
use ecs_redeploy_testkit::registry::{observe_services, push_image};
use ecs_redeploy_testkit::sqs::batch;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::outcome::call;
use super::{push_event, run};

const TABLE: &str = "ecs-redeploy-demo-waves";
const QUEUE: &str = "halts";

/// Runs the waves part; `false` when an invocation failed or the rollout did not go as shown.
pub async fn demo(binary: &str, env: &Harness) -> bool {
    let http: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let queue_url = halts_queue(&http, &env.moto.endpoint).await;
    create_lock_table(&env.moto.dynamodb_client(), TABLE).await;
    push_image(&env.moto, &env.front, "storefront", "latest", "storefront v1").await;
    let image = format!("{}/storefront:latest", registry());
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("staging", "storefront", &[&image]).tagged("ecs-redeploy-wave", "1"),
            ServiceSpec::new("production", "storefront", &[&image]).tagged("ecs-redeploy-wave", "2"),
        ],
    )
    .await;
    observe_services(&env.front, &["staging", "production"]).await;
    env.front.hold_rollouts(true);
    let vars = [("LOCK_TABLE", TABLE), ("NOTIFY_BUS", "default")];
    let staging = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/staging/storefront");
    let production = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/production/storefront");
    let file = std::env::temp_dir().join(format!("ecs-redeploy-demo-waves-{}.json", std::process::id()));
    let write = |value: &str| std::fs::write(&file, value).expect("event file written");
    let event = file.to_string_lossy().into_owned();
    println!("\nStaged rollouts: staging/storefront is tagged ecs-redeploy-wave=1, production/storefront wave 2.\n");

    let v2 = push_image(&env.moto, &env.front, "storefront", "latest", "storefront v2").await;
    write(&push_event("storefront", &v2, &super::outcome::now()));
    env.front.advance_clock(Duration::from_secs(2));
    println!("storefront:latest is pushed: wave 1 (staging) deploys, wave 2 (production) waits for it:\n");
    let mut ok = run(binary, env, &["apply", "--event", &event], &vars).await;

    env.front.advance_clock(Duration::from_secs(90));
    env.front.complete_deployment(&staging);
    let completed = env.front.deployment_event(&staging, "SERVICE_DEPLOYMENT_COMPLETED");
    write(&batch(&[completed.to_string()]).to_string());
    println!("\nStaging reaches steady state; ECS's SERVICE_DEPLOYMENT_COMPLETED starts wave 2 in the same run:\n");
    ok &= run(binary, env, &["apply", "--event", &event], &vars).await;
    env.front.advance_clock(Duration::from_secs(90));
    env.front.complete_deployment(&production);

    let broken = push_image(&env.moto, &env.front, "storefront", "latest", "storefront v3 (crashes)").await;
    write(&push_event("storefront", &broken, &super::outcome::now()));
    env.front.advance_clock(Duration::from_secs(2));
    println!("\nA broken storefront:latest is pushed: staging deploys it first, production waits:\n");
    ok &= run(binary, env, &["apply", "--event", &event], &vars).await;
    env.front.advance_clock(Duration::from_secs(60));
    env.front.start_roll_back(&staging);
    let failed = env.front.deployment_event(&staging, "SERVICE_DEPLOYMENT_FAILED");
    write(&batch(&[failed.to_string()]).to_string());
    println!("\nStaging's circuit breaker rolls it back; the FAILED event halts wave 2: production never gets it.\n");
    ok &= run(binary, env, &["apply", "--event", &event], &vars).await;
    ok &= print_halts(&http, &env.moto.endpoint, &queue_url).await == 1;
    let _ = std::fs::remove_file(&file);
    ok
}

/// A queue a user's rule fills with `ECS Rollout Halted`; its URL.
async fn halts_queue(http: &Client<HttpConnector, Full<Bytes>>, endpoint: &str) -> String {
    let url = call(http, endpoint, "sqs", "CreateQueue", json!({"QueueName": QUEUE})).await["QueueUrl"]
        .as_str()
        .expect("a queue URL")
        .to_owned();
    call(
        http,
        endpoint,
        "events",
        "PutRule",
        json!({"Name": "halts", "EventPattern": r#"{"source": ["ecs-redeploy"], "detail-type": ["ECS Rollout Halted"]}"#}),
    )
    .await;
    call(
        http,
        endpoint,
        "events",
        "PutTargets",
        json!({"Rule": "halts", "Targets": [{"Id": "queue", "Arn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}")}]}),
    )
    .await;
    url
}

/// Prints what the queue holds; how many halts.
async fn print_halts(http: &Client<HttpConnector, Full<Bytes>>, endpoint: &str, queue_url: &str) -> usize {
    let received = call(
        http,
        endpoint,
        "sqs",
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
    )
    .await;
    let messages = received["Messages"].as_array().cloned().unwrap_or_default();
    for message in &messages {
        let event: Value = serde_json::from_str(message["Body"].as_str().unwrap_or("{}")).unwrap_or_default();
        let detail = &event["detail"];
        println!(
            "notification: {} — wave {} failed ({}: {}), waves {} halted",
            event["detail-type"].as_str().unwrap_or("?"),
            detail["failed_wave"],
            detail["service"].as_str().unwrap_or("?"),
            detail["reason"].as_str().unwrap_or("-"),
            detail["halted_waves"],
        );
    }
    messages.len()
}
