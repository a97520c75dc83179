//! How SDK errors become `EcsError`s: classified by code, the operation named, the source kept.

use super::*;

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// A modeled `UpdateService` error as the SDK deserializes it: the error code lives in its metadata.
macro_rules! modeled {
    ($variant:ident) => {
        |m| UpdateServiceError::$variant(sdk_error::$variant::builder().meta(m).build())
    };
}

/// (error code, the error of the code, its expected kind)
type ErrorCase = (&'static str, fn(ErrorMetadata) -> UpdateServiceError, EcsErrorKind);

#[tokio::test]
async fn service_errors_are_classified_by_code_and_keep_their_source() {
    use EcsErrorKind::*;
    let cases: [ErrorCase; 8] = [
        ("ThrottlingException", UpdateServiceError::generic, Throttling),
        ("ServiceNotFoundException", modeled!(ServiceNotFoundException), NotFound),
        (
            "ServiceNotActiveException",
            modeled!(ServiceNotActiveException),
            NotFound,
        ),
        ("ClusterNotFoundException", modeled!(ClusterNotFoundException), NotFound),
        (
            "InvalidParameterException",
            modeled!(InvalidParameterException),
            InvalidParameter,
        ),
        ("AccessDeniedException", modeled!(AccessDeniedException), AccessDenied),
        ("ServerException", modeled!(ServerException), Other),
        ("SomethingNewException", UpdateServiceError::generic, Other),
    ];
    for (code, error, kind) in cases {
        let rule = mock!(Client::update_service).then_error(move || error(meta(code, "it went wrong")));
        // After a server error the service is read: no deployment was made, and no attempt is left.
        let read = mock!(Client::describe_services).then_output(|| DescribeServicesOutput::builder().build());
        let result = ecs(RuleMode::Sequential, &[&rule, &read])
            .force_new_deployment(CLUSTER, "web", &[])
            .await;
        let error = result.unwrap_err();
        assert_eq!(rule.num_calls(), 1, "{code}: a single attempt");
        assert_eq!(
            read.num_calls(),
            usize::from(code == "ServerException"),
            "{code}: read only after a 5xx"
        );
        assert_eq!((error.operation, error.kind), ("UpdateService", kind), "{code}");
        // The rendered chain says the operation, the code and the service's message once each.
        let display = crate::error_chain::render(&error);
        for part in ["UpdateService", code, "it went wrong"] {
            assert_eq!(display.matches(part).count(), 1, "{part} in {display}");
        }
        assert!(error.source().is_some(), "{code}: source kept");
    }
}

/// A rule answering an awsJson1.1 error as ECS sends it, once.
pub(super) fn wire_error<I, O, E>(rule: RuleBuilder<I, O, E>, code: &str) -> Rule
where
    I: std::fmt::Debug + Send + Sync + 'static,
    O: std::fmt::Debug + Send + Sync + 'static,
    E: std::fmt::Debug + Send + Sync + std::error::Error + 'static,
{
    let body = format!(r#"{{"__type":"{code}","message":"{code} on the wire"}}"#);
    rule.sequence().http_status(400, Some(body)).build()
}

#[tokio::test]
async fn wire_errors_of_every_operation_name_the_operation_and_kind() {
    let rules = [
        wire_error(mock!(Client::list_clusters), "ThrottlingException"),
        wire_error(mock!(Client::list_services), "ClusterNotFoundException"),
        wire_error(mock!(Client::describe_services), "AccessDeniedException"),
        wire_error(mock!(Client::describe_task_definition), "InvalidParameterException"),
        wire_error(mock!(Client::update_service), "ServiceNotFoundException"),
    ];
    let ecs = ecs(RuleMode::MatchAny, &rules.iter().collect::<Vec<_>>());
    let errors = [
        ecs.list_clusters().await.unwrap_err(),
        ecs.list_services(CLUSTER).await.unwrap_err(),
        ecs.describe_services(CLUSTER, &[service_arn(1)]).await.unwrap_err(),
        ecs.describe_task_definition("web:7").await.unwrap_err(),
        ecs.force_new_deployment(CLUSTER, "web", &[]).await.unwrap_err(),
    ];
    let expected = [
        ("ListClusters", EcsErrorKind::Throttling, "ThrottlingException"),
        ("ListServices", EcsErrorKind::NotFound, "ClusterNotFoundException"),
        ("DescribeServices", EcsErrorKind::AccessDenied, "AccessDeniedException"),
        (
            "DescribeTaskDefinition",
            EcsErrorKind::InvalidParameter,
            "InvalidParameterException",
        ),
        ("UpdateService", EcsErrorKind::NotFound, "ServiceNotFoundException"),
    ];
    for (error, (operation, kind, code)) in errors.iter().zip(expected) {
        assert_eq!((error.operation, error.kind), (operation, kind), "{error}");
        assert_eq!(
            crate::error_chain::render(error),
            format!("ecs {operation} failed: {code}: {code} on the wire")
        );
        assert_eq!(error.answer().map(|a| a.code.as_str()), Some(code));
        assert!(error.source().is_some());
    }
    assert!(rules.iter().all(|r| r.num_calls() == 1), "a single attempt each");
}

#[tokio::test]
async fn answers_that_are_not_service_errors_are_other() {
    let rules = [
        mock!(Client::update_service).sequence().http_status(503, None).build(),
        mock!(Client::describe_services).then_output(|| DescribeServicesOutput::builder().build()),
        mock!(Client::describe_task_definition)
            .sequence()
            .http_status(200, Some("{not json".into()))
            .build(),
    ];
    let ecs = ecs(RuleMode::MatchAny, &rules.iter().collect::<Vec<_>>());
    for error in [
        ecs.force_new_deployment(CLUSTER, "web", &[]).await.unwrap_err(),
        ecs.describe_task_definition("web:7").await.unwrap_err(),
    ] {
        assert_eq!(error.kind, EcsErrorKind::Other, "{error}");
        // No service answer: the chain is the SDK's own account (a status, a parse failure), after ours.
        let rendered = crate::error_chain::render(&error);
        assert!(error.answer().is_none() && error.source().is_some(), "{error:?}");
        assert!(rendered.len() > error.to_string().len(), "{rendered}");
    }
}

#[tokio::test]
async fn usage_counts_every_attempt_and_the_throttled_ones() {
    let rule = mock!(Client::update_service)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .output(|| UpdateServiceOutput::builder().build())
        .build();
    let retrying = RetryConfig::standard()
        .with_max_attempts(2)
        .with_initial_backoff(std::time::Duration::from_millis(1));
    let ecs = SdkEcs::new(
        mock_client!(aws_sdk_ecs, RuleMode::Sequential, &[&rule], |c| c
            .retry_config(retrying.clone())),
        mock_client!(aws_sdk_resourcegroupstagging, RuleMode::MatchAny, &[]),
    );
    assert_eq!(ecs.usage(), EcsUsage::default());
    let answer = ecs.force_new_deployment(CLUSTER, "web", &[]).await;
    assert!(
        answer.is_err(),
        "the answer has no deployment, but it came after one retry"
    );
    assert_eq!(
        ecs.usage(),
        EcsUsage {
            attempts: 2,
            throttled: 1
        }
    );
}
