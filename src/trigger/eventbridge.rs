//! The EventBridge events we receive, and the one thing we act on: a successful, tagged ECR push.
//! The clock is read at this edge only: `classify_at` takes it as an input.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use tracing::warn;

use super::deployment::{self, DEPLOYMENT_STATE_CHANGE, DeploymentChange, DeploymentEventName, ECS_SOURCE, Parsed};
use crate::domain::image::{self, ImageRefError, Registry, shown};
use crate::domain::push::{Push, Trigger};

pub const ECR_SOURCE: &str = "aws.ecr";
/// A scheduled rule's event (`rate(30 minutes)`): the sweep.
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";
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
    /// An `aws.ecs` event other than `ECS Deployment State Change` (task, service action, ...).
    OtherEcsDetailType(String),
    /// An `ECS Deployment State Change` with an event name we do not know.
    OtherDeploymentEvent(String),
    /// A deployment (or its rollback) started: its outcome comes with its `FAILED` or `COMPLETED` event.
    DeploymentInProgress,
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
            Ignored::OtherEcsDetailType(_) => "other-detail-type",
            Ignored::OtherDeploymentEvent(_) => "other-event-name",
            Ignored::DeploymentInProgress => "in-progress",
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
            Ignored::OtherEcsDetailType(d) => {
                write!(
                    f,
                    "{ECS_SOURCE} detail-type `{}` is not `{DEPLOYMENT_STATE_CHANGE}`",
                    shown(d)
                )
            }
            Ignored::OtherDeploymentEvent(name) => write!(
                f,
                "eventName `{}` is none of SERVICE_DEPLOYMENT_IN_PROGRESS, _COMPLETED, _FAILED",
                shown(name)
            ),
            Ignored::DeploymentInProgress => f.write_str(
                "a deployment or its rollback started; its outcome is followed on its FAILED or COMPLETED event",
            ),
        }
    }
}

/// What an incoming event amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    Push(Push),
    /// The sweep's schedule fired.
    Sweep,
    /// A deployment failed or completed: followed to its outcome if the function started it.
    Deployment(DeploymentChange),
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
    #[error("malformed `detail` of an ECS Deployment State Change event: {}: {}", .source.path(), .source.inner())]
    DeploymentDetail {
        source: serde_path_to_error::Error<serde_json::Error>,
    },
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("empty field `{0}`")]
    EmptyField(&'static str),
    #[error("field `resources` does not hold a service ARN: `{0}`")]
    NotAServiceArn(String),
    #[error("field `resources` holds {0} ARNs, not the one service ARN")]
    TooManyResources(usize),
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
    if envelope.source == SCHEDULE_SOURCE && envelope.detail_type == SCHEDULED_EVENT {
        return Ok(Classified::Sweep);
    }
    if envelope.source == ECS_SOURCE {
        if envelope.detail_type != DEPLOYMENT_STATE_CHANGE {
            return Ok(Classified::Ignored(Ignored::OtherEcsDetailType(envelope.detail_type)));
        }
        return Ok(
            match deployment::parse(envelope.detail, envelope.resources, envelope.id)? {
                Parsed::Change(change) if change.event_name == DeploymentEventName::InProgress => {
                    Classified::Ignored(Ignored::DeploymentInProgress)
                }
                Parsed::Change(change) => Classified::Deployment(change),
                Parsed::OtherEventName(name) => Classified::Ignored(Ignored::OtherDeploymentEvent(name)),
            },
        );
    }
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
        trigger: Trigger::Push,
        retry_rolled_back: false,
    }))
}

#[cfg(test)]
mod tests;
