use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::*;
use crate::domain::policy::Method;
use crate::ecs::fake::{ACCOUNT_PREFIX, FakeEcs};
use crate::lock::ClaimState;
use crate::lock::fake::FakeLock;
use crate::report::Status;

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn push(repository: &str, tag: &str) -> Push {
    Push {
        event_id: Some("e-1".into()),
        ..Push::of(repository, tag)
    }
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned())).unwrap()
}

fn outcome_of<'a>(report: &'a Report, service: &str) -> (&'a str, Status) {
    let s = report
        .services
        .iter()
        .find(|s| s.service == service)
        .unwrap_or_else(|| panic!("{service} not reported"));
    (s.reason.code(), s.outcome)
}

fn fleet() -> FakeEcs {
    let app = format!("{REGISTRY}/app:latest");
    let mut ecs = FakeEcs::default();
    ecs.add_service("prod", "web", &[&app], &[]);
    ecs.add_service("prod", "worker", &[&format!("{REGISTRY}/envoy:v1"), &app], &[]);
    ecs.add_service("prod", "legacy", &[&format!("{REGISTRY}/app:v1")], &[]);
    ecs.add_service("prod", "frozen", &[&app], &[("ecs-redeploy", "off")]);
    ecs.add_service("stage", "web", &[&app], &[("ecs-redeploy", "on")]);
    ecs.add_service("stage", "db", &["postgres:16"], &[]);
    ecs
}

#[tokio::test(start_paused = true)]
async fn redeploys_every_matching_service_once_and_explains_the_rest() {
    let redeployer = Redeployer::new(fleet(), config(&[]));
    let report = redeployer.run(&[push("app", "latest")], Mode::Apply).await;

    assert_eq!(outcome_of(&report, "worker"), ("image-match", Status::Redeployed));
    assert_eq!(outcome_of(&report, "legacy"), ("tag-mismatch", Status::Skipped));
    assert_eq!(outcome_of(&report, "frozen"), ("opted-out", Status::Skipped));
    assert!(
        report.services.iter().all(|s| s.service != "db"),
        "unrelated services are not listed"
    );
    let webs: Vec<_> = report.services.iter().filter(|s| s.service == "web").collect();
    assert_eq!(webs.len(), 2);
    assert!(
        webs.iter()
            .all(|s| s.outcome == Status::Redeployed && s.deployment_id.as_deref() == Some("ecs-svc/web"))
    );

    let mut updated = redeployer.ecs.updated.lock().unwrap().clone();
    updated.sort();
    assert_eq!(
        updated,
        ["prod/web", "prod/worker", "stage/web"].map(|s| format!("{ACCOUNT_PREFIX}:service/{s}"))
    );
    let c = &report.counts;
    assert_eq!((c.clusters, c.scanned, c.considered), (2, 6, 5));
    assert_eq!((c.redeployed, c.planned, c.skipped, c.failed), (3, 0, 2, 0));
    assert!(!report.has_failures());
    assert_eq!(redeployer.ecs.calls("ListClusters"), 1);
    assert_eq!(redeployer.ecs.calls("ListServices"), 2);
}

#[tokio::test(start_paused = true)]
async fn plan_changes_nothing() {
    let redeployer = Redeployer::new(fleet(), config(&[("DRY_RUN", "true")]));
    let report = redeployer.run(&[push("app", "latest")], redeployer.apply_mode()).await;
    assert_eq!(report.mode, Mode::Plan);
    assert_eq!(report.counts.planned, 3);
    assert_eq!(report.counts.redeployed, 0);
    assert_eq!(redeployer.ecs.calls("UpdateService"), 0);
}

