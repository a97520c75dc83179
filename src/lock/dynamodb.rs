//! The deploy lock over a DynamoDB table: the only module that knows `aws_sdk_dynamodb`'s types.
//!
//! The table has the partition key `id` (S, a `LockKey::id`) and TTL enabled on `expires_at` (N, epoch
//! seconds). An item is a live claim until its `expires_at` has passed. DynamoDB's TTL sweeper deletes expired
//! items only eventually (typically within days), so the claim's condition compares `expires_at` itself.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use items::*;

use super::{
    Claim, DEPLOYMENT_TTL, DONE_TTL, DeployLock, DeploymentRecord, IN_PROGRESS_TTL, LockError, LockKey,
    RolledBackRecord, StoredDeployment, deployment_record_id, rolled_back_record_id,
};

/// The sparse index of open deployment records: partition key `open`, sort key `started_at` (both S). The stack
/// adds it to the lock table; the table's key schema and TTL attribute stay.
pub const OPEN_DEPLOYMENTS_INDEX: &str = "open-deployments";

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

    /// A conditional `DeleteItem` whose condition did not hold deleted nothing, as it was meant to: not an error.
    fn deleted_unless_condition_failed<T, R>(
        &self,
        delete: Result<T, SdkError<DeleteItemError, R>>,
        operation: &'static str,
        id: String,
    ) -> Result<(), LockError>
    where
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match delete {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(self.error(operation, id, "DeleteItem", error)),
        }
    }

    fn error<E, R>(&self, operation: &'static str, id: String, call: &'static str, error: SdkError<E, R>) -> LockError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let (_, detail) = crate::aws::summary(&error);
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
        // Absent or done: there is no in-progress claim to drop.
        self.deleted_unless_condition_failed(delete, "release", id)
    }

    fn tracks_deployments(&self) -> bool {
        true
    }

    async fn record_deployment(&self, record: &DeploymentRecord) -> Result<(), LockError> {
        let id = record.id();
        let detail = serde_json::Value::Object(record.detail.clone()).to_string();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(ID, text(&id))
            .item(KIND, text(DEPLOYMENT))
            .item(EXPIRES_AT, expires_at(record.started_at, DEPLOYMENT_TTL))
            .item(SERVICE_ARN, text(&record.service_arn))
            .item(DEPLOYMENT_ID, text(&record.deployment_id))
            .item(STARTED_AT, text(&timestamp(record.started_at)))
            .item(DETAIL, text(&detail))
            .item(OPEN, text(OPEN));
        if let Some(arn) = &record.service_deployment_arn {
            put = put.item(SERVICE_DEPLOYMENT_ARN, text(arn));
        }
        if let Some(digest) = &record.to_digest {
            put = put.item(TO_DIGEST, text(digest));
        }
        put.send()
            .await
            .map(|_| ())
            .map_err(|error| self.error("record", id, "PutItem", error))?;
        // A deployment of another digest ends the hold on a rolled-back one ("until a new digest is pushed").
        let Some(digest) = &record.to_digest else {
            return Ok(());
        };
        let hold = rolled_back_record_id(&record.service_arn);
        let release = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(ID, text(&hold))
            .condition_expression(format!("{DIGEST} <> :digest"))
            .expression_attribute_values(":digest", text(digest))
            .send()
            .await;
        self.deleted_unless_condition_failed(release, "record", hold)
    }

    async fn hold_rolled_back(&self, record: &RolledBackRecord) -> Result<(), LockError> {
        let id = rolled_back_record_id(&record.service_arn);
        let now = Utc::now();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(ID, text(&id))
            .item(KIND, text(ROLLED_BACK))
            .item(EXPIRES_AT, expires_at(now, DEPLOYMENT_TTL))
            .item(SERVICE_ARN, text(&record.service_arn))
            .item(DIGEST, text(&record.digest))
            .item(DEPLOYMENT_ID, text(&record.deployment_id));
        if let Some(arn) = &record.service_deployment_arn {
            put = put.item(SERVICE_DEPLOYMENT_ARN, text(arn));
        }
        if let Some(reason) = &record.status_reason {
            put = put.item(STATUS_REASON, text(reason));
        }
        if let Some(at) = record.at {
            put = put.item(ROLLED_BACK_AT, text(&timestamp(at)));
        }
        put.send()
            .await
            .map(|_| ())
            .map_err(|error| self.error("hold", id, "PutItem", error))
    }

    async fn rolled_back(&self, service_arns: &[String]) -> Result<Vec<RolledBackRecord>, LockError> {
        let now = Utc::now().timestamp();
        let mut held = Vec::new();
        for chunk in service_arns.chunks(BATCH_GET_MAX) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|arn| HashMap::from([(ID.to_owned(), text(&rolled_back_record_id(arn)))]))
                .collect();
            // Unprocessed keys (throttling) are asked again until none is left.
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(|error| LockError {
                        operation: "read",
                        id: "rolled-back#…".into(),
                        message: format!("BatchGetItem request: {error}"),
                        source: None,
                    })?;
                let answer = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|error| self.error("read", "rolled-back#…".to_owned(), "BatchGetItem", error))?;
                for item in answer
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let expired = item
                        .get(EXPIRES_AT)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<i64>().ok())
                        .is_some_and(|at| at < now);
                    let string = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                    match (expired, string(SERVICE_ARN), string(DIGEST), string(DEPLOYMENT_ID)) {
                        (false, Some(service_arn), Some(digest), Some(deployment_id)) => held.push(RolledBackRecord {
                            service_arn,
                            digest,
                            deployment_id,
                            service_deployment_arn: string(SERVICE_DEPLOYMENT_ARN),
                            status_reason: string(STATUS_REASON),
                            at: string(ROLLED_BACK_AT)
                                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                                .map(|t| t.with_timezone(&Utc)),
                        }),
                        (true, ..) => {}
                        _ => warn!(table = %self.table, "a rolled-back record is unreadable; skipped"),
                    }
                }
                if let Some(unprocessed) = answer.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    keys = unprocessed.keys().to_vec();
                }
            }
        }
        Ok(held)
    }

    async fn deployment(&self, service_arn: &str, deployment_id: &str) -> Result<Option<StoredDeployment>, LockError> {
        // The service-deployment ARN form: no key names it, but it is only ever looked for among open records.
        if deployment_id.starts_with("arn:") {
            let open = self
                .query_open(Utc::now() + chrono::TimeDelta::days(1), usize::MAX, Some(deployment_id))
                .await?;
            return Ok(open
                .into_iter()
                .find(|r| r.service_arn == service_arn)
                .map(|record| StoredDeployment { record, outcome: None }));
        }
        let id = deployment_record_id(service_arn, deployment_id);
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ID, text(&id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| self.error("read", id.clone(), "GetItem", error))?;
        let Some(item) = item.item() else {
            return Ok(None);
        };
        let record = record_of(item).map_err(|problem| LockError {
            operation: "read",
            message: format!("the deployment record in table `{}` {problem}", self.table),
            id,
            source: None,
        })?;
        let outcome = item.get(OUTCOME).and_then(|v| v.as_s().ok()).cloned();
        Ok(Some(StoredDeployment { record, outcome }))
    }

    async fn close_deployment(&self, record: &DeploymentRecord, outcome: &str) -> Result<bool, LockError> {
        let id = record.id();
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ID, text(&id))
            .update_expression(format!("SET #outcome = :outcome, {CLOSED_AT} = :now REMOVE #open"))
            .condition_expression(format!("attribute_exists({ID}) AND attribute_not_exists(#outcome)"))
            .expression_attribute_names("#open", OPEN)
            .expression_attribute_names("#outcome", OUTCOME)
            .expression_attribute_values(":outcome", text(outcome))
            .expression_attribute_values(":now", text(&timestamp(Utc::now())))
            .send()
            .await;
        match update {
            Ok(_) => Ok(true),
            // Closed already (a repeated event, the sweep), or gone: someone else notified, or no one will.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(self.error("close", id, "UpdateItem", error)),
        }
    }

    async fn open_deployments(
        &self,
        started_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, LockError> {
        self.query_open(started_before, limit, None).await
    }
}

