//! Through a front that fails 20% of calls over several seeds — before moto (server errors, throttling, resets,
//! stalls: nothing was applied) or after it (a 5xx, a reset or a stall once moto applied the call: only the answer
//! is lost) — every matching service is redeployed at most once and never lost: deployed, or reported failed so
//! that a retry of the event completes it. And throttling that the SDK's retries can absorb never becomes a
//! failure. No assertion depends on how fast the machine is: a stall is far longer than the client's attempt
//! timeout, and the tests assert what happened, never how long it took.

use std::collections::BTreeSet;
use std::time::Duration;

use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::report::{Invocation, Report, Status};
use ecs_redeploy::trigger::lambda::{InvocationError, Response, handle};
use lambda_runtime::{Context, LambdaEvent};

use crate::events::{event_after_seeding, load_now};
use crate::support::{FunctionEcs, config};
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, deployment_ids, redeployed, registry};
use ecs_redeploy_testkit::front::{FaultKind, Faults, FrontConfig};
use ecs_redeploy_testkit::harness::Harness;

const CLUSTERS: [&str; 2] = ["east", "west"];
/// The client's attempt timeout: a stalled call times out and is read or retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a stalled call stays unanswered: far past the attempt timeout, so a stall is a timeout however loaded
/// the machine is.
const STALL: Duration = Duration::from_secs(60);
/// A bound on retries of the event, against a livelock: each delivery completes some of what is left.
const RETRIES_OF_THE_EVENT: usize = 12;

/// Faults before moto: the call is never applied.
const BEFORE_MOTO: [FaultKind; 5] = [
    FaultKind::Http500,
    FaultKind::Http503,
    FaultKind::Throttling,
    FaultKind::ConnectionReset,
    FaultKind::SlowResponse,
];
/// Faults after moto applied the call: only its answer is lost.
const AFTER_MOTO: [FaultKind; 3] = [
    FaultKind::Http500AfterApply,
    FaultKind::ResetAfterApply,
    FaultKind::StallAfterApply,
];

/// 40 matching services and 20 others over two clusters — about 50 calls a delivery, so with 20% of
/// calls faulted and two attempts each, a delivery rarely gets through without a failure;
/// returns the matching `cluster/service` names.
fn fleet_specs() -> (Vec<ServiceSpec>, BTreeSet<String>) {
    let r = registry();
    let (app, other) = (format!("{r}/app:latest"), format!("{r}/api:latest"));
    let mut specs = Vec::new();
    let mut matching = BTreeSet::new();
    for i in 0..60 {
        let cluster = CLUSTERS[i % 2];
        let name = format!("svc-{i:02}");
        if i % 3 != 2 {
            matching.insert(format!("{cluster}/{name}"));
            specs.push(ServiceSpec::new(cluster, &name, &[&app]));
        } else {
            specs.push(ServiceSpec::new(cluster, &name, &[&other]));
        }
    }
    (specs, matching)
}

async fn deliver(redeployer: &Redeployer<SdkEcs>, event: &serde_json::Value) -> Report {
    match handle(redeployer, LambdaEvent::new(event.clone(), Context::default())).await {
        Ok(Response::Event(Invocation::Processed(report))) => *report,
        Err(InvocationError::Incomplete { report, .. }) => *report,
        other => panic!("{other:?}"),
    }
}

/// What the seeds of one fault model came to.
struct Seeds {
    /// Deliveries each seed needed.
    deliveries: Vec<usize>,
    /// `UpdateService` calls applied whose answer was lost, over all seeds.
    lost_updates: u64,
}

