//! Services ecs-redeploy cannot (or need not) redeploy, through the real SDK client against moto behind the
//! strict front: each is a skip with its reason, never a failure that every retry would repeat.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::DeploymentControllerType;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::report::{Report, Status};
use ecs_redeploy_testkit::fleet::{self, ServiceSpec, deployment_ids, redeployed, registry};
use ecs_redeploy_testkit::front::{DeletedServices, FrontConfig};
use ecs_redeploy_testkit::harness::Harness;

use crate::events::load_now;
use crate::support::{FunctionEcs, config, invoke, outcomes};

/// The push of `app:latest`, delivered once; the invocation must succeed.
async fn deliver(redeployer: &Redeployer<ecs_redeploy::ecs::sdk::SdkEcs>) -> Report {
    invoke(redeployer, &load_now("ecr-push.json"))
        .await
        .expect("the invocation succeeds")
}

#[tokio::test]
async fn codedeploy_and_external_services_are_skipped_in_every_mode() {
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("ctl", "rolling", &[&app]),
            ServiceSpec::new("ctl", "blue-green", &[&app]).controlled_by(DeploymentControllerType::CodeDeploy),
            ServiceSpec::new("ctl", "blue-green-pin", &[&app])
                .tagged("ecs-redeploy", "pin")
                .controlled_by(DeploymentControllerType::CodeDeploy),
            ServiceSpec::new("ctl", "task-sets", &[&app]).controlled_by(DeploymentControllerType::External),
        ],
    )
    .await;
    let before = deployment_ids(&env.seeder(), &["ctl"]).await;
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));

    let report = deliver(&redeployer).await;
    let skipped = ("unsupported-controller", Status::Skipped);
    assert_eq!(
        outcomes(&report),
        BTreeMap::from([
            ("blue-green".to_owned(), skipped),
            ("blue-green-pin".to_owned(), skipped),
            ("rolling".to_owned(), ("image-match", Status::Redeployed)),
            ("task-sets".to_owned(), skipped),
        ])
    );
    let after = deployment_ids(&env.seeder(), &["ctl"]).await;
    assert_eq!(redeployed(&before, &after), ["ctl/rolling"]);
    let calls = env.front.calls();
    assert_eq!(calls.action("UpdateService").forwarded, 1);
    assert_eq!(calls.action("RegisterTaskDefinition").forwarded, 0);
}

#[tokio::test]
async fn a_deleted_service_the_tagging_api_still_lists_is_skipped() {
    let env = Harness::start_with(FrontConfig {
        deleted_services: DeletedServices::Missing,
        ..FrontConfig::strict()
    })
    .await;
    let app = format!("{}/app:latest", registry());
    let seeder = env.seeder();
    fleet::seed(
        &seeder,
        &[
            ServiceSpec::new("tagged", "live", &[&app]).tagged("ecs-redeploy", "on"),
            ServiceSpec::new("tagged", "gone", &[&app]).tagged("ecs-redeploy", "on"),
        ],
    )
    .await;
    seeder
        .delete_service()
        .cluster("tagged")
        .service("gone")
        .force(true)
        .send()
        .await
        .expect("delete the service");
    let redeployer = Redeployer::new(env.function_ecs(), config(&[("SELECT", "opted-in")]));

    let report = deliver(&redeployer).await;
    assert_eq!(
        outcomes(&report),
        BTreeMap::from([
            ("gone".to_owned(), ("service-not-found", Status::Skipped)),
            ("live".to_owned(), ("image-match", Status::Redeployed)),
        ])
    );
    assert!(!report.has_failures());
}

/// A service created before the long ARN format is listed as `service/NAME`, which no cluster-scoped policy
/// covers: IAM would refuse the whole `DescribeServices` batch naming it (the front refuses it the same way). It is
/// skipped with how to migrate, the rest of its batch described and redeployed, and the invocation succeeds.
#[tokio::test]
async fn old_format_service_arns_are_skipped_and_the_rest_of_their_batch_redeployed() {
    let env = Harness::start_with(FrontConfig {
        old_format_services: vec!["classic".to_owned()],
        ..FrontConfig::strict()
    })
    .await;
    let app = format!("{}/app:latest", registry());
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("arns", "classic", &[&app]),
            ServiceSpec::new("arns", "modern", &[&app]),
            ServiceSpec::new("arns", "modern-2", &[&app]),
        ],
    )
    .await;
    let redeployer = Redeployer::new(env.function_ecs(), config(&[]));

    let report = deliver(&redeployer).await;
    assert_eq!(
        outcomes(&report),
        BTreeMap::from([
            ("classic".to_owned(), ("old-arn-format", Status::Skipped)),
            ("modern".to_owned(), ("image-match", Status::Redeployed)),
            ("modern-2".to_owned(), ("image-match", Status::Redeployed)),
        ])
    );
    let classic = report.services.iter().find(|s| s.service == "classic").unwrap();
    assert!(
        classic.service_arn.ends_with(":service/classic"),
        "{}",
        classic.service_arn
    );
    assert!(classic.detail.contains("serviceLongArnFormat"), "{}", classic.detail);
    let calls = env.front.calls();
    assert_eq!(
        calls.action("DescribeServices").rejected,
        0,
        "no batch named the old ARN"
    );
    assert_eq!(calls.action("UpdateService").forwarded, 2);
}

/// `NEW_REVISIONS=disabled` (the stack's NewRevisions=Disabled, which grants no registration): a service tagged
/// `pin` is skipped naming the parameter, never a RegisterTaskDefinition the role would be refused on every push.
#[tokio::test]
async fn without_new_revisions_a_pin_is_skipped_and_nothing_registered() {
    let env = Harness::start().await;
    let app = format!("{}/app:latest", registry());
    fleet::seed(
        &env.seeder(),
        &[
            ServiceSpec::new("revs", "pinned", &[&app]).tagged("ecs-redeploy", "pin"),
            ServiceSpec::new("revs", "forced", &[&app]),
        ],
    )
    .await;
    let redeployer = Redeployer::new(env.function_ecs(), config(&[("NEW_REVISIONS", "disabled")]));

    let report = deliver(&redeployer).await;
    assert_eq!(
        outcomes(&report),
        BTreeMap::from([
            ("forced".to_owned(), ("image-match", Status::Redeployed)),
            ("pinned".to_owned(), ("revisions-disabled", Status::Skipped)),
        ])
    );
    let pinned = report.services.iter().find(|s| s.service == "pinned").unwrap();
    assert!(pinned.detail.contains("NewRevisions"), "{}", pinned.detail);
    let calls = env.front.calls();
    assert_eq!(calls.action("RegisterTaskDefinition").received, 0);
    assert_eq!(calls.action("UpdateService").forwarded, 1);
}
