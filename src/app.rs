//! The redeployer the binary runs — Lambda and CLI alike — built from `Config` and the standard
//! AWS configuration chain: one SDK configuration, the ECS and ECR clients, the deploy lock when
//! `LOCK_TABLE` names one, and the notifier when `NOTIFY_BUS` does.

use crate::aws::load_sdk_config;
use crate::config::Config;
use crate::ecr::sdk::SdkEcr;
use crate::ecs::sdk::SdkEcs;
use crate::engine::Redeployer;
use crate::lock::dynamodb::DynamoDbLock;
use crate::lock::{
    Claim, DeployLock, DeploymentRecord, LockError, LockKey, NoLock, RolledBackRecord, StoredDeployment,
};
use crate::notify::sdk::SdkEventBridge;
use crate::notify::{Delivery, NoNotifier, Notification, Notifier, RolloutNotification};

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

    fn tracks_deployments(&self) -> bool {
        match self {
            ConfiguredLock::Off(lock) => lock.tracks_deployments(),
            ConfiguredLock::DynamoDb(lock) => lock.tracks_deployments(),
        }
    }

    async fn record_deployment(&self, record: &DeploymentRecord) -> Result<(), LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.record_deployment(record).await,
            ConfiguredLock::DynamoDb(lock) => lock.record_deployment(record).await,
        }
    }

    async fn deployment(&self, service_arn: &str, deployment_id: &str) -> Result<Option<StoredDeployment>, LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.deployment(service_arn, deployment_id).await,
            ConfiguredLock::DynamoDb(lock) => lock.deployment(service_arn, deployment_id).await,
        }
    }

    async fn close_deployment(&self, record: &DeploymentRecord, outcome: &str) -> Result<bool, LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.close_deployment(record, outcome).await,
            ConfiguredLock::DynamoDb(lock) => lock.close_deployment(record, outcome).await,
        }
    }

    async fn hold_rolled_back(&self, record: &RolledBackRecord) -> Result<(), LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.hold_rolled_back(record).await,
            ConfiguredLock::DynamoDb(lock) => lock.hold_rolled_back(record).await,
        }
    }

    async fn rolled_back(&self, service_arns: &[String]) -> Result<Vec<RolledBackRecord>, LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.rolled_back(service_arns).await,
            ConfiguredLock::DynamoDb(lock) => lock.rolled_back(service_arns).await,
        }
    }

    async fn open_deployments(
        &self,
        started_before: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, LockError> {
        match self {
            ConfiguredLock::Off(lock) => lock.open_deployments(started_before, limit).await,
            ConfiguredLock::DynamoDb(lock) => lock.open_deployments(started_before, limit).await,
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

    async fn send_rollouts(&self, notifications: &[RolloutNotification]) -> Delivery {
        match self {
            ConfiguredNotifier::Off(notifier) => notifier.send_rollouts(notifications).await,
            ConfiguredNotifier::EventBridge(notifier) => notifier.send_rollouts(notifications).await,
        }
    }
}
