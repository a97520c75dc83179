//! The engine with digest truth: what services run read in batches, and the sweep.

use super::*;
use crate::ecr::fake::FakeEcr;
use crate::ecs::DeploymentStatus;

const D_OLD: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
const D_NEW: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000002";
const D_ENVOY: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000003";

fn at(time: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    Some(time.parse().unwrap())
}

/// (reason, outcome) of `cluster/service`: both clusters have a `web`.
fn outcome_in<'a>(report: &'a Report, cluster: &str, service: &str) -> (&'a str, Status) {
    let s = report
        .services
        .iter()
        .find(|s| s.cluster == cluster && s.service == service)
        .unwrap_or_else(|| panic!("{cluster}/{service} not reported"));
    (s.reason.code(), s.outcome)
}

fn pushed_new() -> Push {
    Push {
        digest: Some(D_NEW.into()),
        time: at("2026-12-02T10:00:00Z"),
        ..push("app", "latest")
    }
}

/// `fleet()`, with what each service runs: prod/web the new digest, prod/worker the old one (deployed after the
/// push, by something else), stage/web a revision made after the push that has not resolved the tag.
fn running_fleet() -> FakeEcs {
    let mut ecs = fleet();
    ecs.set_running("prod", "web", &[Some(D_NEW)], at("2026-12-02T10:00:20Z"));
    ecs.set_running(
        "prod",
        "worker",
        &[Some(D_ENVOY), Some(D_OLD)],
        at("2026-12-02T10:00:30Z"),
    );
    ecs.set_running("stage", "web", &[None], at("2026-12-02T10:00:05Z"));
    ecs
}

