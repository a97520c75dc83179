//! The EventBridge events we receive, and the one thing we act on: a successful, tagged ECR push.
//! The clock is read at this edge only: `classify_at` takes it as an input.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use tracing::warn;

use crate::domain::image::{self, ImageRefError, Registry, shown};
use crate::domain::push::Push;

pub const ECR_SOURCE: &str = "aws.ecr";
pub const IMAGE_ACTION: &str = "ECR Image Action";
pub const REPLICATION_ACTION: &str = "ECR Replication Action";
const PUSH: &str = "PUSH";
const REPLICATE: &str = "REPLICATE";
/// How far ahead of our clock an event's time may be before it is not trusted.
const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
const SUCCESS: &str = "SUCCESS";

/// `detail` of an `ECR Image Action` event, and of an `ECR Replication Action` event (which adds
/// `source-account` and `source-region`). Unknown fields are kept so events round-trip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageActionDetail {
    pub action_type: String,
    pub result: String,
    pub repository_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Absent or empty for untagged pushes (by digest, multi-arch children, attestations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// Replication only: where the image was replicated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_region: Option<String>,
    /// What was pushed, when the event says: an image manifest or index, or another OCI artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<String>,
    /// The config media type of the pushed manifest: an image's, or an artifact's (signature, SBOM, chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_media_type: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

pub type EcrImageActionEvent = EventBridgeEvent<EcrImageActionDetail>;

/// Why an event was received but not acted on. None of these is an error: retrying would not help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ignored {
    OtherSource(String),
    OtherDetailType(String),
    NotAPush(String),
    NotSuccessful(String),
    Untagged,
    /// A signature, attestation, SBOM or other artifact: nothing a task can run.
    NotAnImage(String),
}

impl Ignored {
    /// Stable kebab-case code for reports and log fields.
    pub fn code(&self) -> &'static str {
        match self {
            Ignored::OtherSource(_) => "other-source",
            Ignored::OtherDetailType(_) => "other-detail-type",
            Ignored::NotAPush(_) => "not-a-push",
            Ignored::NotSuccessful(_) => "not-successful",
            Ignored::Untagged => "untagged",
            Ignored::NotAnImage(_) => "not-an-image",
        }
    }
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ignored::OtherSource(s) => write!(f, "source `{}` is not `{ECR_SOURCE}`", shown(s)),
            Ignored::OtherDetailType(d) => {
                write!(
                    f,
                    "detail-type `{d}` is neither `{IMAGE_ACTION}` nor `{REPLICATION_ACTION}`"
                )
            }
            Ignored::NotAPush(a) => write!(f, "action-type `{}` is neither `{PUSH}` nor `{REPLICATE}`", shown(a)),
            Ignored::NotSuccessful(r) => write!(f, "result `{}` is not `{SUCCESS}`", shown(r)),
            Ignored::Untagged => f.write_str("push has no image-tag (by digest, multi-arch child or attestation)"),
            Ignored::NotAnImage(what) => write!(f, "the push is not a runnable image: {}", shown(what)),
        }
    }
}

/// What an incoming event amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    Push(Push),
    Ignored(Ignored),
}

#[derive(Debug, Error)]
pub enum EventError {
    #[error("event is not valid JSON: {source}")]
    Json { source: serde_json::Error },
    #[error("event is not a JSON object")]
    NotAnObject,
    #[error("malformed EventBridge event: {}: {}", .source.path(), .source.inner())]
    Envelope {
        source: serde_path_to_error::Error<serde_json::Error>,
    },
    #[error("malformed `detail` of an ECR action event: {}: {}", .source.path(), .source.inner())]
    Detail {
        source: serde_path_to_error::Error<serde_json::Error>,
    },
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("invalid field `{field}`: {source}")]
    InvalidField { field: &'static str, source: ImageRefError },
}

