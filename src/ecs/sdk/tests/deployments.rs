//! Deployments in the answers: the one `UpdateService` started, and service deployments as described.

use super::*;

#[tokio::test]
async fn force_new_deployment_returns_the_primary_else_the_newest_deployment() {
    let cases: [(&str, Vec<sdk::Deployment>, Option<Deployment>); 3] = [
        (
            "PRIMARY wins even over a newer one",
            vec![
                sdk_deployment("old", "ACTIVE", Some(time(100, 0))),
                sdk_deployment("primary", "PRIMARY", Some(time(200, 0))),
                sdk_deployment("newer", "ACTIVE", Some(time(300, 0))),
            ],
            Some(ours("primary", utc(200, 0))),
        ),
        (
            "no PRIMARY: the newest by createdAt",
            vec![
                sdk_deployment("undated", "ACTIVE", None),
                sdk_deployment("newest", "ACTIVE", Some(time(300, 5))),
                sdk_deployment("same second", "ACTIVE", Some(time(300, 4))),
                sdk_deployment("oldest", "INACTIVE", Some(time(100, 0))),
            ],
            Some(ours("newest", utc(300, 5))),
        ),
        ("no deployment at all", vec![], None),
    ];
    for (case, deployments, expected) in cases {
        let rule = mock!(Client::update_service)
            .match_requests(|r| {
                r.cluster() == Some(CLUSTER) && r.service() == Some("web") && r.force_new_deployment() == Some(true)
            })
            .then_output(move || {
                UpdateServiceOutput::builder()
                    .service(
                        sdk::Service::builder()
                            .set_deployments(Some(deployments.clone()))
                            .build(),
                    )
                    .build()
            });
        let result = ecs(RuleMode::Sequential, &[&rule])
            .force_new_deployment(CLUSTER, "web", &[])
            .await;
        assert_eq!(rule.num_calls(), 1, "{case}");
        match expected {
            Some(expected) => assert_eq!(result.unwrap(), expected, "{case}"),
            None => assert_eq!(result.unwrap_err().kind, EcsErrorKind::Other, "{case}"),
        }
    }
}

#[tokio::test]
async fn describe_service_deployments_maps_status_reason_times_and_rollback() {
    use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
    let arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/abc";
    let service = "arn:aws:ecs:us-east-1:123456789012:service/prod/web";
    let (target, previous) = (
        "arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/2",
        "arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/1",
    );
    let rolled_back = sdk::ServiceDeployment::builder()
        .service_deployment_arn(arn)
        .service_arn(service)
        .status(sdk::ServiceDeploymentStatus::RollbackSuccessful)
        .status_reason("circuit breaker tripped")
        .started_at(time(100, 0))
        .finished_at(time(300, 0))
        .updated_at(time(300, 5))
        .target_service_revision(sdk::ServiceRevisionSummary::builder().arn(target).build())
        .rollback(
            sdk::Rollback::builder()
                .reason("rolled back by the circuit breaker")
                .started_at(time(200, 0))
                .service_revision_arn(previous)
                .build(),
        )
        .build();
    let unknown_status = sdk::ServiceDeployment::builder()
        .service_deployment_arn(format!("{arn}-2"))
        .service_arn(service)
        .status(sdk::ServiceDeploymentStatus::from("PAUSED"))
        .build();
    let rule = mock!(Client::describe_service_deployments)
        .match_requests(move |r| r.service_deployment_arns() == [arn.to_owned()])
        .then_output(move || {
            DescribeServiceDeploymentsOutput::builder()
                .service_deployments(rolled_back.clone())
                .service_deployments(unknown_status.clone())
                .build()
        });
    let ecs = ecs(RuleMode::Sequential, &[&rule]);
    let found = ecs.describe_service_deployments(&strings(&[arn])).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0],
        ServiceDeployment {
            arn: arn.to_owned(),
            service_arn: service.to_owned(),
            status: Some(DeploymentStatus::RollbackSuccessful),
            status_reason: Some("circuit breaker tripped".to_owned()),
            started_at: utc(100, 0),
            finished_at: utc(300, 0),
            updated_at: utc(300, 5),
            stopped_at: None,
            target_revision: Some(target.to_owned()),
            rollback: Some(DeploymentRollback {
                revision: Some(previous.to_owned()),
                started_at: utc(200, 0),
                reason: Some("rolled back by the circuit breaker".to_owned()),
            }),
        }
    );
    assert!(found[0].rolled_back());
    assert_eq!(found[0].converging_revision(), Some(previous));
    assert_eq!(found[1].status, Some(DeploymentStatus::Unknown("PAUSED".to_owned())));
    assert!(!found[1].rolled_back());
}
