//! Queued delivery through the real SDK client against moto behind the strict front: an SQS batch is one
//! scan, a service matched by several of its pushes is deployed once, and only the message behind a failed
//! service is handed back to the queue.

use aws_lambda_events::sqs::SqsBatchResponse;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::trigger::lambda::{Response, handle};
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, deployment_ids, redeployed, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::sqs::batch;
use lambda_runtime::{Context, LambdaEvent};

use crate::events::load_now;
use crate::scenarios::FailingUpdate;
use crate::support::{FunctionEcs, config};

/// `events/ecr-push.json` pushed now, of `repository:tag` with digest `n`.
fn push_body(id: &str, repository: &str, tag: &str, n: u8) -> String {
    let mut event = load_now("ecr-push.json");
    event["id"] = id.into();
    event["detail"]["repository-name"] = repository.into();
    event["detail"]["image-tag"] = tag.into();
    event["detail"]["image-digest"] = format!("sha256:{}", format!("{n:02x}").repeat(32)).into();
    event.to_string()
}

#[tokio::test]
async fn one_scan_per_batch_and_only_the_failed_message_is_redelivered() {
    let env = Harness::start().await;
    let r = registry();
    let (app, envoy, api) = (
        format!("{r}/app:latest"),
        format!("{r}/envoy:v1"),
        format!("{r}/api:latest"),
    );
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("shop", "web", &[&app, &envoy]),
            ServiceSpec::new("shop", "api", &[&api]),
        ],
    )
    .await;
    let before = deployment_ids(&env.seeder(), &["shop"]).await;
    let redeployer = Redeployer::new(FailingUpdate::new(env.function_ecs(), "api"), config(&[]));
    let event = batch(&[
        push_body("e-app", "app", "latest", 1),
        push_body("e-api", "api", "latest", 2),
        push_body("e-envoy", "envoy", "v1", 3),
        "{not an event".to_owned(),
    ]);

    let response = match handle(&redeployer, LambdaEvent::new(event, Context::default())).await {
        Ok(Response::Batch(response)) => response,
        other => panic!("not a batch response: {other:?}"),
    };
    let failed: Vec<&str> = failed_messages(&response);
    assert_eq!(
        failed,
        ["m-1", "m-3"],
        "the failed service's message and the unparsable one"
    );
    let after = deployment_ids(&env.seeder(), &["shop"]).await;
    assert_eq!(redeployed(&before, &after), ["shop/web"]);
    let calls = env.front.calls();
    assert_eq!(calls.action("ListServices").forwarded, 1, "one scan for the batch");
    assert_eq!(
        calls.action("UpdateService").forwarded,
        1,
        "web, matched by the app and the envoy push, is deployed once"
    );
}

fn failed_messages(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}
