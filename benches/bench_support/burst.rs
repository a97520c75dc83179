//! The burst row: `REPOSITORIES` pushes arriving at once, each repository used by
//! `SERVICES_PER_REPOSITORY` services, handled in one batch (one scan, one plan) versus one invocation
//! per push. Its own moto, so the other rows' fleet is neither disturbed nor scanned; reset and seeded
//! again before each phase, and a new front (full buckets) for each phase.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ecs_redeploy::config::Config;
use ecs_redeploy::domain::push::Push;
use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy_testkit::fleet::{ServiceSpec, deployment_ids, redeployed, registry, seed};
use ecs_redeploy_testkit::front::{ActionCounts, CallCounts};
use ecs_redeploy_testkit::moto::Moto;
use serde_json::json;

use super::engine::{
    ACTIONS, Calls, Measured, admits_exactly, bucket_bound, digest_reads, engine_client, engine_run, engine_run_all,
    fleet_minimum, latency_bound, start_front,
};
use super::table::{Column, Goal, Minimum, calls_goal, calls_table, wall_goal};

pub const CLUSTERS: usize = 4;
pub const SERVICES_PER_CLUSTER: usize = 25;
pub const REPOSITORIES: usize = 20;
pub const SERVICES: usize = CLUSTERS * SERVICES_PER_CLUSTER;
const SERVICES_PER_REPOSITORY: usize = SERVICES / REPOSITORIES;
/// The discovery actions: the scan (`ACTIONS` without the digest reads and `UpdateService`).
const DISCOVERY: [&str; 4] = [
    "ListClusters",
    "ListServices",
    "DescribeServices",
    "DescribeTaskDefinition",
];

fn cluster_name(c: usize) -> String {
    format!("burst-{c}")
}

/// Service `i` (of all clusters) runs `burst-(i % REPOSITORIES):latest`: every repository on
/// `SERVICES_PER_REPOSITORY` services, spread over the clusters.
fn specs() -> Vec<ServiceSpec> {
    (0..SERVICES)
        .map(|i| {
            let image = format!("{}/burst-{:02}:latest", registry(), i % REPOSITORIES);
            ServiceSpec::new(
                &cluster_name(i / SERVICES_PER_CLUSTER),
                &format!("svc-{:02}", i % SERVICES_PER_CLUSTER),
                &[&image],
            )
        })
        .collect()
}

/// One push per repository, as ECR reports it (tag and digest).
fn pushes() -> Vec<Push> {
    (0..REPOSITORIES)
        .map(|n| {
            let uri = format!(
                "{}/burst-{n:02}:latest@sha256:{}",
                registry(),
                format!("{n:02x}").repeat(32)
            );
            Push::from_image_uri(&uri).expect("a valid image")
        })
        .collect()
}

fn add(into: &mut ActionCounts, c: &ActionCounts) {
    into.received += c.received;
    into.forwarded += c.forwarded;
    into.throttled += c.throttled;
    into.faulted += c.faulted;
    into.rejected += c.rejected;
}

/// Runs one after the other, as one: counts, wall times, failures and redeploys added up.
fn sum(runs: &[Measured]) -> Measured {
    let mut counts = CallCounts::default();
    let mut failures = BTreeMap::new();
    for run in runs {
        for (action, c) in &run.counts.by_action {
            add(counts.by_action.entry(action.clone()).or_default(), c);
        }
        for (step, n) in &run.failures {
            *failures.entry(step.clone()).or_default() += n;
        }
    }
    Measured {
        counts,
        wall: runs.iter().map(|r| r.wall).sum(),
        failed: runs.iter().map(|r| r.failed).sum(),
        scan_errors: runs.iter().map(|r| r.scan_errors).sum(),
        throttled_failures: runs.iter().map(|r| r.throttled_failures).sum(),
        redeployed: runs.iter().map(|r| r.redeployed).sum(),
        failures,
    }
}

fn discovery(run: &Measured) -> u64 {
    DISCOVERY.iter().map(|a| run.counts.action(a).forwarded).sum()
}

fn all_clusters() -> Vec<String> {
    (0..CLUSTERS).map(cluster_name).collect()
}

