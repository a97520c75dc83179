//! The sweep row: no event; the fleet's tags asked of ECR, and the services whose tag moved redeployed. Its
//! own moto: `REPOSITORIES` ECR repositories of `TAGS` tags each, every image (repository:tag) followed by
//! `SERVICES_PER_IMAGE` services. The front first sees the services with their tags resolved to the pushed
//! digests; then the `MOVED` tags move without an event (lost pushes), and their services have drifted. One
//! sweep redeploys those; a second right after (buckets as the first left them) redeploys nothing.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecs_redeploy::config::{Config, Mode};
use ecs_redeploy::ecr::sdk::SdkEcr;
use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy_testkit::fleet::{ServiceSpec, deployment_ids, redeployed, registry, seed};
use ecs_redeploy_testkit::front::Front;
use ecs_redeploy_testkit::moto::Moto;
use ecs_redeploy_testkit::registry::{observe_services, push_image};
use serde_json::json;

use super::ecr::{CountingEcr, EcrCalls};
use super::engine::{
    ACTIONS, Calls, Measured, admits_exactly, bucket_bound, engine_client, fleet_minimum, latency_bound, measure_run,
    start_front,
};
use super::table::{Column, Goal, Minimum, calls_goal, calls_table, wall_goal};

const CLUSTERS: usize = 4;
const SERVICES_PER_CLUSTER: usize = 100;
const SERVICES: usize = CLUSTERS * SERVICES_PER_CLUSTER;
const REPOSITORIES: usize = 5;
const TAGS: [&str; 4] = ["latest", "stable", "v1", "v2"];
const IMAGES: usize = REPOSITORIES * TAGS.len();
const SERVICES_PER_IMAGE: usize = SERVICES / IMAGES;
/// The lost pushes, as image numbers: `sweep-0:latest`, `sweep-1:stable`, `sweep-2:v1`.
const MOVED: [usize; 3] = [0, 5, 10];
const DRIFTED: usize = MOVED.len() * SERVICES_PER_IMAGE;
/// ECS clock time let pass before the sweep: every bucket the seeding touched is full again.
const REFILL: Duration = Duration::from_secs(11);

fn cluster_name(c: usize) -> String {
    format!("sweep-{c}")
}

fn repository(r: usize) -> String {
    format!("sweep-{r}")
}

/// Image `n`, as the task definitions name it: repository `n / TAGS.len()`, tag `n % TAGS.len()`.
fn image(n: usize) -> String {
    format!("{}/{}:{}", registry(), repository(n / TAGS.len()), TAGS[n % TAGS.len()])
}

/// Service `i` (of all clusters) follows image `i % IMAGES`.
fn specs() -> Vec<ServiceSpec> {
    (0..SERVICES)
        .map(|i| {
            ServiceSpec::new(
                &cluster_name(i / SERVICES_PER_CLUSTER),
                &format!("svc-{:03}", i % SERVICES_PER_CLUSTER),
                &[&image(i % IMAGES)],
            )
        })
        .collect()
}

/// Pushes image `n`, build `build`, to moto's ECR and the front's registry; returns its digest.
async fn push(moto: &Moto, front: &Front, n: usize, build: usize) -> String {
    let content = format!("image {n} build {build}");
    push_image(moto, front, &repository(n / TAGS.len()), TAGS[n % TAGS.len()], &content).await
}

/// One sweep: the front's counts, the ECR calls, and what changed.
pub struct SweepRun {
    pub run: Measured,
    pub batch_get_image: u64,
    pub manifest_reads: u64,
    pub drifted: usize,
    /// Services with a new deployment after the sweep (moto's view).
    pub changed: usize,
}

impl SweepRun {
    fn ecr_calls(&self) -> u64 {
        self.batch_get_image + self.manifest_reads
    }

    fn updates(&self) -> u64 {
        self.run.counts.action("UpdateService").forwarded
    }

    fn failures(&self) -> usize {
        self.run.failed + self.run.scan_errors
    }
}

pub struct Sweep {
    pub first: SweepRun,
    pub second: SweepRun,
    pub seed: Duration,
    concurrency: usize,
}

