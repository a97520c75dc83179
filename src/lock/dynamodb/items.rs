//! The table's items: attribute names, and how values and records are written and read back.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::lock::{ClaimState, DeploymentRecord};

pub(super) const ID: &str = "id";
/// A DynamoDB reserved word: expressions refer to it as `#state`.
pub(super) const STATE: &str = "state";
pub(super) const EXPIRES_AT: &str = "expires_at";
pub(super) const SERVICE_ARN: &str = "service_arn";
pub(super) const DIGEST: &str = "digest";
pub(super) const CLAIMED_AT: &str = "claimed_at";
pub(super) const COMPLETED_AT: &str = "completed_at";

pub(super) const IN_PROGRESS: &str = "in-progress";
pub(super) const DONE: &str = "done";

// A deployment record's attributes (see `DeploymentRecord`).
pub(super) const KIND: &str = "kind";
pub(super) const DEPLOYMENT: &str = "deployment";
pub(super) const DEPLOYMENT_ID: &str = "deployment_id";
pub(super) const SERVICE_DEPLOYMENT_ARN: &str = "service_deployment_arn";
pub(super) const STARTED_AT: &str = "started_at";
pub(super) const TO_DIGEST: &str = "to_digest";
pub(super) const DETAIL: &str = "detail";
pub(super) const OUTCOME: &str = "outcome";
pub(super) const ROLLED_BACK: &str = "rolled-back";
pub(super) const STATUS_REASON: &str = "status_reason";
pub(super) const ROLLED_BACK_AT: &str = "rolled_back_at";
/// `BatchGetItem` takes at most this many keys.
pub(super) const BATCH_GET_MAX: usize = 100;
pub(super) const CLOSED_AT: &str = "closed_at";
/// Present (`open`) only while the record has no outcome: the partition key of the sparse index the sweep queries.
pub(super) const OPEN: &str = "open";

/// A deployment record read from an item; the problem when an attribute is missing or of the wrong type.
pub(super) fn record_of(item: &HashMap<String, AttributeValue>) -> Result<DeploymentRecord, String> {
    let string = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let required = |name: &'static str| string(name).ok_or_else(|| format!("has no string `{name}`"));
    let started_at = required(STARTED_AT)?;
    let detail = required(DETAIL)?;
    Ok(DeploymentRecord {
        service_arn: required(SERVICE_ARN)?,
        deployment_id: required(DEPLOYMENT_ID)?,
        service_deployment_arn: string(SERVICE_DEPLOYMENT_ARN),
        started_at: DateTime::parse_from_rfc3339(&started_at)
            .map_err(|e| format!("has an unreadable `{STARTED_AT}`: {e}"))?
            .with_timezone(&Utc),
        to_digest: string(TO_DIGEST),
        detail: serde_json::from_str(&detail).map_err(|e| format!("has an unreadable `{DETAIL}`: {e}"))?,
    })
}

/// The state of the live claim that failed a claim's condition.
pub(super) fn held_state(item: Option<&HashMap<String, AttributeValue>>) -> Result<ClaimState, String> {
    let Some(item) = item else {
        return Err("was not returned with the conditional check failure".to_owned());
    };
    match item.get(STATE).map(AttributeValue::as_s) {
        Some(Ok(state)) if state == IN_PROGRESS => Ok(ClaimState::InProgress),
        Some(Ok(state)) if state == DONE => Ok(ClaimState::Done),
        Some(Ok(state)) => Err(format!("has an unknown {STATE} `{state}`")),
        Some(Err(_)) | None => Err(format!("has no string `{STATE}`")),
    }
}

pub(super) fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn epoch_seconds(time: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(time.timestamp().to_string())
}

pub(super) fn expires_at(now: DateTime<Utc>, ttl: Duration) -> AttributeValue {
    AttributeValue::N((now.timestamp() + ttl.as_secs() as i64).to_string())
}

/// For people reading the table.
pub(super) fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{DONE_TTL, IN_PROGRESS_TTL};

    fn item(state: AttributeValue) -> HashMap<String, AttributeValue> {
        HashMap::from([(ID.to_owned(), text("svc#sha256:1")), (STATE.to_owned(), state)])
    }

    #[test]
    fn held_state_reads_the_returned_item() {
        assert_eq!(held_state(Some(&item(text("in-progress")))), Ok(ClaimState::InProgress));
        assert_eq!(held_state(Some(&item(text("done")))), Ok(ClaimState::Done));
        assert_eq!(
            held_state(Some(&item(text("paused")))),
            Err("has an unknown state `paused`".to_owned())
        );
        assert_eq!(
            held_state(Some(&item(AttributeValue::N("1".into())))),
            Err("has no string `state`".to_owned())
        );
        assert_eq!(
            held_state(None),
            Err("was not returned with the conditional check failure".to_owned())
        );
    }

    #[test]
    fn expiry_is_epoch_seconds_after_now() {
        let now = DateTime::from_timestamp(1_700_000_000, 500_000_000).unwrap();
        assert_eq!(expires_at(now, IN_PROGRESS_TTL), AttributeValue::N("1700000900".into()));
        assert_eq!(expires_at(now, DONE_TTL), AttributeValue::N("1700086400".into()));
        assert_eq!(epoch_seconds(now), AttributeValue::N("1700000000".into()));
        assert_eq!(timestamp(now), "2023-11-14T22:13:20Z");
    }
}
