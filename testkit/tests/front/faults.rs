//! Latency and injected faults.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ecs_redeploy_testkit::front::{FaultKind, Front, FrontConfig};
use ecs_redeploy_testkit::harness::Harness;
use serde_json::json;

use super::{AUTHORIZATION, Ecs, seed_services, with_faults};

#[tokio::test]
async fn latency_is_added_to_every_call() {
    let latency = Duration::from_millis(200);
    let Harness { moto: _moto, front } = Harness::start_with(FrontConfig {
        latency,
        ..FrontConfig::strict()
    })
    .await;
    let ecs = Ecs::at(&front.endpoint_url());
    let started = Instant::now();
    assert_eq!(ecs.call("ListClusters", json!({})).await.status, 200);
    assert_eq!(ecs.call("ListClusters", json!({"maxResults": 0})).await.status, 400);
    assert!(started.elapsed() >= 2 * latency, "{:?}", started.elapsed());
}

async fn create_clusters(front: &Front, prefix: &str, count: usize) -> Vec<(String, Option<String>)> {
    let ecs = Ecs::at(&front.endpoint_url());
    let mut outcomes = Vec::new();
    for index in 0..count {
        let name = format!("{prefix}{index:02}");
        let answer = ecs.call("CreateCluster", json!({"clusterName": name})).await;
        outcomes.push((name, answer.error_code));
    }
    outcomes
}

#[tokio::test]
async fn faults_follow_the_seed_and_a_faulted_call_never_reaches_moto() {
    let kinds = vec![FaultKind::Http500, FaultKind::Http503, FaultKind::Throttling];
    let config = |seed| with_faults(seed, 0.5, kinds.clone(), Duration::ZERO);
    let Harness { moto, front: first } = Harness::start_with(config(7)).await;
    let again = Front::start(&moto.endpoint, config(7)).await.expect("front starts");
    let other = Front::start(&moto.endpoint, config(8)).await.expect("front starts");
    let first_run = create_clusters(&first, "a", 40).await;
    let codes = |run: &[(String, Option<String>)]| run.iter().map(|(_, code)| code.clone()).collect::<Vec<_>>();
    assert_eq!(codes(&first_run), codes(&create_clusters(&again, "b", 40).await));
    assert_ne!(codes(&first_run), codes(&create_clusters(&other, "c", 40).await));
    for code in ["ServerException", "ServiceUnavailableException", "ThrottlingException"] {
        assert!(
            first_run.iter().any(|(_, got)| got.as_deref() == Some(code)),
            "no {code}"
        );
    }

    let created: Vec<String> = first_run
        .iter()
        .filter(|(_, code)| code.is_none())
        .map(|(name, _)| name.clone())
        .collect();
    let mut in_moto: Vec<String> = Ecs::at(&moto.endpoint)
        .call("ListClusters", json!({}))
        .await
        .strings("clusterArns")
        .into_iter()
        .filter_map(|arn| {
            arn.rsplit('/')
                .next()
                .filter(|name| name.starts_with('a'))
                .map(str::to_owned)
        })
        .collect();
    in_moto.sort();
    assert_eq!(in_moto, created, "exactly the calls that succeeded reached moto");
    let counts = first.calls().action("CreateCluster");
    assert_eq!(counts.forwarded as usize, created.len());
    assert_eq!(counts.faulted as usize, 40 - created.len());
}

const RAW_LIST_CLUSTERS: &str = "POST / HTTP/1.1\r\nhost: front\r\n\
    x-amz-target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n\
    content-type: application/x-amz-json-1.1\r\ncontent-length: 2\r\n\r\n{}";

#[tokio::test]
async fn a_connection_reset_closes_the_connection_without_a_response() {
    let config = with_faults(1, 1.0, vec![FaultKind::ConnectionReset], Duration::ZERO);
    let Harness { moto: _moto, front } = Harness::start_with(config).await;
    let address = front.endpoint_url().trim_start_matches("http://").to_owned();
    expect_reset_without_response(address, RAW_LIST_CLUSTERS.to_owned()).await;
    let counts = front.calls().action("ListClusters");
    assert_eq!((counts.faulted, counts.forwarded), (1, 0));
}

#[tokio::test]
async fn a_slow_response_stalls_then_fails_without_reaching_moto() {
    let slow_delay = Duration::from_millis(400);
    let config = with_faults(1, 1.0, vec![FaultKind::SlowResponse], slow_delay);
    let Harness { moto, front } = Harness::start_with(config).await;
    let started = Instant::now();
    let answer = Ecs::at(&front.endpoint_url())
        .call("CreateCluster", json!({"clusterName": "slow"}))
        .await;
    assert!(started.elapsed() >= slow_delay);
    assert_eq!(
        (answer.status, answer.error_code()),
        (503, "ServiceUnavailableException")
    );
    let listed = Ecs::at(&moto.endpoint).call("ListClusters", json!({})).await;
    assert!(listed.strings("clusterArns").is_empty());
}

