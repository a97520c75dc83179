//! Counting, configuration checks and shutdown.

use std::time::Duration;

use ecs_redeploy_testkit::front::{ActionCounts, FaultKind, Front, FrontConfig};
use ecs_redeploy_testkit::harness::Harness;
use serde_json::json;
use tokio::net::TcpStream;

use super::{Ecs, with_faults};

#[tokio::test]
async fn counts_add_up_per_action_and_in_total() {
    let Harness { moto: _moto, front } = Harness::start_with(FrontConfig::strict()).await;
    let ecs = Ecs::at(&front.endpoint_url());
    for index in 0..3 {
        ecs.call("CreateCluster", json!({"clusterName": format!("n{index}")}))
            .await;
    }
    ecs.call("ListClusters", json!({})).await;
    ecs.call("ListClusters", json!({"maxResults": 500})).await;
    for _ in 0..30 {
        ecs.call("DeregisterTaskDefinition", json!({"taskDefinition": "none:1"}))
            .await;
    }

    let calls = front.calls();
    for (action, counts) in &calls.by_action {
        assert_eq!(counts.received, counts.settled(), "{action}: {counts:?}");
    }
    let deregister = calls.action("DeregisterTaskDefinition");
    assert_eq!(deregister.received, 30);
    assert!(
        deregister.forwarded >= 20 && deregister.throttled >= 1,
        "{deregister:?}"
    );
    let expected_total = ActionCounts {
        received: 35,
        forwarded: 4 + deregister.forwarded,
        throttled: deregister.throttled,
        faulted: 0,
        rejected: 1,
        lost: 0,
    };
    assert_eq!(calls.total(), expected_total);
    assert_eq!(calls.action("UpdateService"), ActionCounts::default());

    front.reset_counts();
    assert_eq!(front.calls().total(), ActionCounts::default());
}

#[tokio::test]
async fn start_refuses_unusable_settings_and_drop_stops_the_front() {
    for upstream in ["http://10.0.0.1:4566", "https://127.0.0.1:1", "not a url"] {
        let refused = Front::start(upstream, FrontConfig::strict()).await;
        assert!(refused.is_err(), "{upstream}");
    }
    for config in [
        with_faults(1, 1.5, vec![FaultKind::Http500], Duration::ZERO),
        with_faults(1, 0.5, vec![], Duration::ZERO),
    ] {
        assert!(Front::start("http://127.0.0.1:1", config).await.is_err());
    }

    let front = Front::start("http://localhost:1", FrontConfig::strict())
        .await
        .expect("front starts");
    let address = front.endpoint_url().trim_start_matches("http://").to_owned();
    assert!(TcpStream::connect(&address).await.is_ok(), "the front listens");
    let closed = front.closed();
    drop(front);
    tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("the front stops listening once dropped");
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "the front still accepts connections after being dropped"
    );
}
