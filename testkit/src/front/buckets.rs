//! ECS request throttling: one token bucket per API category, shared by the category's actions
//! (ECS API reference, "Request throttling for the Amazon ECS API").

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ThrottleCategory {
    ClusterRead,
    ServiceRead,
    ServiceModify,
    TaskDefinitionRead,
    TaskDefinitionModify,
    TagModify,
    /// `DescribeServiceRevisions`.
    ServiceRevisionRead,
    /// `DescribeServiceDeployments`, `ListServiceDeployments`.
    ServiceDeploymentRead,
}

impl ThrottleCategory {
    pub const ALL: [Self; 8] = [
        Self::ClusterRead,
        Self::ServiceRead,
        Self::ServiceModify,
        Self::TaskDefinitionRead,
        Self::TaskDefinitionModify,
        Self::TagModify,
        Self::ServiceRevisionRead,
        Self::ServiceDeploymentRead,
    ];

    /// The bucket an action draws from; `None` for actions the table does not list (those
    /// are not throttled by the front).
    pub fn of_action(action: &str) -> Option<Self> {
        match action {
            "DescribeClusters" | "ListClusters" => Some(Self::ClusterRead),
            "DescribeServices" | "ListServices" => Some(Self::ServiceRead),
            "CreateService" | "UpdateService" | "DeleteService" => Some(Self::ServiceModify),
            "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
                Some(Self::TaskDefinitionRead)
            }
            "RegisterTaskDefinition" | "DeregisterTaskDefinition" => Some(Self::TaskDefinitionModify),
            "TagResource" | "UntagResource" => Some(Self::TagModify),
            "DescribeServiceRevisions" => Some(Self::ServiceRevisionRead),
            "DescribeServiceDeployments" | "ListServiceDeployments" => Some(Self::ServiceDeploymentRead),
            _ => None,
        }
    }

    /// Calls a full bucket admits at once.
    pub fn burst(self) -> u32 {
        match self {
            Self::ClusterRead => 50,
            Self::ServiceRead => 100,
            Self::ServiceModify => 50,
            Self::TaskDefinitionRead => 50,
            Self::TaskDefinitionModify => 20,
            Self::TagModify => 20,
            Self::ServiceRevisionRead => 50,
            Self::ServiceDeploymentRead => 50,
        }
    }

    /// Tokens added back per second.
    pub fn refill_per_second(self) -> u32 {
        match self {
            Self::ClusterRead => 20,
            Self::ServiceRead => 20,
            Self::ServiceModify => 5,
            Self::TaskDefinitionRead => 20,
            Self::TaskDefinitionModify => 1,
            Self::TagModify => 10,
            Self::ServiceRevisionRead => 20,
            Self::ServiceDeploymentRead => 20,
        }
    }
}

/// The least wall time in which a client can get `calls` admitted, starting from full buckets:
/// each category spends its burst at once and then one call per refill interval; categories
/// fill independently, so the slowest category sets the bound. A category listed twice counts
/// its calls together.
pub fn throttle_lower_bound(calls: &[(ThrottleCategory, u64)]) -> Duration {
    let mut per_category: BTreeMap<ThrottleCategory, u64> = BTreeMap::new();
    for &(category, count) in calls {
        *per_category.entry(category).or_default() += count;
    }
    per_category
        .into_iter()
        .map(|(category, count)| {
            let beyond_burst = count.saturating_sub(u64::from(category.burst()));
            let nanos = u128::from(beyond_burst) * 1_000_000_000 / u128::from(category.refill_per_second());
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        })
        .max()
        .unwrap_or(Duration::ZERO)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    Admitted,
    Throttled,
}

#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    fn full(category: ThrottleCategory, now: Instant) -> Self {
        Self {
            tokens: f64::from(category.burst()),
            refilled_at: now,
        }
    }

    fn try_take(&mut self, category: ThrottleCategory, now: Instant) -> Admission {
        let elapsed = now.saturating_duration_since(self.refilled_at).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * f64::from(category.refill_per_second())).min(f64::from(category.burst()));
        self.refilled_at = self.refilled_at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Admission::Admitted
        } else {
            Admission::Throttled
        }
    }
}

/// All buckets of one account and Region; each starts full when its category is first used.
#[derive(Debug, Default)]
pub(super) struct EcsBuckets {
    buckets: Mutex<BTreeMap<ThrottleCategory, TokenBucket>>,
}

impl EcsBuckets {
    pub(super) fn try_take(&self, category: ThrottleCategory, now: Instant) -> Admission {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .entry(category)
            .or_insert_with(|| TokenBucket::full(category, now))
            .try_take(category, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(buckets: &EcsBuckets, category: ThrottleCategory, now: Instant, calls: u32) -> u32 {
        let mut admitted = 0;
        for _ in 0..calls {
            if buckets.try_take(category, now) == Admission::Admitted {
                admitted += 1;
            }
        }
        admitted
    }

    #[test]
    fn a_full_bucket_admits_its_burst_then_throttles() {
        let start = Instant::now();
        for category in ThrottleCategory::ALL {
            let buckets = EcsBuckets::default();
            let burst = category.burst();
            assert_eq!(admitted(&buckets, category, start, burst + 5), burst);
        }
    }

    #[test]
    fn tokens_come_back_at_the_refill_rate_and_never_beyond_the_burst() {
        let start = Instant::now();
        let category = ThrottleCategory::ServiceModify;
        let buckets = EcsBuckets::default();
        assert_eq!(admitted(&buckets, category, start, 50), 50);

        let one_second_later = start + Duration::from_secs(1);
        assert_eq!(admitted(&buckets, category, one_second_later, 10), 5);

        let an_hour_later = start + Duration::from_secs(3600);
        assert_eq!(admitted(&buckets, category, an_hour_later, 80), 50);
    }

    #[test]
    fn categories_do_not_share_tokens() {
        let start = Instant::now();
        let buckets = EcsBuckets::default();
        assert_eq!(admitted(&buckets, ThrottleCategory::ClusterRead, start, 60), 50);
        assert_eq!(admitted(&buckets, ThrottleCategory::ServiceRead, start, 1), 1);
    }
}