impl DynamoDbLock {
    async fn query_open(
        &self,
        started_before: DateTime<Utc>,
        limit: usize,
        service_deployment_arn: Option<&str>,
    ) -> Result<Vec<DeploymentRecord>, LockError> {
        let mut found = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OPEN_DEPLOYMENTS_INDEX)
                .key_condition_expression(format!("#open = :open AND {STARTED_AT} < :before"))
                .expression_attribute_names("#open", OPEN)
                .expression_attribute_values(":open", text(OPEN))
                .expression_attribute_values(":before", text(&timestamp(started_before)))
                .set_exclusive_start_key(start.take());
            if let Some(arn) = service_deployment_arn {
                query = query
                    .filter_expression(format!("{SERVICE_DEPLOYMENT_ARN} = :arn"))
                    .expression_attribute_values(":arn", text(arn));
            }
            let page = query
                .send()
                .await
                .map_err(|error| self.error("query", OPEN_DEPLOYMENTS_INDEX.to_owned(), "Query", error))?;
            for item in page.items() {
                match record_of(item) {
                    Ok(record) => found.push(record),
                    Err(problem) => {
                        warn!(table = %self.table, problem, "an open deployment record is unreadable; skipped")
                    }
                }
                if found.len() >= limit {
                    return Ok(found);
                }
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(found),
            }
        }
    }
}

mod items;
