//! What each pushed digest is made of and for: one ECR `BatchGetImage` per distinct digest, cached for the warm
//! process (a digest's manifest never changes). A failed lookup is logged and left unknown: the platform check
//! then says it did not run, only the digest itself stands for the push, and the redeploy goes on. Only the
//! registries of the services' own accounts and Regions are asked (what the role may read): a push forwarded from
//! another account or Region is left unknown the same way, with a warning, and no call.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use futures_util::{StreamExt, stream};
use tracing::warn;

use crate::domain::image::Registry;
use crate::domain::push::Push;
use crate::ecr::{EcrApi, PushedManifest};

#[derive(Default)]
pub struct ManifestCache(Mutex<HashMap<String, PushedManifest>>);

impl ManifestCache {
    /// Remembers what a sweep read along with a tag's digest.
    pub fn insert(&self, digest: &str, manifest: PushedManifest) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.to_owned(), manifest);
    }

    /// The manifest of each push, by position; `None` where the push has no digest or ECR did not answer.
    /// `own`: the registries the function may ask, those of its services' accounts and Regions.
    pub async fn load<R: EcrApi>(
        &self,
        ecr: &R,
        pushes: &[Push],
        own: &BTreeSet<Registry>,
        limit: usize,
    ) -> Vec<Option<PushedManifest>> {
        let cached = |digest: &str| {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(digest)
                .cloned()
        };
        let mut wanted: Vec<(&str, &str, &str)> = pushes
            .iter()
            .filter_map(|push| {
                let digest = push.digest.as_deref()?;
                let Registry::Ecr { account, region } = &push.registry else {
                    return None;
                };
                if !own.contains(&push.registry) {
                    warn!(
                        digest,
                        registry_account = %account,
                        registry_region = %region,
                        "the push is in another account's or Region's registry, which the function does not read: \
                         platforms not checked"
                    );
                    return None;
                }
                cached(digest)
                    .is_none()
                    .then_some((account.as_str(), push.repository.as_str(), digest))
            })
            .collect();
        wanted.sort_unstable();
        wanted.dedup_by_key(|(_, _, digest)| *digest);
        let answers: Vec<_> =
            stream::iter(wanted)
                .map(|(account, repository, digest)| async move {
                    (digest, ecr.manifest(account, repository, digest).await)
                })
                .buffer_unordered(limit)
                .collect()
                .await;
        for (digest, answer) in answers {
            match answer {
                Ok(manifest) => self.insert(digest, manifest),
                Err(error) => {
                    warn!(digest, error = %crate::error_chain::render(&error), "the pushed image's manifest is unknown; platforms not checked")
                }
            }
        }
        pushes
            .iter()
            .map(|push| push.digest.as_deref().and_then(cached))
            .collect()
    }
}
