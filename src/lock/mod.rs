//! The deploy lock port: at most one deployment per service and pushed digest, however often the same push
//! event is delivered. EventBridge delivers at least once and Lambda retries, so two invocations may process
//! one push at the same time; both claim the service first and only the one that acquires deploys.
//! `dynamodb` implements it over a DynamoDB table; `None` (an absent `Option`) stands in when no table is
//! configured, `fake` in the engine's unit tests.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

pub mod dynamodb;
#[cfg(test)]
pub mod fake;

/// How long a claim stays live while its deployment runs. Lambda's maximum run time, so the claim outlives
/// the invocation that took it, and a crashed invocation blocks retries of the event at most this long.
pub const IN_PROGRESS_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a completed claim keeps repeats of the event away: EventBridge's retry window (its default
/// maximum event age, 24 h), four times Lambda's asynchronous one (6 h). Duplicates arrive within seconds to
/// hours; one arriving later redeploys the same image once more, which is harmless.
pub const DONE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long the record of a deployment the function started is kept: ECS's own service-deployment history
/// (90 days), so a rolled-back deployment's record holds its digest that long and a lost outcome can still be
/// read back from `DescribeServiceDeployments`.
pub const DEPLOYMENT_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// A deployment the function started, as the lock table keeps it until ECS tells how it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct DeploymentRecord {
    pub service_arn: String,
    /// `ecs-svc/…`: the PRIMARY deployment in `UpdateService`'s answer, as deployment events name it.
    pub deployment_id: String,
    /// `currentServiceDeployment` in `UpdateService`'s answer: the service deployment to read the outcome from.
    pub service_deployment_arn: Option<String>,
    pub started_at: DateTime<Utc>,
    /// The digest the deployment was to run (one container), for the hold on rolled-back digests.
    pub to_digest: Option<String>,
    /// The `ECS Service Redeployed` notification's detail: the 13 keys every rollout notification repeats.
    pub detail: Map<String, Value>,
}

impl DeploymentRecord {
    /// `deployment#{service_arn}#{deployment_id}`: never a claim's id, which starts with the service ARN.
    pub fn id(&self) -> String {
        deployment_record_id(&self.service_arn, &self.deployment_id)
    }
}

pub fn deployment_record_id(service_arn: &str, deployment_id: &str) -> String {
    format!("deployment#{service_arn}#{deployment_id}")
}

/// The function's own record that ECS rolled back a deployment it started: the digest stays held for the service
/// (pushes and sweeps skip it as `rolled-back`) even after a later, unrelated deployment became current, until a
/// deployment of another digest replaces the record. One per service: `rolled-back#SERVICE_ARN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledBackRecord {
    pub service_arn: String,
    /// The digest the rolled-back deployment was to run (comma-separated for several containers).
    pub digest: String,
    pub deployment_id: String,
    pub service_deployment_arn: Option<String>,
    pub status_reason: Option<String>,
    /// When the rollback was seen to have happened (the outcome's `finished_at`).
    pub at: Option<DateTime<Utc>>,
}

pub fn rolled_back_record_id(service_arn: &str) -> String {
    format!("rolled-back#{service_arn}")
}

/// A record as read back: open until an outcome was written.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDeployment {
    pub record: DeploymentRecord,
    /// `completed`, `failed` or `rolled-back` once notified.
    pub outcome: Option<String>,
}

/// What is locked: one service's deployment of one pushed image digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LockKey {
    pub service_arn: String,
    pub digest: String,
}

impl LockKey {
    pub fn new(service_arn: impl Into<String>, digest: impl Into<String>) -> Self {
        LockKey {
            service_arn: service_arn.into(),
            digest: digest.into(),
        }
    }

    /// `{service_arn}#{digest}`: a service ARN never contains `#`, so distinct keys never share an id.
    pub fn id(&self) -> String {
        format!("{}#{}", self.service_arn, self.digest)
    }
}

/// The answer to a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the claim and deploys; it must `complete` or `release` it afterwards.
    Acquired,
    /// Another caller claimed this key first and its claim is live: do not deploy.
    Held(ClaimState),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimState {
    /// Its deployment is running, or its invocation died less than `IN_PROGRESS_TTL` after claiming.
    InProgress,
    /// Its deployment succeeded less than `DONE_TTL` ago.
    Done,
}

