//! Throttling by the ECS token buckets.

use std::time::Duration;

use ecs_redeploy_testkit::front::{FrontConfig, ThrottleCategory, throttle_lower_bound};
use ecs_redeploy_testkit::harness::Harness;
use serde_json::json;

use super::Ecs;

/// A strict front whose ECS clock stands still: its buckets refill only by what the test advances.
async fn frozen() -> Harness {
    let harness = Harness::start_with(FrontConfig::strict()).await;
    harness.front.freeze_clock();
    harness
}

#[tokio::test]
async fn throttling_starts_after_the_burst_and_refill_brings_calls_back() {
    let Harness { moto: _moto, front } = frozen().await;
    let endpoint = front.endpoint_url();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..150 {
        let endpoint = endpoint.clone();
        calls.spawn(async move { Ecs::at(&endpoint).call("ListClusters", json!({})).await });
    }
    let answers = calls.join_all().await;
    let admitted = answers.iter().filter(|answer| answer.status == 200).count();
    let throttled: Vec<_> = answers.iter().filter(|answer| answer.status != 200).collect();
    assert_eq!((admitted, throttled.len()), (50, 100), "the burst of 50, and no refill");
    for answer in &throttled {
        assert_eq!((answer.status, answer.error_code()), (400, "ThrottlingException"));
        assert_eq!(answer.body["message"], "Rate exceeded");
    }

    let ecs = Ecs::at(&endpoint);
    let other_category = ecs.call("ListTaskDefinitions", json!({})).await;
    assert_eq!(other_category.status, 200, "buckets are per category");
    // 20 tokens a second: 300 ms bring back 6 calls, and not a 7th.
    front.advance_clock(Duration::from_millis(300));
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(ecs.call("ListClusters", json!({})).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 400], "refilled by 6");
    // 49 ms are less than a token; the 50th millisecond makes one.
    front.advance_clock(Duration::from_millis(49));
    assert_eq!(ecs.call("ListClusters", json!({})).await.status, 400);
    front.advance_clock(Duration::from_millis(1));
    assert_eq!(ecs.call("ListClusters", json!({})).await.status, 200);
    let counts = front.calls().action("ListClusters");
    assert_eq!((counts.forwarded, counts.throttled), (57, 102));
}

#[tokio::test]
async fn actions_outside_the_throttle_table_are_never_throttled() {
    let Harness { moto: _moto, front } = Harness::start_with(FrontConfig::strict()).await;
    let ecs = Ecs::at(&front.endpoint_url());
    for index in 0..60 {
        let created = ecs
            .call("CreateCluster", json!({"clusterName": format!("free{index}")}))
            .await;
        assert_eq!(created.status, 200);
    }
    assert_eq!(front.calls().action("CreateCluster").throttled, 0);
}

#[tokio::test]
async fn service_revision_and_deployment_reads_have_buckets_of_their_own() {
    let Harness { moto: _moto, front } = frozen().await;
    let ecs = Ecs::at(&front.endpoint_url());
    let revisions = json!({"serviceRevisionArns": ["arn:aws:ecs:us-east-1:123456789012:service-revision/c/s/1"]});
    let mut admitted: u32 = 0;
    for _ in 0..80 {
        let answer = ecs.call("DescribeServiceRevisions", revisions.clone()).await;
        match answer.status {
            200 => admitted += 1,
            _ => assert_eq!(answer.error_code(), "ThrottlingException"),
        }
    }
    assert_eq!(admitted, 50, "its burst of 50, and no refill");
    let deployments = json!({"serviceDeploymentArns": ["arn:aws:ecs:us-east-1:123456789012:service-deployment/c/s/1"]});
    let other_bucket = ecs.call("DescribeServiceDeployments", deployments).await;
    assert_eq!(other_bucket.status, 200, "{}", other_bucket.body);
    let counts = front.calls().action("DescribeServiceRevisions");
    assert_eq!(
        (counts.forwarded, counts.throttled),
        (admitted.into(), (80 - admitted).into())
    );
}

#[test]
fn throttle_lower_bound_spends_the_burst_first_then_the_refill_rate() {
    use ThrottleCategory::*;
    let cases = [
        (vec![], Duration::ZERO),
        (vec![(ServiceModify, 50)], Duration::ZERO),
        (vec![(ServiceModify, 51)], Duration::from_millis(200)),
        (vec![(ServiceModify, 100)], Duration::from_secs(10)),
        (vec![(TaskDefinitionModify, 25)], Duration::from_secs(5)),
        (vec![(ClusterRead, 70)], Duration::from_secs(1)),
        (vec![(ServiceRead, 110), (TagModify, 25)], Duration::from_millis(500)),
        (vec![(ServiceRead, 60), (ServiceRead, 60)], Duration::from_secs(1)),
        (vec![(TaskDefinitionRead, 53)], Duration::from_millis(150)),
    ];
    for (calls, expected) in cases {
        assert_eq!(throttle_lower_bound(&calls), expected, "{calls:?}");
    }
    assert_eq!(ThrottleCategory::of_action("UpdateService"), Some(ServiceModify));
    assert_eq!(
        ThrottleCategory::of_action("ListTaskDefinitionFamilies"),
        Some(TaskDefinitionRead)
    );
    assert_eq!(ThrottleCategory::of_action("CreateCluster"), None);
    assert_eq!(
        ThrottleCategory::of_action("DescribeServiceRevisions"),
        Some(ServiceRevisionRead)
    );
    assert_eq!(
        ThrottleCategory::of_action("DescribeServiceDeployments"),
        Some(ServiceDeploymentRead)
    );
    assert_eq!(
        (ServiceRevisionRead.burst(), ServiceRevisionRead.refill_per_second()),
        (50, 20)
    );
    assert_eq!(
        (ServiceDeploymentRead.burst(), ServiceDeploymentRead.refill_per_second()),
        (50, 20)
    );
    for category in ThrottleCategory::ALL {
        assert!(category.burst() >= category.refill_per_second());
    }
}
