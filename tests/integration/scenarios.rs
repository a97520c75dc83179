//! Seeded fleets in moto, redeployed through the real SDK adapter; moto's state is the judge.

use std::collections::BTreeMap;

use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::ecs::{
    Deployment, DescribedServices, EcsApi, EcsError, EcsErrorKind, EcsUsage, ServiceDeployment, ServiceRevision,
    TaskDefinition,
};
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::report::{Invocation, Report, Status};
use ecs_redeploy::trigger::lambda::{InvocationError, Response, handle};
use lambda_runtime::{Context, LambdaEvent};

use crate::events::{EXPECTED, load_now};
use crate::support::{FunctionEcs, config};
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, deployment_ids, redeployed, registry};
use ecs_redeploy_testkit::harness::Harness;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn lambda_event(name: &str) -> LambdaEvent<serde_json::Value> {
    LambdaEvent::new(load_now(name), Context::default())
}

async fn run_push_event<E: EcsApi>(redeployer: &Redeployer<E>) -> Result<Report, InvocationError> {
    match handle(redeployer, lambda_event("ecr-push.json")).await? {
        Response::Event(Invocation::Processed(report)) => Ok(*report),
        other => panic!("the push was not processed: {other:?}"),
    }
}

/// `cluster/service` → (reason, outcome) for every service the report lists.
fn outcomes(report: &Report) -> BTreeMap<String, (String, Status)> {
    report
        .services
        .iter()
        .map(|s| {
            (
                format!("{}/{}", s.cluster, s.service),
                (s.reason.code().to_owned(), s.outcome),
            )
        })
        .collect()
}

/// (name, container images, service tags, expected reason)
type Kind = (
    &'static str,
    Vec<String>,
    Vec<(&'static str, &'static str)>,
    Option<&'static str>,
);

/// Kinds of service in the large fleet, each with the reason the push of `app:latest` must give
/// (`None`: unrelated, not listed).
fn kinds() -> Vec<Kind> {
    let r = registry();
    vec![
        ("exact", vec![format!("{r}/app:latest")], vec![], Some("image-match")),
        ("implied-latest", vec![format!("{r}/app")], vec![], Some("image-match")),
        (
            "second-container",
            vec![format!("{r}/envoy:v1.31"), format!("{r}/app:latest")],
            vec![],
            Some("image-match"),
        ),
        (
            "tag-mismatch",
            vec![format!("{r}/app:v1")],
            vec![],
            Some("tag-mismatch"),
        ),
        (
            "tag-prefix",
            vec![format!("{r}/app:latest-arm")],
            vec![],
            Some("tag-mismatch"),
        ),
        (
            "other-account",
            vec!["210987654321.dkr.ecr.us-east-1.amazonaws.com/app:latest".into()],
            vec![],
            Some("other-registry"),
        ),
        (
            "other-region",
            vec!["123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest".into()],
            vec![],
            Some("other-registry"),
        ),
        (
            "digest-pinned",
            vec![format!("{r}/app@{DIGEST}")],
            vec![],
            Some("digest-pinned"),
        ),
        (
            "opted-out",
            vec![format!("{r}/app:latest")],
            vec![("ecs-redeploy", "off")],
            Some("opted-out"),
        ),
        (
            "opted-in",
            vec![format!("{r}/app:latest")],
            vec![("ecs-redeploy", "on")],
            Some("image-match"),
        ),
        ("repo-prefix", vec![format!("{r}/app-worker:latest")], vec![], None),
        ("docker-hub", vec!["nginx:1.27".into()], vec![], None),
        ("other-repo", vec![format!("{r}/api:latest")], vec![], None),
    ]
}

