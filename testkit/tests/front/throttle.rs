//! Throttling by the ECS token buckets.

use std::time::{Duration, Instant};

use ecs_redeploy_testkit::front::{FrontConfig, ThrottleCategory, throttle_lower_bound};
use ecs_redeploy_testkit::harness::Harness;
use serde_json::json;

use super::Ecs;

#[tokio::test]
async fn throttling_starts_after_the_burst_and_refill_brings_calls_back() {
    let Harness { moto: _moto, front } = Harness::start_with(FrontConfig::strict()).await;
    let endpoint = front.endpoint_url();
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..150 {
        let endpoint = endpoint.clone();
        calls.spawn(async move { Ecs::at(&endpoint).call("ListClusters", json!({})).await });
    }
    let answers = calls.join_all().await;
    let elapsed = started.elapsed();
    let admitted = answers.iter().filter(|answer| answer.status == 200).count();
    let throttled: Vec<_> = answers.iter().filter(|answer| answer.status != 200).collect();
    assert!(
        !throttled.is_empty(),
        "150 calls in {elapsed:?} must outrun a 50/20 bucket"
    );
    for answer in &throttled {
        assert_eq!((answer.status, answer.error_code()), (400, "ThrottlingException"));
        assert_eq!(answer.body["message"], "Rate exceeded");
    }
    let refill_bound = 50.0 + 20.0 * elapsed.as_secs_f64() + 1.0;
    assert!((admitted as f64) <= refill_bound, "{admitted} admitted in {elapsed:?}");
    assert!(admitted >= 50, "the burst is admitted at once");

    let ecs = Ecs::at(&endpoint);
    let other_category = ecs.call("ListTaskDefinitions", json!({})).await;
    assert_eq!(other_category.status, 200, "buckets are per category");
    front.advance_clock(Duration::from_millis(300));
    assert_eq!(ecs.call("ListClusters", json!({})).await.status, 200, "refilled");
    let counts = front.calls().action("ListClusters");
    assert_eq!(counts.throttled as usize, throttled.len());
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
    let Harness { moto: _moto, front } = Harness::start_with(FrontConfig::strict()).await;
    let ecs = Ecs::at(&front.endpoint_url());
    let revisions = json!({"serviceRevisionArns": ["arn:aws:ecs:us-east-1:123456789012:service-revision/c/s/1"]});
    let started = Instant::now();
    let mut admitted: u32 = 0;
    for _ in 0..80 {
        let answer = ecs.call("DescribeServiceRevisions", revisions.clone()).await;
        match answer.status {
            200 => admitted += 1,
            _ => assert_eq!(answer.error_code(), "ThrottlingException"),
        }
    }
    let refill_bound = 50.0 + 20.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!(
        (50.0..=refill_bound).contains(&f64::from(admitted)),
        "{admitted} admitted"
    );
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
