//! The notification port over `aws_sdk_eventbridge::Client`: the only module that knows the EventBridge
//! SDK's types.

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use tracing::{debug, warn};

use super::{Announcement, Delivery, HaltNotification, Notification, Notifier, RolloutNotification, SOURCE};

/// The most entries one `PutEvents` call takes (EventBridge API reference).
const MAX_ENTRIES_PER_CALL: usize = 10;

/// Puts notifications on one event bus, `NOTIFY_BUS`.
#[derive(Clone, Debug)]
pub struct SdkEventBridge {
    client: aws_sdk_eventbridge::Client,
    /// A bus name or ARN, as `PutEvents` takes it in `EventBusName`.
    bus: String,
}

impl SdkEventBridge {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        SdkEventBridge {
            client,
            bus: bus.into(),
        }
    }

    fn entry(&self, notification: &impl Announcement) -> PutEventsRequestEntry {
        let service_arn = notification.service_arn();
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(notification.detail_type())
            .detail(notification.detail())
            // The event's `resources`, so a rule can match one service by ARN. A service without an ARN is
            // never deployed, but an empty ARN would get the entry refused, so it is left out.
            .set_resources((!service_arn.is_empty()).then(|| vec![service_arn.to_owned()]))
            .build()
    }

    /// Puts one call's worth of notifications; returns how many were not accepted.
    async fn put(&self, chunk: &[impl Announcement]) -> usize {
        let output = match self
            .client
            .put_events()
            .set_entries(Some(chunk.iter().map(|n| self.entry(n)).collect()))
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => {
                warn!(
                    bus = %self.bus,
                    failed = chunk.len(),
                    error = %DisplayErrorContext(&error),
                    "PutEvents failed; these notifications are lost"
                );
                return chunk.len();
            }
        };
        // The answer's entries are in the order of the request's, so each refusal names its service.
        let mut refused = 0;
        for (notification, result) in chunk.iter().zip(output.entries()) {
            if let Some(code) = result.error_code() {
                refused += 1;
                warn!(
                    bus = %self.bus,
                    service_arn = %notification.service_arn(),
                    detail_type = notification.detail_type(),
                    error_code = code,
                    error_message = result.error_message().unwrap_or(""),
                    "EventBridge refused a notification; it is lost"
                );
            }
        }
        // FailedEntryCount still counts refusals an answer without entries does not itemise.
        let counted = usize::try_from(output.failed_entry_count()).unwrap_or(0);
        let failed = refused.max(counted).min(chunk.len());
        if failed > refused {
            warn!(
                bus = %self.bus,
                failed = failed - refused,
                "EventBridge refused notifications without naming them; they are lost"
            );
        }
        failed
    }
}

impl SdkEventBridge {
    async fn send_all(&self, notifications: &[impl Announcement]) -> Delivery {
        let mut delivery = Delivery::default();
        // One call after the other: an invocation changes few services (a call per ten of them), so
        // concurrency would save little time and only spend EventBridge's PutEvents quota faster.
        for chunk in notifications.chunks(MAX_ENTRIES_PER_CALL) {
            let failed = self.put(chunk).await;
            delivery.failed += failed;
            delivery.sent += chunk.len() - failed;
        }
        if !notifications.is_empty() {
            debug!(bus = %self.bus, sent = delivery.sent, failed = delivery.failed, "notifications put");
        }
        delivery
    }
}

impl Notifier for SdkEventBridge {
    async fn send(&self, notifications: &[Notification]) -> Delivery {
        self.send_all(notifications).await
    }

    async fn send_rollouts(&self, notifications: &[RolloutNotification]) -> Delivery {
        self.send_all(notifications).await
    }

    async fn send_halts(&self, notifications: &[HaltNotification]) -> Delivery {
        self.send_all(notifications).await
    }
}

#[cfg(test)]
mod tests;