#[tokio::test(start_paused = true)]
async fn services_are_decided_by_what_they_run() {
    let redeployer = Redeployer::new(running_fleet(), config(&[]));
    let report = redeployer.run(&[pushed_new()], Mode::Apply).await;

    assert_eq!(outcome_in(&report, "prod", "web"), ("already-running", Status::Skipped));
    assert_eq!(
        outcome_in(&report, "prod", "worker"),
        ("image-match", Status::Redeployed)
    );
    assert_eq!(outcome_in(&report, "stage", "web"), ("rolling-out", Status::Skipped));
    let worker = report.services.iter().find(|s| s.service == "worker").unwrap();
    assert_eq!(worker.from.get("c1"), Some(&Some(D_OLD.to_owned())));
    assert_eq!(worker.to.get("c1").map(String::as_str), Some(D_NEW));
    // Four related services (frozen and legacy included): one call each, not one per service.
    assert_eq!(redeployer.ecs.calls("DescribeServiceDeployments"), 1);
    assert_eq!(redeployer.ecs.calls("DescribeServiceRevisions"), 1);
    assert_eq!(redeployer.ecs.updated.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn without_access_to_revisions_the_deployment_times_decide_and_say_so() {
    let mut ecs = running_fleet();
    ecs.revisions_denied = true;
    let redeployer = Redeployer::new(ecs, config(&[]));
    let report = redeployer.run(&[pushed_new()], Mode::Plan).await;
    for name in ["web", "worker"] {
        let service = report
            .services
            .iter()
            .find(|s| s.cluster == "prod" && s.service == name)
            .unwrap();
        assert_eq!(
            service.reason.code(),
            "image-match",
            "{name}: the fake's services have no deployments"
        );
        assert!(
            service
                .warnings
                .iter()
                .any(|w| w.contains("AccessDeniedException") && w.contains("without the running digests")),
            "{name}: {:?}",
            service.warnings
        );
    }
}

/// Revisions of more than 20 related services are read 20 at a time.
#[tokio::test(start_paused = true)]
async fn revisions_are_read_twenty_at_a_time() {
    let app = format!("{REGISTRY}/app:latest");
    let mut ecs = FakeEcs::default();
    for n in 0..45 {
        let name = format!("svc{n:02}");
        ecs.add_service("prod", &name, &[&app], &[]);
        ecs.set_running("prod", &name, &[Some(D_NEW)], at("2026-12-02T09:00:00Z"));
    }
    let redeployer = Redeployer::new(ecs, config(&[]));
    let report = redeployer.run(&[pushed_new()], Mode::Apply).await;
    assert_eq!(report.counts.skipped, 45, "every one already runs the push");
    assert_eq!(redeployer.ecs.calls("DescribeServiceDeployments"), 3);
    assert_eq!(redeployer.ecs.calls("DescribeServiceRevisions"), 3);
}

fn swept_fleet() -> (FakeEcs, FakeEcr) {
    let mut ecs = fleet();
    ecs.set_running("prod", "web", &[Some(D_OLD)], at("2026-12-02T09:00:00Z"));
    ecs.set_running(
        "prod",
        "worker",
        &[Some(D_ENVOY), Some(D_NEW)],
        at("2026-12-02T09:00:00Z"),
    );
    ecs.set_running("stage", "web", &[Some(D_NEW)], at("2026-12-02T09:00:00Z"));
    let ecr = FakeEcr {
        tags: BTreeMap::from([
            ("app:latest".to_owned(), D_NEW.to_owned()),
            ("envoy:v1".to_owned(), D_ENVOY.to_owned()),
        ]),
        ..FakeEcr::default()
    };
    (ecs, ecr)
}

#[tokio::test(start_paused = true)]
async fn a_sweep_redeploys_exactly_the_drifted_services() {
    let (ecs, ecr) = swept_fleet();
    let redeployer = Redeployer::new(ecs, config(&[])).with_registry(ecr);
    let report = redeployer.sweep(&[], Mode::Apply).await;

    assert_eq!(outcome_in(&report, "prod", "web"), ("image-match", Status::Redeployed));
    assert_eq!(
        outcome_in(&report, "prod", "worker"),
        ("already-running", Status::Skipped)
    );
    assert_eq!(
        outcome_in(&report, "stage", "web"),
        ("already-running", Status::Skipped)
    );
    assert_eq!(outcome_in(&report, "stage", "db"), ("not-checkable", Status::Skipped));
    assert_eq!(outcome_in(&report, "prod", "frozen"), ("opted-out", Status::Skipped));
    assert_eq!(report.drift.len(), 1, "{:?}", report.drift);
    let drift = &report.drift[0];
    assert_eq!((drift.service.as_str(), drift.container.as_str()), ("web", "c0"));
    assert_eq!(drift.image, format!("{REGISTRY}/app:latest"));
    assert_eq!(
        (drift.running_digest.as_deref(), drift.current_digest.as_str()),
        (Some(D_OLD), D_NEW)
    );
    assert!(!report.pushes.is_empty(), "the sweep's pushes are reported");
    assert!(report.pushes.iter().all(|p| p.trigger == Trigger::Sweep));
    // One ECR call per repository in use: app (v1 and latest together) and envoy.
    let ecr_calls = redeployer.ecr.as_ref().unwrap().calls.lock().unwrap().clone();
    assert_eq!(ecr_calls, ["app:latest,v1", "envoy:v1"]);
    assert_eq!(redeployer.ecs.updated.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_sweep_right_after_a_sweep_changes_nothing() {
    let (mut ecs, ecr) = swept_fleet();
    // What the first sweep's deployment left: a new revision, resolving, then resolved.
    ecs.set_running("prod", "web", &[None], at("2026-12-02T10:00:00Z"));
    let resolving = Redeployer::new(ecs, config(&[])).with_registry(ecr);
    let report = resolving.sweep(&[], Mode::Apply).await;
    assert_eq!(outcome_in(&report, "prod", "web"), ("rolling-out", Status::Skipped));
    assert_eq!(report.counts.redeployed, 0);

    let (mut ecs, ecr) = swept_fleet();
    ecs.set_running("prod", "web", &[Some(D_NEW)], at("2026-12-02T10:00:00Z"));
    let resolved = Redeployer::new(ecs, config(&[])).with_registry(ecr);
    let report = resolved.sweep(&[], Mode::Apply).await;
    assert_eq!(outcome_in(&report, "prod", "web"), ("already-running", Status::Skipped));
    assert!(report.drift.is_empty());
    assert!(resolved.ecs.updated.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_push_in_the_sweep_s_batch_wins_over_the_tag_it_read() {
    let (ecs, ecr) = swept_fleet();
    let redeployer = Redeployer::new(ecs, config(&[("DRY_RUN", "true")])).with_registry(ecr);
    let newer = Push {
        digest: Some(D_OLD.into()),
        ..pushed_new()
    };
    let report = redeployer.sweep(&[newer], Mode::Plan).await;
    let web = report.services.iter().find(|s| s.service == "web").unwrap();
    assert_eq!(
        web.reason.code(),
        "already-running",
        "the event's digest is the one decided on"
    );
    assert_eq!(web.pushed, [format!("{REGISTRY}/app:latest@{D_OLD}")]);
}

/// prod/web ran the old digest; its next deployment (of the new one, or of another digest) ended with `status`.
fn ended_deployment(status: DeploymentStatus, target: &str) -> FakeEcs {
    let mut ecs = fleet();
    ecs.set_running("prod", "web", &[Some(D_OLD)], at("2026-12-02T10:00:20Z"));
    ecs.end_deployment("prod", "web", status, &[Some(target)]);
    ecs.set_running(
        "prod",
        "worker",
        &[Some(D_ENVOY), Some(D_OLD)],
        at("2026-12-02T09:00:00Z"),
    );
    ecs
}

#[tokio::test(start_paused = true)]
async fn a_rolled_back_digest_is_held_over_the_locks_done_marker_and_read_in_the_same_batches() {
    for status in [
        DeploymentStatus::RollbackRequested,
        DeploymentStatus::RollbackInProgress,
        DeploymentStatus::RollbackSuccessful,
        DeploymentStatus::RollbackFailed,
    ] {
        // The lock table marks both redeploys of this push done (a claim left from before the rollback).
        let lock = FakeLock {
            held: BTreeMap::from([
                ("web".to_owned(), ClaimState::Done),
                ("worker".to_owned(), ClaimState::Done),
            ]),
            ..FakeLock::default()
        };
        let redeployer = Redeployer::with_lock(ended_deployment(status.clone(), D_NEW), lock, config(&[]));
        let report = redeployer.run(&[pushed_new()], Mode::Apply).await;
        assert_eq!(
            outcome_in(&report, "prod", "web"),
            ("rolled-back", Status::Skipped),
            "{status}"
        );
        assert_eq!(
            outcome_in(&report, "prod", "worker"),
            ("already-deployed", Status::Skipped),
            "{status}: the lock still answers for what is not held"
        );
        assert!(redeployer.ecs.updated.lock().unwrap().is_empty(), "{status}");
        // The failed target is read with the other revisions: one call each.
        assert_eq!(redeployer.ecs.calls("DescribeServiceDeployments"), 1, "{status}");
        assert_eq!(redeployer.ecs.calls("DescribeServiceRevisions"), 1, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_rollback_of_another_digest_and_a_stopped_deployment_are_decided_by_digest_truth() {
    // Rolled back, but its target ran another digest: the push is news, and is deployed.
    let redeployer = Redeployer::new(
        ended_deployment(DeploymentStatus::RollbackSuccessful, D_ENVOY),
        config(&[]),
    );
    let report = redeployer.run(&[pushed_new()], Mode::Apply).await;
    assert_eq!(outcome_in(&report, "prod", "web"), ("image-match", Status::Redeployed));
    // STOPPED (failed without a rollback, or stopped by a person): its target is what the service converges to.
    let stopped_on_the_push = Redeployer::new(ended_deployment(DeploymentStatus::Stopped, D_NEW), config(&[]));
    let report = stopped_on_the_push.run(&[pushed_new()], Mode::Apply).await;
    assert_eq!(outcome_in(&report, "prod", "web"), ("already-running", Status::Skipped));
    let stopped_elsewhere = Redeployer::new(ended_deployment(DeploymentStatus::Stopped, D_ENVOY), config(&[]));
    let report = stopped_elsewhere.run(&[pushed_new()], Mode::Apply).await;
    assert_eq!(outcome_in(&report, "prod", "web"), ("image-match", Status::Redeployed));
}
