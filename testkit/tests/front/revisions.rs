//! Service revisions and service deployments, which the front keeps for moto, read through the real SDK.

use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{Service, ServiceDeployment, ServiceDeploymentStatus, ServiceRevision};
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, registry};
use ecs_redeploy_testkit::front::FrontConfig;
use ecs_redeploy_testkit::harness::Harness;

pub(super) const DELAY: Duration = Duration::from_secs(60);
const PINNED: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

pub(super) fn app(tag: &str) -> String {
    format!("{}/app:{tag}", registry())
}

pub(super) fn with_delay() -> FrontConfig {
    FrontConfig {
        resolve_delay: DELAY,
        ..FrontConfig::strict()
    }
}

pub(super) async fn service(ecs: &Client, cluster: &str, name: &str) -> Service {
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .expect("describe services");
    described.services()[0].clone()
}

/// `currentServiceRevisions` as (arn, requested, running, pending).
pub(super) fn current(service: &Service) -> Vec<(String, i32, i32, i32)> {
    let revisions = service.current_service_revisions().iter();
    revisions
        .map(|r| {
            let arn = r.arn().expect("arn").to_owned();
            (arn, r.requested_task_count, r.running_task_count, r.pending_task_count)
        })
        .collect()
}

async fn revision(ecs: &Client, arn: &str) -> ServiceRevision {
    let described = ecs
        .describe_service_revisions()
        .service_revision_arns(arn)
        .send()
        .await
        .expect("describe service revisions");
    assert!(described.failures().is_empty(), "{:?}", described.failures());
    described.service_revisions()[0].clone()
}

pub(super) async fn deployment(ecs: &Client, arn: &str) -> ServiceDeployment {
    let described = ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .expect("describe service deployments");
    assert!(described.failures().is_empty(), "{:?}", described.failures());
    described.service_deployments()[0].clone()
}

/// (container, image, digest) of a revision.
fn images(revision: &ServiceRevision) -> Vec<(String, String, Option<String>)> {
    let images = revision.container_images().iter();
    images
        .map(|i| {
            let name = i.container_name().unwrap_or_default().to_owned();
            let image = i.image().unwrap_or_default().to_owned();
            (name, image, i.image_digest().map(str::to_owned))
        })
        .collect()
}

fn summary_arn(deployment: &ServiceDeployment) -> String {
    let target = deployment.target_service_revision().expect("target");
    target.arn().expect("arn").to_owned()
}

fn source_arns(deployment: &ServiceDeployment) -> Vec<String> {
    let sources = deployment.source_service_revisions().iter();
    sources.map(|s| s.arn().expect("arn").to_owned()).collect()
}

#[tokio::test]
async fn a_revision_and_a_service_deployment_are_recorded_per_deployment_made_through_the_front() {
    let env = Harness::start().await;
    let seeder = env.seeder();
    seeder
        .create_cluster()
        .cluster_name("rev")
        .send()
        .await
        .expect("cluster");
    let first = fleet::register_task_definition(&seeder, "web", &[app("latest")], None).await;
    let second = fleet::register_task_definition(&seeder, "web", &[app("v2")], None).await;
    let ecs = env.function_client();
    let created = ecs
        .create_service()
        .cluster("rev")
        .service_name("svc")
        .task_definition(&first)
        .desired_count(2)
        .send()
        .await
        .expect("create service");
    let created = created.service().expect("service");
    let created_deployment = created.current_service_deployment().expect("a deployment").to_owned();
    let described = service(&ecs, "rev", "svc").await;
    assert_eq!(
        described.current_service_deployment(),
        Some(created_deployment.as_str())
    );
    let [(created_revision, 2, 2, 0)] = &current(&described)[..] else {
        panic!("{:?}", current(&described));
    };
    let service_arn = described.service_arn().expect("arn");
    let cluster_arn = described.cluster_arn().expect("arn");
    let prefix = service_arn.replacen(":service/", ":service-revision/", 1);
    assert!(
        created_revision.starts_with(&format!("{prefix}/")),
        "{created_revision}"
    );
    let id = created_revision.rsplit('/').next().expect("id");
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        "{created_revision}"
    );

    let recorded = revision(&ecs, created_revision).await;
    assert_eq!(recorded.task_definition(), Some(first.as_str()));
    assert_eq!(recorded.service_arn(), Some(service_arn));
    assert_eq!(recorded.cluster_arn(), Some(cluster_arn));
    assert_eq!(
        images(&recorded),
        [("c0".to_owned(), app("latest"), None)],
        "never pushed"
    );
    let made = deployment(&ecs, &created_deployment).await;
    assert!(
        created_deployment.contains(":service-deployment/rev/svc/"),
        "{created_deployment}"
    );
    assert_eq!(
        made.status(),
        Some(&ServiceDeploymentStatus::Successful),
        "no resolve delay"
    );
    assert_eq!(summary_arn(&made), *created_revision);
    assert!(source_arns(&made).is_empty());
    assert_eq!(made.created_at(), recorded.created_at());

    let forced = ecs
        .update_service()
        .cluster("rev")
        .service("svc")
        .force_new_deployment(true);
    forced.send().await.expect("force");
    let after_force = service(&ecs, "rev", "svc").await;
    let forced_deployment = deployment(&ecs, after_force.current_service_deployment().expect("one")).await;
    assert_ne!(
        forced_deployment.service_deployment_arn(),
        Some(created_deployment.as_str())
    );
    assert_eq!(source_arns(&forced_deployment), std::slice::from_ref(created_revision));
    let forced_revision = revision(&ecs, &summary_arn(&forced_deployment)).await;
    assert_eq!(forced_revision.task_definition(), Some(first.as_str()));

    let new_task_definition = ecs
        .update_service()
        .cluster("rev")
        .service("svc")
        .task_definition(&second);
    new_task_definition.send().await.expect("new task definition");
    let after_update = service(&ecs, "rev", "svc").await;
    let updated = deployment(&ecs, after_update.current_service_deployment().expect("one")).await;
    assert_eq!(source_arns(&updated), [summary_arn(&forced_deployment)]);
    let updated_revision = revision(&ecs, &summary_arn(&updated)).await;
    assert_eq!(updated_revision.task_definition(), Some(second.as_str()));

    let scaled = ecs.update_service().cluster("rev").service("svc").desired_count(3);
    scaled.send().await.expect("scale");
    let after_scaling = service(&ecs, "rev", "svc").await;
    assert_eq!(
        after_scaling.current_service_deployment(),
        updated.service_deployment_arn()
    );
    assert_eq!(
        current(&after_scaling),
        [(summary_arn(&updated), 3, 3, 0)],
        "no new deployment"
    );
}