/// Seeds its own moto and ECR, lets the front see the fleet, moves `MOVED` tags, then sweeps twice with one
/// new function (cold task-definition cache for the first sweep).
pub async fn measure(config: &Config, progress: impl Fn(&str)) -> Sweep {
    let started = Instant::now();
    let moto = Moto::start();
    let front = start_front(&moto).await;
    for n in 0..IMAGES {
        push(&moto, &front, n, 0).await;
    }
    seed(&moto.ecs_client(), &specs()).await;
    let clusters: Vec<String> = (0..CLUSTERS).map(cluster_name).collect();
    let clusters: Vec<&str> = clusters.iter().map(String::as_str).collect();
    observe_services(&front, &clusters).await;
    let seeded = started.elapsed();
    progress(&format!(
        "sweep: seeded {SERVICES} services on {IMAGES} images in {REPOSITORIES} repositories in {:.2} s",
        seeded.as_secs_f64()
    ));
    // The lost pushes come later on the ECS clock than the revisions the services were first seen with.
    front.advance_clock(Duration::from_secs(2));
    for n in MOVED {
        push(&moto, &front, n, 1).await;
    }
    front.advance_clock(REFILL);

    let calls = Arc::new(EcrCalls::default());
    let redeployer = Redeployer::new(
        SdkEcs::new(engine_client(&front.endpoint_url(), config), moto.tagging_client()),
        config.clone(),
    )
    .with_registry(CountingEcr {
        ecr: SdkEcr::new(moto.ecr_client()),
        calls: Arc::clone(&calls),
    });
    let mut before = deployment_ids(&moto.ecs_client(), &clusters).await;
    let mut sweeps = Vec::with_capacity(2);
    for label in ["1st", "2nd"] {
        let (run, report) = measure_run(&front, redeployer.sweep(&[], Mode::Apply)).await;
        let (batch_get_image, manifest_reads) = calls.take();
        let after = deployment_ids(&moto.ecs_client(), &clusters).await;
        progress(&format!("sweep: {label} sweep: {:.2} s", run.wall.as_secs_f64()));
        sweeps.push(SweepRun {
            run,
            batch_get_image,
            manifest_reads,
            drifted: report.counts.drifted,
            changed: redeployed(&before, &after).len(),
        });
        before = after;
    }
    let second = sweeps.pop().expect("two sweeps");
    let first = sweeps.pop().expect("two sweeps");
    Sweep {
        first,
        second,
        seed: seeded,
        concurrency: config.max_concurrency.get(),
    }
}

impl Sweep {
    /// The fewest ECS calls of each sweep (`fleet_minimum`'s terms): the whole fleet scanned and, every service
    /// following a tag in use (any of them could have drifted: all are redeployable), every service's digests read; the first describes each task definition and updates the drifted
    /// services, the second (warm cache, nothing drifted) neither.
    fn minimum(&self) -> (Calls, Calls) {
        (
            fleet_minimum(CLUSTERS, SERVICES_PER_CLUSTER, IMAGES, SERVICES, DRIFTED),
            fleet_minimum(CLUSTERS, SERVICES_PER_CLUSTER, 0, SERVICES, 0),
        )
    }

    fn bound(&self, calls: &Calls) -> Duration {
        bucket_bound(calls).max(latency_bound(calls, self.concurrency))
    }

    pub fn table(&self, w: &mut String) {
        let (min_first, min_second) = self.minimum();
        let total = |m: &Calls| m.iter().sum::<u64>();
        let _ = writeln!(
            w,
            "\nsweep: {SERVICES} services in {CLUSTERS} clusters following {IMAGES} tags in {REPOSITORIES} ECR \
             repositories ({SERVICES_PER_IMAGE} services a tag; own moto, seeded in {:.2} s); {} tags moved without \
             an event, {DRIFTED} services drifted; one new function with the ECR port, two sweeps back to back on \
             one front (the first from full buckets)",
            self.seed.as_secs_f64(),
            MOVED.len()
        );
        let column = |label: &str, run| Column {
            label: label.to_owned(),
            run,
            get_resources: None,
        };
        let columns = [
            column("1st sweep", &self.first.run),
            column("2nd sweep", &self.second.run),
        ];
        let minimum = Minimum {
            label: "min 1st/2nd".to_owned(),
            actions: std::array::from_fn(|i| format!("{}/{}", min_first[i], min_second[i])),
            get_resources: "-/-".to_owned(),
            total: format!("{}/{}", total(&min_first), total(&min_second)),
            wall: format!(
                "{:.2} s/{:.2} s",
                self.bound(&min_first).as_secs_f64(),
                self.bound(&min_second).as_secs_f64()
            ),
            redeployed: format!("{DRIFTED}/0"),
        };
        calls_table(w, &columns, &minimum, "wall time");
        let _ = writeln!(
            w,
            "ECR (to moto directly, counted by the port): BatchGetImage {} / {}, manifest reads {} / {} \
             ({REPOSITORIES} repositories in scope, ≤100 tags each); drifted {} / {}; services with a new \
             deployment (moto) {} / {}",
            self.first.batch_get_image,
            self.second.batch_get_image,
            self.first.manifest_reads,
            self.second.manifest_reads,
            self.first.drifted,
            self.second.drifted,
            self.first.changed,
            self.second.changed
        );
    }

