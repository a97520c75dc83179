//! A deploy lock whose answers are scripted, for the engine's unit tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Claim, ClaimState, DeployLock, LockError, LockKey};
use crate::ecs::short_name;

/// A lock whose answers are scripted per service name, recording what was completed and released.
#[derive(Default)]
pub struct FakeLock {
    pub held: BTreeMap<String, ClaimState>,
    pub broken: Vec<String>,
    pub completed: Mutex<Vec<String>>,
    pub released: Mutex<Vec<String>>,
}

impl DeployLock for FakeLock {
    async fn claim(&self, key: &LockKey) -> Result<Claim, LockError> {
        let name = short_name(&key.service_arn);
        if self.broken.iter().any(|b| b == name) {
            return Err(LockError {
                operation: "claim",
                id: key.id(),
                message: "table unavailable".into(),
                source: None,
            });
        }
        Ok(self.held.get(name).map_or(Claim::Acquired, |state| Claim::Held(*state)))
    }

    async fn complete(&self, key: &LockKey) -> Result<(), LockError> {
        self.completed
            .lock()
            .unwrap()
            .push(short_name(&key.service_arn).to_owned());
        Ok(())
    }

    async fn release(&self, key: &LockKey) -> Result<(), LockError> {
        self.released
            .lock()
            .unwrap()
            .push(short_name(&key.service_arn).to_owned());
        Ok(())
    }
}
