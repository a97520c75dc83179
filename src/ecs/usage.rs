//! What the ECS client sends, for the metrics: an SDK interceptor counts every attempt (retries included, which
//! the port's callers do not see) and those ECS answers with throttling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_ecs::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::error::BoxError;

use super::EcsUsage;

/// Counts every attempt the ECS client sends and those ECS answers with throttling: an SDK interceptor
/// sees retries, which the port's callers do not.
#[derive(Debug, Default)]
pub(super) struct UsageCounter {
    attempts: AtomicU64,
    throttled: AtomicU64,
}

#[derive(Debug)]
pub(super) struct CountAttempts(pub(super) Arc<UsageCounter>);

const THROTTLING: &[u8] = b"ThrottlingException";

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        // A JSON-protocol error names its code in `x-amzn-errortype` (`ThrottlingException[:…]`) or in the
        // body's `__type`.
        let throttled = context.response().is_some_and(|response| {
            response.status().as_u16() == 400
                && (response
                    .headers()
                    .get("x-amzn-errortype")
                    .is_some_and(|code| code.starts_with("ThrottlingException"))
                    || response
                        .body()
                        .bytes()
                        .is_some_and(|body| body.windows(THROTTLING.len()).any(|w| w == THROTTLING)))
        });
        if throttled {
            self.0.throttled.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl UsageCounter {
    pub(super) fn read(&self) -> EcsUsage {
        EcsUsage {
            attempts: self.attempts.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}
