//! `SdkEcs` against a mocked `aws_sdk_ecs::Client` (aws-smithy-mocks): request shapes, paging,
//! batching, answer mapping and error classification.

use std::error::Error as _;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::ErrorMetadata;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::list_clusters::ListClustersOutput;
use aws_sdk_ecs::operation::list_services::ListServicesOutput;
use aws_sdk_ecs::operation::update_service::{UpdateServiceError, UpdateServiceOutput};
use aws_sdk_ecs::primitives::DateTime as SmithyTime;
use aws_sdk_ecs::types::error as sdk_error;
use aws_smithy_mocks::{Rule, RuleBuilder, RuleMode, mock, mock_client};

use aws_sdk_ecs::types::{self as sdk, TaskDefinitionField};
use chrono::{DateTime, Utc};

use super::*;
use crate::ecs::{
    Container, DeploymentController, DeploymentRollback, DeploymentStatus, DescribeFailure, EcsErrorKind, NO_ARN,
    PINNED_TAG, Service, VersionConsistency,
};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

/// A client over `rules` that makes a single attempt per call, so an error is seen once, at once.
fn ecs(mode: RuleMode, rules: &[&Rule]) -> SdkEcs {
    SdkEcs::new(
        mock_client!(aws_sdk_ecs, mode, rules, |c| c.retry_config(RetryConfig::disabled())),
        mock_client!(aws_sdk_resourcegroupstagging, RuleMode::MatchAny, &[]),
    )
}

#[tokio::test]
async fn list_tagged_services_pages_through_get_resources_for_the_tag_key() {
    use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
    use aws_sdk_resourcegroupstagging::types::ResourceTagMapping;
    let page = |arns: &[&str], token: Option<&str>| {
        let mappings = arns
            .iter()
            .map(|a| ResourceTagMapping::builder().resource_arn(*a).build());
        GetResourcesOutput::builder()
            .set_resource_tag_mapping_list(Some(mappings.collect()))
            .set_pagination_token(token.map(str::to_owned))
            .build()
    };
    let wanted = |token: Option<&'static str>| {
        move |r: &aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesInput| {
            r.resource_type_filters() == ["ecs:service"]
                && r.tag_filters().len() == 1
                && r.tag_filters()[0].key() == Some("ecs-redeploy")
                && r.resources_per_page() == Some(100)
                && r.pagination_token().filter(|t| !t.is_empty()) == token
        }
    };
    let first = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .match_requests(wanted(None))
        .then_output(move || page(&["arn:aws:ecs:us-east-1:123456789012:service/prod/a"], Some("t1")));
    let second = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .match_requests(wanted(Some("t1")))
        .then_output(move || page(&["arn:aws:ecs:us-east-1:123456789012:service/stage/b"], Some("")));
    let ecs = SdkEcs::new(
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[]),
        mock_client!(aws_sdk_resourcegroupstagging, RuleMode::Sequential, &[&first, &second]),
    );
    let arns = ecs.list_tagged_services("ecs-redeploy").await.unwrap();
    assert_eq!(
        arns,
        strings(&[
            "arn:aws:ecs:us-east-1:123456789012:service/prod/a",
            "arn:aws:ecs:us-east-1:123456789012:service/stage/b"
        ])
    );
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn time(secs: i64, nanos: u32) -> SmithyTime {
    SmithyTime::from_secs_and_nanos(secs, nanos)
}

fn utc(secs: i64, nanos: u32) -> Option<DateTime<Utc>> {
    Some(DateTime::from_timestamp(secs, nanos).unwrap())
}

fn ours(id: &str, created_at: Option<DateTime<Utc>>) -> Deployment {
    let id = id.to_owned();
    Deployment {
        id,
        created_at,
        service_deployment: None,
    }
}

fn sdk_deployment(id: &str, status: &str, created: Option<SmithyTime>) -> sdk::Deployment {
    sdk::Deployment::builder()
        .id(id)
        .status(status)
        .set_created_at(created)
        .build()
}

