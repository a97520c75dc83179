//! The waves row: a staged rollout of one push over `WAVES` waves of `PER_WAVE` services (cluster `waves-N` is
//! wave N+1, every service on `waves:latest`), with the lock table (moto's DynamoDB) and held rollouts. The push
//! starts wave 1; then each wave's services complete on the front and their `SERVICE_DEPLOYMENT_COMPLETED` events
//! come in SQS batches of 10. The events of a wave but its last batch finish no wave and must scan nothing; the
//! last batch's completion starts the next wave with one scan. Each service is deployed once.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::Utc;
use ecs_redeploy::config::{Config, Mode};
use ecs_redeploy::domain::push::Push;
use ecs_redeploy::ecr::sdk::SdkEcr;
use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::lock::dynamodb::DynamoDbLock;
use ecs_redeploy::trigger::sqs::{messages, process_batch};
use ecs_redeploy_testkit::fleet::{ACCOUNT, REGION, ServiceSpec, registry, seed};
use ecs_redeploy_testkit::front::Front;
use ecs_redeploy_testkit::moto::{Moto, create_lock_table};
use ecs_redeploy_testkit::registry::{observe_services, push_image};
use ecs_redeploy_testkit::sqs::batch;
use serde_json::json;

use super::engine::{ACTIONS, Calls, engine_client, fleet_minimum, plus, start_front};
use super::table::{Goal, calls_goal};

const WAVES: usize = 3;
const PER_WAVE: usize = 100;
const SERVICES: usize = WAVES * PER_WAVE;
/// Lambda's default SQS batch size.
const BATCH: usize = 10;
const TABLE: &str = "bench-waves-locks";

fn cluster(wave: usize) -> String {
    format!("waves-{wave}")
}

fn service_arn(wave: usize, i: usize) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{}/svc-{i:03}", cluster(wave))
}

/// What one step cost: the front's counts and what the step's run (if any) did.
pub struct Step {
    pub counts: Calls,
    pub scans: u64,
    pub redeployed: usize,
    pub failed: usize,
}

pub struct Waves {
    /// Per wave: the run that started it (the push for wave 1, the last completion batch for the others).
    pub starts: Vec<Step>,
    /// Per wave: its completion batches that finished no wave.
    pub quiet: Vec<Step>,
    /// The last wave's last batch: it finishes the rollout and starts nothing.
    pub last: Step,
    /// `UpdateService` applied per service (moto), over the whole rollout.
    pub deployed_once: usize,
    pub deployed_more: usize,
}

fn calls_of(front: &Front) -> (Calls, u64) {
    let counts = front.calls();
    let calls = ACTIONS.map(|a| counts.action(a).forwarded);
    (calls, calls[1] + calls[2])
}

/// Seeds, pushes, and drives the rollout through its completions.
pub async fn measure(config: &Config, progress: impl Fn(&str)) -> Waves {
    let started = Instant::now();
    let moto = Moto::start();
    let front = start_front(&moto).await;
    push_image(&moto, &front, "waves", "latest", "waves v1").await;
    let image = format!("{}/waves:latest", registry());
    let specs: Vec<ServiceSpec> = (0..SERVICES)
        .map(|n| {
            ServiceSpec::new(&cluster(n / PER_WAVE), &format!("svc-{:03}", n % PER_WAVE), &[&image])
                .tagged("ecs-redeploy-wave", &(n / PER_WAVE + 1).to_string())
        })
        .collect();
    seed(&moto.ecs_client(), &specs).await;
    let clusters: Vec<String> = (0..WAVES).map(cluster).collect();
    let names: Vec<&str> = clusters.iter().map(String::as_str).collect();
    observe_services(&front, &names).await;
    front.hold_rollouts(true);
    create_lock_table(&moto.dynamodb_client(), TABLE).await;
    progress(&format!(
        "waves: seeded {SERVICES} services in {:.2} s",
        started.elapsed().as_secs_f64()
    ));
    let mut vars = config.clone();
    vars.lock_table = Some(TABLE.to_owned());
    let redeployer = Redeployer::with_lock(
        SdkEcs::new(engine_client(&front.endpoint_url(), config), moto.tagging_client()),
        Some(DynamoDbLock::new(moto.dynamodb_client(), TABLE)),
        vars,
    )
    .with_registry(SdkEcr::new(moto.ecr_client()));

    let digest = push_image(&moto, &front, "waves", "latest", "waves v2").await;
    let push = Push::from_image_uri(&format!("{image}@{digest}")).expect("a valid image");
    front.reset_counts();
    let report = redeployer.run(&[push], Mode::Apply).await;
    let (counts, scans) = calls_of(&front);
    let mut starts = vec![Step {
        counts,
        scans,
        redeployed: report.counts.redeployed,
        failed: report.counts.failed,
    }];
    let mut quiet = Vec::new();
    let mut last = None;
    for wave in 0..WAVES {
        let arns: Vec<String> = (0..PER_WAVE).map(|i| service_arn(wave, i)).collect();
        let events: Vec<String> = arns
            .iter()
            .map(|arn| {
                front.complete_deployment(arn);
                front.deployment_event(arn, "SERVICE_DEPLOYMENT_COMPLETED").to_string()
            })
            .collect();
        let batches: Vec<&[String]> = events.chunks(BATCH).collect();
        let (init, [final_batch]) = batches.split_at(batches.len() - 1) else {
            unreachable!("at least one batch")
        };
        front.reset_counts();
        let mut failed = 0;
        for bodies in init {
            let outcome = process_batch(
                &redeployer,
                messages(batch(bodies), Utc::now()).expect("a batch"),
                Mode::Apply,
            )
            .await;
            failed += outcome.failed_messages.len();
        }
        let (counts, scans) = calls_of(&front);
        quiet.push(Step {
            counts,
            scans,
            redeployed: 0,
            failed,
        });
        front.reset_counts();
        let outcome = process_batch(
            &redeployer,
            messages(batch(final_batch), Utc::now()).expect("a batch"),
            Mode::Apply,
        )
        .await;
        let (counts, scans) = calls_of(&front);
        let step = Step {
            counts,
            scans,
            redeployed: outcome.report.as_ref().map_or(0, |r| r.counts.redeployed),
            failed: outcome.failed_messages.len(),
        };
        progress(&format!(
            "waves: wave {} completed; {} redeployed next",
            wave + 1,
            step.redeployed
        ));
        if wave + 1 < WAVES {
            starts.push(step);
        } else {
            last = Some(step);
        }
    }
    let applied = front.applied_updates();
    Waves {
        starts,
        quiet,
        last: last.expect("a last wave"),
        deployed_once: applied.values().filter(|&&n| n == 1).count(),
        deployed_more: applied.values().filter(|&&n| n > 1).count(),
    }
}

