//! The SDK configuration every AWS client of the function is built from: the standard chain (env, profile,
//! region, `AWS_ENDPOINT_URL[_<SERVICE>]`), the retries `RETRY_MODE` and `MAX_ATTEMPTS` set, and timeouts that
//! retry a stalled call rather than wait it out. A client of one more service is `Client::new(&sdk)`.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{Config, RetryMode};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// One slow answer should be retried, not wait for Lambda's own timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// Loads the standard AWS configuration chain with the SDK's retries and timeouts set from `config`.
pub async fn load_sdk_config(config: &Config) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config(config))
        .timeout_config(timeout_config(ATTEMPT_TIMEOUT))
        .load()
        .await
}

/// `RETRY_MODE` and `MAX_ATTEMPTS` as the SDK's retry configuration.
pub fn retry_config(config: &Config) -> RetryConfig {
    match config.retry_mode {
        RetryMode::Standard => RetryConfig::standard(),
        RetryMode::Adaptive => RetryConfig::adaptive(),
    }
    .with_max_attempts(config.max_attempts)
}

/// Connect and per-attempt timeouts: a stalled call is retried rather than waited out.
pub fn timeout_config(attempt_timeout: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt_timeout)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_timeouts_follow_the_settings() {
        let config = Config::from_lookup(|key| match key {
            "RETRY_MODE" => Some("adaptive".to_owned()),
            "MAX_ATTEMPTS" => Some("7".to_owned()),
            _ => None,
        })
        .unwrap();
        let retry = retry_config(&config);
        assert_eq!(retry.max_attempts(), 7);
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
        let timeout = timeout_config(ATTEMPT_TIMEOUT);
        assert_eq!(timeout.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeout.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
    }
}
