//! The ECR port: what a pushed image is made for. `sdk` adapts it to `aws_sdk_ecr`; `fake` serves the unit
//! tests.

use std::future::Future;

use thiserror::Error;

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

#[derive(Debug, Error)]
#[error("ecr {operation} failed: {message}")]
pub struct EcrError {
    pub operation: &'static str,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub trait EcrApi: Send + Sync {
    /// What `digest` in `repository` of the registry of account `registry_id` is made for.
    fn platforms(
        &self,
        registry_id: &str,
        repository: &str,
        digest: &str,
    ) -> impl Future<Output = Result<Platforms, EcrError>> + Send;
}

/// The platforms a manifest lists, from its JSON: an index's `manifests[].platform`, skipping attestation
/// entries (`unknown`/`unknown`, which buildx adds); `Unknown` for a single manifest or unreadable JSON.
pub fn platforms_of_manifest(manifest: &str) -> Platforms {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(manifest) else {
        return Platforms::Unknown;
    };
    let Some(manifests) = value.get("manifests").and_then(serde_json::Value::as_array) else {
        return Platforms::Unknown;
    };
    let mut platforms: Vec<Platform> = manifests
        .iter()
        .filter_map(|m| {
            let platform = m.get("platform")?;
            Some(Platform {
                os: platform.get("os")?.as_str()?.to_owned(),
                architecture: platform.get("architecture")?.as_str()?.to_owned(),
            })
        })
        .filter(|p| p.os != "unknown" && p.architecture != "unknown")
        .collect();
    platforms.sort();
    platforms.dedup();
    Platforms::Listed(platforms)
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
    fn an_index_lists_its_platforms_without_attestations() {
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"digest":"sha256:a","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:b","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:c","platform":{"os":"unknown","architecture":"unknown"}},
            {"digest":"sha256:d","platform":{"os":"linux","architecture":"amd64"}}]}"#;
        assert_eq!(
            platforms_of_manifest(index),
            Platforms::Listed(vec![platform("linux", "amd64"), platform("linux", "arm64")])
        );
    }

    #[test]
    fn a_single_manifest_or_garbage_is_unknown() {
        let single = r#"{"schemaVersion":2,"config":{"digest":"sha256:c"},"layers":[]}"#;
        assert_eq!(platforms_of_manifest(single), Platforms::Unknown);
        assert_eq!(platforms_of_manifest("{not json"), Platforms::Unknown);
    }
}
