//! The front's ECS clock: deployments made through the front date from it, seeded ones keep moto's time.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ecs_redeploy_testkit::harness::Harness;
use serde_json::{Value, json};

use super::{Ecs, limits_only, seed_services};

fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Deployment id → `createdAt` (epoch seconds) of every service in a `DescribeServices` answer.
async fn created_at(ecs: &Ecs, cluster: &str, services: &[String]) -> BTreeMap<String, f64> {
    let answer = ecs
        .call("DescribeServices", json!({"cluster": cluster, "services": services}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let services = answer.body["services"].as_array().expect("services").iter();
    services
        .flat_map(|service| service["deployments"].as_array().expect("deployments"))
        .map(|d| {
            (
                d["id"].as_str().expect("id").to_owned(),
                d["createdAt"].as_f64().expect("createdAt"),
            )
        })
        .collect()
}

#[tokio::test]
async fn deployments_made_through_the_front_date_from_its_clock() {
    let Harness { moto, front } = Harness::start_with(limits_only()).await;
    let upstream = Ecs::at(&moto.endpoint);
    let arns = seed_services(&upstream, "clock", 2).await;
    let ecs = Ecs::at(&front.endpoint_url());
    let seeded = created_at(&upstream, "clock", &arns).await;
    assert_eq!(created_at(&ecs, "clock", &arns).await, seeded, "no lead, no change");

    let hour = Duration::from_secs(3600);
    front.advance_clock(hour);
    let before = wall_clock();
    let update = json!({"cluster": "clock", "service": arns[0], "forceNewDeployment": true});
    let updated = ecs.call("UpdateService", update).await;
    let after = wall_clock();
    assert_eq!(updated.status, 200, "{}", updated.body);
    let made: &Value = &updated.body["service"]["deployments"][0];
    let made_id = made["id"].as_str().expect("id").to_owned();
    assert!(!seeded.contains_key(&made_id), "moto made a new deployment");
    let dated = made["createdAt"].as_f64().expect("createdAt");
    assert!(
        (before + 3600.0 - 0.01..=after + 3600.0).contains(&dated),
        "{dated} is not an hour after [{before}, {after}]"
    );

    // Later answers date it the same, whatever the clock does meanwhile; moto keeps the wall clock.
    front.advance_clock(hour);
    let through_front = created_at(&ecs, "clock", &arns).await;
    let in_moto = created_at(&upstream, "clock", &arns).await;
    assert_eq!(through_front[&made_id], dated);
    assert!((in_moto[&made_id] + 3600.0 - dated).abs() < 1e-6, "{in_moto:?}");
    let (other_id, other_created) = seeded
        .iter()
        .find(|(id, _)| through_front.contains_key(*id))
        .expect("the other service's seeded deployment");
    assert_eq!(
        through_front[other_id], *other_created,
        "seeded deployments keep moto's time"
    );
}
