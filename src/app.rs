//! The redeployer the binary runs — Lambda and CLI alike — built from `Config` and the standard
//! AWS configuration chain: one SDK configuration, the ECS and ECR clients, the deploy lock when
//! `LOCK_TABLE` names one, and the notifier when `NOTIFY_BUS` does.

use crate::config::Config;
use crate::ecr::sdk::SdkEcr;
use crate::ecs::sdk::{SdkEcs, load_sdk_config};
use crate::engine::Redeployer;
use crate::lock::dynamodb::DynamoDbLock;
use crate::lock::{Claim, DeployLock, LockError, LockKey, NoLock};
use crate::notify::sdk::SdkEventBridge;
use crate::notify::{Delivery, NoNotifier, Notification, Notifier};

pub type App = Redeployer<SdkEcs, ConfiguredLock, SdkEcr, ConfiguredNotifier>;

/// The lock `LOCK_TABLE` selects.
pub enum ConfiguredLock {
    Off(NoLock),
    DynamoDb(DynamoDbLock),
}

pub async fn build(config: Config) -> App {
    let sdk = load_sdk_config(&config).await;
    let lock = match &config.lock_table {
        Some(table) => ConfiguredLock::DynamoDb(DynamoDbLock::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        None => ConfiguredLock::Off(NoLock),
    };
    let ecs = SdkEcs::new(
        aws_sdk_ecs::Client::new(&sdk),
        aws_sdk_resourcegroupstagging::Client::new(&sdk),
    )
    .paced(config.pacing);
    let ecr = SdkEcr::new(aws_sdk_ecr::Client::new(&sdk));
    let notifier = ConfiguredNotifier::new(&config, &sdk);
    Redeployer::with_lock(ecs, lock, config)
        .with_registry(ecr)
        .with_notifier(notifier)
}

impl DeployLock for ConfiguredLock {
    async fn claim(&self, key: &LockKey) -> Result<Claim, LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.claim(key).await,
            ConfiguredLock::DynamoDb(lock) => lock.claim(key).await,
        }
    }

    async fn complete(&self, key: &LockKey) -> Result<(), LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.complete(key).await,
            ConfiguredLock::DynamoDb(lock) => lock.complete(key).await,
        }
    }

    async fn release(&self, key: &LockKey) -> Result<(), LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.release(key).await,
            ConfiguredLock::DynamoDb(lock) => lock.release(key).await,
        }
    }
}

/// The notifier `NOTIFY_BUS` selects.
pub enum ConfiguredNotifier {
    Off(NoNotifier),
    EventBridge(SdkEventBridge),
}

impl ConfiguredNotifier {
    pub fn new(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        match &config.notify_bus {
            Some(bus) => {
                ConfiguredNotifier::EventBridge(SdkEventBridge::new(aws_sdk_eventbridge::Client::new(sdk), bus))
            }
            None => ConfiguredNotifier::Off(NoNotifier),
        }
    }
}

impl Notifier for ConfiguredNotifier {
    async fn send(&self, notifications: &[Notification]) -> Delivery {
        match self {
            ConfiguredNotifier::Off(notifier) => notifier.send(notifications).await,
            ConfiguredNotifier::EventBridge(notifier) => notifier.send(notifications).await,
        }
    }
}