#[tokio::test]
async fn a_large_fleet_gets_exactly_the_matching_services_redeployed() {
    let env = Harness::start().await;
    let client = env.seeder();
    let clusters = ["alpha", "bravo", "charlie"];
    let kinds = kinds();
    let mut specs = Vec::new();
    let mut expected = BTreeMap::new();
    // 255 services; beyond the listed kinds, fill with unrelated ones as real fleets are.
    for i in 0..255 {
        // Uneven clusters: alpha needs two ListServices pages of 100.
        let cluster = match i {
            0..130 => "alpha",
            130..200 => "bravo",
            _ => "charlie",
        };
        let (kind, images, tags, reason) = kinds
            .get(i % 20)
            .cloned()
            .unwrap_or_else(|| ("filler", vec![format!("{}/api:v2", registry())], vec![], None));
        let name = format!("{kind}-{i:03}");
        let images: Vec<&str> = images.iter().map(String::as_str).collect();
        let spec = tags
            .iter()
            .fold(ServiceSpec::new(cluster, &name, &images), |s, (k, v)| s.tagged(k, v));
        specs.push(spec);
        if let Some(reason) = reason {
            let outcome = if reason == "image-match" {
                Status::Redeployed
            } else {
                Status::Skipped
            };
            expected.insert(format!("{cluster}/{name}"), (reason.to_owned(), outcome));
        }
    }
    fleet::seed(&client, &specs).await;
    let before = deployment_ids(&client, &clusters).await;
    assert_eq!(before.len(), 255);

    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));
    let report = run_push_event(&redeployer).await.expect("no failure");
    let after = deployment_ids(&client, &clusters).await;

    assert_eq!(outcomes(&report), expected);
    let should_redeploy: Vec<String> = expected
        .iter()
        .filter(|(_, (_, o))| *o == Status::Redeployed)
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(
        redeployed(&before, &after),
        should_redeploy,
        "moto's deployments changed for exactly these"
    );
    assert!(!should_redeploy.is_empty());
    assert_eq!(report.counts.scanned, 255);
    assert_eq!(report.counts.clusters, 3);
    for service in report.services.iter().filter(|s| s.outcome == Status::Redeployed) {
        let name = format!("{}/{}", service.cluster, service.service);
        assert_eq!(
            service.deployment_id.as_ref(),
            after.get(&name),
            "{name}: report names the new deployment"
        );
    }
    let second = report
        .services
        .iter()
        .find(|s| s.service.starts_with("second-container"))
        .unwrap();
    assert_eq!(second.containers, vec!["c1"], "the match is in the second container");
}

#[tokio::test]
async fn opted_in_selection_and_cluster_restriction() {
    let env = Harness::start().await;
    let client = env.seeder();
    let app = format!("{}/app:latest", registry());
    let specs = vec![
        ServiceSpec::new("alpha", "plain", &[&app]),
        ServiceSpec::new("alpha", "tagged", &[&app]).tagged("ecs-redeploy", "on"),
        ServiceSpec::new("alpha", "custom-key", &[&app]).tagged("team-deploy", "yes"),
        ServiceSpec::new("alpha", "off", &[&app]).tagged("ecs-redeploy", "off"),
        ServiceSpec::new("bravo", "tagged", &[&app]).tagged("ecs-redeploy", "on"),
    ];
    fleet::seed(&client, &specs).await;
    let clusters = ["alpha", "bravo"];

    let before = deployment_ids(&client, &clusters).await;
    let opted_in = Redeployer::new(env.function_ecs(), config(&[("SELECT", "opted-in")]));
    let report = run_push_event(&opted_in).await.unwrap();
    let after = deployment_ids(&client, &clusters).await;
    assert_eq!(redeployed(&before, &after), vec!["alpha/tagged", "bravo/tagged"]);
    assert!(
        !outcomes(&report).contains_key("alpha/plain"),
        "untagged services are not examined"
    );
    let calls = env.front.calls();
    assert_eq!(
        (
            calls.action("ListClusters").received,
            calls.action("ListServices").received
        ),
        (0, 0),
        "opted-in services are found through the tagging API"
    );
    assert_eq!(
        outcomes(&report)["alpha/off"],
        ("opted-out".to_owned(), Status::Skipped)
    );

    let custom = Redeployer::new(
        env.function_ecs(),
        config(&[
            ("SELECT", "opted-in"),
            ("TAG_KEY", "team-deploy"),
            ("CLUSTERS", "alpha"),
        ]),
    );
    let report = run_push_event(&custom).await.unwrap();
    let last = deployment_ids(&client, &clusters).await;
    assert_eq!(redeployed(&after, &last), vec!["alpha/custom-key"]);
    assert!(!report.services.is_empty(), "alpha/custom-key is reported");
    assert!(
        report.services.iter().all(|s| s.cluster == "alpha"),
        "CLUSTERS restricts the search"
    );
}

/// The SDK adapter, with `UpdateService` failing for one named service.
pub struct FailingUpdate {
    inner: SdkEcs,
    service: &'static str,
}

impl FailingUpdate {
    pub fn new(inner: SdkEcs, service: &'static str) -> Self {
        FailingUpdate { inner, service }
    }
}