#[tokio::test(start_paused = true)]
async fn selection_and_cluster_scope_come_from_config() {
    let listed = Redeployer::new(fleet(), config(&[("CLUSTERS", "prod")]));
    let report = listed.run(&[push("app", "latest")], Mode::Apply).await;
    assert_eq!(
        listed.ecs.calls("ListClusters"),
        0,
        "listed clusters are not discovered"
    );
    assert_eq!(listed.ecs.calls("ListServices"), 1);
    assert_eq!(report.services.len(), 4, "prod's web, worker, legacy and frozen");
    assert!(report.services.iter().all(|s| s.cluster == "prod"));

    // Opted in: only tagged services, found through the tagging API; no cluster is listed.
    let mut ecs = fleet();
    ecs.add_service("stage", "untagged", &[&format!("{REGISTRY}/app:latest")], &[]);
    let opted_in = Redeployer::new(ecs, config(&[("SELECT", "opted-in")]));
    let report = opted_in.run(&[push("app", "latest")], Mode::Apply).await;
    assert_eq!(
        (opted_in.ecs.calls("ListClusters"), opted_in.ecs.calls("ListServices")),
        (0, 0)
    );
    assert_eq!(opted_in.ecs.calls("GetResources"), 1);
    assert_eq!(
        opted_in.ecs.calls("DescribeServices"),
        2,
        "one batch per cluster with tagged services"
    );
    assert_eq!(outcome_of(&report, "frozen"), ("opted-out", Status::Skipped));
    let names: Vec<_> = report
        .services
        .iter()
        .map(|s| format!("{}/{}", s.cluster, s.service))
        .collect();
    assert_eq!(
        names,
        ["prod/frozen", "stage/web"],
        "untagged services are not even described"
    );
    assert_eq!(report.counts.redeployed, 1);

    let scoped = Redeployer::new(fleet(), config(&[("SELECT", "opted-in"), ("CLUSTERS", "prod")]));
    let report = scoped.run(&[push("app", "latest")], Mode::Apply).await;
    assert_eq!(report.services.len(), 1, "prod's only tagged service, frozen");
    assert!(
        report.services.iter().all(|s| s.cluster == "prod"),
        "CLUSTERS still restricts"
    );
}

#[tokio::test(start_paused = true)]
async fn one_failure_never_stops_the_others() {
    let mut ecs = fleet();
    ecs.failing_updates.push("worker".into());
    ecs.failing_listings.push("stage".into());
    let redeployer = Redeployer::new(ecs, config(&[]));
    let report = redeployer.run(&[push("app", "latest")], Mode::Apply).await;

    assert_eq!(outcome_of(&report, "web"), ("image-match", Status::Redeployed));
    let worker = report.services.iter().find(|s| s.service == "worker").unwrap();
    assert_eq!(worker.outcome, Status::Failed);
    assert_eq!(
        worker.error.as_deref(),
        Some("ecs UpdateService failed: ServerException: injected")
    );
    assert_eq!(report.scan_errors.len(), 1);
    assert_eq!(report.scan_errors[0].step, "list-services");
    assert_eq!(report.scan_errors[0].cluster.as_deref(), Some("stage"));
    assert!(report.has_failures());
    assert_eq!(report.failure_names(), vec!["prod/worker", "list-services stage"]);
}

