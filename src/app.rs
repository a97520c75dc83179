//! The redeployer the binary runs — Lambda and CLI alike — built from `Config` and the standard
//! AWS configuration chain: one SDK configuration, the ECS and ECR clients, the deploy lock when
//! `LOCK_TABLE` names one, the notifier when `NOTIFY_BUS` does, and the Lambda client unless
//! `LAMBDA_FUNCTIONS=disabled`.

use crate::aws::load_sdk_config;
use crate::config::{Config, LambdaFunctions};
use crate::ecr::sdk::SdkEcr;
use crate::ecs::sdk::SdkEcs;
use crate::engine::Redeployer;
use crate::lambda::sdk::SdkLambda;
use crate::lock::dynamodb::DynamoDbLock;
use crate::notify::sdk::SdkEventBridge;

/// The lock and the notifier are `None` when their setting is unset; the Lambda client when functions are disabled.
pub type App = Redeployer<SdkEcs, Option<DynamoDbLock>, SdkEcr, Option<SdkEventBridge>, SdkLambda>;

pub async fn build(config: Config) -> App {
    let sdk = load_sdk_config(&config).await;
    let ecs = SdkEcs::new(
        aws_sdk_ecs::Client::new(&sdk),
        aws_sdk_resourcegroupstagging::Client::new(&sdk),
    )
    .paced(config.pacing);
    let lock =
        (config.lock_table.as_deref()).map(|table| DynamoDbLock::new(aws_sdk_dynamodb::Client::new(&sdk), table));
    let ecr = SdkEcr::new(aws_sdk_ecr::Client::new(&sdk));
    let notifier =
        (config.notify_bus.as_deref()).map(|bus| SdkEventBridge::new(aws_sdk_eventbridge::Client::new(&sdk), bus));
    let waker = (config.wave_queue.as_deref())
        .map(|queue| crate::wake::sdk::SdkSqsWaker::new(aws_sdk_sqs::Client::new(&sdk), queue));
    let functions = config.lambda_functions;
    let pacing = config.pacing;
    let mut app = Redeployer::with_lock(ecs, lock, config)
        .with_registry(ecr)
        .with_notifier(notifier);
    if let Some(waker) = waker {
        app = app.with_waker(waker);
    }
    match functions {
        LambdaFunctions::Enabled => app.with_functions(SdkLambda::new(
            aws_sdk_lambda::Client::new(&sdk),
            aws_sdk_resourcegroupstagging::Client::new(&sdk),
            pacing,
        )),
        LambdaFunctions::Disabled => app,
    }
}
