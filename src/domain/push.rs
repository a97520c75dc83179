//! A successful push of a tagged image to an ECR registry: what every redeploy decision is made against.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::image::{ImageRef, ImageRefError, Registry, shown};

/// A successful push of a tagged image: what every redeploy decision is made against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    pub registry: Registry,
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    /// EventBridge event id; `None` when the push was described on the command line.
    pub event_id: Option<String>,
    pub time: Option<DateTime<Utc>>,
    /// Set when the image arrived by ECR replication rather than a push to this registry.
    pub replicated_from: Option<Registry>,
    /// How the push became known: `push` or `sweep`, the report's and the notifications' `trigger`.
    pub trigger: Trigger,
    /// A person asked for this digest even where ECS rolled it back (`apply --image …@sha256:… --retry-rolled-back`).
    pub retry_rolled_back: bool,
}

/// How a push became known, named as the wire names it (`trigger` in reports, notifications and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// An ECR event, or an image named on the command line.
    Push,
    /// A sweep asked ECR what a tag in use points to now: no event, no push time.
    Sweep,
}

impl Trigger {
    /// `push` or `sweep`, as reports and notifications name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Push => "push",
            Trigger::Sweep => "sweep",
        }
    }
}

impl Push {
    /// A push described by an image URI (`REGISTRY/REPO:TAG[@sha256:…]`), as the CLI's `--image` takes it.
    pub fn from_image_uri(uri: &str) -> Result<Self, ImageUriError> {
        let image = ImageRef::parse(uri).map_err(|source| ImageUriError::Invalid {
            uri: shown(uri),
            source,
        })?;
        if !matches!(image.registry, Registry::Ecr { .. }) {
            return Err(ImageUriError::NotEcr(shown(uri)));
        }
        let tag = image
            .effective_tag()
            .map(str::to_owned)
            .ok_or_else(|| ImageUriError::Untagged(shown(uri)))?;
        Ok(Push {
            registry: image.registry,
            repository: image.repository,
            tag,
            digest: image.digest,
            event_id: None,
            time: None,
            replicated_from: None,
            trigger: Trigger::Push,
            retry_rolled_back: false,
        })
    }

    /// The pushed image as a reference: `REGISTRY/REPO:TAG[@DIGEST]`.
    pub fn image(&self) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(self.tag.clone()),
            digest: self.digest.clone(),
        }
    }
}

#[cfg(test)]
impl Push {
    /// A push of `repository:tag` to the tests' registry (123456789012, us-east-1); nothing else known.
    pub fn of(repository: &str, tag: &str) -> Push {
        Push {
            registry: Registry::ecr("123456789012", "us-east-1").expect("a valid registry"),
            repository: repository.into(),
            tag: tag.into(),
            digest: None,
            event_id: None,
            time: None,
            replicated_from: None,
            trigger: Trigger::Push,
            retry_rolled_back: false,
        }
    }
}

/// Why an image URI given on the command line is not a push.
#[derive(Debug, Error)]
pub enum ImageUriError {
    #[error("invalid image `{uri}`: {source}")]
    Invalid { uri: String, source: ImageRefError },
    #[error("image `{0}` is not in an ECR registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com)")]
    NotEcr(String),
    #[error("image `{0}` is pinned by digest only: give REGISTRY/REPO:TAG[@DIGEST]")]
    Untagged(String),
}
