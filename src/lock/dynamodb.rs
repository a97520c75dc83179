//! The deploy lock over a DynamoDB table: the only module that knows `aws_sdk_dynamodb`'s types.
//!
//! The table has the partition key `id` (S, a `LockKey::id`) and TTL enabled on `expires_at` (N, epoch
//! seconds). An item is a live claim until its `expires_at` has passed. DynamoDB's TTL sweeper deletes expired
//! items only eventually (typically within days), so the claim's condition compares `expires_at` itself.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, SecondsFormat, Utc};
use tracing::debug;

use super::{Claim, ClaimState, DONE_TTL, DeployLock, IN_PROGRESS_TTL, LockError, LockKey};

const ID: &str = "id";
/// A DynamoDB reserved word: expressions refer to it as `#state`.
const STATE: &str = "state";
const EXPIRES_AT: &str = "expires_at";
const SERVICE_ARN: &str = "service_arn";
const DIGEST: &str = "digest";
const CLAIMED_AT: &str = "claimed_at";
const COMPLETED_AT: &str = "completed_at";

const IN_PROGRESS: &str = "in-progress";
const DONE: &str = "done";

#[derive(Clone, Debug)]
pub struct DynamoDbLock {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbLock {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDbLock {
            client,
            table: table.into(),
        }
    }

    fn error<E, R>(&self, operation: &'static str, id: String, call: &'static str, error: SdkError<E, R>) -> LockError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let detail = match error.as_service_error() {
            Some(service_error) => format!(
                "{}: {}",
                service_error.code().unwrap_or("UnknownError"),
                service_error.message().unwrap_or("no message")
            ),
            None => crate::error_chain::render(&error),
        };
        debug!(call, table = %self.table, error = %DisplayErrorContext(&error), "dynamodb call failed");
        LockError {
            operation,
            id,
            message: format!("dynamodb {call} on table `{}`: {detail}", self.table),
            source: Some(Box::new(error)),
        }
    }
}

impl DeployLock for DynamoDbLock {
    async fn claim(&self, key: &LockKey) -> Result<Claim, LockError> {
        let now = Utc::now();
        let id = key.id();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(ID, text(&id))
            .item(STATE, text(IN_PROGRESS))
            .item(EXPIRES_AT, expires_at(now, IN_PROGRESS_TTL))
            .item(SERVICE_ARN, text(&key.service_arn))
            .item(DIGEST, text(&key.digest))
            .item(CLAIMED_AT, text(&timestamp(now)))
            .condition_expression(format!("attribute_not_exists({ID}) OR {EXPIRES_AT} < :now"))
            .expression_attribute_values(":now", epoch_seconds(now))
            // The failure carries the item that failed the condition, read atomically with the check: no second
            // read that could find it gone or changed.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Acquired),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failure)) => match held_state(failure.item()) {
                    Ok(state) => Ok(Claim::Held(state)),
                    Err(problem) => Err(LockError {
                        operation: "claim",
                        message: format!("the live claim in table `{}` {problem}", self.table),
                        id,
                        source: None,
                    }),
                },
                _ => Err(self.error("claim", id, "PutItem", error)),
            },
        }
    }

    async fn complete(&self, key: &LockKey) -> Result<(), LockError> {
        let now = Utc::now();
        let id = key.id();
        // Not conditional on the claim still existing: the deployment happened, so its record must be written even
        // if the claim vanished (deleted by hand, expired). Failing instead would make Lambda retry the event,
        // find no claim and deploy a second time.
        self.client
            .update_item()
            .table_name(&self.table)
            .key(ID, text(&id))
            .update_expression(format!(
                "SET #state = :done, {EXPIRES_AT} = :expires_at, {COMPLETED_AT} = :now, \
                 {SERVICE_ARN} = :service_arn, {DIGEST} = :digest"
            ))
            .expression_attribute_names("#state", STATE)
            .expression_attribute_values(":done", text(DONE))
            .expression_attribute_values(":expires_at", expires_at(now, DONE_TTL))
            .expression_attribute_values(":now", text(&timestamp(now)))
            .expression_attribute_values(":service_arn", text(&key.service_arn))
            .expression_attribute_values(":digest", text(&key.digest))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| self.error("complete", id, "UpdateItem", error))
    }

    async fn release(&self, key: &LockKey) -> Result<(), LockError> {
        let id = key.id();
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(ID, text(&id))
            // A done record stays: a late release must not let repeats of the event deploy again.
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_values(":in_progress", text(IN_PROGRESS))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            // Absent or done: there is no in-progress claim to drop.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(self.error("release", id, "DeleteItem", error)),
        }
    }
}

/// The state of the live claim that failed a claim's condition.
fn held_state(item: Option<&HashMap<String, AttributeValue>>) -> Result<ClaimState, String> {
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

fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn epoch_seconds(time: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(time.timestamp().to_string())
}

fn expires_at(now: DateTime<Utc>, ttl: Duration) -> AttributeValue {
    AttributeValue::N((now.timestamp() + ttl.as_secs() as i64).to_string())
}

/// For people reading the table.
fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

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