/// Delivers one push through a front faulting 20% of calls with `kinds`, again until a delivery succeeds, for
/// each of four seeds; checks after every delivery that no service was deployed twice and none was lost.
async fn deliver_through_faults(kinds: &[FaultKind]) -> Seeds {
    let mut seeds = Seeds {
        deliveries: Vec::new(),
        lost_updates: 0,
    };
    for seed in [1, 7, 42, 1234] {
        let faults = Faults::Injected {
            seed,
            rate: 0.2,
            kinds: kinds.to_vec(),
            slow_delay: STALL,
        };
        let env = Harness::start_with(FrontConfig {
            faults,
            ..FrontConfig::strict()
        })
        .await;
        let (specs, matching) = fleet_specs();
        fleet::seed(&env.seeder(), &specs).await;
        let before = deployment_ids(&env.seeder(), &CLUSTERS).await;
        let event = event_after_seeding(&env.front, "ecr-push.json");
        let config = config(&[("MAX_ATTEMPTS", "2")]);
        let ecs = env.function_ecs_as_configured(&config, ATTEMPT_TIMEOUT);
        let redeployer = Redeployer::new(ecs, config);

        let mut deliveries = 0;
        loop {
            deliveries += 1;
            let report = deliver(&redeployer, &event).await;
            let after = deployment_ids(&env.seeder(), &CLUSTERS).await;
            let done: BTreeSet<String> = redeployed(&before, &after).into_iter().collect();
            // Every update moto applied, whether its answer reached the function or was lost.
            let applied = env.front.applied_updates();
            let twice: Vec<_> = applied.iter().filter(|(_, n)| **n > 1).collect();
            assert!(twice.is_empty(), "seed {seed}: deployed more than once: {twice:?}");
            assert_eq!(
                applied.keys().cloned().collect::<BTreeSet<_>>(),
                done,
                "seed {seed}: every applied update is a deployment, and only matching services are deployed"
            );
            assert!(
                done.is_subset(&matching),
                "seed {seed}: only matching services are deployed"
            );
            let updates = env.front.calls().action("UpdateService").forwarded;
            assert_eq!(
                updates,
                done.len() as u64,
                "seed {seed}: no update was sent twice to moto"
            );

            // Every matching service not yet deployed is accounted for in this delivery's report.
            let failed_clusters: BTreeSet<&str> =
                report.scan_errors.iter().filter_map(|e| e.cluster.as_deref()).collect();
            let listing_failed = report.scan_errors.iter().any(|e| e.cluster.is_none());
            for name in matching.difference(&done) {
                let (cluster, service) = name.split_once('/').unwrap();
                let reported_failed = report
                    .services
                    .iter()
                    .any(|s| s.cluster == cluster && s.service == service && s.outcome == Status::Failed);
                assert!(
                    reported_failed || failed_clusters.contains(cluster) || listing_failed,
                    "seed {seed}: {name} was silently lost: {:?}",
                    report.services.iter().find(|s| s.service == service)
                );
            }
            assert!(
                done == matching || report.has_failures(),
                "seed {seed}: an incomplete delivery fails, so it is retried"
            );
            // A delivery can fail after everything matching was deployed (a describe of unrelated
            // services failed, so it cannot know): retries go on until one succeeds.
            if !report.has_failures() {
                break;
            }
            assert!(
                deliveries < RETRIES_OF_THE_EVENT,
                "seed {seed}: no delivery succeeded after {deliveries}"
            );
            // Deliveries a second apart or more, as Lambda's and EventBridge's retries are.
            env.front.advance_clock(Duration::from_millis(1100));
        }
        let calls = env.front.calls();
        assert!(
            calls.total().faulted + calls.total().lost > 0,
            "seed {seed}: faults were injected"
        );
        seeds.lost_updates += calls.action("UpdateService").lost;
        seeds.deliveries.push(deliveries);
    }
    seeds
}

#[tokio::test]
async fn faults_before_moto_never_lose_or_repeat_a_deployment() {
    let seeds = deliver_through_faults(&BEFORE_MOTO).await;
    assert!(
        seeds.deliveries.iter().any(|d| *d > 1),
        "some seed needed a retry of the event: {:?}",
        seeds.deliveries
    );
    assert_eq!(seeds.lost_updates, 0, "no answer was lost after the write");
}

#[tokio::test]
async fn answers_lost_after_the_write_never_deploy_a_service_twice() {
    let seeds = deliver_through_faults(&AFTER_MOTO).await;
    assert!(
        seeds.lost_updates > 0,
        "some update was applied and its answer lost: the property was put to the test"
    );
}

/// 70 services whose `app:latest` is pushed, behind a front configured by `front`.
async fn seventy_services(front: FrontConfig) -> Harness {
    let env = Harness::start_with(front).await;
    let app = format!("{}/app:latest", registry());
    let specs: Vec<ServiceSpec> = (0..70)
        .map(|i| ServiceSpec::new("east", &format!("svc-{i:02}"), &[&app]))
        .collect();
    fleet::seed(&env.seeder(), &specs).await;
    env
}

#[tokio::test]
async fn throttling_the_retries_absorb_is_never_a_failure() {
    // Throttling injected on 30% of the calls, whatever the buckets hold: the SDK's retries must absorb it.
    let throttling = Faults::Injected {
        seed: 7,
        rate: 0.3,
        kinds: vec![FaultKind::Throttling],
        slow_delay: STALL,
    };
    let env = seventy_services(FrontConfig {
        faults: throttling,
        ..FrontConfig::strict()
    })
    .await;
    let config = config(&[("RETRY_MODE", "adaptive"), ("MAX_ATTEMPTS", "10")]);
    let ecs = env.function_ecs_as_configured(&config, Duration::from_secs(20));
    let redeployer = Redeployer::new(ecs, config);

    let report = deliver(&redeployer, &load_now("ecr-push.json")).await;
    let calls = env.front.calls();
    assert!(calls.action("UpdateService").faulted > 0, "updates were throttled");
    assert_eq!((report.counts.redeployed, report.counts.failed), (70, 0));
    assert_eq!(calls.action("UpdateService").forwarded, 70);
}

#[tokio::test]
async fn paced_calls_wait_for_the_bucket_instead_of_being_throttled() {
    // 70 updates against a bucket of 50 refilled at 5 per second.
    let env = seventy_services(FrontConfig::strict()).await;
    // One attempt per call: a throttled update would fail its service.
    let config = config(&[("MAX_ATTEMPTS", "1")]);
    let ecs = env.function_ecs_as_configured(&config, Duration::from_secs(20));
    let redeployer = Redeployer::new(ecs, config);

    let report = deliver(&redeployer, &load_now("ecr-push.json")).await;
    let calls = env.front.calls();
    assert_eq!(calls.total().throttled, 0, "no call was throttled");
    assert_eq!((report.counts.redeployed, report.counts.failed), (70, 0));
    assert_eq!(calls.action("UpdateService").forwarded, 70);
}
