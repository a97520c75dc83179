//! The wake as an SQS `SendMessage` with `DelaySeconds`, to the function's own event queue.

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;

use super::WakeError;

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
            .map_err(|error| WakeError {
                message: DisplayErrorContext(&error).to_string(),
                source: Some(Box::new(error)),
            })
    }
}
