//! A deploy lock whose answers are scripted, for the engine's unit tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{Claim, ClaimState, DeployLock, DeploymentRecord, LockError, LockKey, RolledBackRecord, StoredDeployment};
use crate::ecs::short_name;

/// A lock whose answers are scripted per service name, recording what was completed and released.
#[derive(Default)]
pub struct FakeLock {
    pub held: BTreeMap<String, ClaimState>,
    pub broken: Vec<String>,
    pub completed: Mutex<Vec<String>>,
    pub released: Mutex<Vec<String>>,
    /// Whether it keeps deployment records (a table is configured).
    pub tracks: bool,
    /// Deployment records by id, as the table would keep them.
    pub deployments: Mutex<BTreeMap<String, StoredDeployment>>,
    /// Held rolled-back digests by service ARN.
    pub holds: Mutex<BTreeMap<String, RolledBackRecord>>,
}

impl FakeLock {
    /// A lock that keeps deployment records.
    pub fn tracking() -> Self {
        FakeLock {
            tracks: true,
            ..FakeLock::default()
        }
    }

    pub fn stored(&self) -> Vec<StoredDeployment> {
        self.deployments.lock().unwrap().values().cloned().collect()
    }
}

/// Notes the service of `key` (its short name) in `list`.
fn note(list: &Mutex<Vec<String>>, key: &LockKey) {
    list.lock().unwrap().push(short_name(&key.service_arn).to_owned());
}

impl DeployLock for FakeLock {
    async fn claim(&self, key: &LockKey) -> Result<Claim, LockError> {
        let name = short_name(&key.service_arn);
        if self.broken.iter().any(|b| b == name) {
            return Err(LockError::new(
                "PutItem",
                crate::aws::ErrorKind::Other,
                format!("claim of `{}`: table unavailable", key.id()),
            ));
        }
        Ok(self.held.get(name).map_or(Claim::Acquired, |state| Claim::Held(*state)))
    }

    async fn complete(&self, key: &LockKey) -> Result<(), LockError> {
        note(&self.completed, key);
        Ok(())
    }

    async fn release(&self, key: &LockKey) -> Result<(), LockError> {
        note(&self.released, key);
        Ok(())
    }

    fn tracks_deployments(&self) -> bool {
        self.tracks
    }

    async fn record_deployment(&self, record: &DeploymentRecord) -> Result<(), LockError> {
        let stored = StoredDeployment {
            record: record.clone(),
            outcome: None,
        };
        self.deployments.lock().unwrap().insert(record.id(), stored);
        let mut holds = self.holds.lock().unwrap();
        if holds
            .get(&record.service_arn)
            .is_some_and(|h| Some(&h.digest) != record.to_digest.as_ref())
        {
            holds.remove(&record.service_arn);
        }
        Ok(())
    }

    async fn hold_rolled_back(&self, record: &RolledBackRecord) -> Result<(), LockError> {
        self.holds
            .lock()
            .unwrap()
            .insert(record.service_arn.clone(), record.clone());
        Ok(())
    }

    async fn rolled_back(&self, service_arns: &[String]) -> Result<Vec<RolledBackRecord>, LockError> {
        let holds = self.holds.lock().unwrap();
        Ok(service_arns.iter().filter_map(|arn| holds.get(arn).cloned()).collect())
    }

    async fn deployment(&self, service_arn: &str, deployment_id: &str) -> Result<Option<StoredDeployment>, LockError> {
        let deployments = self.deployments.lock().unwrap();
        Ok(deployments
            .values()
            .find(|s| {
                s.record.service_arn == service_arn
                    && (s.record.deployment_id == deployment_id
                        || s.record.service_deployment_arn.as_deref() == Some(deployment_id))
            })
            .cloned())
    }

    async fn close_deployment(&self, record: &DeploymentRecord, outcome: &str) -> Result<bool, LockError> {
        let mut deployments = self.deployments.lock().unwrap();
        match deployments.get_mut(&record.id()) {
            Some(stored) if stored.outcome.is_none() => {
                stored.outcome = Some(outcome.to_owned());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn open_deployments(
        &self,
        started_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, LockError> {
        let deployments = self.deployments.lock().unwrap();
        let mut open: Vec<DeploymentRecord> = deployments
            .values()
            .filter(|s| s.outcome.is_none() && s.record.started_at < started_before)
            .map(|s| s.record.clone())
            .collect();
        open.sort_by_key(|r| r.started_at);
        open.truncate(limit);
        Ok(open)
    }
}