/// (expected request token, ARNs of the page, next token)
type Page = (Option<&'static str>, &'static [&'static str], Option<&'static str>);
const PAGES: [Page; 3] = [
    (None, &["a1", "a2"], Some("t1")),
    (Some("t1"), &["b1", "b2", "b3"], Some("t2")),
    (Some("t2"), &["c1"], None),
];
const ALL: [&str; 6] = ["a1", "a2", "b1", "b2", "b3", "c1"];

#[tokio::test]
async fn list_clusters_follows_next_token_through_every_page() {
    let rules: Vec<Rule> = PAGES
        .iter()
        .map(|&(token, arns, next)| {
            mock!(Client::list_clusters)
                .match_requests(move |r| r.max_results() == Some(100) && r.next_token() == token)
                .then_output(move || {
                    ListClustersOutput::builder()
                        .set_cluster_arns(Some(strings(arns)))
                        .set_next_token(next.map(Into::into))
                        .build()
                })
        })
        .collect();
    let ecs = ecs(RuleMode::Sequential, &rules.iter().collect::<Vec<_>>());
    assert_eq!(ecs.list_clusters().await.unwrap(), strings(&ALL));
    assert!(rules.iter().all(|r| r.num_calls() == 1));
}

#[tokio::test]
async fn list_services_follows_next_token_through_every_page_of_the_cluster() {
    let rules: Vec<Rule> = PAGES
        .iter()
        .map(|&(token, arns, next)| {
            mock!(Client::list_services)
                .match_requests(move |r| {
                    r.cluster() == Some(CLUSTER) && r.max_results() == Some(100) && r.next_token() == token
                })
                .then_output(move || {
                    ListServicesOutput::builder()
                        .set_service_arns(Some(strings(arns)))
                        .set_next_token(next.map(Into::into))
                        .build()
                })
        })
        .collect();
    let ecs = ecs(RuleMode::Sequential, &rules.iter().collect::<Vec<_>>());
    assert_eq!(ecs.list_services(CLUSTER).await.unwrap(), strings(&ALL));
    assert!(rules.iter().all(|r| r.num_calls() == 1));
}

fn service_arn(i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:service/prod/svc{i:02}")
}

const MISSING: [usize; 2] = [12, 24];

/// What ECS answers for one service of a `DescribeServices` call.
fn sdk_service(arn: &str) -> sdk::Service {
    sdk::Service::builder()
        .service_arn(arn)
        .service_name(crate::ecs::short_name(arn))
        .cluster_arn(CLUSTER)
        .status("ACTIVE")
        .task_definition("arn:aws:ecs:us-east-1:123456789012:task-definition/web:7")
        .tags(sdk::Tag::builder().key("team").value("core").build())
        .tags(sdk::Tag::builder().key("redeploy").build())
        .tags(sdk::Tag::builder().value("no key").build())
        .deployments(sdk_deployment(
            "ecs-svc/2",
            "PRIMARY",
            Some(time(1_700_000_100, 250_000_000)),
        ))
        .deployments(sdk_deployment("ecs-svc/1", "ACTIVE", Some(time(1_700_000_000, 0))))
        .build()
}

/// The same service in our vocabulary.
fn our_service(arn: &str) -> Service {
    Service {
        arn: arn.to_owned(),
        name: crate::ecs::short_name(arn).to_owned(),
        cluster_arn: CLUSTER.to_owned(),
        status: "ACTIVE".to_owned(),
        task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7".to_owned(),
        tags: [("team", "core"), ("redeploy", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        deployments: vec![
            ours("ecs-svc/2", utc(1_700_000_100, 250_000_000)),
            ours("ecs-svc/1", utc(1_700_000_000, 0)),
        ],
        deployment_controller: DeploymentController::Ecs,
        current_deployment: None,
        current_revisions: Vec::new(),
    }
}

#[tokio::test]
async fn describe_services_batches_by_ten_with_tags_and_maps_services_and_failures() {
    let arns: Vec<String> = (0..25).map(service_arn).collect();
    let rules: Vec<Rule> = [0..10, 10..20, 20..25]
        .into_iter()
        .map(|range| {
            let batch = arns[range].to_vec();
            mock!(Client::describe_services)
                .match_requests(move |r| {
                    r.cluster() == Some(CLUSTER) && r.include() == [ServiceField::Tags] && r.services() == batch
                })
                .then_compute_output(|r| {
                    let (missing, found): (Vec<&String>, Vec<&String>) = r
                        .services()
                        .iter()
                        .partition(|a| MISSING.iter().any(|&i| **a == service_arn(i)));
                    DescribeServicesOutput::builder()
                        .set_services(Some(found.into_iter().map(|a| sdk_service(a)).collect()))
                        .set_failures(Some(
                            missing
                                .into_iter()
                                .map(|a| sdk::Failure::builder().arn(a).reason("MISSING").build())
                                .collect(),
                        ))
                        .build()
                })
        })
        .collect();
    let ecs = ecs(RuleMode::Sequential, &rules.iter().collect::<Vec<_>>());

    let described = ecs.describe_services(CLUSTER, &arns).await.unwrap();

    assert!(
        rules.iter().all(|r| r.num_calls() == 1),
        "one call per batch of 10, 10, 5"
    );
    let expected: Vec<Service> = (0..25)
        .filter(|i| !MISSING.contains(i))
        .map(|i| our_service(&service_arn(i)))
        .collect();
    assert_eq!(described.services, expected);
    let missing = |i| DescribeFailure {
        arn: service_arn(i),
        reason: "MISSING".to_owned(),
    };
    assert_eq!(described.failures, MISSING.map(missing));
}

#[tokio::test]
async fn describe_services_of_no_service_makes_no_call() {
    let ecs = ecs(RuleMode::MatchAny, &[]);
    assert_eq!(
        ecs.describe_services(CLUSTER, &[]).await.unwrap(),
        DescribedServices::default()
    );
}

#[tokio::test]
async fn a_service_without_arn_is_a_failure_named_by_cluster_and_name_and_controllers_map() {
    let rule = mock!(Client::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .services(
                sdk::Service::builder()
                    .service_name("nameless")
                    .status("ACTIVE")
                    .build(),
            )
            .services(
                sdk::Service::builder()
                    .service_arn(service_arn(1))
                    .status("ACTIVE")
                    .deployment_controller(
                        sdk::DeploymentController::builder()
                            .r#type(sdk::DeploymentControllerType::CodeDeploy)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
    });
    let ecs = ecs(RuleMode::MatchAny, &[&rule]);
    let described = ecs
        .describe_services(CLUSTER, &[service_arn(0), service_arn(1)])
        .await
        .unwrap();
    assert_eq!(
        described.failures,
        [DescribeFailure {
            arn: "prod/nameless".into(),
            reason: NO_ARN.into()
        }]
    );
    let [found] = described.services.as_slice() else {
        panic!("one service: {described:?}")
    };
    assert_eq!(found.arn, service_arn(1));
    assert_eq!(found.name, crate::ecs::short_name(&service_arn(1)), "named by its ARN");
    assert_eq!(found.cluster_arn, CLUSTER, "in the cluster it was asked for");
    assert_eq!(found.deployment_controller, DeploymentController::CodeDeploy);
}

#[tokio::test]
async fn describe_task_definition_maps_containers_and_version_consistency() {
    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";
    let container = |name: &str, consistency: Option<sdk::VersionConsistency>| {
        sdk::ContainerDefinition::builder()
            .name(name)
            .image(format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}:latest"))
            .set_version_consistency(consistency)
            .build()
    };
    let rule = mock!(Client::describe_task_definition)
        .match_requests(|r| r.task_definition() == Some("web:7") && r.include() == [TaskDefinitionField::Tags])
        .then_output(move || {
            DescribeTaskDefinitionOutput::builder()
                .tags(sdk::Tag::builder().key("team").value("core").build())
                .tags(sdk::Tag::builder().key(PINNED_TAG).value("web  agent").build())
                .task_definition(
                    sdk::TaskDefinition::builder()
                        .task_definition_arn(ARN)
                        .container_definitions(container("web", Some(sdk::VersionConsistency::Disabled)))
                        .container_definitions(container("sidecar", None))
                        .container_definitions(container("agent", Some(sdk::VersionConsistency::Enabled)))
                        .build(),
                )
                .build()
        });
    let definition = ecs(RuleMode::Sequential, &[&rule])
        .describe_task_definition("web:7")
        .await
        .unwrap();

    let ours = |name: &str, version_consistency| Container {
        name: name.to_owned(),
        image: format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}:latest"),
        version_consistency,
    };
    let expected = TaskDefinition {
        arn: ARN.to_owned(),
        containers: vec![
            ours("web", VersionConsistency::Disabled),
            ours("sidecar", VersionConsistency::Enabled),
            ours("agent", VersionConsistency::Enabled),
        ],
        pinned: ["agent".to_owned(), "web".to_owned()].into(),
        runtime_platform: None,
    };
    assert_eq!(definition, expected);
}

#[tokio::test]
async fn describe_task_definition_without_definition_is_an_error() {
    let rule = mock!(Client::describe_task_definition).then_output(|| DescribeTaskDefinitionOutput::builder().build());
    let error = ecs(RuleMode::Sequential, &[&rule])
        .describe_task_definition("web:7")
        .await
        .unwrap_err();
    assert_eq!(
        (error.operation, error.kind),
        ("DescribeTaskDefinition", EcsErrorKind::Other)
    );
}

mod deployments;
mod errors;
mod revision;
mod write;
