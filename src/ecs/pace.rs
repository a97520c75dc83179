//! Client-side pacing to ECS's request throttling: one token bucket per API category, with the burst and
//! refill rate the ECS API reference documents ("Request throttling for the Amazon ECS API"). A call waits
//! for its token instead of being throttled and retried, so a large fleet runs at the rate ECS admits rather
//! than in bursts of `ThrottlingException`s and backoff. Other clients of the account share ECS's buckets,
//! so throttling can still happen: the SDK's retries remain the net.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The ECS API categories that share a token bucket, as far as the function calls them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// `ListClusters`, `DescribeClusters`.
    ClusterRead,
    /// `ListServices`, `DescribeServices`.
    ServiceRead,
    /// `UpdateService`.
    ServiceModify,
    /// `DescribeTaskDefinition`.
    TaskDefinitionRead,
    /// `RegisterTaskDefinition`.
    TaskDefinitionModify,
    /// `DescribeServiceDeployments`.
    ServiceDeploymentRead,
    /// `DescribeServiceRevisions`.
    ServiceRevisionRead,
}

impl Category {
    /// In declaration order: a category's position is its bucket's.
    const ALL: [Category; 7] = [
        Category::ClusterRead,
        Category::ServiceRead,
        Category::ServiceModify,
        Category::TaskDefinitionRead,
        Category::TaskDefinitionModify,
        Category::ServiceDeploymentRead,
        Category::ServiceRevisionRead,
    ];

    /// Calls a full bucket admits at once.
    fn burst(self) -> f64 {
        match self {
            Category::ClusterRead => 50.0,
            Category::ServiceRead => 100.0,
            Category::ServiceModify => 50.0,
            Category::TaskDefinitionRead => 50.0,
            Category::TaskDefinitionModify => 20.0,
            Category::ServiceDeploymentRead | Category::ServiceRevisionRead => 50.0,
        }
    }

    /// Tokens added per second.
    fn refill(self) -> f64 {
        match self {
            Category::ClusterRead => 20.0,
            Category::ServiceRead => 20.0,
            Category::ServiceModify => 5.0,
            Category::TaskDefinitionRead => 20.0,
            Category::TaskDefinitionModify => 1.0,
            Category::ServiceDeploymentRead | Category::ServiceRevisionRead => 20.0,
        }
    }
}

/// Whether calls are paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// To the documented buckets.
    Documented,
    /// Not at all: throttling is left to the SDK's retries.
    Off,
}

#[derive(Debug)]
struct Bucket {
    /// Below zero when calls have reserved tokens not yet refilled.
    tokens: f64,
    at: Instant,
    /// ECS counts a call's token when the call arrives, and its bucket starts refilling then; we know
    /// only that the first call arrived before its answer. So refill is counted from the first answer:
    /// never ahead of ECS's bucket, however long that first call took to get there.
    refilling: bool,
}

/// The buckets of one process; they start full, like ECS's for an account that was idle.
#[derive(Debug)]
pub struct Pacer {
    pacing: Pacing,
    buckets: Mutex<Vec<Bucket>>,
}

impl Pacer {
    pub fn new(pacing: Pacing) -> Self {
        let now = Instant::now();
        Pacer {
            pacing,
            buckets: Mutex::new(
                Category::ALL
                    .iter()
                    .map(|c| Bucket {
                        tokens: c.burst(),
                        at: now,
                        refilling: false,
                    })
                    .collect(),
            ),
        }
    }

    /// Makes `call` once its category's bucket admits it. Each caller reserves its token when it asks, so
    /// concurrent callers go in the order they asked, one refill interval apart once the burst is spent.
    pub async fn call<F: Future>(&self, category: Category, call: F) -> F::Output {
        if self.pacing == Pacing::Off {
            return call.await;
        }
        let wait = self.reserve(category, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let output = call.await;
        self.answered(category, Instant::now());
        output
    }

    fn answered(&self, category: Category, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = &mut buckets[category as usize];
        if !bucket.refilling {
            bucket.refilling = true;
            bucket.at = now;
        }
    }

    /// Takes a token of `category` at `now`; how long until it is there.
    fn reserve(&self, category: Category, now: Instant) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = &mut buckets[category as usize];
        if bucket.refilling {
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * category.refill()).min(category.burst());
            bucket.at = bucket.at.max(now);
        }
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            // The token is there at that instant by our count; a millisecond more keeps floating-point
            // rounding on either side from making the call a hair early.
            Duration::from_secs_f64(-bucket.tokens / category.refill()) + Duration::from_millis(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// When each of `calls` concurrent calls is made, in seconds since the start; each is answered at once.
    async fn admission_times(pacer: Arc<Pacer>, category: Category, calls: usize) -> Vec<f64> {
        let start = Instant::now();
        let tasks: Vec<_> = (0..calls)
            .map(|_| {
                let pacer = Arc::clone(&pacer);
                tokio::spawn(async move { pacer.call(category, async { start.elapsed().as_secs_f64() }).await })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.expect("task"));
        }
        times.sort_by(f64::total_cmp);
        times
    }

    #[tokio::test(start_paused = true)]
    async fn the_burst_passes_at_once_then_one_call_per_refill_interval() {
        let pacer = Arc::new(Pacer::new(Pacing::Documented));
        let times = admission_times(Arc::clone(&pacer), Category::ServiceModify, 60).await;
        assert!(
            times[..50].iter().all(|t| *t < 0.001),
            "the burst of 50: {:?}",
            &times[..50]
        );
        for (i, t) in times[50..].iter().enumerate() {
            let expected = (i + 1) as f64 / 5.0;
            assert!(
                (t - expected).abs() <= 0.0011,
                "call {} at {t} s, expected {expected} s",
                50 + i
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn categories_fill_independently_and_refill_while_idle() {
        let pacer = Arc::new(Pacer::new(Pacing::Documented));
        let modify = admission_times(Arc::clone(&pacer), Category::TaskDefinitionModify, 21).await;
        assert!(
            (modify[20] - 1.0).abs() < 0.001,
            "the 21st registration waits a second: {modify:?}"
        );
        let reads = admission_times(Arc::clone(&pacer), Category::TaskDefinitionRead, 50).await;
        assert!(reads.iter().all(|t| *t < 0.001), "another category is not held up");
        tokio::time::sleep(Duration::from_secs(20)).await;
        let again = admission_times(pacer, Category::TaskDefinitionModify, 20).await;
        assert!(
            again.iter().all(|t| *t < 0.001),
            "a full burst again after idling: {again:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn refill_counts_from_the_first_answer() {
        let pacer = Pacer::new(Pacing::Documented);
        // The first registration takes 10 s to be answered: ECS may have counted it only just before.
        let answered = pacer
            .call(
                Category::TaskDefinitionModify,
                tokio::time::sleep(Duration::from_secs(10)),
            )
            .await;
        assert_eq!(answered, ());
        let start = Instant::now();
        for _ in 0..19 {
            pacer.call(Category::TaskDefinitionModify, async {}).await;
        }
        assert!(start.elapsed() < Duration::from_millis(1), "the rest of the burst");
        pacer.call(Category::TaskDefinitionModify, async {}).await;
        let waited = start.elapsed().as_secs_f64();
        assert!(
            (waited - 1.0).abs() <= 0.0011,
            "no refill was counted for the 10 s before the first answer: waited {waited} s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn off_never_waits() {
        let pacer = Arc::new(Pacer::new(Pacing::Off));
        let times = admission_times(pacer, Category::TaskDefinitionModify, 100).await;
        assert!(times.iter().all(|t| *t < 0.001));
    }
}