/// A lock call that failed; the claim's state is unknown, so the caller must not deploy on it.
#[derive(Debug, Error)]
#[error("deploy lock {operation} of `{id}` failed: {message}")]
pub struct LockError {
    /// `claim`, `complete` or `release`.
    pub operation: &'static str,
    /// The `LockKey::id` concerned.
    pub id: String,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub trait DeployLock: Send + Sync {
    /// Claims the key unless a live claim exists. One conditional write, so of concurrent callers exactly one
    /// acquires; a claim past its expiry counts as absent even before the store deletes it.
    fn claim(&self, key: &LockKey) -> impl Future<Output = Result<Claim, LockError>> + Send;

    /// Marks the key done after a successful deployment; repeats then stay `Held(Done)` for `DONE_TTL`.
    fn complete(&self, key: &LockKey) -> impl Future<Output = Result<(), LockError>> + Send;

    /// Drops an in-progress claim after a failed deployment, so a retry of the event can claim it again.
    /// A done claim is left alone.
    fn release(&self, key: &LockKey) -> impl Future<Output = Result<(), LockError>> + Send;

    /// Whether deployments are recorded and followed to their outcome: only with a table.
    fn tracks_deployments(&self) -> bool {
        false
    }

    /// Records a deployment the function started; overwrites a record of the same id (a retried run).
    fn record_deployment(&self, _record: &DeploymentRecord) -> impl Future<Output = Result<(), LockError>> + Send {
        async { Ok(()) }
    }

    /// The record of a deployment, by the service and the deployment id an event names (`ecs-svc/…`, or the
    /// service-deployment ARN: looked up among the open records).
    fn deployment(
        &self,
        _service_arn: &str,
        _deployment_id: &str,
    ) -> impl Future<Output = Result<Option<StoredDeployment>, LockError>> + Send {
        async { Ok(None) }
    }

    /// Writes the outcome on an open record: one conditional write, so of every caller for one deployment (repeated
    /// events, the sweep) exactly one gets `true` and notifies.
    fn close_deployment(
        &self,
        _record: &DeploymentRecord,
        _outcome: &str,
    ) -> impl Future<Output = Result<bool, LockError>> + Send {
        async { Ok(false) }
    }

    /// Keeps the hold on a rolled-back deployment's digest for its service (replacing an older one).
    fn hold_rolled_back(&self, _record: &RolledBackRecord) -> impl Future<Output = Result<(), LockError>> + Send {
        async { Ok(()) }
    }

    /// The held rolled-back digests of these services (those that have one).
    fn rolled_back(
        &self,
        _service_arns: &[String],
    ) -> impl Future<Output = Result<Vec<RolledBackRecord>, LockError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Open records of deployments started before `started_before`, oldest first, at most `limit`.
    fn open_deployments(
        &self,
        _started_before: DateTime<Utc>,
        _limit: usize,
    ) -> impl Future<Output = Result<Vec<DeploymentRecord>, LockError>> + Send {
        async { Ok(Vec::new()) }
    }
}

/// The lock when `LOCK_TABLE` is unset (`None`): every claim is acquired, so duplicates are not prevented, and
/// no deployment is recorded or followed. `Some(lock)` is that lock.
impl<L: DeployLock> DeployLock for Option<L> {
    async fn claim(&self, key: &LockKey) -> Result<Claim, LockError> {
        match self {
            Some(lock) => lock.claim(key).await,
            None => Ok(Claim::Acquired),
        }
    }

    async fn complete(&self, key: &LockKey) -> Result<(), LockError> {
        match self {
            Some(lock) => lock.complete(key).await,
            None => Ok(()),
        }
    }

    async fn release(&self, key: &LockKey) -> Result<(), LockError> {
        match self {
            Some(lock) => lock.release(key).await,
            None => Ok(()),
        }
    }

    fn tracks_deployments(&self) -> bool {
        self.as_ref().is_some_and(L::tracks_deployments)
    }

