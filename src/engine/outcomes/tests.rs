use chrono::{TimeDelta, Utc};

use super::*;
use crate::config::{Config, Mode};
use crate::domain::push::Push;
use crate::domain::rollout::DeploymentEventName;
use crate::ecs::fake::{ACCOUNT_PREFIX, FakeEcs};
use crate::ecs::{DeploymentRollback, DeploymentStatus};
use crate::engine::Redeployer;
use crate::lock::fake::FakeLock;
use crate::notify::fake::FakeNotifier;

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn web_arn() -> String {
    format!("{ACCOUNT_PREFIX}:service/prod/web")
}

/// The service deployment the fake's `UpdateService` answers name for `web`.
fn web_deployment() -> String {
    format!("{}/deployment", web_arn())
}

fn redeployer(lock: FakeLock) -> Redeployer<FakeEcs, FakeLock, crate::ecr::sdk::SdkEcr, FakeNotifier> {
    let mut ecs = FakeEcs::default();
    ecs.add_service("prod", "web", &[&format!("{REGISTRY}/app:latest")], &[]);
    let config = Config::from_lookup(|_| None).unwrap();
    Redeployer::with_lock(ecs, lock, config).with_notifier(FakeNotifier::default())
}

fn push() -> Push {
    Push {
        event_id: Some("push-1".into()),
        digest: Some("sha256:2222222222222222222222222222222222222222222222222222222222222222".into()),
        ..Push::of("app", "latest")
    }
}

fn change(name: DeploymentEventName, deployment_id: &str) -> DeploymentChange {
    DeploymentChange {
        service_arn: web_arn(),
        deployment_id: deployment_id.into(),
        event_name: name,
        reason: Some("ECS deployment circuit breaker: task failed to start.".into()),
        updated_at: Some(Utc::now()),
        event_id: Some("ecs-event-1".into()),
    }
}

/// ECS's record of web's deployment, as `DescribeServiceDeployments` would give it.
fn set_status<R: crate::ecr::EcrApi, N: crate::notify::Notifier>(
    redeployer: &mut Redeployer<FakeEcs, FakeLock, R, N>,
    status: DeploymentStatus,
    rolled_back: bool,
) {
    let started = Utc::now() - TimeDelta::seconds(300);
    let deployment = ServiceDeployment {
        arn: web_deployment(),
        service_arn: web_arn(),
        status: Some(status),
        status_reason: Some("ECS deployment circuit breaker: tasks failed to start.".into()),
        started_at: Some(started),
        finished_at: Some(started + TimeDelta::seconds(240)),
        updated_at: Some(started + TimeDelta::seconds(240)),
        stopped_at: None,
        target_revision: Some(format!("{ACCOUNT_PREFIX}:service-revision/prod/web/2")),
        rollback: rolled_back.then(|| DeploymentRollback {
            revision: Some(format!("{ACCOUNT_PREFIX}:service-revision/prod/web/1")),
            started_at: Some(started + TimeDelta::seconds(200)),
            reason: Some("circuit breaker".into()),
        }),
    };
    redeployer.ecs.service_deployments.insert(web_deployment(), deployment);
}

#[tokio::test(start_paused = true)]
async fn a_redeploy_is_recorded_with_both_deployment_ids_and_its_redeployed_detail() {
    let redeployer = redeployer(FakeLock::tracking());
    let report = redeployer.run(&[push()], Mode::Apply).await;
    assert_eq!(report.counts.redeployed, 1);
    let stored = redeployer.lock.stored();
    assert_eq!(stored.len(), 1);
    let record = &stored[0].record;
    assert_eq!(stored[0].outcome, None);
    assert_eq!(
        (record.deployment_id.as_str(), record.service_deployment_arn.as_deref()),
        ("ecs-svc/web", Some(web_deployment().as_str()))
    );
    assert_eq!(record.detail.len(), 13);
    assert_eq!(record.detail["trigger"], "push");
    assert_eq!(record.detail["event_id"], "push-1");
    assert_eq!(record.to_digest.as_deref(), push().digest.as_deref());
}