    pub fn goals(&self) -> Vec<Goal> {
        let (min_first, min_second) = self.minimum();
        let (first, second) = (&self.first, &self.second);
        let none: Calls = [0; ACTIONS.len()];
        let calls = |s: &SweepRun| format!("{} (+{} throttled)", s.run.admitted(), s.run.throttled());
        vec![
            calls_goal(
                "sweep 1st, ECS",
                &min_first,
                &none,
                calls(first),
                admits_exactly(&first.run, &min_first),
            ),
            calls_goal(
                "sweep 2nd, ECS",
                &min_second,
                &none,
                calls(second),
                admits_exactly(&second.run, &min_second),
            ),
            (
                format!("sweep ECR calls = {REPOSITORIES} repositories (1st/2nd)"),
                format!("{}/{}", first.ecr_calls(), second.ecr_calls()),
                first.ecr_calls() == REPOSITORIES as u64 && second.ecr_calls() == REPOSITORIES as u64,
            ),
            wall_goal("sweep 1st", first.run.wall, self.bound(&min_first)),
            (
                format!("sweep: each of {DRIFTED} drifted redeployed once"),
                format!(
                    "drifted {}, UpdateService {}, redeployed {}, changed {}, failures {}",
                    first.drifted,
                    first.updates(),
                    first.run.redeployed,
                    first.changed,
                    first.failures()
                ),
                [
                    first.drifted,
                    first.updates() as usize,
                    first.run.redeployed,
                    first.changed,
                ] == [DRIFTED; 4]
                    && first.failures() == 0,
            ),
            (
                "2nd sweep right after: nothing redeployed".to_owned(),
                format!(
                    "drifted {}, UpdateService {}, changed {}, failures {}",
                    second.drifted,
                    second.updates(),
                    second.changed,
                    second.failures()
                ),
                second.drifted == 0 && second.updates() == 0 && second.changed == 0 && second.failures() == 0,
            ),
        ]
    }

    pub fn summary(&self) -> serde_json::Value {
        let (min_first, min_second) = self.minimum();
        let phase = |s: &SweepRun, minimum: &Calls| {
            json!({
                "calls_total": s.run.admitted(), "calls_throttled": s.run.throttled(),
                "calls_lower_bound": minimum.iter().sum::<u64>(),
                "calls_by_action": ACTIONS.iter().map(|a| (a.to_string(), json!(s.run.counts.action(a).forwarded)))
                    .collect::<serde_json::Map<_, _>>(),
                "ecr_batch_get_image": s.batch_get_image, "ecr_manifest_reads": s.manifest_reads,
                "wall_s": s.run.wall.as_secs_f64(), "wall_lower_bound_s": self.bound(minimum).as_secs_f64(),
                "drifted": s.drifted, "redeployed": s.run.redeployed, "changed": s.changed,
                "failures": s.failures(), "failures_by_step": s.run.failures,
            })
        };
        let goals = self.goals();
        json!({
            "clusters": CLUSTERS, "services": SERVICES, "repositories": REPOSITORIES, "tags": IMAGES,
            "moved_tags": MOVED.len(), "seed_s": self.seed.as_secs_f64(),
            "first": phase(&self.first, &min_first), "second": phase(&self.second, &min_second),
            "goals": goals.iter().map(|(g, m, met)| json!({"goal": g, "measured": m, "met": met}))
                .collect::<Vec<_>>(),
        })
    }
}
