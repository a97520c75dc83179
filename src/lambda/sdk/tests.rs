//! `SdkLambda` against a mocked `aws_sdk_lambda::Client` (aws-smithy-mocks): paging, the image filter, answer
//! mapping, the `RevisionId` cache and error classification — the paths moto's Lambda cannot show (it has no
//! `RevisionId`, never reports `InProgress` and never conflicts).

use aws_config::retry::RetryConfig;
use aws_sdk_lambda::error::ErrorMetadata;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::operation::list_functions::ListFunctionsOutput;
use aws_sdk_lambda::operation::update_function_code::{UpdateFunctionCodeError, UpdateFunctionCodeOutput};
use aws_sdk_lambda::types::error::ResourceConflictException;
use aws_sdk_lambda::types::{FunctionCodeLocation, FunctionConfiguration, LastUpdateStatus, PackageType};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::*;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:worker";
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest";

fn lambda(mode: RuleMode, rules: &[&Rule]) -> SdkLambda {
    SdkLambda::new(
        mock_client!(aws_sdk_lambda, mode, rules, |c| c.retry_config(RetryConfig::disabled())),
        mock_client!(aws_sdk_resourcegroupstagging, RuleMode::MatchAny, &[]),
        Pacing::Off,
    )
}

fn configuration(name: &str, package: PackageType, revision: &str) -> FunctionConfiguration {
    FunctionConfiguration::builder()
        .function_name(name)
        .function_arn(format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"))
        .package_type(package)
        .revision_id(revision)
        .build()
}

#[tokio::test]
async fn list_image_functions_pages_by_fifty_and_keeps_only_image_functions() {
    let first = mock!(aws_sdk_lambda::Client::list_functions)
        .match_requests(|r| r.max_items() == Some(50) && r.marker().is_none())
        .then_output(|| {
            ListFunctionsOutput::builder()
                .functions(configuration("worker", PackageType::Image, "r1"))
                .functions(configuration("zip", PackageType::Zip, "r2"))
                .next_marker("m1")
                .build()
        });
    let second = mock!(aws_sdk_lambda::Client::list_functions)
        .match_requests(|r| r.max_items() == Some(50) && r.marker() == Some("m1"))
        .then_output(|| {
            ListFunctionsOutput::builder()
                .functions(configuration("hook", PackageType::Image, "r3"))
                .build()
        });
    let functions = lambda(RuleMode::Sequential, &[&first, &second])
        .list_image_functions()
        .await
        .expect("listed");
    let names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["worker", "hook"]);
    assert_eq!(functions[0].revision_id.as_deref(), Some("r1"));
    assert_eq!(first.num_calls() + second.num_calls(), 2);
}

fn get_output(revision: &str, status: LastUpdateStatus) -> GetFunctionOutput {
    GetFunctionOutput::builder()
        .configuration(
            FunctionConfiguration::builder()
                .function_name("worker")
                .function_arn(ARN)
                .package_type(PackageType::Image)
                .revision_id(revision)
                .last_update_status(status)
                .build(),
        )
        .code(
            FunctionCodeLocation::builder()
                .image_uri(IMAGE)
                .resolved_image_uri(format!(
                    "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:{}",
                    "b".repeat(64)
                ))
                .build(),
        )
        .tags("ecs-redeploy", "force")
        .build()
}

#[tokio::test]
async fn get_function_maps_the_image_tags_and_status_and_caches_the_image_by_revision() {
    let rule = mock!(aws_sdk_lambda::Client::get_function)
        .match_requests(|r| r.function_name() == Some(ARN))
        .then_output(|| get_output("r1", LastUpdateStatus::InProgress));
    let lambda = lambda(RuleMode::MatchAny, &[&rule]);
    let summary = |revision: &str| FunctionSummary {
        arn: ARN.into(),
        name: "worker".into(),
        revision_id: Some(revision.into()),
    };
    assert_eq!(
        lambda.known_image(&summary("r1")),
        None,
        "nothing known before a GetFunction"
    );
    let function = lambda
        .get_function(ARN)
        .await
        .expect("described")
        .expect("an image function");
    assert_eq!(function.image_uri, IMAGE);
    assert_eq!(
        function.running_digest(),
        Some(format!("sha256:{}", "b".repeat(64)).as_str())
    );
    assert_eq!(function.tags.get("ecs-redeploy").map(String::as_str), Some("force"));
    assert_eq!(function.last_update_status, UpdateStatus::InProgress);
    assert_eq!(lambda.known_image(&summary("r1")).as_deref(), Some(IMAGE));
    assert_eq!(
        lambda.known_image(&summary("r2")),
        None,
        "a new revision may name another image"
    );
}