/// Manifest media types of runnable images: OCI and Docker image manifests and indexes (schema 1 included).
const IMAGE_MANIFESTS: [&str; 6] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
/// Config media types of runnable images; an artifact (cosign signature, in-toto attestation, SBOM, Helm chart)
/// has a config of its own type.
const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// Why a tagged push is not a runnable image, if the event says so: a cosign-style tag
/// (`sha256-<hex>`, `.sig`, `.att`, `.sbom`: a signature, attestation or SBOM of another image), or a media type
/// that is not an image's. Absent media types say nothing: older events lack them.
fn not_an_image(tag: &str, manifest: &Option<String>, artifact: &Option<String>) -> Option<String> {
    let subject = tag
        .strip_prefix("sha256-")
        .map(|rest| rest.split_once('.').map_or(rest, |(hex, _)| hex));
    let suffix = tag.rsplit_once('.').map(|(_, suffix)| suffix);
    if subject.is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        && matches!(suffix, None | Some("sig" | "att" | "sbom"))
    {
        return Some(format!(
            "tag `{tag}` names a signature, attestation or SBOM of another image"
        ));
    }
    if let Some(manifest) = manifest
        .as_deref()
        .filter(|m| !m.is_empty() && !IMAGE_MANIFESTS.contains(m))
    {
        return Some(format!("manifest media type `{manifest}`"));
    }
    if let Some(artifact) = artifact
        .as_deref()
        .filter(|a| !a.is_empty() && !IMAGE_CONFIGS.contains(a))
    {
        return Some(format!("artifact media type `{artifact}`"));
    }
    None
}

/// Classifies raw event text (the CLI's `--event FILE`).
pub fn classify_json(text: &str) -> Result<Classified, EventError> {
    let value = serde_json::from_str(text).map_err(|source| EventError::Json { source })?;
    classify(value)
}

/// Classifies an EventBridge event: a push to act on, an event to ignore (with why), or an error
/// naming what is malformed. Source and detail-type are checked before the detail is read, so other
/// events with other detail shapes are ignored rather than rejected.
pub fn classify(value: Value) -> Result<Classified, EventError> {
    classify_at(value, Utc::now())
}