impl EcsApi for FailingUpdate {
    fn usage(&self) -> EcsUsage {
        self.inner.usage()
    }
    async fn list_clusters(&self) -> Result<Vec<String>, EcsError> {
        self.inner.list_clusters().await
    }
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, EcsError> {
        self.inner.list_services(cluster).await
    }
    async fn list_tagged_services(&self, tag_key: &str) -> Result<Vec<String>, EcsError> {
        self.inner.list_tagged_services(tag_key).await
    }
    async fn describe_services(&self, cluster: &str, services: &[String]) -> Result<DescribedServices, EcsError> {
        self.inner.describe_services(cluster, services).await
    }
    async fn describe_task_definition(&self, arn: &str) -> Result<TaskDefinition, EcsError> {
        self.inner.describe_task_definition(arn).await
    }
    async fn describe_service_deployments(&self, arns: &[String]) -> Result<Vec<ServiceDeployment>, EcsError> {
        self.inner.describe_service_deployments(arns).await
    }
    async fn describe_service_revisions(&self, arns: &[String]) -> Result<Vec<ServiceRevision>, EcsError> {
        self.inner.describe_service_revisions(arns).await
    }
    async fn force_new_deployment(
        &self,
        cluster: &str,
        service: &str,
        known: &[Deployment],
    ) -> Result<Deployment, EcsError> {
        if service.ends_with(&format!("/{}", self.service)) {
            return Err(EcsError::new(
                "UpdateService",
                EcsErrorKind::AccessDenied,
                "AccessDeniedException: denied",
            ));
        }
        self.inner.force_new_deployment(cluster, service, known).await
    }
    async fn register_revision(&self, source: &str, images: &BTreeMap<String, String>) -> Result<String, EcsError> {
        self.inner.register_revision(source, images).await
    }
    async fn deploy_revision(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        known: &[Deployment],
    ) -> Result<Deployment, EcsError> {
        self.inner
            .deploy_revision(cluster, service, task_definition, known)
            .await
    }
}

#[tokio::test]
async fn one_failed_update_fails_the_invocation_after_the_rest_succeed() {
    let env = Harness::start().await;
    let client = env.seeder();
    let app = format!("{}/app:latest", registry());
    let specs: Vec<ServiceSpec> = ["one", "two", "broken", "four"]
        .iter()
        .map(|name| ServiceSpec::new("alpha", name, &[&app]))
        .collect();
    fleet::seed(&client, &specs).await;
    let before = deployment_ids(&client, &["alpha"]).await;

    let ecs = FailingUpdate::new(env.function_ecs(), "broken");
    let error = run_push_event(&Redeployer::new(ecs, config(&[])))
        .await
        .expect_err("invocation fails");
    let after = deployment_ids(&client, &["alpha"]).await;

    assert_eq!(
        redeployed(&before, &after),
        vec!["alpha/four", "alpha/one", "alpha/two"]
    );
    let InvocationError::Incomplete { report, failures } = &error else {
        panic!("{error}")
    };
    assert_eq!(failures, &vec!["alpha/broken".to_owned()]);
    assert_eq!((report.counts.redeployed, report.counts.failed), (3, 1));
    let message = error.to_string();
    assert!(message.contains("alpha/broken"), "{message}");
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "RedeployIncomplete");
}

#[tokio::test]
async fn non_push_events_change_nothing_and_dry_run_only_plans() {
    let env = Harness::start().await;
    let client = env.seeder();
    let app = format!("{}/app:latest", registry());
    fleet::seed(
        &client,
        &[
            ServiceSpec::new("alpha", "web", &[&app]),
            ServiceSpec::new("bravo", "web", &[&app]),
        ],
    )
    .await;
    let clusters = ["alpha", "bravo"];
    let before = deployment_ids(&client, &clusters).await;

    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));
    for (name, expected) in EXPECTED
        .iter()
        .filter(|(_, e)| !matches!(*e, "push" | "batch" | "sweep"))
    {
        // Without a lock table no deployment is recorded, so none is followed.
        let expected = if *expected == "deployment" {
            "not-tracked"
        } else {
            expected
        };
        match handle(&redeployer, lambda_event(name)).await {
            Ok(Response::Event(Invocation::Ignored { reason, .. })) => assert_eq!(reason, expected, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let dry_run = Redeployer::new(env.function_ecs(), config(&[("DRY_RUN", "true")]));
    let report = run_push_event(&dry_run).await.unwrap();
    assert_eq!((report.counts.planned, report.counts.redeployed), (2, 0));
    assert_eq!(deployment_ids(&client, &clusters).await, before, "nothing was deployed");

    env.moto.reset();
    let listed = client.list_clusters().send().await.expect("list clusters");
    assert!(listed.cluster_arns().is_empty(), "reset forgets the fleet");
}