impl Waves {
    /// The fewest ECS calls of the run that starts wave `w` (0-based): the whole fleet scanned (every service
    /// relates to the push), the task definition described once (the first run; then cached), every service's
    /// digests read (any could be redeployable), the wave's services updated; for the later waves also one
    /// `DescribeServiceDeployments` per completion event of its batch (the outcome is ECS's record).
    fn start_minimum(&self, w: usize) -> Calls {
        let scan = fleet_minimum(WAVES, PER_WAVE, usize::from(w == 0), SERVICES, PER_WAVE);
        let follows = if w == 0 { 0 } else { BATCH as u64 };
        plus(&scan, &[0, 0, 0, 0, follows, 0, 0])
    }

    /// The completions that finish no wave: one `DescribeServiceDeployments` each, nothing else.
    fn quiet_minimum() -> Calls {
        [0, 0, 0, 0, (PER_WAVE - BATCH) as u64, 0, 0]
    }

    pub fn table(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "\nwaves: one push over {WAVES} waves of {PER_WAVE} services (cluster per wave, lock table), completion \
             events in SQS batches of {BATCH}; calls admitted by action ({})",
            ACTIONS.join(", ")
        );
        for (i, start) in self.starts.iter().enumerate() {
            let _ = writeln!(
                w,
                "  wave {} start: {:?} (minimum {:?}), redeployed {}, failed {}",
                i + 1,
                start.counts,
                self.start_minimum(i),
                start.redeployed,
                start.failed
            );
        }
        for (i, quiet) in self.quiet.iter().enumerate() {
            let _ = writeln!(
                w,
                "  wave {} completions that finish no wave: {:?} (minimum {:?}), scans {}",
                i + 1,
                quiet.counts,
                Self::quiet_minimum(),
                quiet.scans
            );
        }
        let _ = writeln!(
            w,
            "  last wave's last batch: {:?}, redeployed {}; services deployed once {}, more than once {}",
            self.last.counts, self.last.redeployed, self.deployed_once, self.deployed_more
        );
    }

    pub fn goals(&self) -> Vec<Goal> {
        let none: Calls = [0; ACTIONS.len()];
        let mut goals: Vec<Goal> = self
            .starts
            .iter()
            .enumerate()
            .map(|(i, start)| {
                let minimum = self.start_minimum(i);
                calls_goal(
                    &format!("waves: wave {} start, ECS", i + 1),
                    &minimum,
                    &none,
                    start.counts.iter().sum::<u64>().to_string(),
                    start.counts == minimum && start.redeployed == PER_WAVE && start.failed == 0,
                )
            })
            .collect();
        for (i, quiet) in self.quiet.iter().enumerate() {
            let minimum = Self::quiet_minimum();
            goals.push(calls_goal(
                &format!("waves: wave {} completions finishing no wave (no scan)", i + 1),
                &minimum,
                &none,
                format!("{} (scans {})", quiet.counts.iter().sum::<u64>(), quiet.scans),
                quiet.counts == minimum && quiet.failed == 0,
            ));
        }
        goals.push((
            format!("waves: each of {SERVICES} services deployed once"),
            format!("once {}, more {}", self.deployed_once, self.deployed_more),
            self.deployed_once == SERVICES && self.deployed_more == 0,
        ));
        goals
    }

    pub fn summary(&self) -> serde_json::Value {
        json!({
            "waves": WAVES, "per_wave": PER_WAVE,
            "starts": self.starts.iter().enumerate().map(|(i, s)| json!({
                "calls": s.counts, "minimum": self.start_minimum(i), "redeployed": s.redeployed,
            })).collect::<Vec<_>>(),
            "quiet": self.quiet.iter().map(|s| json!({"calls": s.counts, "scans": s.scans})).collect::<Vec<_>>(),
            "deployed_once": self.deployed_once, "deployed_more": self.deployed_more,
            "goals": self.goals().iter().map(|(g, m, met)| json!({"goal": g, "measured": m, "met": met}))
                .collect::<Vec<_>>(),
        })
    }
}
