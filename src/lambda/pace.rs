//! Client-side pacing to Lambda's control-plane request quotas (Lambda developer guide, "Lambda quotas", API
//! requests, <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>): `GetFunction` 100
//! requests per second, "the remainder of the control plane API requests" (`ListFunctions`, `ListTags`,
//! `UpdateFunctionCode`, `PublishVersion`, `UpdateAlias`) 15 per second; neither can be increased. As with the
//! ECS buckets (`ecs::pace`), a call waits for its slot instead of being throttled and retried; other clients
//! share the quota, so the SDK's retries remain the net.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::ecs::pace::Pacing;

/// The Lambda quotas the function's calls count against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    /// `GetFunction`.
    GetFunction,
    /// Every other control-plane call.
    ControlPlane,
}

impl Quota {
    /// Requests per second. Lambda documents a rate, not a burst: one second's worth is admitted at once.
    fn rate(self) -> f64 {
        match self {
            Quota::GetFunction => 100.0,
            Quota::ControlPlane => 15.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    /// Below zero when calls have reserved tokens not yet refilled.
    tokens: f64,
    at: Instant,
}

/// The buckets of one process; they start full.
#[derive(Debug)]
pub struct LambdaPacer {
    pacing: Pacing,
    buckets: Mutex<[Bucket; 2]>,
}

impl LambdaPacer {
    pub fn new(pacing: Pacing) -> Self {
        let now = Instant::now();
        let full = |quota: Quota| Bucket {
            tokens: quota.rate(),
            at: now,
        };
        LambdaPacer {
            pacing,
            buckets: Mutex::new([full(Quota::GetFunction), full(Quota::ControlPlane)]),
        }
    }

    /// Makes `call` once its quota admits it; concurrent callers go in the order they asked.
    pub async fn call<F: Future>(&self, quota: Quota, call: F) -> F::Output {
        if self.pacing == Pacing::Off {
            return call.await;
        }
        let wait = self.reserve(quota, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        call.await
    }

    /// Takes a token of `quota` at `now`; how long until it is there.
    fn reserve(&self, quota: Quota, now: Instant) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = &mut buckets[quota as usize];
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * quota.rate()).min(quota.rate());
        bucket.at = bucket.at.max(now);
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            // A millisecond more keeps floating-point rounding from making the call a hair early.
            Duration::from_secs_f64(-bucket.tokens / quota.rate()) + Duration::from_millis(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn control_plane_calls_beyond_a_second_of_quota_wait_for_their_slot() {
        let pacer = LambdaPacer::new(Pacing::Documented);
        let start = Instant::now();
        let waits: Vec<Duration> = (0..30).map(|_| pacer.reserve(Quota::ControlPlane, start)).collect();
        assert!(waits[..15].iter().all(Duration::is_zero), "{waits:?}");
        // The 16th waits one slot (1/15 s), the 30th fifteen: 30 calls take about a second beyond the burst.
        assert!((waits[15].as_secs_f64() - 1.0 / 15.0).abs() < 0.01, "{:?}", waits[15]);
        assert!((waits[29].as_secs_f64() - 1.0).abs() < 0.01, "{:?}", waits[29]);
        // GetFunction has its own, larger quota.
        assert!(pacer.reserve(Quota::GetFunction, start).is_zero());
    }

    #[tokio::test(start_paused = true)]
    async fn off_never_waits() {
        let pacer = LambdaPacer::new(Pacing::Off);
        let start = Instant::now();
        for _ in 0..100 {
            pacer.call(Quota::ControlPlane, async {}).await;
        }
        assert_eq!(Instant::now(), start);
    }
}
