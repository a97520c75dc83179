//! The wake as an SQS `SendMessage` with `DelaySeconds`, to the function's own event queue.

use std::time::Duration;

use super::WakeError;
use crate::aws::ErrorKind;

pub struct SdkSqsWaker {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SdkSqsWaker {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SdkSqsWaker {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Puts `body` on the queue, visible after `delay` (at most [`super::MAX_DELAY`]).
    pub async fn send(&self, body: String, delay: Duration) -> Result<(), WakeError> {
        let seconds = delay.min(super::MAX_DELAY).as_secs() as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| WakeError::from_sdk("SendMessage", error, classify))
    }
}

/// SQS's error codes by kind (JSON protocol codes and their query-protocol names).
fn classify(code: &str) -> ErrorKind {
    match code {
        "ThrottlingException" | "RequestThrottled" | "KmsThrottled" => ErrorKind::Throttling,
        "QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue" => ErrorKind::NotFound,
        "AccessDenied" | "AccessDeniedException" | "KmsAccessDenied" => ErrorKind::AccessDenied,
        "InvalidParameterValue" | "InvalidAttributeValue" | "InvalidMessageContents" => ErrorKind::InvalidParameter,
        _ => ErrorKind::Other,
    }
}
