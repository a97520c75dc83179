//! The ECR port: what a pushed image is made of and for, and what tags point to now. `sdk` adapts it to
//! `aws_sdk_ecr`; `fake` serves the unit tests.

use std::collections::BTreeMap;
use std::future::Future;

#[cfg(test)]
pub mod fake;
pub mod sdk;

/// An OS and CPU architecture an image runs on, as an image index names them (`linux`/`amd64`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

/// The platforms of a pushed digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platforms {
    /// An image index (multi-arch): the platforms of its manifests.
    Listed(Vec<Platform>),
    /// A single manifest: its platform sits in its config blob, which costs more calls than it is worth.
    Unknown,
}

/// A pushed digest as its manifest tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedManifest {
    pub platforms: Platforms,
    /// An image index's platform manifests (attestations left out); empty for a single manifest.
    pub manifests: Vec<String>,
}

/// `AccessDenied`: not allowed (the function's policy names the repositories in scope, `RepositoryFilter`);
/// `NotFound`: no such repository or image; `Other`: throttling, transport and server failures, and anything
/// unclassified.
pub use crate::aws::ErrorKind as EcrErrorKind;

/// A failed ECR call.
pub type EcrError = crate::aws::AwsError<crate::aws::Ecr>;

/// What a tag points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedImage {
    pub digest: String,
    pub manifest: PushedManifest,
}

/// `BatchGetImage` takes at most this many image ids per call.
pub const BATCH_GET_IMAGE_MAX: usize = 100;

pub trait EcrApi: Send + Sync {
    /// What `digest` in `repository` of the registry of account `registry_id` is made of and for.
    fn manifest(
        &self,
        registry_id: &str,
        repository: &str,
        digest: &str,
    ) -> impl Future<Output = Result<PushedManifest, EcrError>> + Send;

    /// What each of at most [`BATCH_GET_IMAGE_MAX`] `tags` points to now; a tag ECR does not have is left out.
    fn tagged_images(
        &self,
        registry_id: &str,
        repository: &str,
        tags: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, TaggedImage>, EcrError>> + Send;
}

/// A manifest read from its JSON: an index's `manifests[]` with their platforms, skipping attestation entries
/// (`unknown`/`unknown`, which buildx adds); platforms `Unknown` for a single manifest or unreadable JSON.
pub fn read_manifest(manifest: &str) -> PushedManifest {
    let unknown = PushedManifest {
        platforms: Platforms::Unknown,
        manifests: Vec::new(),
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(manifest) else {
        return unknown;
    };
    let Some(entries) = value.get("manifests").and_then(serde_json::Value::as_array) else {
        return unknown;
    };
    let mut platforms = Vec::new();
    let mut manifests = Vec::new();
    for entry in entries {
        let Some(platform) = entry.get("platform").and_then(|p| {
            Some(Platform {
                os: p.get("os")?.as_str()?.to_owned(),
                architecture: p.get("architecture")?.as_str()?.to_owned(),
            })
        }) else {
            continue;
        };
        if platform.os == "unknown" && platform.architecture == "unknown" {
            continue;
        }
        if let Some(digest) = entry.get("digest").and_then(serde_json::Value::as_str) {
            manifests.push(digest.to_owned());
        }
        platforms.push(platform);
    }
    platforms.sort();
    platforms.dedup();
    PushedManifest {
        platforms: Platforms::Listed(platforms),
        manifests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(os: &str, architecture: &str) -> Platform {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
        }
    }

    #[test]
    fn an_index_lists_its_platforms_and_manifests_without_attestations() {
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"digest":"sha256:a","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:b","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:c","platform":{"os":"unknown","architecture":"unknown"}},
            {"digest":"sha256:d","platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let read = read_manifest(index);
        assert_eq!(
            read.platforms,
            Platforms::Listed(vec![platform("linux", "amd64"), platform("linux", "arm64")])
        );
        assert_eq!(read.manifests, ["sha256:a", "sha256:b", "sha256:d"]);
    }

    #[test]
    fn a_single_manifest_or_garbage_is_unknown() {
        let single = r#"{"schemaVersion":2,"config":{"digest":"sha256:c"},"layers":[]}"#;
        assert_eq!(read_manifest(single).platforms, Platforms::Unknown);
        assert!(read_manifest(single).manifests.is_empty());
        assert_eq!(read_manifest("{not json").platforms, Platforms::Unknown);
    }
}
