//! The cross-account path against moto: a push to the registry of account A goes through A's forwarding rule (the
//! registry stack's) to B's default bus, through B's rule (the workload stack's) to B's event queue, and the
//! function in B, handed that queue's message as an SQS batch, redeploys only B's services that run A's image.
//!
//! moto 5.2.5 delivers a rule target that is another account's bus ARN (`events_backends[account][region]`), but
//! not as EventBridge does: it puts a new event on that bus (new id and time, the receiving account and Region), it
//! checks neither the bus policy nor the target's role, and its SQS delivery leaves `account` out of the message
//! body. EventBridge delivers the event as it was, with the account and Region of the registry that emitted it,
//! which is what names the pushed registry. The test checks what moto keeps (source, detail-type, detail, and the
//! Region: one Region here), then restores the id and the account from the event A emitted before handing the
//! message to the function.

use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::trigger::lambda::{Response, handle};
use ecs_redeploy_testkit::fleet::{self, ACCOUNT, REGION, ServiceSpec, deployment_ids, redeployed};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::sqs::batch;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use crate::support::{FunctionEcs, MotoAccount, config};

/// The registry account (A); the workload account (B) is the harness's own, whose ECS the function uses.
const REGISTRY_ACCOUNT: &str = "111122223333";
const WORKLOAD_ACCOUNT: &str = ACCOUNT;

/// The pattern both stacks' rules use with their defaults (template.yaml's EcrPushRule, registry/template.yaml's
/// forwarding rules): successful tagged pushes.
const PUSH_PATTERN: &str = r#"{"source": ["aws.ecr"], "detail-type": ["ECR Image Action"],
    "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"], "image-tag": [{"anything-but": [""]}]}}"#;

#[tokio::test]
async fn a_push_in_the_registry_account_redeploys_only_the_workload_services_running_its_image() {
    let env = Harness::start().await;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let registry = MotoAccount {
        client: &client,
        endpoint: &env.moto.endpoint,
        account: REGISTRY_ACCOUNT,
    };
    let workload = MotoAccount {
        client: &client,
        endpoint: &env.moto.endpoint,
        account: WORKLOAD_ACCOUNT,
    };

    // B: the workload stack's event queue and rule, and the bus policy SourceAccounts=A adds (moto stores it).
    let queue_url = workload
        .call("sqs", "CreateQueue", json!({"QueueName": "ecs-redeploy-events"}))
        .await["QueueUrl"]
        .as_str()
        .expect("a queue URL")
        .to_owned();
    workload
        .call(
            "events",
            "PutRule",
            json!({"Name": "ecs-redeploy-push", "EventPattern": PUSH_PATTERN}),
        )
        .await;
    workload
        .call(
            "events",
            "PutTargets",
            json!({"Rule": "ecs-redeploy-push", "Targets": [{"Id": "event-queue",
                "Arn": format!("arn:aws:sqs:{REGION}:{WORKLOAD_ACCOUNT}:ecs-redeploy-events")}]}),
        )
        .await;
    workload
        .call(
            "events",
            "PutPermission",
            json!({"EventBusName": "default", "Action": "events:PutEvents", "Principal": REGISTRY_ACCOUNT,
                "StatementId": "ecs-redeploy-accounts"}),
        )
        .await;
    // A: the registry stack's forwarding rule for B, whose target is B's default bus.
    registry
        .call(
            "events",
            "PutRule",
            json!({"Name": format!("Forward{WORKLOAD_ACCOUNT}"), "EventPattern": PUSH_PATTERN}),
        )
        .await;
    registry
        .call(
            "events",
            "PutTargets",
            json!({"Rule": format!("Forward{WORKLOAD_ACCOUNT}"), "Targets": [{"Id": "workload-bus",
                "Arn": format!("arn:aws:events:{REGION}:{WORKLOAD_ACCOUNT}:event-bus/default"),
                "RoleArn": format!("arn:aws:iam::{REGISTRY_ACCOUNT}:role/forward")}]}),
        )
        .await;

    // B runs app:latest from A's registry, from its own, from a third account's and from A's in another Region.
    let image = |account: &str, region: &str| format!("{account}.dkr.ecr.{region}.amazonaws.com/app:latest");
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("shop", "from-registry", &[&image(REGISTRY_ACCOUNT, REGION)]),
            ServiceSpec::new("shop", "own-registry", &[&image(WORKLOAD_ACCOUNT, REGION)]),
            ServiceSpec::new("shop", "third-registry", &[&image("444455556666", REGION)]),
            ServiceSpec::new("shop", "registry-elsewhere", &[&image(REGISTRY_ACCOUNT, "eu-west-1")]),
        ],
    )
    .await;
    let before = deployment_ids(&env.seeder(), &["shop"]).await;

    // ECR's events on A's default bus: an untagged push (a multi-arch child manifest), which the forwarding rule
    // drops, and the push of app:latest.
    let untagged = json!({"result": "SUCCESS", "repository-name": "app", "action-type": "PUSH", "image-tag": "",
        "image-digest": format!("sha256:{}", "cd".repeat(32))});
    let detail = json!({"result": "SUCCESS", "repository-name": "app", "action-type": "PUSH", "image-tag": "latest",
        "image-digest": format!("sha256:{}", "ab".repeat(32))});
    let put = registry
        .call(
            "events",
            "PutEvents",
            json!({"Entries": [
                {"Source": "aws.ecr", "DetailType": "ECR Image Action", "Detail": untagged.to_string()},
                {"Source": "aws.ecr", "DetailType": "ECR Image Action", "Detail": detail.to_string()}]}),
        )
        .await;
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let emitted_id = put["Entries"][1]["EventId"].as_str().expect("an event id");

    // What reached B's event queue: one message, A's tagged push as moto forwards it.
    let received = workload.receive(&queue_url).await;
    let messages = received["Messages"].as_array().expect("the forwarded push");
    assert_eq!(messages.len(), 1, "{received}");
    let mut event: Value = serde_json::from_str(messages[0]["Body"].as_str().expect("a body")).expect("an event");
    assert_eq!(event["source"], "aws.ecr");
    assert_eq!(event["detail-type"], "ECR Image Action");
    assert_eq!(event["detail"], detail);
    assert_eq!(event["region"], REGION);
    // moto's re-put and SQS delivery: a new id, no account. Restore what EventBridge keeps.
    assert_eq!(
        event.get("account"),
        None,
        "moto now delivers the account: check it is A's, drop the restoring"
    );
    assert_ne!(event["id"], emitted_id);
    event["account"] = REGISTRY_ACCOUNT.into();
    event["id"] = emitted_id.into();

    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));
    let response = match handle(
        &redeployer,
        LambdaEvent::new(batch(&[event.to_string()]), Context::default()),
    )
    .await
    {
        Ok(Response::Batch(response)) => response,
        other => panic!("not a batch response: {other:?}"),
    };
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let after = deployment_ids(&env.seeder(), &["shop"]).await;
    assert_eq!(redeployed(&before, &after), ["shop/from-registry"]);
}
