//! An in-memory stand-in for the ECR port, for the engine's unit tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{BATCH_GET_IMAGE_MAX, EcrApi, EcrError, EcrErrorKind, Platforms, PushedManifest, TaggedImage};

/// Manifests by digest (an unknown digest is an error, like an image ECR does not have) and the digest of each
/// `repository:tag`. Counts the calls.
#[derive(Default)]
pub struct FakeEcr {
    pub images: BTreeMap<String, PushedManifest>,
    pub tags: BTreeMap<String, String>,
    /// Repositories whose tags the function may not read (outside its policy), and those that fail for now.
    pub denied: Vec<String>,
    pub unavailable: Vec<String>,
    pub calls: Mutex<Vec<String>>,
}

impl EcrApi for FakeEcr {
    async fn manifest(&self, _registry_id: &str, _repository: &str, digest: &str) -> Result<PushedManifest, EcrError> {
        self.calls.lock().unwrap().push(digest.to_owned());
        self.images.get(digest).cloned().ok_or_else(|| {
            EcrError::new(
                "BatchGetImage",
                EcrErrorKind::NotFound,
                format!("ImageNotFound: {digest}"),
            )
        })
    }

    async fn tagged_images(
        &self,
        _registry_id: &str,
        repository: &str,
        tags: &[String],
    ) -> Result<BTreeMap<String, TaggedImage>, EcrError> {
        assert!(tags.len() <= BATCH_GET_IMAGE_MAX, "{} image ids", tags.len());
        self.calls
            .lock()
            .unwrap()
            .push(format!("{repository}:{}", tags.join(",")));
        for (repositories, kind) in [
            (&self.denied, EcrErrorKind::AccessDenied),
            (&self.unavailable, EcrErrorKind::Other),
        ] {
            if repositories.iter().any(|r| r == repository) {
                return Err(EcrError::new("BatchGetImage", kind, format!("{kind:?}: {repository}")));
            }
        }
        Ok(tags
            .iter()
            .filter_map(|tag| {
                let digest = self.tags.get(&format!("{repository}:{tag}"))?.clone();
                let manifest = self.images.get(&digest).cloned().unwrap_or(PushedManifest {
                    platforms: Platforms::Unknown,
                    manifests: Vec::new(),
                });
                Some((tag.clone(), TaggedImage { digest, manifest }))
            })
            .collect())
    }
}
