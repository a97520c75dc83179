//! The engine under test and what bounds it: the front the function talks to, the SDK client
//! `main.rs` builds, one measured run, and the least calls and time a strategy can need.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ecs_redeploy::aws::{ATTEMPT_TIMEOUT, retry_config, timeout_config};
use ecs_redeploy::config::Config;
use ecs_redeploy::config::Mode;
use ecs_redeploy::domain::push::Push;
use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::report::{Report, Status};

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

/// The fewest ECS calls any correct run makes over the bench fleet (`SERVICES_PER_CLUSTER` a cluster).
pub fn minimum_calls(clusters: usize, revisions: usize, redeployable: usize, updates: usize) -> Calls {
    fleet_minimum(clusters, SERVICES_PER_CLUSTER, revisions, redeployable, updates)
}

/// The fewest ECS calls any correct run makes over `clusters` clusters of `per_cluster` services, in the
/// order of `ACTIONS`. Every row's minimum comes from here, and each term is a floor for its own reason:
/// - discovery: the fleet is unknown until listed, and every API maximum is used — `ListClusters` and
///   `ListServices` pages of 100, `DescribeServices` of 10 ARNs of one cluster;
/// - task definitions: the images are in the task definitions, and each distinct revision in use is
///   described once (`revisions`: 0 for a warm run, whose cache already holds them);
/// - digest reads: a service a push could redeploy needs what it runs (its current deployment, then the
///   service revision that names the digests), 20 ARNs a call; `redeployable` counts those services only —
///   what a service no push could redeploy runs changes no decision;
/// - updates: one `UpdateService` for each service to redeploy, and nothing else writes.
pub fn fleet_minimum(
    clusters: usize,
    per_cluster: usize,
    revisions: usize,
    redeployable: usize,
    updates: usize,
) -> Calls {
    [
        clusters.div_ceil(100),
        clusters * per_cluster.div_ceil(100),
        clusters * per_cluster.div_ceil(10),
        revisions,
        digest_reads(redeployable),
        digest_reads(redeployable),
        updates,
    ]
    .map(|n| n as u64)
}

/// Calls of each digest read for `services` services: 20 ARNs a call.
pub fn digest_reads(services: usize) -> usize {
    services.div_ceil(DIGEST_READ_BATCH)
}

/// A budget, not a minimum: the report says what every related service runs (`running`), also the
/// `related - redeployable` that no push could redeploy (another tag, a digest pin, the repository's name on
/// another registry). The function reads the digests of all related services together, 20 a call; this is
/// what that costs beyond the minimum's reads of the redeployable ones.
pub fn running_budget(related: usize, redeployable: usize) -> Calls {
    let extra = (digest_reads(related) - digest_reads(redeployable)) as u64;
    [0, 0, 0, 0, extra, extra, 0]
}

/// `a + b`, action by action.
pub fn plus(a: &Calls, b: &Calls) -> Calls {
    std::array::from_fn(|i| a[i] + b[i])
}

/// The calls of `ACTIONS` the front admitted in `run`.
pub fn admitted_calls(run: &Measured) -> Calls {
    ACTIONS.map(|a| run.counts.action(a).forwarded)
}

/// The run admitted exactly `expected` of every action of `ACTIONS` and nothing else.
pub fn admits_exactly(run: &Measured, expected: &Calls) -> bool {
    admitted_calls(run) == *expected && run.other().forwarded == 0
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
            s.reason.code()
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

/// Several runs of the same thing: the one with the median wall time, and what every run measured.
pub struct Runs {
    pub median: Measured,
    /// Each run's wall time in seconds, fastest first.
    pub walls: Vec<f64>,
    /// Each run's admitted calls of `ACTIONS`, and whether it admitted any other action, in the order of `walls`.
    pub calls: Vec<(Calls, bool)>,
}

impl Runs {
    pub fn of(mut runs: Vec<Measured>) -> Runs {
        runs.sort_by_key(|m| m.wall);
        let walls = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
        let calls = runs
            .iter()
            .map(|m| (admitted_calls(m), m.other().forwarded > 0))
            .collect();
        Runs {
            median: runs.swap_remove(runs.len() / 2),
            walls,
            calls,
        }
    }

    /// Every run (not only the median's) admitted exactly `expected`.
    pub fn all_admit_exactly(&self, expected: &Calls) -> bool {
        !self.calls.is_empty() && self.calls.iter().all(|(calls, other)| calls == expected && !other)
    }

    /// Each run's total admitted calls, `a/b/c`.
    pub fn totals(&self) -> String {
        let totals: Vec<String> = self
            .calls
            .iter()
            .map(|(c, other)| {
                format!(
                    "{}{}",
                    c.iter().sum::<u64>(),
                    if *other { " + other actions" } else { "" }
                )
            })
            .collect();
        totals.join("/")
    }
}