/// A fleet as seeded, and the newest deployment id of each service (read from moto directly).
async fn reseed(moto: &Moto) -> (Duration, BTreeMap<String, String>) {
    let started = Instant::now();
    moto.reset();
    let client = moto.ecs_client();
    seed(&client, &specs()).await;
    let seeded = started.elapsed();
    let clusters = all_clusters();
    let ids = deployment_ids(&client, &clusters.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(ids.len(), SERVICES, "every burst service seeded");
    (seeded, ids)
}

/// Services whose newest deployment changed since `before`.
async fn changed(moto: &Moto, before: &BTreeMap<String, String>) -> usize {
    let clusters = all_clusters();
    let after = deployment_ids(
        &moto.ecs_client(),
        &clusters.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    redeployed(before, &after).len()
}

pub struct Burst {
    pub batch: Measured,
    /// The `REPOSITORIES` separate runs added up, and each run's wall time.
    pub separate: Measured,
    pub separate_walls: Vec<f64>,
    /// The first separate run: one push, cold cache, full buckets.
    pub single: Measured,
    /// Services with a new deployment after the batch and after the separate runs (moto's view).
    pub batch_changed: usize,
    pub separate_changed: usize,
    pub seed: Duration,
    concurrency: usize,
}

/// Seeds its own moto, then the batch (one new function, all pushes in one run) and the separate
/// invocations (one new function, one run per push, sequentially: a warm function shares its
/// task-definition cache across invocations, the favourable case for separate runs).
pub async fn measure(config: &Config, progress: impl Fn(&str)) -> Burst {
    let moto = Moto::start();
    let pushes = pushes();

    let (seed_batch, before) = reseed(&moto).await;
    progress(&format!(
        "burst: seeded {SERVICES} services in {:.2} s",
        seed_batch.as_secs_f64()
    ));
    let front = start_front(&moto).await;
    let redeployer = Redeployer::new(
        SdkEcs::new(engine_client(&front.endpoint_url(), config), moto.tagging_client()),
        config.clone(),
    );
    let batch = engine_run_all(&redeployer, &front, &pushes).await;
    let batch_changed = changed(&moto, &before).await;
    drop((redeployer, front));
    progress(&format!(
        "burst: batch of {REPOSITORIES} pushes: {:.2} s",
        batch.wall.as_secs_f64()
    ));

    let (_, before) = reseed(&moto).await;
    let front = start_front(&moto).await;
    let redeployer = Redeployer::new(
        SdkEcs::new(engine_client(&front.endpoint_url(), config), moto.tagging_client()),
        config.clone(),
    );
    let mut runs = Vec::with_capacity(REPOSITORIES);
    for push in &pushes {
        runs.push(engine_run(&redeployer, &front, push).await);
    }
    let separate_changed = changed(&moto, &before).await;
    let separate = sum(&runs);
    progress(&format!(
        "burst: {REPOSITORIES} separate runs: {:.2} s",
        separate.wall.as_secs_f64()
    ));
    let separate_walls = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
    Burst {
        batch,
        separate,
        separate_walls,
        single: runs.swap_remove(0),
        batch_changed,
        separate_changed,
        seed: seed_batch,
        concurrency: config.max_concurrency.get(),
    }
}

impl Burst {
    /// The fewest calls (`fleet_minimum`'s terms): the batch scans once and reads the digests of all its
    /// services at once — every service runs a pushed repository's `:latest`, so every one is redeployable and
    /// none costs a running budget; each separate run scans again and reads the digests of its own push's
    /// services, but describes each task-definition revision only once (the shared cache). Every service is
    /// updated once either way.
    fn minimum(&self) -> (Calls, Calls) {
        let batch = fleet_minimum(CLUSTERS, SERVICES_PER_CLUSTER, REPOSITORIES, SERVICES, SERVICES);
        let [clusters, pages, describes, revisions, _, _, updates] = batch;
        let runs = REPOSITORIES as u64;
        let reads = digest_reads(SERVICES_PER_REPOSITORY) as u64 * runs;
        (
            batch,
            [
                clusters * runs,
                pages * runs,
                describes * runs,
                revisions,
                reads,
                reads,
                updates,
            ],
        )
    }

    fn single_discovery_minimum(&self) -> u64 {
        fleet_minimum(CLUSTERS, SERVICES_PER_CLUSTER, REPOSITORIES, 0, 0)
            .iter()
            .sum()
    }

    fn bound(&self, calls: &Calls) -> Duration {
        bucket_bound(calls).max(latency_bound(calls, self.concurrency))
    }

    pub fn table(&self, w: &mut String) {
        let (min_batch, min_separate) = self.minimum();
        let total = |m: &Calls| m.iter().sum::<u64>();
        let bound = |m: &Calls| self.bound(m);
        let _ = writeln!(
            w,
            "\nburst: {REPOSITORIES} pushes at once, {REPOSITORIES} repositories × {SERVICES_PER_REPOSITORY} \
             services `:latest` = {SERVICES} services in {CLUSTERS} clusters (own moto, seeded in {:.2} s); \
             batch: one run of all pushes; separate: {REPOSITORIES} runs of one push each, back to back, one warm \
             function (shared task-definition cache: the favourable case); each phase a new front (full buckets)",
            self.seed.as_secs_f64()
        );
        let column = |label: &str, run| Column {
            label: label.to_owned(),
            run,
            get_resources: None,
        };
        let columns = [
            column("batch", &self.batch),
            column(&format!("separate ×{REPOSITORIES}"), &self.separate),
            column("1st separate", &self.single),
        ];
        let minimum = Minimum {
            label: "min batch/separate".to_owned(),
            actions: std::array::from_fn(|i| format!("{}/{}", min_batch[i], min_separate[i])),
            get_resources: "-/-".to_owned(),
            total: format!("{}/{}", total(&min_batch), total(&min_separate)),
            wall: format!(
                "{:.2} s/{:.2} s",
                bound(&min_batch).as_secs_f64(),
                bound(&min_separate).as_secs_f64()
            ),
            redeployed: format!("{SERVICES}/{SERVICES}"),
        };
        calls_table(w, &columns, &minimum, "wall time");
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let _ = writeln!(
            w,
            "separate / batch: {:.1}× calls admitted, {:.1}× wall; separate wall per run {:.2?} s; services with a \
             new deployment (moto): batch {}, separate {}",
            ratio(self.separate.admitted() as f64, self.batch.admitted() as f64),
            ratio(self.separate.wall.as_secs_f64(), self.batch.wall.as_secs_f64()),
            self.separate_walls,
            self.batch_changed,
            self.separate_changed
        );
        let _ = writeln!(
            w,
            "one push's discovery calls: measured {} (1st separate run, cold), minimum {}",
            discovery(&self.single),
            self.single_discovery_minimum()
        );
    }

    pub fn goals(&self) -> Vec<Goal> {
        let b = &self.batch;
        let updates = b.counts.action("UpdateService").forwarded;
        let (min_batch, min_separate) = self.minimum();
        let none: Calls = [0; ACTIONS.len()];
        vec![
            calls_goal(
                "burst batch",
                &min_batch,
                &none,
                format!("{} (+{} throttled)", b.admitted(), b.throttled()),
                admits_exactly(b, &min_batch),
            ),
            wall_goal("burst batch", b.wall, self.bound(&min_batch)),
            calls_goal(
                &format!("burst separate ×{REPOSITORIES}"),
                &min_separate,
                &none,
                format!(
                    "{} (+{} throttled)",
                    self.separate.admitted(),
                    self.separate.throttled()
                ),
                admits_exactly(&self.separate, &min_separate),
            ),
            (
                format!("burst batch: each of {SERVICES} redeployed once"),
                format!(
                    "UpdateService {updates}, redeployed {}, changed {}, failures {}",
                    b.redeployed,
                    self.batch_changed,
                    b.failed + b.scan_errors
                ),
                updates == SERVICES as u64
                    && b.redeployed == SERVICES
                    && self.batch_changed == SERVICES
                    && b.failed + b.scan_errors == 0,
            ),
        ]
    }

    pub fn summary(&self) -> serde_json::Value {
        let (min_batch, min_separate) = self.minimum();
        let phase = |m: &Measured, minimum: &Calls, changed: usize| {
            json!({
                "calls_total": m.admitted(), "calls_attempts": m.counts.total().received,
                "calls_throttled": m.throttled(), "calls_lower_bound": minimum.iter().sum::<u64>(),
                "calls_by_action": ACTIONS.iter().map(|a| (a.to_string(), json!(m.counts.action(a).forwarded)))
                    .collect::<serde_json::Map<_, _>>(),
                "throttled_by_action": ACTIONS.iter().map(|a| (a.to_string(), json!(m.counts.action(a).throttled)))
                    .collect::<serde_json::Map<_, _>>(),
                "wall_s": m.wall.as_secs_f64(),
                "wall_lower_bound_s": self.bound(minimum).as_secs_f64(),
                "redeployed": m.redeployed, "changed": changed, "failures": m.failed + m.scan_errors,
                "failures_by_step": m.failures,
            })
        };
        let mut separate = phase(&self.separate, &min_separate, self.separate_changed);
        separate["runs"] = json!(REPOSITORIES);
        separate["wall_samples_s"] = json!(self.separate_walls);
        separate["task_definition_cache"] = json!("shared (one warm function)");
        let goals = self.goals();
        json!({
            "clusters": CLUSTERS, "services": SERVICES, "repositories": REPOSITORIES,
            "services_per_repository": SERVICES_PER_REPOSITORY, "seed_s": self.seed.as_secs_f64(),
            "batch": phase(&self.batch, &min_batch, self.batch_changed),
            "separate": separate,
            "single_discovery_calls": discovery(&self.single),
            "single_discovery_calls_minimum": self.single_discovery_minimum(),
            "goals": goals.iter().map(|(g, m, met)| json!({"goal": g, "measured": m, "met": met}))
                .collect::<Vec<_>>(),
        })
    }
}