#[tokio::test]
async fn get_function_of_a_zip_function_is_none() {
    let rule = mock!(aws_sdk_lambda::Client::get_function).then_output(|| {
        GetFunctionOutput::builder()
            .configuration(configuration("zip", PackageType::Zip, "r1"))
            .build()
    });
    assert_eq!(
        lambda(RuleMode::MatchAny, &[&rule])
            .get_function(ARN)
            .await
            .expect("described"),
        None
    );
}

#[tokio::test]
async fn a_conflicting_update_is_a_retryable_conflict() {
    let rule = mock!(aws_sdk_lambda::Client::update_function_code)
        .match_requests(|r| r.image_uri() == Some(IMAGE) && r.revision_id() == Some("r1"))
        .then_error(|| {
            UpdateFunctionCodeError::ResourceConflictException(
                ResourceConflictException::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("ResourceConflictException")
                            .message("An update is in progress for resource: worker")
                            .build(),
                    )
                    .build(),
            )
        });
    let error = lambda(RuleMode::MatchAny, &[&rule])
        .update_function_code(ARN, IMAGE, Some("r1"))
        .await
        .expect_err("conflict");
    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.retryable());
    let rendered = crate::error_chain::render(&error);
    assert!(
        rendered.contains("ResourceConflictException: An update is in progress"),
        "{rendered}"
    );
}

#[tokio::test]
async fn update_function_code_reports_the_resolved_digest_and_status() {
    let rule = mock!(aws_sdk_lambda::Client::update_function_code).then_output(|| {
        UpdateFunctionCodeOutput::builder()
            .revision_id("r2")
            .code_sha256("c".repeat(64))
            .last_update_status(LastUpdateStatus::InProgress)
            .build()
    });
    let update = lambda(RuleMode::MatchAny, &[&rule])
        .update_function_code(ARN, IMAGE, None)
        .await
        .expect("updated");
    assert_eq!(update.revision_id.as_deref(), Some("r2"));
    assert_eq!(update.code_sha256, Some("c".repeat(64)));
    assert_eq!(update.last_update_status, UpdateStatus::InProgress);
}

#[tokio::test]
async fn get_alias_target_asks_get_function_with_the_alias_and_a_missing_alias_is_none() {
    let live = mock!(aws_sdk_lambda::Client::get_function)
        .match_requests(|r| r.function_name() == Some(ARN) && r.qualifier() == Some("live"))
        .then_output(|| {
            GetFunctionOutput::builder()
                .configuration(
                    FunctionConfiguration::builder()
                        .function_arn(format!("{ARN}:7"))
                        .package_type(PackageType::Image)
                        .version("7")
                        .build(),
                )
                .code(
                    FunctionCodeLocation::builder()
                        .image_uri(IMAGE)
                        .resolved_image_uri(format!(
                            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:{}",
                            "b".repeat(64)
                        ))
                        .build(),
                )
                .build()
        });
    let missing = mock!(aws_sdk_lambda::Client::get_function)
        .match_requests(|r| r.qualifier() == Some("gone"))
        .then_error(|| {
            aws_sdk_lambda::operation::get_function::GetFunctionError::ResourceNotFoundException(
                aws_sdk_lambda::types::error::ResourceNotFoundException::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("ResourceNotFoundException")
                            .message("Function not found: worker:gone")
                            .build(),
                    )
                    .build(),
            )
        });
    let lambda = lambda(RuleMode::MatchAny, &[&live, &missing]);
    assert_eq!(
        lambda.get_alias_target(ARN, "live").await.expect("read"),
        Some(AliasTarget {
            version: "7".into(),
            digest: Some(format!("sha256:{}", "b".repeat(64))),
        })
    );
    assert_eq!(lambda.get_alias_target(ARN, "gone").await.expect("read"), None);
    assert_eq!((live.num_calls(), missing.num_calls()), (1, 1));
}
