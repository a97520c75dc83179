//! The ECR port over `aws_sdk_ecr::Client`: the only module that knows the ECR SDK's types.

use std::collections::BTreeMap;

use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
use aws_sdk_ecr::types::ImageIdentifier;
use tracing::warn;

use super::{EcrApi, EcrError, EcrErrorKind, PushedManifest, TaggedImage, read_manifest};

/// What `BatchGetImage` may answer with: an index (multi-arch) is what tells the platforms, and what a tag of a
/// multi-arch image points to; single manifests are accepted too, so a single-platform image is not an error.
const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Clone, Debug)]
pub struct SdkEcr {
    client: aws_sdk_ecr::Client,
}

impl SdkEcr {
    pub fn new(client: aws_sdk_ecr::Client) -> Self {
        SdkEcr { client }
    }

    async fn batch_get_image(
        &self,
        registry_id: &str,
        repository: &str,
        ids: Vec<ImageIdentifier>,
    ) -> Result<BatchGetImageOutput, EcrError> {
        self.client
            .batch_get_image()
            .registry_id(registry_id)
            .repository_name(repository)
            .set_image_ids(Some(ids))
            .set_accepted_media_types(Some(ACCEPTED_MEDIA_TYPES.map(str::to_owned).to_vec()))
            .send()
            .await
            .map_err(|error| {
                EcrError::from_sdk("BatchGetImage", error, |code| match code {
                    "AccessDeniedException" => EcrErrorKind::AccessDenied,
                    "RepositoryNotFoundException" => EcrErrorKind::NotFound,
                    _ => EcrErrorKind::Other,
                })
            })
    }
}

impl EcrApi for SdkEcr {
    async fn manifest(&self, registry_id: &str, repository: &str, digest: &str) -> Result<PushedManifest, EcrError> {
        let id = ImageIdentifier::builder().image_digest(digest).build();
        let output = self.batch_get_image(registry_id, repository, vec![id]).await?;
        match output.images().first().and_then(|image| image.image_manifest()) {
            Some(manifest) => Ok(read_manifest(manifest)),
            None => Err(EcrError::new(
                "BatchGetImage",
                EcrErrorKind::NotFound,
                output
                    .failures()
                    .first()
                    .map(failure)
                    .unwrap_or_else(|| "no image in the answer".to_owned()),
            )),
        }
    }

    async fn tagged_images(
        &self,
        registry_id: &str,
        repository: &str,
        tags: &[String],
    ) -> Result<BTreeMap<String, TaggedImage>, EcrError> {
        let ids = tags
            .iter()
            .map(|tag| ImageIdentifier::builder().image_tag(tag).build())
            .collect();
        let output = self.batch_get_image(registry_id, repository, ids).await?;
        for missing in output.failures() {
            warn!(repository, failure = %failure(missing), "a tag in use was not found in ECR");
        }
        Ok(output
            .images()
            .iter()
            .filter_map(|image| {
                let id = image.image_id()?;
                let tagged = TaggedImage {
                    digest: id.image_digest()?.to_owned(),
                    manifest: image.image_manifest().map(read_manifest)?,
                };
                Some((id.image_tag()?.to_owned(), tagged))
            })
            .collect())
    }
}

fn failure(f: &aws_sdk_ecr::types::ImageFailure) -> String {
    format!(
        "{}: {}",
        f.failure_code().map_or("", |c| c.as_str()),
        f.failure_reason().unwrap_or("")
    )
}
