//! The engine under test and what bounds it: the front the function talks to, the SDK client
//! `main.rs` builds, one measured run, and the least calls and time a strategy can need.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ecs_redeploy::config::Config;
use ecs_redeploy::config::Mode;
use ecs_redeploy::domain::push::Push;
use ecs_redeploy::domain::report::{Report, Status};
use ecs_redeploy::ecs::sdk::{ATTEMPT_TIMEOUT, SdkEcs, retry_config, timeout_config};
use ecs_redeploy::engine::Redeployer;

use ecs_redeploy_testkit::front::{
    ActionCounts, CallCounts, Front, FrontConfig, ThrottleCategory, throttle_lower_bound,
};
use ecs_redeploy_testkit::moto::{Moto, ecs_client_with};

use super::seed::SERVICES_PER_CLUSTER;

pub const LATENCY: Duration = Duration::from_millis(30);
/// The ECS actions a scan, the digest reads of the related services and a redeploy need, in that order.
pub const ACTIONS: [&str; 7] = [
    "ListClusters",
    "ListServices",
    "DescribeServices",
    "DescribeTaskDefinition",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "UpdateService",
];
/// `DescribeServiceDeployments` and `DescribeServiceRevisions` take this many ARNs per call.
pub const DIGEST_READ_BATCH: usize = 20;

/// Calls per action, in the order of `ACTIONS`.
pub type Calls = [u64; ACTIONS.len()];

/// One measured run: the front's counts, wall time and what failed.
pub struct Measured {
    pub counts: CallCounts,
    pub wall: Duration,
    /// Services reported failed (engine) or failed calls (naive).
    pub failed: usize,
    pub scan_errors: usize,
    /// Of those, the ones whose error is a `ThrottlingException`.
    pub throttled_failures: usize,
    pub redeployed: usize,
    /// Failed services by step (`describe-failed`, `task-definition-unavailable`, `update-service`)
    /// and scan errors by step.
    pub failures: BTreeMap<String, usize>,
}

impl Measured {
    /// Calls that got through to moto, of every action.
    pub fn admitted(&self) -> u64 {
        self.counts.total().forwarded
    }
    /// Admitted calls of actions other than `ACTIONS`.
    pub fn other(&self) -> ActionCounts {
        let mut other = ActionCounts::default();
        for (_, c) in self
            .counts
            .by_action
            .iter()
            .filter(|(a, _)| !ACTIONS.contains(&a.as_str()))
        {
            other.forwarded += c.forwarded;
            other.throttled += c.throttled;
        }
        other
    }
    pub fn throttled(&self) -> u64 {
        self.counts.total().throttled
    }
}

/// The fewest calls a strategy can make on the bench fleet: whole pages of 100, `DescribeServices` of 10,
/// each task-definition revision described once, the current deployment and service revision of each
/// `related` service (one a push relates to) read 20 at a time, one update per match.
pub fn minimum_calls(clusters: usize, revisions: usize, related: usize, matches: usize) -> Calls {
    fleet_minimum(clusters, SERVICES_PER_CLUSTER, revisions, related, matches)
}

/// The same for any fleet of `clusters` × `per_cluster` services.
pub fn fleet_minimum(clusters: usize, per_cluster: usize, revisions: usize, related: usize, matches: usize) -> Calls {
    let pages = per_cluster.div_ceil(100);
    let batches = per_cluster.div_ceil(10);
    let digest_reads = related.div_ceil(DIGEST_READ_BATCH);
    [
        clusters.div_ceil(100),
        clusters * pages,
        clusters * batches,
        revisions,
        digest_reads,
        digest_reads,
        matches,
    ]
    .map(|n| n as u64)
}

pub fn bucket_bound(calls: &Calls) -> Duration {
    let by_category: Vec<_> = ACTIONS
        .iter()
        .zip(calls)
        .map(|(action, n)| (ThrottleCategory::of_action(action).expect("a throttled action"), *n))
        .collect();
    throttle_lower_bound(&by_category)
}

/// Every call takes `LATENCY`; at most `concurrency` in flight, with no gaps and no stage barriers.
pub fn latency_bound(calls: &Calls, concurrency: usize) -> Duration {
    LATENCY * u32::try_from(calls.iter().sum::<u64>().div_ceil(concurrency as u64)).unwrap_or(u32::MAX)
}

/// Limits and throttling like ECS, `LATENCY` on every call.
pub async fn start_front(moto: &Moto) -> Front {
    let config = FrontConfig {
        latency: LATENCY,
        ..FrontConfig::strict()
    };
    Front::start(&moto.endpoint, config).await.expect("front starts")
}

/// The client `main.rs` builds (`load_sdk_config`): the function's retry and timeout settings, with
/// the test account's region, credentials and endpoint.
pub fn engine_client(endpoint: &str, config: &Config) -> aws_sdk_ecs::Client {
    ecs_client_with(endpoint, retry_config(config), timeout_config(ATTEMPT_TIMEOUT))
}

pub async fn engine_run(redeployer: &Redeployer<SdkEcs>, front: &Front, push: &Push) -> Measured {
    engine_run_all(redeployer, front, std::slice::from_ref(push)).await
}

/// One run of several pushes at once (one scan, one plan), measured on a cleared count book.
pub async fn engine_run_all(redeployer: &Redeployer<SdkEcs>, front: &Front, pushes: &[Push]) -> Measured {
    measure_run(front, redeployer.run(pushes, Mode::Apply)).await.0
}

/// Awaits one run of the engine on a cleared count book: what the front counted, and the run's report.
pub async fn measure_run(front: &Front, run: impl Future<Output = Report>) -> (Measured, Report) {
    front.reset_counts();
    let started = Instant::now();
    let report = run.await;
    let wall = started.elapsed();
    let throttling = |e: &str| e.contains("ThrottlingException");
    let throttled_failures = report
        .services
        .iter()
        .filter(|s| s.error.as_deref().is_some_and(throttling))
        .count()
        + report.scan_errors.iter().filter(|e| throttling(&e.error)).count();
    let mut failures = BTreeMap::new();
    for s in report.services.iter().filter(|s| s.outcome == Status::Failed) {
        let step = if s.decision.is_some() {
            "update-service"
        } else {
            s.reason
        };
        *failures.entry(step.to_owned()).or_default() += 1;
    }
    for e in &report.scan_errors {
        *failures.entry(e.step.to_owned()).or_default() += 1;
    }
    let measured = Measured {
        counts: front.calls(),
        wall,
        failed: report.counts.failed,
        scan_errors: report.counts.scan_errors,
        throttled_failures,
        redeployed: report.counts.redeployed,
        failures,
    };
    (measured, report)
}

pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The run with the median wall time, and every run's wall time in seconds.
pub fn median_run(mut runs: Vec<Measured>) -> (Measured, Vec<f64>) {
    runs.sort_by_key(|m| m.wall);
    let walls = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
    (runs.swap_remove(runs.len() / 2), walls)
}
