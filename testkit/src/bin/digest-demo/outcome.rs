//! The last part of `make demo`: the function follows its own deployments to their outcome. With the lock table
//! (`LOCK_TABLE`) it records each deployment it starts; ECS's `ECS Deployment State Change` events (here made by
//! the strict front in their real shape, handed to `ecs-redeploy apply --event` as the queue would hand them to
//! Lambda) close the record, and one notification per deployment goes to `NOTIFY_BUS`. A user's rule sends them to
//! an SQS queue, read here.
//!
//! 1. A bad pay-api:latest: `api` is redeployed; ECS's circuit breaker rolls it back; the FAILED event gives one
//!    `ECS Service Rollout Failed` (outcome `rolled-back`).
//! 2. The sweep leaves the rolled-back digest alone (`rolled-back`).
//! 3. A fixed pay-api:latest: `api` is redeployed, its rollout completes: one `ECS Service Rollout Completed`.

use std::time::Duration;

use ecs_redeploy_testkit::fleet::{ACCOUNT, REGION};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::moto::create_lock_table;
use ecs_redeploy_testkit::registry::push_image;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::{push_event, run};

const TABLE: &str = "ecs-redeploy-demo-locks";
const QUEUE: &str = "rollouts";

/// Runs the outcome part; `false` when an invocation failed.
pub async fn demo(binary: &str, env: &Harness) -> bool {
    let http: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let queue_url = notifications_queue(&http, &env.moto.endpoint).await;
    create_lock_table(&env.moto.dynamodb_client(), TABLE).await;
    let outcomes = [("LOCK_TABLE", TABLE), ("NOTIFY_BUS", "default")];
    let api = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/pay/api");
    env.front.hold_rollouts(true);
    println!("\nOutcomes: with the lock table the function records each deployment it starts and follows it to its");
    println!("end from ECS's deployment events; a user's rule sends its notifications to an SQS queue.\n");

    let bad = push_image(&env.moto, &env.front, "pay-api", "latest", "api v2 (crashes)").await;
    let event = std::env::temp_dir().join(format!("ecs-redeploy-demo-outcome-{}.json", std::process::id()));
    let write = |value: &str| std::fs::write(&event, value).expect("event file written");
    write(&push_event("pay-api", &bad, &now()));
    env.front.advance_clock(Duration::from_secs(2));
    println!("A broken pay-api:latest is pushed; api is redeployed:\n");
    let mut ok = run(binary, env, &["apply", "--event", &event.to_string_lossy()], &outcomes).await;

    env.front.advance_clock(Duration::from_secs(60));
    env.front.start_roll_back(&api);
    write(
        &env.front
            .deployment_event(&api, "SERVICE_DEPLOYMENT_FAILED")
            .to_string(),
    );
    println!("\nIts tasks crash; the circuit breaker rolls api back, and ECS sends SERVICE_DEPLOYMENT_FAILED:\n");
    ok &= run(binary, env, &["apply", "--event", &event.to_string_lossy()], &outcomes).await;
    ok &= print_notifications(&http, &env.moto.endpoint, &queue_url).await == 1;
    env.front.advance_clock(Duration::from_secs(30));
    env.front.complete_deployment(&api);

    println!("\nThe sweep: the tag still points to the digest ECS rolled back, and it is held, not redeployed:\n");
    ok &= run(binary, env, &["apply", "--sweep"], &outcomes).await;

    let fixed = push_image(&env.moto, &env.front, "pay-api", "latest", "api v3 (fixed)").await;
    write(&push_event("pay-api", &fixed, &now()));
    env.front.advance_clock(Duration::from_secs(2));
    println!("\nA fixed pay-api:latest is another digest: api is redeployed.\n");
    ok &= run(binary, env, &["apply", "--event", &event.to_string_lossy()], &outcomes).await;
    env.front.advance_clock(Duration::from_secs(90));
    env.front.complete_deployment(&api);
    write(
        &env.front
            .deployment_event(&api, "SERVICE_DEPLOYMENT_COMPLETED")
            .to_string(),
    );
    println!(
        "\nIts rollout reaches steady state, and ECS sends SERVICE_DEPLOYMENT_COMPLETED (twice: at least once):\n"
    );
    ok &= run(binary, env, &["apply", "--event", &event.to_string_lossy()], &outcomes).await;
    ok &= run(binary, env, &["apply", "--event", &event.to_string_lossy()], &outcomes).await;
    ok &= print_notifications(&http, &env.moto.endpoint, &queue_url).await == 1;
    let _ = std::fs::remove_file(&event);
    ok
}

pub(super) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The queue a user's rule (`source: ecs-redeploy` on the default bus) fills; its URL.
async fn notifications_queue(http: &Client<HttpConnector, Full<Bytes>>, endpoint: &str) -> String {
    let url = call(http, endpoint, "sqs", "CreateQueue", json!({"QueueName": QUEUE})).await["QueueUrl"]
        .as_str()
        .expect("a queue URL")
        .to_owned();
    call(
        http,
        endpoint,
        "events",
        "PutRule",
        json!({"Name": "rollouts", "EventPattern": r#"{"source": ["ecs-redeploy"], "detail-type": ["ECS Service Rollout Completed", "ECS Service Rollout Failed"]}"#}),
    )
    .await;
    call(
        http,
        endpoint,
        "events",
        "PutTargets",
        json!({"Rule": "rollouts", "Targets": [{"Id": "queue", "Arn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}")}]}),
    )
    .await;
    url
}

/// Prints (and deletes) what the queue holds now; how many notifications that was.
async fn print_notifications(http: &Client<HttpConnector, Full<Bytes>>, endpoint: &str, queue_url: &str) -> usize {
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
            "notification: {} — {} {}: outcome {}, {} s; {}",
            event["detail-type"].as_str().unwrap_or("?"),
            detail["service"].as_str().unwrap_or("?"),
            detail["image"].as_str().unwrap_or("?"),
            detail["outcome"].as_str().unwrap_or("?"),
            detail["duration_s"],
            detail["status_reason"].as_str().unwrap_or("-"),
        );
        call(
            http,
            endpoint,
            "sqs",
            "DeleteMessage",
            json!({"QueueUrl": queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
        )
        .await;
    }
    messages.len()
}

/// One call of moto's JSON protocol for SQS or EventBridge.
pub(super) async fn call(
    http: &Client<HttpConnector, Full<Bytes>>,
    endpoint: &str,
    service: &str,
    target: &str,
    body: Value,
) -> Value {
    let (content_type, prefix) = match service {
        "events" => ("application/x-amz-json-1.1", "AWSEvents"),
        _ => ("application/x-amz-json-1.0", "AmazonSQS"),
    };
    let request = hyper::Request::post(endpoint)
        .header("content-type", content_type)
        .header("x-amz-target", format!("{prefix}.{target}"))
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=demo/20261202/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a request");
    let response = http.request(request).await.expect("moto answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    assert!(
        status.is_success(),
        "{service} {target}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&String::from_utf8_lossy(&bytes)).expect("JSON")
    }
}