    async fn record_deployment(&self, record: &DeploymentRecord) -> Result<(), LockError> {
        match self {
            Some(lock) => lock.record_deployment(record).await,
            None => Ok(()),
        }
    }

    async fn deployment(&self, service_arn: &str, deployment_id: &str) -> Result<Option<StoredDeployment>, LockError> {
        match self {
            Some(lock) => lock.deployment(service_arn, deployment_id).await,
            None => Ok(None),
        }
    }

    async fn close_deployment(&self, record: &DeploymentRecord, outcome: &str) -> Result<bool, LockError> {
        match self {
            Some(lock) => lock.close_deployment(record, outcome).await,
            None => Ok(false),
        }
    }

    async fn hold_rolled_back(&self, record: &RolledBackRecord) -> Result<(), LockError> {
        match self {
            Some(lock) => lock.hold_rolled_back(record).await,
            None => Ok(()),
        }
    }

    async fn rolled_back(&self, service_arns: &[String]) -> Result<Vec<RolledBackRecord>, LockError> {
        match self {
            Some(lock) => lock.rolled_back(service_arns).await,
            None => Ok(Vec::new()),
        }
    }

    async fn open_deployments(
        &self,
        started_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, LockError> {
        match self {
            Some(lock) => lock.open_deployments(started_before, limit).await,
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "arn:aws:ecs:us-east-1:123456789012:service/shop/web";
    const DIGEST: &str = "sha256:4e5f0000000000000000000000000000000000000000000000000000000000aa";

    #[test]
    fn id_is_service_arn_hash_digest() {
        assert_eq!(
            LockKey::new(SERVICE, DIGEST).id(),
            "arn:aws:ecs:us-east-1:123456789012:service/shop/web#sha256:4e5f0000000000000000000000000000000000000000000000000000000000aa"
        );
        assert_ne!(
            LockKey::new(SERVICE, DIGEST).id(),
            LockKey::new(format!("{SERVICE}-2"), DIGEST).id()
        );
    }

    #[test]
    fn ttls_are_lambda_max_run_time_and_eventbridge_retry_window() {
        assert_eq!(IN_PROGRESS_TTL.as_secs(), 900);
        assert_eq!(DONE_TTL.as_secs(), 86_400);
    }

    #[tokio::test]
    async fn no_lock_always_acquires() {
        let key = LockKey::new(SERVICE, DIGEST);
        let no_lock: Option<fake::FakeLock> = None;
        assert_eq!(no_lock.claim(&key).await.unwrap(), Claim::Acquired);
        no_lock.complete(&key).await.unwrap();
        assert_eq!(no_lock.claim(&key).await.unwrap(), Claim::Acquired);
        no_lock.release(&key).await.unwrap();
        assert_eq!(no_lock.claim(&key).await.unwrap(), Claim::Acquired);
        assert!(!no_lock.tracks_deployments());
    }

    #[tokio::test]
    async fn some_lock_is_that_lock() {
        let key = LockKey::new(SERVICE, DIGEST);
        let mut held = fake::FakeLock::tracking();
        held.held.insert("web".into(), ClaimState::Done);
        let lock = Some(held);
        assert_eq!(lock.claim(&key).await.unwrap(), Claim::Held(ClaimState::Done));
        lock.complete(&key).await.unwrap();
        lock.release(&key).await.unwrap();
        let held = lock.as_ref().unwrap();
        assert_eq!(*held.completed.lock().unwrap(), ["web"]);
        assert_eq!(*held.released.lock().unwrap(), ["web"]);
        assert!(lock.tracks_deployments());
    }

    #[test]
    fn errors_name_operation_and_key_and_keep_the_source() {
        let error = LockError {
            operation: "claim",
            id: "svc#sha256:1".into(),
            message: "dynamodb PutItem on table `locks`: ResourceNotFoundException: no table".into(),
            source: Some(Box::new(std::io::Error::other("connection refused"))),
        };
        assert_eq!(
            error.to_string(),
            "deploy lock claim of `svc#sha256:1` failed: dynamodb PutItem on table `locks`: ResourceNotFoundException: no table"
        );
        let source = std::error::Error::source(&error).expect("source kept");
        assert_eq!(source.to_string(), "connection refused");
    }
}
