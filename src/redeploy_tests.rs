use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::ecs::{
    Container, DESCRIBE_SERVICES_MAX, Deployment, DescribeFailure, DescribedServices, EcsError, EcsErrorKind,
    TaskDefinition, VersionConsistency,
};
use crate::image::Registry;
use crate::lock::{Claim, ClaimState, DeployLock, LockKey};

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const ACCOUNT_PREFIX: &str = "arn:aws:ecs:us-east-1:123456789012";

/// An in-memory ECS: clusters of services, task definitions, scripted failures, call counts.
#[derive(Default)]
struct FakeEcs {
    clusters: BTreeMap<String, Vec<Service>>,
    task_definitions: HashMap<String, TaskDefinition>,
    failing_updates: Vec<String>,
    failing_listings: Vec<String>,
    failing_describes: Vec<String>,
    missing_services: Vec<String>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
    updated: Mutex<Vec<String>>,
    /// `register_revision` calls: source task definition, container name → image.
    registered: Mutex<Vec<(String, BTreeMap<String, String>)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl FakeEcs {
    fn add_service(&mut self, cluster: &str, name: &str, images: &[&str], tags: &[(&str, &str)]) {
        let td_arn = format!("{ACCOUNT_PREFIX}:task-definition/{name}:1");
        self.add_service_on(cluster, name, &td_arn, images, tags);
    }

    fn add_service_on(&mut self, cluster: &str, name: &str, td_arn: &str, images: &[&str], tags: &[(&str, &str)]) {
        self.task_definitions.insert(
            td_arn.to_owned(),
            TaskDefinition {
                arn: td_arn.to_owned(),
                containers: images
                    .iter()
                    .enumerate()
                    .map(|(i, image)| Container {
                        name: format!("c{i}"),
                        image: (*image).to_owned(),
                        version_consistency: VersionConsistency::Enabled,
                    })
                    .collect(),
            },
        );
        self.clusters.entry(cluster.to_owned()).or_default().push(Service {
            arn: format!("{ACCOUNT_PREFIX}:service/{cluster}/{name}"),
            name: name.to_owned(),
            cluster_arn: format!("{ACCOUNT_PREFIX}:cluster/{cluster}"),
            status: "ACTIVE".to_owned(),
            task_definition: td_arn.to_owned(),
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            deployments: Vec::new(),
        });
    }

    fn calls(&self, operation: &str) -> usize {
        self.calls.lock().unwrap().get(operation).copied().unwrap_or(0)
    }

    async fn call(&self, operation: &'static str) {
        *self.calls.lock().unwrap().entry(operation).or_default() += 1;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EcsApi for FakeEcs {
    async fn list_clusters(&self) -> Result<Vec<String>, EcsError> {
        self.call("ListClusters").await;
        Ok(self
            .clusters
            .keys()
            .map(|c| format!("{ACCOUNT_PREFIX}:cluster/{c}"))
            .collect())
    }

    async fn list_tagged_services(&self, tag_key: &str) -> Result<Vec<String>, EcsError> {
        self.call("GetResources").await;
        let services = self.clusters.values().flatten();
        Ok(services
            .filter(|s| s.tags.contains_key(tag_key))
            .map(|s| s.arn.clone())
            .collect())
    }

    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, EcsError> {
        self.call("ListServices").await;
        let name = short_name(cluster);
        if self.failing_listings.iter().any(|c| c == name) {
            return Err(EcsError::new(
                "ListServices",
                EcsErrorKind::AccessDenied,
                "AccessDeniedException: no",
            ));
        }
        Ok(self
            .clusters
            .get(name)
            .into_iter()
            .flatten()
            .map(|s| s.arn.clone())
            .collect())
    }

    async fn describe_services(&self, cluster: &str, arns: &[String]) -> Result<DescribedServices, EcsError> {
        self.call("DescribeServices").await;
        assert!(arns.len() <= DESCRIBE_SERVICES_MAX, "batch of {}", arns.len());
        if arns
            .iter()
            .any(|a| self.failing_describes.iter().any(|f| a.ends_with(f.as_str())))
        {
            return Err(EcsError::new(
                "DescribeServices",
                EcsErrorKind::Other,
                "ServerException: boom",
            ));
        }
        let all = self.clusters.get(short_name(cluster)).cloned().unwrap_or_default();
        let (services, failures) = arns
            .iter()
            .fold((Vec::new(), Vec::new()), |(mut found, mut failed), arn| {
                match all.iter().find(|s| &s.arn == arn) {
                    Some(s) if !self.missing_services.contains(&s.name) => found.push(s.clone()),
                    _ => failed.push(DescribeFailure {
                        arn: arn.clone(),
                        reason: "MISSING".into(),
                    }),
                }
                (found, failed)
            });
        Ok(DescribedServices { services, failures })
    }

    async fn describe_task_definition(&self, arn: &str) -> Result<TaskDefinition, EcsError> {
        self.call("DescribeTaskDefinition").await;
        self.task_definitions
            .get(arn)
            .cloned()
            .ok_or_else(|| EcsError::new("DescribeTaskDefinition", EcsErrorKind::InvalidParameter, "unknown"))
    }

    async fn force_new_deployment(&self, _cluster: &str, service: &str) -> Result<Deployment, EcsError> {
        self.call("UpdateService").await;
        if self.failing_updates.iter().any(|f| service.ends_with(&format!("/{f}"))) {
            return Err(EcsError::new(
                "UpdateService",
                EcsErrorKind::Other,
                "ServerException: injected",
            ));
        }
        self.updated.lock().unwrap().push(service.to_owned());
        Ok(Deployment {
            id: format!("ecs-svc/{}", short_name(service)),
            status: "PRIMARY".into(),
            created_at: None,
        })
    }

    /// Refuses container names the source lacks before registering, like `SdkEcs`; the new revision is the
    /// source's + 1.
    async fn register_revision(&self, source: &str, images: &BTreeMap<String, String>) -> Result<String, EcsError> {
        let invalid =
            |message: String| EcsError::new("RegisterTaskDefinition", EcsErrorKind::InvalidParameter, message);
        let definition = self
            .task_definitions
            .get(source)
            .ok_or_else(|| invalid(format!("unknown task definition {source}")))?;
        if let Some(name) = images
            .keys()
            .find(|n| definition.containers.iter().all(|c| &c.name != *n))
        {
            return Err(invalid(format!("{source} has no container named {name}")));
        }
        self.call("RegisterTaskDefinition").await;
        let (unrevised, revision) = source
            .rsplit_once(':')
            .expect("a task-definition ARN ends in :revision");
        let revision: u32 = revision.parse().expect("a numeric revision");
        self.registered
            .lock()
            .unwrap()
            .push((source.to_owned(), images.clone()));
        Ok(format!("{unrevised}:{}", revision + 1))
    }

    /// An `UpdateService` like `force_new_deployment`: counted, failing for `failing_updates`, recorded in `updated`.
    async fn deploy_revision(
        &self,
        cluster: &str,
        service: &str,
        _task_definition: &str,
    ) -> Result<Deployment, EcsError> {
        self.force_new_deployment(cluster, service).await
    }
}

fn push(repository: &str, tag: &str) -> Push {
    Push {
        registry: Registry::ecr("123456789012", "us-east-1").unwrap(),
        repository: repository.into(),
        tag: tag.into(),
        digest: None,
        event_id: Some("e-1".into()),
        time: None,
        replicated_from: None,
    }
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned())).unwrap()
}

fn outcome_of<'a>(report: &'a Report, service: &str) -> (&'a str, Outcome) {
    let s = report
        .services
        .iter()
        .find(|s| s.service == service)
        .unwrap_or_else(|| panic!("{service} not reported"));
    (s.reason, s.outcome)
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

#[tokio::test]
async fn redeploys_every_matching_service_once_and_explains_the_rest() {
    let redeployer = Redeployer::new(fleet(), config(&[]));
    let report = redeployer.run(&push("app", "latest"), Mode::Apply).await;

    assert_eq!(outcome_of(&report, "worker"), ("image-match", Outcome::Redeployed));
    assert_eq!(outcome_of(&report, "legacy"), ("tag-mismatch", Outcome::Skipped));
    assert_eq!(outcome_of(&report, "frozen"), ("opted-out", Outcome::Skipped));
    assert!(
        report.services.iter().all(|s| s.service != "db"),
        "unrelated services are not listed"
    );
    let webs: Vec<_> = report.services.iter().filter(|s| s.service == "web").collect();
    assert_eq!(webs.len(), 2);
    assert!(
        webs.iter()
            .all(|s| s.outcome == Outcome::Redeployed && s.deployment_id.as_deref() == Some("ecs-svc/web"))
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

#[tokio::test]
async fn plan_changes_nothing() {
    let redeployer = Redeployer::new(fleet(), config(&[("DRY_RUN", "true")]));
    let report = redeployer.run(&push("app", "latest"), redeployer.apply_mode()).await;
    assert_eq!(report.mode, Mode::Plan);
    assert_eq!(report.counts.planned, 3);
    assert_eq!(report.counts.redeployed, 0);
    assert_eq!(redeployer.ecs.calls("UpdateService"), 0);
}

#[tokio::test]
async fn selection_and_cluster_scope_come_from_config() {
    let listed = Redeployer::new(fleet(), config(&[("CLUSTERS", "prod")]));
    let report = listed.run(&push("app", "latest"), Mode::Apply).await;
    assert_eq!(
        listed.ecs.calls("ListClusters"),
        0,
        "listed clusters are not discovered"
    );
    assert_eq!(listed.ecs.calls("ListServices"), 1);
    assert!(report.services.iter().all(|s| s.cluster == "prod"));

    // Opted in: only tagged services, found through the tagging API; no cluster is listed.
    let mut ecs = fleet();
    ecs.add_service("stage", "untagged", &[&format!("{REGISTRY}/app:latest")], &[]);
    let opted_in = Redeployer::new(ecs, config(&[("SELECT", "opted-in")]));
    let report = opted_in.run(&push("app", "latest"), Mode::Apply).await;
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
    assert_eq!(outcome_of(&report, "frozen"), ("opted-out", Outcome::Skipped));
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
    let report = scoped.run(&push("app", "latest"), Mode::Apply).await;
    assert!(
        report.services.iter().all(|s| s.cluster == "prod"),
        "CLUSTERS still restricts"
    );
}

#[tokio::test]
async fn one_failure_never_stops_the_others() {
    let mut ecs = fleet();
    ecs.failing_updates.push("worker".into());
    ecs.failing_listings.push("stage".into());
    let redeployer = Redeployer::new(ecs, config(&[]));
    let report = redeployer.run(&push("app", "latest"), Mode::Apply).await;

    assert_eq!(outcome_of(&report, "web"), ("image-match", Outcome::Redeployed));
    let worker = report.services.iter().find(|s| s.service == "worker").unwrap();
    assert_eq!(worker.outcome, Outcome::Failed);
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

#[tokio::test]
async fn unexaminable_services_are_reported_failed_by_name() {
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
    let report = redeployer.run(&push("app", "latest"), Mode::Apply).await;
    assert_eq!(outcome_of(&report, "legacy"), ("describe-failed", Outcome::Failed));
    assert_eq!(
        outcome_of(&report, "orphan"),
        ("task-definition-unavailable", Outcome::Failed)
    );
    assert_eq!(report.counts.redeployed, 3, "the rest still redeploys");
}

#[tokio::test]
async fn a_failed_describe_batch_names_its_services() {
    let mut ecs = FakeEcs::default();
    for i in 0..25 {
        ecs.add_service("big", &format!("svc-{i:02}"), &[&format!("{REGISTRY}/app:latest")], &[]);
    }
    ecs.failing_describes.push("svc-13".into());
    let redeployer = Redeployer::new(ecs, config(&[]));
    let report = redeployer.run(&push("app", "latest"), Mode::Apply).await;
    assert_eq!(
        redeployer.ecs.calls("DescribeServices"),
        3,
        "25 services in batches of 10"
    );
    assert_eq!(report.counts.failed, 10, "the whole failed batch is named");
    assert_eq!(report.counts.redeployed, 15);
    assert_eq!(report.counts.scanned, 25);
}

#[tokio::test]
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
    redeployer.run(&push("app", "latest"), Mode::Plan).await;
    assert_eq!(redeployer.ecs.calls("DescribeTaskDefinition"), 2);
    redeployer.run(&push("app", "latest"), Mode::Plan).await;
    assert_eq!(
        redeployer.ecs.calls("DescribeTaskDefinition"),
        2,
        "a warm process describes nothing again"
    );
}

#[tokio::test]
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
    let report = redeployer.run(&push("app", "latest"), Mode::Apply).await;
    assert_eq!(report.counts.redeployed, 60);
    let max = redeployer.ecs.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} calls in flight");
    assert!(max > 1, "calls ran concurrently");
}

/// A lock whose answers are scripted per service name, recording what was completed and released.
#[derive(Default)]
struct FakeLock {
    held: BTreeMap<String, ClaimState>,
    broken: Vec<String>,
    completed: Mutex<Vec<String>>,
    released: Mutex<Vec<String>>,
}

impl DeployLock for FakeLock {
    async fn claim(&self, key: &LockKey) -> Result<Claim, crate::lock::LockError> {
        let name = short_name(&key.service_arn);
        if self.broken.iter().any(|b| b == name) {
            return Err(crate::lock::LockError {
                operation: "claim",
                id: key.id(),
                message: "table unavailable".into(),
                source: None,
            });
        }
        Ok(self.held.get(name).map_or(Claim::Acquired, |state| Claim::Held(*state)))
    }

    async fn complete(&self, key: &LockKey) -> Result<(), crate::lock::LockError> {
        self.completed
            .lock()
            .unwrap()
            .push(short_name(&key.service_arn).to_owned());
        Ok(())
    }

    async fn release(&self, key: &LockKey) -> Result<(), crate::lock::LockError> {
        self.released
            .lock()
            .unwrap()
            .push(short_name(&key.service_arn).to_owned());
        Ok(())
    }
}

#[tokio::test]
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
    let report = redeployer.run(&pushed, Mode::Apply).await;

    assert_eq!(outcome_of(&report, "fresh"), ("image-match", Outcome::Redeployed));
    assert_eq!(outcome_of(&report, "done"), ("already-deployed", Outcome::Skipped));
    assert_eq!(outcome_of(&report, "running"), ("in-progress", Outcome::Skipped));
    assert_eq!(outcome_of(&report, "unlockable"), ("image-match", Outcome::Failed));
    assert_eq!(outcome_of(&report, "failing"), ("image-match", Outcome::Failed));
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

#[tokio::test]
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
    let report = redeployer.run(&pushed, Mode::Apply).await;

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
