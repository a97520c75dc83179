//! The ECR port the sweep row gives the engine: the SDK's, counting its calls, which go to moto directly,
//! past the front that counts the ECS ones.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ecs_redeploy::ecr::sdk::SdkEcr;
use ecs_redeploy::ecr::{EcrApi, EcrError, PushedManifest, TaggedImage};

/// ECR calls made through a `CountingEcr`.
#[derive(Default)]
pub struct EcrCalls {
    tagged_images: AtomicU64,
    manifests: AtomicU64,
}

impl EcrCalls {
    /// `(BatchGetImage for tags, manifest reads)` since the last take.
    pub fn take(&self) -> (u64, u64) {
        (
            self.tagged_images.swap(0, Ordering::Relaxed),
            self.manifests.swap(0, Ordering::Relaxed),
        )
    }
}

/// The SDK's ECR port, counting each call in `calls`.
pub struct CountingEcr {
    pub ecr: SdkEcr,
    pub calls: Arc<EcrCalls>,
}

impl EcrApi for CountingEcr {
    async fn manifest(&self, registry_id: &str, repository: &str, digest: &str) -> Result<PushedManifest, EcrError> {
        self.calls.manifests.fetch_add(1, Ordering::Relaxed);
        self.ecr.manifest(registry_id, repository, digest).await
    }

    async fn tagged_images(
        &self,
        registry_id: &str,
        repository: &str,
        tags: &[String],
    ) -> Result<BTreeMap<String, TaggedImage>, EcrError> {
        self.calls.tagged_images.fetch_add(1, Ordering::Relaxed);
        self.ecr.tagged_images(registry_id, repository, tags).await
    }
}
