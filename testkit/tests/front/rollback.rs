//! Rollbacks as the circuit breaker makes them, and the limits of the service history's describe calls.

use std::time::Duration;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::ServiceDeploymentStatus;
use ecs_redeploy_testkit::fleet::{self, ServiceSpec};
use ecs_redeploy_testkit::harness::Harness;

use super::revisions::{DELAY, app, current, deployment, service, with_delay};

#[tokio::test]
async fn a_rollback_keeps_the_service_deployment_and_returns_to_the_last_completed_revision() {
    let env = Harness::start_with(with_delay()).await;
    fleet::seed(&env.seeder(), &[ServiceSpec::new("back", "svc", &[&app("latest")])]).await;
    let ecs = env.function_client();
    let before = service(&ecs, "back", "svc").await;
    let initial = current(&before)[0].0.clone();
    let forced = ecs
        .update_service()
        .cluster("back")
        .service("svc")
        .force_new_deployment(true);
    forced.send().await.expect("force");
    let deployment_arn = service(&ecs, "back", "svc")
        .await
        .current_service_deployment()
        .expect("one")
        .to_owned();

    env.front.advance_clock(Duration::from_secs(5));
    env.front.roll_back(before.service_arn().expect("arn"));
    let rolled_back = deployment(&ecs, &deployment_arn).await;
    assert_eq!(rolled_back.status(), Some(&ServiceDeploymentStatus::RollbackSuccessful));
    let rollback = rolled_back.rollback().expect("rollback");
    assert_eq!(
        rollback.reason(),
        Some("Service deployment rolled back because the circuit breaker threshold was exceeded.")
    );
    assert_eq!(rollback.service_revision_arn(), Some(initial.as_str()));
    let started = rollback.started_at().expect("started").as_secs_f64();
    let created = rolled_back.created_at().expect("created").as_secs_f64();
    assert!(
        (started - created - 5.0).abs() < 1.0,
        "started on the ECS clock: {created} {started}"
    );
    let after = service(&ecs, "back", "svc").await;
    assert_eq!(after.current_service_deployment(), Some(deployment_arn.as_str()));
    assert_eq!(current(&after), [(initial.clone(), 1, 1, 0)]);

    env.front.advance_clock(DELAY);
    let still = deployment(&ecs, &deployment_arn).await;
    assert_eq!(still.status(), Some(&ServiceDeploymentStatus::RollbackSuccessful));
    assert_eq!(current(&service(&ecs, "back", "svc").await), [(initial, 1, 1, 0)]);
}

#[tokio::test]
async fn describe_calls_take_1_to_20_arns_and_report_unknown_ones_missing() {
    let env = Harness::start().await;
    let ecs = env.function_client();
    let unknown = "arn:aws:ecs:us-east-1:123456789012:service-revision/c/s/999";
    let too_many: Vec<String> = (0..21).map(|i| format!("{unknown}{i}")).collect();
    let refused = ecs
        .describe_service_revisions()
        .set_service_revision_arns(Some(too_many.clone()))
        .send()
        .await
        .expect_err("21 ARNs");
    assert_eq!(refused.code(), Some("InvalidParameterException"));
    let refused = ecs
        .describe_service_deployments()
        .set_service_deployment_arns(Some(Vec::new()))
        .send()
        .await
        .expect_err("no ARN");
    assert_eq!(refused.code(), Some("InvalidParameterException"));

    let missing = ecs
        .describe_service_revisions()
        .service_revision_arns(unknown)
        .send()
        .await
        .expect("an answer");
    assert!(missing.service_revisions().is_empty());
    let failure = &missing.failures()[0];
    assert_eq!((failure.arn(), failure.reason()), (Some(unknown), Some("MISSING")));
    let unknown_deployment = unknown.replace("service-revision", "service-deployment");
    let missing = ecs
        .describe_service_deployments()
        .set_service_deployment_arns(Some(too_many[..20].to_vec()))
        .service_deployment_arns(&unknown_deployment)
        .send()
        .await;
    assert_eq!(
        missing.expect_err("21 after appending").code(),
        Some("InvalidParameterException")
    );
    let missing = ecs
        .describe_service_deployments()
        .service_deployment_arns(&unknown_deployment)
        .send()
        .await
        .expect("an answer");
    assert_eq!(missing.failures()[0].arn(), Some(unknown_deployment.as_str()));
    let calls = env.front.calls();
    assert_eq!(calls.action("DescribeServiceRevisions").rejected, 1);
    assert_eq!(calls.action("DescribeServiceDeployments").rejected, 2);
    assert_eq!(calls.action("DescribeServiceDeployments").forwarded, 1);
}