/// [`classify`] with the clock's reading passed in.
pub fn classify_at(value: Value, now: DateTime<Utc>) -> Result<Classified, EventError> {
    // serde would also read a JSON array field by field; an event is an object.
    if !value.is_object() {
        return Err(EventError::NotAnObject);
    }
    let envelope: EventBridgeEvent<Value> =
        serde_path_to_error::deserialize(value).map_err(|source| EventError::Envelope { source })?;
    if envelope.source != ECR_SOURCE {
        return Ok(Classified::Ignored(Ignored::OtherSource(envelope.source)));
    }
    // A replicated image is a push into this (the destination) registry: same matching, same actions.
    let expected_action = match envelope.detail_type.as_str() {
        IMAGE_ACTION => PUSH,
        REPLICATION_ACTION => REPLICATE,
        _ => return Ok(Classified::Ignored(Ignored::OtherDetailType(envelope.detail_type))),
    };
    let detail: EcrImageActionDetail =
        serde_path_to_error::deserialize(envelope.detail).map_err(|source| EventError::Detail { source })?;
    if detail.action_type != expected_action {
        return Ok(Classified::Ignored(Ignored::NotAPush(detail.action_type)));
    }
    if detail.result != SUCCESS {
        return Ok(Classified::Ignored(Ignored::NotSuccessful(detail.result)));
    }
    let Some(tag) = detail.image_tag.filter(|t| !t.is_empty()) else {
        return Ok(Classified::Ignored(Ignored::Untagged));
    };
    if let Some(what) = not_an_image(&tag, &detail.manifest_media_type, &detail.artifact_media_type) {
        return Ok(Classified::Ignored(Ignored::NotAnImage(what)));
    }
    // AWS stamps events itself; a time far ahead of our clock cannot tell which deployments came
    // after the push, so the push is acted on without the time (and repeats are not recognised by it).
    let time = match envelope.time {
        Some(time) if time > now + MAX_CLOCK_SKEW => {
            warn!(event_time = %time, "event time is ahead of this clock; not using it to recognise repeats");
            None
        }
        time => time,
    };
    let account = envelope.account.ok_or(EventError::MissingField("account"))?;
    let region = envelope.region.ok_or(EventError::MissingField("region"))?;
    let registry = Registry::ecr(&account, &region).map_err(|source| EventError::InvalidField {
        field: if matches!(source, ImageRefError::InvalidAccount(_)) {
            "account"
        } else {
            "region"
        },
        source,
    })?;
    let invalid = |field| move |source| EventError::InvalidField { field, source };
    image::validate_repository(&detail.repository_name).map_err(invalid("detail.repository-name"))?;
    let tag = image::validate_tag(&tag).map_err(invalid("detail.image-tag"))?;
    let digest = detail
        .image_digest
        .as_deref()
        .map(image::validate_digest)
        .transpose()
        .map_err(invalid("detail.image-digest"))?;
    let replicated_from = match (expected_action, &detail.source_account, &detail.source_region) {
        (REPLICATE, Some(account), Some(region)) => {
            Some(Registry::ecr(account, region).map_err(invalid("detail.source-account/source-region"))?)
        }
        (REPLICATE, _, _) => return Err(EventError::MissingField("detail.source-account/source-region")),
        _ => None,
    };
    Ok(Classified::Push(Push {
        registry,
        repository: detail.repository_name,
        tag,
        digest,
        event_id: envelope.id,
        time,
        replicated_from,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn push_event() -> Value {
        json!({
            "version": "0", "id": "e-1", "detail-type": "ECR Image Action", "source": "aws.ecr",
            "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {
                "result": "SUCCESS", "repository-name": "team/app", "action-type": "PUSH", "image-tag": "latest",
                "image-digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001"
            }
        })
    }

    fn with(mut event: Value, pointer: &str, value: Value) -> Value {
        *event.pointer_mut(pointer).expect("pointer exists") = value;
        event
    }

    fn without(mut event: Value, parent: &str, key: &str) -> Value {
        event
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .expect("object")
            .remove(key);
        event
    }

    #[test]
    fn a_successful_tagged_push_is_acted_on() {
        let Classified::Push(push) = classify(push_event()).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(push.registry, Registry::ecr("123456789012", "us-east-1").unwrap());
        assert_eq!(push.repository, "team/app");
        assert_eq!(push.tag, "latest");
        assert_eq!(push.event_id.as_deref(), Some("e-1"));
        assert_eq!(
            push.image().to_string(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:latest@sha256:0000000000000000000000000000000000000000000000000000000000000001"
        );
    }

    #[test]
    fn a_replication_into_this_registry_is_a_push() {
        let event = json!({
            "version": "0", "id": "r-1", "detail-type": "ECR Replication Action", "source": "aws.ecr",
            "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": "eu-west-1", "resources": [],
            "detail": {
                "result": "SUCCESS", "repository-name": "app", "action-type": "REPLICATE", "image-tag": "v2",
                "image-digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
                "source-account": "210987654321", "source-region": "us-east-1"
            }
        });
        let Classified::Push(push) = classify(event.clone()).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(
            push.registry,
            Registry::ecr("123456789012", "eu-west-1").unwrap(),
            "the destination registry"
        );
        assert_eq!(
            push.replicated_from,
            Some(Registry::ecr("210987654321", "us-east-1").unwrap())
        );
        assert_eq!(push.tag, "v2");
        let push_type = with(event.clone(), "/detail/action-type", json!("PUSH"));
        assert!(matches!(
            classify(push_type),
            Ok(Classified::Ignored(Ignored::NotAPush(_)))
        ));
        let failed = with(event.clone(), "/detail/result", json!("FAILED"));
        assert!(matches!(
            classify(failed),
            Ok(Classified::Ignored(Ignored::NotSuccessful(_)))
        ));
        let error = classify(without(event, "/detail", "source-region"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("source-region"), "{error}");
    }

    #[test]
    fn other_events_are_ignored_with_their_reason() {
        let cases = [
            (with(push_event(), "/source", json!("aws.s3")), "other-source"),
            (
                with(push_event(), "/detail-type", json!("ECR Image Scan")),
                "other-detail-type",
            ),
            (with(push_event(), "/detail/action-type", json!("DELETE")), "not-a-push"),
            (with(push_event(), "/detail/result", json!("FAILED")), "not-successful"),
            (with(push_event(), "/detail/image-tag", json!("")), "untagged"),
            (without(push_event(), "/detail", "image-tag"), "untagged"),
            // A scan event's detail has another shape: ignored before the detail is read.
            (with(push_event(), "/detail", json!({"image-tags": ["x"]})), "ok"),
        ];
        for (event, code) in cases {
            match classify(event) {
                Ok(Classified::Ignored(why)) => assert_eq!(why.code(), code),
                Ok(Classified::Push(_)) if code == "ok" => panic!("a push with a scan-shaped detail"),
                Err(EventError::Detail { .. }) if code == "ok" => {}
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn pushes_that_are_not_runnable_images_are_ignored() {
        let hex = "7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
        let oci_manifest = "application/vnd.oci.image.manifest.v1+json";
        // (tag, manifest media type, artifact media type, expected: "push" or the ignore code)
        let cases: Vec<(String, Option<&str>, Option<&str>, &str)> = vec![
            (format!("sha256-{hex}.sig"), None, None, "not-an-image"),
            (format!("sha256-{hex}.att"), Some(oci_manifest), None, "not-an-image"),
            (format!("sha256-{hex}.sbom"), None, None, "not-an-image"),
            (
                format!("sha256-{hex}"),
                Some("application/vnd.oci.image.index.v1+json"),
                None,
                "not-an-image",
            ),
            (format!("sha256-{hex}.tar"), None, None, "push"),
            ("sha256-short.sig".into(), None, None, "push"),
            (
                "v1.2.3".into(),
                Some(oci_manifest),
                Some("application/vnd.dev.cosign.artifact.sig.v1+json"),
                "not-an-image",
            ),
            (
                "0.4.0".into(),
                Some(oci_manifest),
                Some("application/vnd.cncf.helm.config.v1+json"),
                "not-an-image",
            ),
            (
                "sbom".into(),
                Some("application/vnd.oci.artifact.manifest.v1+json"),
                None,
                "not-an-image",
            ),
            (
                "latest".into(),
                Some(oci_manifest),
                Some("application/vnd.oci.image.config.v1+json"),
                "push",
            ),
            (
                "latest".into(),
                Some("application/vnd.docker.distribution.manifest.v2+json"),
                Some("application/vnd.docker.container.image.v1+json"),
                "push",
            ),
            (
                "latest".into(),
                Some("application/vnd.docker.distribution.manifest.list.v2+json"),
                None,
                "push",
            ),
            ("latest".into(), Some(""), Some(""), "push"),
        ];
        for (tag, manifest, artifact, expected) in cases {
            let mut event = with(push_event(), "/detail/image-tag", json!(tag));
            let detail = event["detail"].as_object_mut().unwrap();
            detail.remove("manifest-media-type");
            if let Some(m) = manifest {
                detail.insert("manifest-media-type".into(), json!(m));
            }
            if let Some(a) = artifact {
                detail.insert("artifact-media-type".into(), json!(a));
            }
            let got = match classify(event).unwrap() {
                Classified::Push(_) => "push",
                Classified::Ignored(why) => why.code(),
            };
            assert_eq!(got, expected, "{tag} {manifest:?} {artifact:?}");
        }
    }

    #[test]
    fn a_time_far_ahead_of_the_clock_is_not_trusted() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().to_utc();
        let at = |time: &str| match classify_at(with(push_event(), "/time", json!(time)), now).unwrap() {
            Classified::Push(push) => push.time.map(|t| t.to_rfc3339()),
            Classified::Ignored(why) => panic!("{why}"),
        };
        assert_eq!(
            at("2026-11-29T10:04:00Z").as_deref(),
            Some("2026-11-29T10:04:00+00:00"),
            "within the skew"
        );
        assert_eq!(at("2999-01-01T00:00:00Z"), None, "acted on, without the time");
    }

    #[test]
    fn malformed_events_name_the_field() {
        let cases = [
            (without(push_event(), "", "detail-type"), "detail-type"),
            (without(push_event(), "", "account"), "account"),
            (without(push_event(), "", "region"), "region"),
            (without(push_event(), "/detail", "repository-name"), "repository-name"),
            (without(push_event(), "/detail", "action-type"), "action-type"),
            (with(push_event(), "/account", json!("12")), "account"),
            (with(push_event(), "/region", json!("Mars")), "region"),
            (
                with(push_event(), "/account", json!(123456789012u64)),
                "account: invalid type",
            ),
            (with(push_event(), "/detail/result", json!(1)), "result: invalid type"),
            (with(push_event(), "/detail/image-tag", json!("bad tag")), "image-tag"),
            (
                with(push_event(), "/detail/repository-name", json!("Team/App")),
                "repository-name",
            ),
            (
                with(push_event(), "/detail/image-digest", json!("sha256:zz")),
                "image-digest",
            ),
            (
                with(push_event(), "/time", json!("yesterday")),
                "input contains invalid characters",
            ),
            (json!([1, 2]), "not a JSON object"),
        ];
        for (event, needle) in cases {
            let error = classify(event).expect_err(needle).to_string();
            assert!(error.contains(needle), "`{error}` does not mention `{needle}`");
        }
        let error = classify_json("{not json").unwrap_err().to_string();
        assert!(error.starts_with("event is not valid JSON"), "{error}");
    }

    #[test]
    fn image_uris_describe_pushes() {
        let push = Push::from_image_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v2").unwrap();
        assert_eq!(push.tag, "v2");
        assert_eq!(push.digest, None);
        assert_eq!(push.time, None);
        let implied = Push::from_image_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app").unwrap();
        assert_eq!(implied.tag, "latest");
        let digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
        let pinned = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@{digest}");
        for (uri, needle) in [
            ("nginx:latest", "not in an ECR registry"),
            (pinned.as_str(), "pinned by digest only"),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/App:v1",
                "invalid repository",
            ),
        ] {
            let error = Push::from_image_uri(uri).unwrap_err().to_string();
            assert!(error.contains(needle), "{uri}: {error}");
        }
    }
}
