//! Waking the function when a wave's bake ends (`WAVE_BAKE`): a delayed message on its own event queue
//! (`WAVE_QUEUE`), which the SQS trigger reads back as a wake of the rollout of one tag. SQS delays a message at
//! most [`MAX_DELAY`]; a longer bake ends at the first sweep after it. `sdk` sends it with `aws_sdk_sqs`.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub mod sdk;

/// SQS `DelaySeconds` maximum: 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// The wake message's `source` and `detail-type`, as the trigger recognises it.
pub const SOURCE: &str = "ecs-redeploy";
pub const DETAIL_TYPE: &str = "ECS Redeploy Wave Wake";

/// The wake message's `detail`: the tag whose rollout to run again (its digest then is read anew, so a newer push
/// supersedes), the digest that baked and when the bake ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeDetail {
    /// `registry/repository:tag`, with or without `@digest`.
    pub image: String,
    pub digest: String,
    pub wake_at: String,
}

/// The message body: an EventBridge-shaped event, so the queue carries one shape of message.
pub fn body(image: &str, digest: &str, wake_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    serde_json::json!({
        "version": "0",
        "id": format!("wave-wake-{}", wake_at.timestamp()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": "",
        "time": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": "",
        "resources": [],
        "detail": WakeDetail {
            image: image.to_owned(),
            digest: digest.to_owned(),
            wake_at: wake_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        },
    })
    .to_string()
}

/// How long to delay the wake for a bake ending at `wake_at`: whole seconds, rounded up so the message arrives
/// after the end; `None` when the end is past SQS's maximum (the sweep ends that bake) or already reached.
pub fn delay(wake_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<Duration> {
    let left = (wake_at - now).to_std().ok()?;
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    (seconds > 0 && seconds <= MAX_DELAY.as_secs()).then(|| Duration::from_secs(seconds))
}

/// A wake that could not be sent.
pub type WakeError = crate::aws::AwsError<crate::aws::Sqs>;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_delay_rounds_up_and_stops_at_sqs_maximum() {
        let now = Utc.with_ymd_and_hms(2026, 12, 8, 3, 0, 0).unwrap();
        let at = |ms: i64| now + chrono::TimeDelta::milliseconds(ms);
        assert_eq!(delay(at(600_000), now), Some(Duration::from_secs(600)));
        assert_eq!(delay(at(599_001), now), Some(Duration::from_secs(600)));
        assert_eq!(delay(at(900_000), now), Some(MAX_DELAY));
        assert_eq!(delay(at(900_001), now), None, "longer bakes are the sweep's");
        assert_eq!(delay(now, now), None);
        assert_eq!(delay(at(-1), now), None);
    }

    #[test]
    fn the_body_is_an_event_with_the_detail() {
        let now = Utc.with_ymd_and_hms(2026, 12, 8, 3, 0, 0).unwrap();
        let body: serde_json::Value = serde_json::from_str(&body("r/app:latest", "sha256:ab", now, now)).unwrap();
        assert_eq!(
            (body["source"].as_str(), body["detail-type"].as_str()),
            (Some(SOURCE), Some(DETAIL_TYPE))
        );
        let detail: WakeDetail = serde_json::from_value(body["detail"].clone()).unwrap();
        assert_eq!(detail.wake_at, "2026-12-08T03:00:00Z");
        assert_eq!(detail.image, "r/app:latest");
    }
}
