//! The redeployer the binary runs — Lambda and CLI alike — built from `Config` and the standard
//! AWS configuration chain: one SDK configuration, the ECS and ECR clients, the deploy lock when
//! `LOCK_TABLE` names one, and the notifier when `NOTIFY_BUS` does.

use crate::aws::load_sdk_config;
use crate::config::Config;
use crate::ecr::sdk::SdkEcr;
use crate::ecs::sdk::SdkEcs;
use crate::engine::Redeployer;
use crate::lock::dynamodb::DynamoDbLock;
use crate::notify::sdk::SdkEventBridge;

/// The lock and the notifier are `None` when their setting is unset.
pub type App = Redeployer<SdkEcs, Option<DynamoDbLock>, SdkEcr, Option<SdkEventBridge>>;

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
    Redeployer::with_lock(ecs, lock, config)
        .with_registry(ecr)
        .with_notifier(notifier)
}