#[tokio::test(start_paused = true)]
async fn unexaminable_services_are_reported_by_name_and_missing_ones_skipped() {
    let mut ecs = fleet();
    ecs.missing_services.push("legacy".into());
    ecs.add_service_on(
        "stage",
        "orphan",
        &format!("{ACCOUNT_PREFIX}:task-definition/gone:3"),
        &[&format!("{REGISTRY}/app:latest")],
        &[],
    );
    ecs.task_definitions
        .remove(&format!("{ACCOUNT_PREFIX}:task-definition/gone:3"));
    let redeployer = Redeployer::new(ecs, config(&[]));
    let report = redeployer.run(&[push("app", "latest")], Mode::Apply).await;
    assert_eq!(
        outcome_of(&report, "legacy"),
        ("service-not-found", Status::Skipped),
        "a deleted service is no failure a retry could fix"
    );
    assert_eq!(
        outcome_of(&report, "orphan"),
        ("task-definition-unavailable", Status::Failed)
    );
    assert_eq!(report.counts.redeployed, 3, "the rest still redeploys");
    assert_eq!(report.failure_names(), ["stage/orphan"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_describe_batch_names_its_services() {
    let mut ecs = FakeEcs::default();
    for i in 0..25 {
        ecs.add_service("big", &format!("svc-{i:02}"), &[&format!("{REGISTRY}/app:latest")], &[]);
    }
    ecs.failing_describes.push("svc-13".into());
    let redeployer = Redeployer::new(ecs, config(&[]));
    let report = redeployer.run(&[push("app", "latest")], Mode::Apply).await;
    assert_eq!(
        redeployer.ecs.calls("DescribeServices"),
        3,
        "25 services in batches of 10"
    );
    assert_eq!(report.counts.failed, 10, "the whole failed batch is named");
    assert_eq!(report.counts.redeployed, 15);
    assert_eq!(report.counts.scanned, 25);
}

#[tokio::test(start_paused = true)]
async fn task_definitions_are_described_once_per_revision_and_cached() {
    let mut ecs = FakeEcs::default();
    let shared = format!("{ACCOUNT_PREFIX}:task-definition/shared:7");
    for i in 0..12 {
        ecs.add_service_on(
            "prod",
            &format!("svc-{i}"),
            &shared,
            &[&format!("{REGISTRY}/app:latest")],
            &[],
        );
    }
    ecs.add_service("prod", "other", &[&format!("{REGISTRY}/app:latest")], &[]);
    let redeployer = Redeployer::new(ecs, config(&[]));
    redeployer.run(&[push("app", "latest")], Mode::Plan).await;
    assert_eq!(redeployer.ecs.calls("DescribeTaskDefinition"), 2);
    redeployer.run(&[push("app", "latest")], Mode::Plan).await;
    assert_eq!(
        redeployer.ecs.calls("DescribeTaskDefinition"),
        2,
        "a warm process describes nothing again"
    );
}

#[tokio::test(start_paused = true)]
async fn fan_out_is_bounded_by_max_concurrency() {
    let mut ecs = FakeEcs::default();
    for i in 0..60 {
        ecs.add_service(
            &format!("c{}", i % 6),
            &format!("svc-{i}"),
            &[&format!("{REGISTRY}/app:latest")],
            &[],
        );
    }
    let redeployer = Redeployer::new(ecs, config(&[("MAX_CONCURRENCY", "3")]));
    let report = redeployer.run(&[push("app", "latest")], Mode::Apply).await;
    assert_eq!(report.counts.redeployed, 60);
    let max = redeployer.ecs.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} calls in flight");
    assert!(max > 1, "calls ran concurrently");
}

#[tokio::test(start_paused = true)]
async fn the_deploy_lock_guards_every_redeploy() {
    let mut ecs = FakeEcs::default();
    let app = format!("{REGISTRY}/app:latest");
    for name in ["fresh", "done", "running", "unlockable", "failing"] {
        ecs.add_service("prod", name, &[&app], &[]);
    }
    ecs.failing_updates.push("failing".into());
    let lock = FakeLock {
        held: BTreeMap::from([
            ("done".into(), ClaimState::Done),
            ("running".into(), ClaimState::InProgress),
        ]),
        broken: vec!["unlockable".into()],
        ..FakeLock::default()
    };
    let mut pushed = push("app", "latest");
    pushed.digest = Some("sha256:0000000000000000000000000000000000000000000000000000000000000001".into());
    let redeployer = Redeployer::with_lock(ecs, lock, config(&[]));
    let report = redeployer.run(&[pushed], Mode::Apply).await;

    assert_eq!(outcome_of(&report, "fresh"), ("image-match", Status::Redeployed));
    assert_eq!(outcome_of(&report, "done"), ("already-deployed", Status::Skipped));
    assert_eq!(outcome_of(&report, "running"), ("in-progress", Status::Skipped));
    assert_eq!(outcome_of(&report, "unlockable"), ("image-match", Status::Failed));
    assert_eq!(outcome_of(&report, "failing"), ("image-match", Status::Failed));
    let unlockable = report.services.iter().find(|s| s.service == "unlockable").unwrap();
    assert!(unlockable.error.as_deref().unwrap().contains("table unavailable"));
    assert_eq!(*redeployer.lock.completed.lock().unwrap(), vec!["fresh"]);
    assert_eq!(
        *redeployer.lock.released.lock().unwrap(),
        vec!["failing"],
        "a failed update frees the claim"
    );
    assert_eq!(
        redeployer.ecs.calls("UpdateService"),
        2,
        "held and unlockable services are not deployed"
    );
}

#[tokio::test(start_paused = true)]
async fn pin_mode_registers_once_per_source_revision() {
    let mut ecs = FakeEcs::default();
    let app = format!("{REGISTRY}/app:latest");
    let shared = format!("{ACCOUNT_PREFIX}:task-definition/shared:4");
    for name in ["a", "b", "c"] {
        ecs.add_service_on("prod", name, &shared, &[&app], &[("ecs-redeploy", "pin")]);
    }
    ecs.add_service("prod", "own", &[&app], &[("ecs-redeploy", "pin")]);
    ecs.add_service("prod", "forced", &[&app], &[]);
    let mut pushed = push("app", "latest");
    pushed.digest = Some("sha256:0000000000000000000000000000000000000000000000000000000000000001".into());
    let redeployer = Redeployer::new(ecs, config(&[]));
    let report = redeployer.run(&[pushed], Mode::Apply).await;

    assert_eq!(report.counts.redeployed, 5);
    assert_eq!(
        redeployer.ecs.calls("RegisterTaskDefinition"),
        2,
        "one per source revision"
    );
    let revisions: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            report
                .services
                .iter()
                .find(|s| s.service == *n)
                .unwrap()
                .new_task_definition
                .clone()
        })
        .collect();
    assert_eq!(
        revisions,
        vec![Some(format!("{ACCOUNT_PREFIX}:task-definition/shared:5")); 3]
    );
    let forced = report.services.iter().find(|s| s.service == "forced").unwrap();
    assert_eq!(
        (forced.method, &forced.new_task_definition),
        (Some(Method::Force), &None)
    );
}