/// Sends `request` as raw bytes to `address` (a blocking std socket on the blocking pool: the raw bytes are the
/// point) and asserts the front reset the connection without a byte of response.
async fn expect_reset_without_response(address: String, request: String) {
    let (received, read) = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect to the front");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream.write_all(request.as_bytes()).expect("send request");
        let mut received = Vec::new();
        let read = stream.read_to_end(&mut received);
        (received, read)
    })
    .await
    .expect("raw client finishes");
    let error = read.expect_err("a reset, not a clean end of stream");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    assert!(received.is_empty(), "no response bytes: {received:?}");
}

/// The cluster names moto holds that start with `prefix`, sorted.
async fn clusters_in_moto(moto: &str, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = Ecs::at(moto)
        .call("ListClusters", json!({}))
        .await
        .strings("clusterArns")
        .into_iter()
        .filter_map(|arn| arn.rsplit('/').next().map(str::to_owned))
        .filter(|name| name.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_server_error_after_the_write_applies_the_call_and_loses_its_answer() {
    let config = with_faults(1, 1.0, vec![FaultKind::Http500AfterApply], Duration::ZERO);
    let Harness { moto, front } = Harness::start_with(config).await;
    let answer = Ecs::at(&front.endpoint_url())
        .call("CreateCluster", json!({"clusterName": "applied"}))
        .await;
    assert_eq!((answer.status, answer.error_code()), (500, "ServerException"));
    assert_eq!(clusters_in_moto(&moto.endpoint, "applied").await, ["applied"]);
    let counts = front.calls().action("CreateCluster");
    assert_eq!((counts.forwarded, counts.lost, counts.faulted), (1, 1, 0), "{counts:?}");
}

#[tokio::test]
async fn a_reset_after_the_write_applies_the_call_and_closes_without_a_response() {
    let config = with_faults(1, 1.0, vec![FaultKind::ResetAfterApply], Duration::ZERO);
    let Harness { moto, front } = Harness::start_with(config).await;
    let address = front.endpoint_url().trim_start_matches("http://").to_owned();
    let body = r#"{"clusterName":"reset-after"}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nhost: front\r\n\
         x-amz-target: AmazonEC2ContainerServiceV20141113.CreateCluster\r\n\
         authorization: {AUTHORIZATION}\r\n\
         content-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    expect_reset_without_response(address, request).await;
    assert_eq!(clusters_in_moto(&moto.endpoint, "reset-after").await, ["reset-after"]);
    let counts = front.calls().action("CreateCluster");
    assert_eq!((counts.forwarded, counts.lost, counts.faulted), (1, 1, 0), "{counts:?}");
}

#[tokio::test]
async fn a_stall_after_the_write_applies_the_call_then_fails() {
    let config = with_faults(1, 1.0, vec![FaultKind::StallAfterApply], Duration::from_millis(50));
    let Harness { moto, front } = Harness::start_with(config).await;
    let answer = Ecs::at(&front.endpoint_url())
        .call("CreateCluster", json!({"clusterName": "stalled"}))
        .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (503, "ServiceUnavailableException")
    );
    assert_eq!(clusters_in_moto(&moto.endpoint, "stalled").await, ["stalled"]);
    assert_eq!(front.calls().action("CreateCluster").lost, 1);
}

#[tokio::test]
async fn updates_whose_answer_is_lost_are_counted_as_applied_per_service() {
    let kinds = vec![FaultKind::Http500AfterApply];
    let Harness { moto, front } = Harness::start_with(with_faults(3, 1.0, kinds, Duration::ZERO)).await;
    seed_services(&Ecs::at(&moto.endpoint), "east", 2).await;
    let ecs = Ecs::at(&front.endpoint_url());
    for service in ["svc-00", "svc-00", "svc-01"] {
        let update = json!({"cluster": "east", "service": service, "forceNewDeployment": true});
        assert_eq!(ecs.call("UpdateService", update).await.status, 500);
    }
    let applied = front.applied_updates();
    assert_eq!(
        applied.into_iter().collect::<Vec<_>>(),
        [("east/svc-00".to_owned(), 2), ("east/svc-01".to_owned(), 1)]
    );
    // Refused calls are not applied: a fault before moto leaves nothing to count.
    let before = Harness::start_with(with_faults(3, 1.0, vec![FaultKind::Http500], Duration::ZERO)).await;
    seed_services(&Ecs::at(&before.moto.endpoint), "east", 1).await;
    let update = json!({"cluster": "east", "service": "svc-00", "forceNewDeployment": true});
    assert_eq!(
        Ecs::at(&before.front.endpoint_url())
            .call("UpdateService", update)
            .await
            .status,
        500
    );
    assert!(before.front.applied_updates().is_empty());
}
