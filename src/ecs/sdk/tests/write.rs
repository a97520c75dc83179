//! The writes retried by hand: sent again only where ECS provably did not act; after an answer that may follow
//! the write, read first, and a deployment (or revision) the write made is its answer.

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;

use super::revision::{APP_IMAGE, PINNED_IMAGE, SOURCE_ARN, described_source};
use super::*;

/// A client that sends each call at most three times, with a backoff too short to matter.
fn retrying(rules: &[&Rule]) -> SdkEcs {
    let retries = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(1));
    SdkEcs::new(
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules, |c| c
            .retry_config(retries.clone())),
        mock_client!(aws_sdk_resourcegroupstagging, RuleMode::MatchAny, &[]),
    )
}

fn wire(code: &str) -> Option<String> {
    Some(format!(r#"{{"__type":"{code}","message":"{code} on the wire"}}"#))
}

/// `UpdateService` answered `status`/`code` once, then with `ecs-svc/answered` as the primary deployment.
fn update_failing_once(status: u16, code: &str) -> Rule {
    let answered = || {
        let service = sdk::Service::builder()
            .deployments(sdk_deployment("ecs-svc/answered", "PRIMARY", Some(time(400, 0))))
            .build();
        UpdateServiceOutput::builder().service(service).build()
    };
    mock!(Client::update_service)
        .sequence()
        .http_status(status, wire(code))
        .output(answered)
        .build()
}

/// `DescribeServices` of svc01: the deployment the scan saw, and `made` if the lost update made one.
fn described_after(made: Option<&'static str>) -> Rule {
    mock!(Client::describe_services).then_output(move || {
        let mut service = sdk::Service::builder()
            .service_arn(service_arn(1))
            .deployments(sdk_deployment("ecs-svc/seen", "ACTIVE", Some(time(100, 0))));
        if let Some(id) = made {
            service = service.deployments(sdk_deployment(id, "PRIMARY", Some(time(300, 0))));
        }
        DescribeServicesOutput::builder().services(service.build()).build()
    })
}

fn seen() -> Vec<Deployment> {
    vec![ours("ecs-svc/seen", utc(100, 0))]
}

#[tokio::test]
async fn an_update_whose_answer_was_lost_counts_the_deployment_it_made_and_is_not_sent_again() {
    for (status, code) in [
        (500, "ServerException"),
        (503, "ServiceUnavailableException"),
        (502, "BadGateway"),
    ] {
        let (update, read) = (update_failing_once(status, code), described_after(Some("ecs-svc/made")));
        let ecs = retrying(&[&update, &read]);
        let deployment = ecs
            .force_new_deployment(CLUSTER, &service_arn(1), &seen())
            .await
            .unwrap();
        assert_eq!(deployment, ours("ecs-svc/made", utc(300, 0)), "{code}");
        assert_eq!(
            (update.num_calls(), read.num_calls()),
            (1, 1),
            "{code}: one update, then one read"
        );
    }
}

#[tokio::test]
async fn an_update_whose_answer_was_lost_and_made_nothing_is_sent_again() {
    let (update, read) = (update_failing_once(500, "ServerException"), described_after(None));
    let ecs = retrying(&[&update, &read]);
    let deployment = ecs
        .deploy_revision(CLUSTER, &service_arn(1), "web:8", &seen())
        .await
        .unwrap();
    assert_eq!(deployment, ours("ecs-svc/answered", utc(400, 0)));
    assert_eq!((update.num_calls(), read.num_calls()), (2, 1));
}

#[tokio::test]
async fn throttling_is_sent_again_without_a_read_and_a_refusal_is_the_answer() {
    let (update, read) = (
        update_failing_once(400, "ThrottlingException"),
        described_after(Some("x")),
    );
    let ecs = retrying(&[&update, &read]);
    let deployment = ecs
        .force_new_deployment(CLUSTER, &service_arn(1), &seen())
        .await
        .unwrap();
    assert_eq!(deployment.id, "ecs-svc/answered");
    assert_eq!(
        (update.num_calls(), read.num_calls()),
        (2, 0),
        "ECS did not act: no read needed"
    );

    for code in [
        "InvalidParameterException",
        "AccessDeniedException",
        "ServiceNotFoundException",
    ] {
        let (update, read) = (update_failing_once(400, code), described_after(Some("x")));
        let ecs = retrying(&[&update, &read]);
        let error = ecs
            .force_new_deployment(CLUSTER, &service_arn(1), &seen())
            .await
            .unwrap_err();
        assert!(crate::error_chain::render(&error).contains(code), "{error}");
        assert_eq!(
            (update.num_calls(), read.num_calls()),
            (1, 0),
            "{code}: refused, not sent again"
        );
    }
}

#[tokio::test]
async fn when_the_read_fails_too_the_update_fails_and_is_not_sent_again() {
    let update = update_failing_once(500, "ServerException");
    let read = mock!(Client::describe_services)
        .sequence()
        .http_status(400, wire("AccessDeniedException"))
        .build();
    let ecs = retrying(&[&update, &read]);
    let error = ecs
        .force_new_deployment(CLUSTER, &service_arn(1), &seen())
        .await
        .unwrap_err();
    assert_eq!((error.operation, error.kind), ("UpdateService", EcsErrorKind::Other));
    assert!(
        error.retryable(),
        "the event is retried, and decides from what ECS records"
    );
    assert_eq!(update.num_calls(), 1);
}

/// Answers `DescribeTaskDefinition` of `task_definition` (an ARN or a family) with revision `revision` of `web`
/// on `image`.
fn described_rule(task_definition: &'static str, image: &'static str, revision: i32) -> Rule {
    mock!(Client::describe_task_definition)
        .match_requests(move |r| r.task_definition() == Some(task_definition))
        .then_output(move || described_source(image, revision))
}

#[tokio::test]
async fn a_registration_whose_answer_was_lost_is_found_as_the_familys_newest_revision() {
    let source = described_rule(SOURCE_ARN, APP_IMAGE, 7);
    let register = mock!(Client::register_task_definition)
        .sequence()
        .http_status(500, wire("ServerException"))
        .output(|| RegisterTaskDefinitionOutput::builder().build())
        .build();
    let newest = described_rule("web", PINNED_IMAGE, 8);
    let ecs = retrying(&[&source, &register, &newest]);
    let wanted = BTreeMap::from([("web".to_owned(), PINNED_IMAGE.to_owned())]);
    let arn = ecs.register_revision(SOURCE_ARN, &wanted).await.unwrap();
    assert_eq!(arn, "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8");
    assert_eq!((register.num_calls(), newest.num_calls()), (1, 1), "no second revision");
}

#[tokio::test]
async fn a_registration_whose_answer_was_lost_and_registered_nothing_is_sent_again() {
    let source = described_rule(SOURCE_ARN, APP_IMAGE, 7);
    let registered = || {
        let definition = sdk::TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/web:8")
            .build();
        RegisterTaskDefinitionOutput::builder()
            .task_definition(definition)
            .build()
    };
    let register = mock!(Client::register_task_definition)
        .sequence()
        .http_status(500, wire("ServerException"))
        .output(registered)
        .build();
    // The family's newest is still the source: nothing was registered.
    let newest = described_rule("web", APP_IMAGE, 7);
    let ecs = retrying(&[&source, &register, &newest]);
    let wanted = BTreeMap::from([("web".to_owned(), PINNED_IMAGE.to_owned())]);
    let arn = ecs.register_revision(SOURCE_ARN, &wanted).await.unwrap();
    assert_eq!(arn, "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8");
    assert_eq!(register.num_calls(), 2);
}