#[tokio::test]
async fn tags_resolve_after_the_delay_to_the_digests_the_registry_had_then_pinned_images_at_once() {
    let env = Harness::start_with(with_delay()).await;
    let seeder = env.seeder();
    seeder
        .create_cluster()
        .cluster_name("res")
        .send()
        .await
        .expect("cluster");
    let pinned = format!("{}/sidecar@{PINNED}", registry());
    let never_pushed = format!("{}/other:1", registry());
    let containers = [app("latest"), pinned.clone(), never_pushed.clone()];
    let task_definition = fleet::register_task_definition(&seeder, "res", &containers, None).await;
    env.front.set_image_digest(&app("latest"), "sha256:aa");
    let ecs = env.function_client();
    let create = ecs.create_service().cluster("res").service_name("svc").desired_count(1);
    create.task_definition(&task_definition).send().await.expect("create");

    let rolling_out = service(&ecs, "res", "svc").await;
    let [(revision_arn, 1, 0, 1)] = &current(&rolling_out)[..] else {
        panic!("{:?}", current(&rolling_out));
    };
    let deployment_arn = rolling_out.current_service_deployment().expect("one").to_owned();
    let unresolved = [
        ("c0".to_owned(), app("latest"), None),
        ("c1".to_owned(), pinned.clone(), Some(PINNED.to_owned())),
        ("c2".to_owned(), never_pushed.clone(), None),
    ];
    assert_eq!(images(&revision(&ecs, revision_arn).await), unresolved);
    let in_progress = deployment(&ecs, &deployment_arn).await;
    assert_eq!(in_progress.status(), Some(&ServiceDeploymentStatus::InProgress));
    assert_eq!(in_progress.finished_at(), None);

    // A push while the deployment has not resolved yet is what it gets.
    env.front.set_image_digest(&app("latest"), "sha256:bb");
    env.front.advance_clock(DELAY + Duration::from_secs(1));
    env.front.set_image_digest(&app("latest"), "sha256:cc");
    let mut resolved = unresolved.clone();
    resolved[0].2 = Some("sha256:bb".to_owned());
    let recorded = revision(&ecs, revision_arn).await;
    assert_eq!(images(&recorded), resolved);
    let completed = deployment(&ecs, &deployment_arn).await;
    assert_eq!(completed.status(), Some(&ServiceDeploymentStatus::Successful));
    let created = recorded.created_at().expect("created").as_secs_f64();
    let finished = completed.finished_at().expect("finished").as_secs_f64();
    assert!(
        (finished - created - DELAY.as_secs_f64()).abs() < 1e-3,
        "{created} {finished}"
    );
    assert_eq!(
        current(&service(&ecs, "res", "svc").await),
        [(revision_arn.clone(), 1, 1, 0)]
    );
}

#[tokio::test]
async fn a_seeded_service_gets_a_resolved_initial_revision_and_rolls_out_from_it() {
    let env = Harness::start_with(with_delay()).await;
    let seeder = env.seeder();
    fleet::seed(&seeder, &[ServiceSpec::new("seeded", "svc", &[&app("latest")])]).await;
    env.front.set_image_digest(&app("latest"), "sha256:aa");
    let in_moto = service(&seeder, "seeded", "svc").await;
    let ecs = env.function_client();

    let seen = service(&ecs, "seeded", "svc").await;
    let [(initial, 1, 1, 0)] = &current(&seen)[..] else {
        panic!("{:?}", current(&seen));
    };
    let creation = seen.current_service_deployment().expect("the creation's deployment");
    let creation = deployment(&ecs, creation).await;
    assert_eq!(creation.status(), Some(&ServiceDeploymentStatus::Successful));
    assert_eq!(summary_arn(&creation), *initial);
    assert!(source_arns(&creation).is_empty());
    let initial_revision = revision(&ecs, initial).await;
    assert_eq!(
        images(&initial_revision)[0].2.as_deref(),
        Some("sha256:aa"),
        "resolved at once"
    );
    assert_eq!(initial_revision.created_at(), in_moto.deployments()[0].created_at());

    let forced = ecs
        .update_service()
        .cluster("seeded")
        .service("svc")
        .force_new_deployment(true);
    forced.send().await.expect("force");
    let rolling_out = service(&ecs, "seeded", "svc").await;
    let target = deployment(&ecs, rolling_out.current_service_deployment().expect("one")).await;
    assert_eq!(source_arns(&target), std::slice::from_ref(initial));
    let during = [(summary_arn(&target), 1, 0, 1), (initial.clone(), 0, 1, 0)];
    assert_eq!(current(&rolling_out), during);

    env.front.advance_clock(DELAY);
    assert_eq!(
        current(&service(&ecs, "seeded", "svc").await),
        [(summary_arn(&target), 1, 1, 0)]
    );
}