#[tokio::test(start_paused = true)]
async fn a_push_built_for_another_platform_is_not_deployed() {
    use crate::ecr::fake::FakeEcr;
    use crate::ecr::{Platform, Platforms, PushedManifest};
    use crate::ecs::RuntimePlatform;

    let app = format!("{REGISTRY}/app:latest");
    let mut ecs = FakeEcs::default();
    for (name, cpu) in [("arm", Some("ARM64")), ("intel", Some("X86_64")), ("any", None)] {
        ecs.add_service("prod", name, &[&app], &[]);
        let td = ecs
            .task_definitions
            .get_mut(&format!("{ACCOUNT_PREFIX}:task-definition/{name}:1"))
            .unwrap();
        td.runtime_platform = Some(RuntimePlatform {
            cpu_architecture: cpu.map(str::to_owned),
            os_family: Some("LINUX".into()),
        });
    }
    let amd64_only = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    let ecr = FakeEcr {
        images: BTreeMap::from([(
            amd64_only.to_owned(),
            PushedManifest {
                platforms: Platforms::Listed(vec![Platform {
                    os: "linux".into(),
                    architecture: "amd64".into(),
                }]),
                manifests: vec![],
            },
        )]),
        ..FakeEcr::default()
    };
    let redeployer = Redeployer::new(ecs, config(&[])).with_registry(ecr);
    let mut pushed = push("app", "latest");
    pushed.digest = Some(amd64_only.into());

    let report = redeployer.run(&[pushed.clone()], Mode::Apply).await;
    assert_eq!(outcome_of(&report, "arm"), ("platform-mismatch", Status::Skipped));
    assert_eq!(outcome_of(&report, "intel"), ("image-match", Status::Redeployed));
    assert_eq!(outcome_of(&report, "any"), ("image-match", Status::Redeployed));
    let arm = report.services.iter().find(|s| s.service == "arm").unwrap();
    assert!(
        arm.warnings.iter().any(|w| w.contains("linux/amd64")),
        "{:?}",
        arm.warnings
    );
    let ecr_calls = || redeployer.ecr.as_ref().unwrap().calls.lock().unwrap().len();
    assert_eq!(ecr_calls(), 1, "one lookup per pushed digest");

    redeployer.run(&[pushed], Mode::Plan).await;
    assert_eq!(ecr_calls(), 1, "a warm process asks once per digest");
}

/// A push forwarded from another Region (a registry stack's TargetRegion): the role reads ECR in its own account
/// and Region only, so the platform check is not asked for it; the services go on as with an unknown platform.
#[tokio::test(start_paused = true)]
async fn a_push_from_another_region_is_not_looked_up_and_goes_on_unchecked() {
    use crate::domain::image::Registry;
    use crate::ecr::fake::FakeEcr;

    let elsewhere = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    let mut ecs = FakeEcs::default();
    ecs.add_service("prod", "web", &[&format!("{elsewhere}/app:latest")], &[]);
    let redeployer = Redeployer::new(ecs, config(&[])).with_registry(FakeEcr::default());
    let mut pushed = push("app", "latest");
    pushed.registry = Registry::ecr("123456789012", "eu-west-1").unwrap();
    pushed.digest = Some("sha256:0000000000000000000000000000000000000000000000000000000000000001".into());

    let report = redeployer.run(&[pushed], Mode::Apply).await;
    assert_eq!(outcome_of(&report, "web"), ("image-match", Status::Redeployed));
    let ecr_calls = redeployer.ecr.as_ref().unwrap().calls.lock().unwrap().clone();
    assert_eq!(
        ecr_calls,
        Vec::<String>::new(),
        "no lookup outside the services' own Region"
    );
}

/// Digest truth and the sweep.
mod digests;
mod golden;
