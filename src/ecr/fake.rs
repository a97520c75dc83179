//! An in-memory stand-in for the ECR port, for the engine's unit tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{EcrApi, EcrError, Platforms};

/// Platforms by digest; an unknown digest is an error, like an image ECR does not have. Counts the calls.
#[derive(Default)]
pub struct FakeEcr {
    pub images: BTreeMap<String, Platforms>,
    pub calls: Mutex<Vec<String>>,
}

impl EcrApi for FakeEcr {
    async fn platforms(&self, _registry_id: &str, _repository: &str, digest: &str) -> Result<Platforms, EcrError> {
        self.calls.lock().unwrap().push(digest.to_owned());
        self.images.get(digest).cloned().ok_or_else(|| EcrError {
            operation: "BatchGetImage",
            message: format!("ImageNotFound: {digest}"),
            source: None,
        })
    }
}
