//! The ECR port over `aws_sdk_ecr::Client`: the only module that knows the ECR SDK's types.

use aws_sdk_ecr::error::DisplayErrorContext;
use aws_sdk_ecr::types::ImageIdentifier;
use tracing::debug;

use super::{EcrApi, EcrError, Platforms, platforms_of_manifest};

/// What `BatchGetImage` may answer with: an index (multi-arch) is what tells the platforms; single
/// manifests are accepted too, so a single-platform push is not an error.
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
}

impl EcrApi for SdkEcr {
    async fn platforms(&self, registry_id: &str, repository: &str, digest: &str) -> Result<Platforms, EcrError> {
        let output = self
            .client
            .batch_get_image()
            .registry_id(registry_id)
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .set_accepted_media_types(Some(ACCEPTED_MEDIA_TYPES.map(str::to_owned).to_vec()))
            .send()
            .await
            .map_err(|error| {
                debug!(error = %DisplayErrorContext(&error), "ecr call failed");
                EcrError {
                    operation: "BatchGetImage",
                    message: crate::error_chain::render(&error),
                    source: Some(Box::new(error)),
                }
            })?;
        match output.images().first().and_then(|image| image.image_manifest()) {
            Some(manifest) => Ok(platforms_of_manifest(manifest)),
            None => Err(EcrError {
                operation: "BatchGetImage",
                message: output
                    .failures()
                    .first()
                    .map(|f| {
                        format!(
                            "{}: {}",
                            f.failure_code().map_or("", |c| c.as_str()),
                            f.failure_reason().unwrap_or("")
                        )
                    })
                    .unwrap_or_else(|| "no image in the answer".to_owned()),
                source: None,
            }),
        }
    }
}
