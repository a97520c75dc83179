//! The report's JSON, byte for byte: what the Lambda returns and the CLI prints is a contract (the e2e, users'
//! scripts), and so is the terminal summary. Written from the report as it was before its fields became typed;
//! a change here is a change of the contract.

use super::*;
use crate::ecr::fake::FakeEcr;
use crate::report::Invocation;

const D_OLD: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
const D_NEW: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000002";
const D_ENVOY: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000003";

fn at(time: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    Some(time.parse().unwrap())
}

/// A sweep with an event of the same batch, in apply mode: both origins, redeploys (force and pin), skips for
/// several reasons, an unexamined service, a not-checkable one, and drift.
#[tokio::test(start_paused = true)]
async fn a_sweep_with_a_push_reports_exactly_today_s_json() {
    let mut ecs = fleet();
    ecs.add_service(
        "prod",
        "pinned",
        &[&format!("{REGISTRY}/app:latest")],
        &[("ecs-redeploy", "pin")],
    );
    ecs.add_service("prod", "api", &[&format!("{REGISTRY}/api:v2")], &[]);
    ecs.set_running("prod", "web", &[Some(D_OLD)], at("2026-12-02T09:00:00Z"));
    ecs.set_running("prod", "pinned", &[Some(D_OLD)], at("2026-12-02T09:00:00Z"));
    ecs.set_running(
        "prod",
        "worker",
        &[Some(D_ENVOY), Some(D_NEW)],
        at("2026-12-02T09:00:00Z"),
    );
    ecs.set_running("stage", "web", &[Some(D_NEW)], at("2026-12-02T09:00:00Z"));
    ecs.missing_services.push("legacy".into());
    let ecr = FakeEcr {
        tags: BTreeMap::from([
            ("app:latest".to_owned(), D_NEW.to_owned()),
            ("envoy:v1".to_owned(), D_ENVOY.to_owned()),
        ]),
        ..FakeEcr::default()
    };
    let redeployer = Redeployer::new(ecs, config(&[])).with_registry(ecr);
    let event = Push {
        digest: Some(D_OLD.into()),
        time: at("2026-12-02T10:00:00Z"),
        ..push("api", "v2")
    };
    let report = redeployer.sweep(&[event], Mode::Apply).await;
    assert_eq!(report.summary(), include_str!("golden/sweep.txt"));
    let json = serde_json::to_string_pretty(&Invocation::Processed(Box::new(report))).unwrap();
    assert_eq!(json, include_str!("golden/sweep.json"));
}

/// A plan for one push: planned services, their methods and the counts.
#[tokio::test(start_paused = true)]
async fn a_plan_reports_exactly_today_s_json() {
    let redeployer = Redeployer::new(fleet(), config(&[("DRY_RUN", "true")]));
    let report = redeployer.run(&[push("app", "latest")], Mode::Plan).await;
    assert_eq!(report.summary(), include_str!("golden/plan.txt"));
    let json = serde_json::to_string_pretty(&Invocation::Processed(Box::new(report))).unwrap();
    assert_eq!(json, include_str!("golden/plan.json"));
}