#[tokio::test(start_paused = true)]
async fn without_a_table_nothing_is_recorded_or_followed() {
    let redeployer = redeployer(FakeLock::default());
    redeployer.run(&[push()], Mode::Apply).await;
    assert!(redeployer.lock.stored().is_empty());
    let report = redeployer
        .follow(&change(DeploymentEventName::Completed, "ecs-svc/web"), Utc::now())
        .await;
    assert_eq!(report.rollouts[0].reason, "not-tracked");
    assert!(redeployer.notifier.rollouts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_rolled_back_deployment_is_notified_once_on_its_failed_event_and_never_as_completed() {
    let mut redeployer = redeployer(FakeLock::tracking());
    redeployer.run(&[push()], Mode::Apply).await;
    set_status(&mut redeployer, DeploymentStatus::RollbackInProgress, true);
    let failed = change(DeploymentEventName::Failed, "ecs-svc/web");

    let first = redeployer.follow(&failed, Utc::now()).await;
    assert_eq!(
        (first.rollouts[0].result, first.rollouts[0].outcome),
        ("notified", Some(RolloutOutcome::RolledBack))
    );
    assert_eq!(first.counts.rolled_back, 1);
    // The same event again, and the COMPLETED event after the rollback naming the failed deployment itself.
    let again = redeployer.follow(&failed, Utc::now()).await;
    set_status(&mut redeployer, DeploymentStatus::RollbackSuccessful, true);
    let completed = redeployer
        .follow(&change(DeploymentEventName::Completed, "ecs-svc/web"), Utc::now())
        .await;
    // … or naming the deployment the rollback returned to, which the function did not start.
    let returned_to = redeployer
        .follow(&change(DeploymentEventName::Completed, "ecs-svc/older"), Utc::now())
        .await;
    assert_eq!(again.rollouts[0].reason, "already-notified");
    assert_eq!(completed.rollouts[0].reason, "already-notified");
    assert_eq!(returned_to.rollouts[0].reason, "not-ours");

    let sent = redeployer.notifier.rollouts();
    assert_eq!(sent.len(), 1);
    let detail: Value = serde_json::from_str(&sent[0].detail()).unwrap();
    assert_eq!(sent[0].kind.detail_type(), "ECS Service Rollout Failed");
    assert_eq!(detail.as_object().unwrap().len(), 18);
    assert_eq!(detail["outcome"], "rolled-back");
    assert_eq!(detail["trigger"], "deployment");
    assert_eq!(detail["service"], "web");
    assert_eq!(detail["deployment_id"], "ecs-svc/web");
    assert_eq!(
        detail["status_reason"],
        "ECS deployment circuit breaker: tasks failed to start."
    );
    assert_eq!(detail["duration_s"], 240);
    assert_eq!(redeployer.lock.stored()[0].outcome.as_deref(), Some("rolled-back"));
}

#[tokio::test(start_paused = true)]
async fn a_completed_deployment_is_notified_as_completed() {
    let mut redeployer = redeployer(FakeLock::tracking());
    redeployer.run(&[push()], Mode::Apply).await;
    set_status(&mut redeployer, DeploymentStatus::Successful, false);
    let report = redeployer
        .follow(&change(DeploymentEventName::Completed, "ecs-svc/web"), Utc::now())
        .await;
    assert_eq!(report.counts.completed, 1);
    assert_eq!(report.counts.durations, vec![240]);
    let sent = redeployer.notifier.rollouts();
    assert_eq!(
        (sent.len(), sent[0].kind.detail_type(), sent[0].outcome),
        (1, "ECS Service Rollout Completed", "completed")
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_ecs_has_not_recorded_the_rollback_of_yet_is_retried_not_notified() {
    let mut redeployer = redeployer(FakeLock::tracking());
    redeployer.run(&[push()], Mode::Apply).await;
    set_status(&mut redeployer, DeploymentStatus::InProgress, false);
    let report = redeployer
        .follow(&change(DeploymentEventName::Failed, "ecs-svc/web"), Utc::now())
        .await;
    assert_eq!(report.rollouts[0].result, "retry");
    assert!(report.has_failures());
    assert!(redeployer.notifier.rollouts().is_empty());
    assert_eq!(redeployer.lock.stored()[0].outcome, None);
}

#[tokio::test(start_paused = true)]
async fn the_sweep_closes_a_deployment_whose_event_was_lost_as_the_event_would_have() {
    let mut redeployer = redeployer(FakeLock::tracking());
    redeployer.run(&[push()], Mode::Apply).await;
    set_status(&mut redeployer, DeploymentStatus::InProgress, false);
    let later = Utc::now() + TimeDelta::minutes(20);
    // Still rolling out: left open.
    let (open, notes) = redeployer.follower().close_lost(later).await;
    assert_eq!((open.counts.open, notes.len()), (1, 0));
    // Too recent for the sweep: its event may still come.
    let (early, _) = redeployer.follower().close_lost(Utc::now()).await;
    assert!(early.rollouts.is_empty());
    set_status(&mut redeployer, DeploymentStatus::RollbackSuccessful, true);
    let (closed, notes) = redeployer.follower().close_lost(later).await;
    assert_eq!(closed.counts.rolled_back, 1);
    assert_eq!(notes.len(), 1);
    let detail: Value = serde_json::from_str(&notes[0].detail()).unwrap();
    assert_eq!(
        (detail["outcome"].as_str(), detail["trigger"].as_str()),
        (Some("rolled-back"), Some("sweep"))
    );
    // Closed: the late event, and the next sweep, notify nothing.
    let (again, notes) = redeployer.follower().close_lost(later).await;
    assert!(again.rollouts.is_empty() && notes.is_empty());
    let late = redeployer
        .follow(&change(DeploymentEventName::Failed, "ecs-svc/web"), Utc::now())
        .await;
    assert_eq!(late.rollouts[0].reason, "already-notified");
}

#[tokio::test(start_paused = true)]
async fn the_own_record_holds_a_rolled_back_digest_until_another_digest_deploys() {
    let mut redeployer = redeployer(FakeLock::tracking());
    redeployer.run(&[push()], Mode::Apply).await;
    set_status(&mut redeployer, DeploymentStatus::RollbackSuccessful, true);
    redeployer
        .follow(&change(DeploymentEventName::Failed, "ecs-svc/web"), Utc::now())
        .await;
    assert_eq!(redeployer.lock.holds.lock().unwrap().len(), 1);
    // The fake's service names no current deployment: only the function's own record tells of the rollback.
    let again = redeployer.run(&[push()], Mode::Apply).await;
    let web = again.services.iter().find(|s| s.service == "web").unwrap();
    assert_eq!(
        (web.reason.code(), web.outcome.as_str()),
        ("rolled-back", "skipped"),
        "{}",
        web.detail
    );
    let fixed = Push {
        digest: Some("sha256:3333333333333333333333333333333333333333333333333333333333333333".into()),
        ..push()
    };
    let report = redeployer.run(&[fixed], Mode::Apply).await;
    assert_eq!(report.counts.redeployed, 1, "{}", report.summary());
    assert!(
        redeployer.lock.holds.lock().unwrap().is_empty(),
        "the fixed digest ends the hold"
    );
}
