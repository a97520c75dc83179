use std::collections::BTreeMap;

use ecs_redeploy_testkit::sqs::batch;
use serde_json::json;

use super::*;
use crate::config::Config;
use crate::ecs::fake::FakeEcs;
use crate::ecs::short_name;

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// An EventBridge push event of `repository:tag` with digest `n`, pushed at `time`.
fn push_event(id: &str, repository: &str, tag: &str, n: u8, time: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": time, "region": "us-east-1", "resources": [],
        "detail": {
            "result": "SUCCESS", "repository-name": repository, "action-type": "PUSH",
            "image-tag": tag, "image-digest": digest(n)
        }
    })
}

/// An image deletion: ignored, not a failure.
fn delete_event() -> Value {
    let mut event = push_event("e-del", "app", "latest", 1, "2026-12-01T10:00:00Z");
    event["detail"]["action-type"] = json!("DELETE");
    event
}

fn bodies(events: &[Value]) -> Vec<String> {
    events.iter().map(Value::to_string).collect()
}

fn now() -> DateTime<Utc> {
    "2026-12-01T10:05:00Z".parse().unwrap()
}

async fn run(ecs: FakeEcs, event: Value, vars: &[(&str, &str)]) -> (BatchOutcome, Redeployer<FakeEcs>) {
    assert!(is_sqs_event(&event));
    let config = Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned())).unwrap();
    let redeployer = Redeployer::new(ecs, config);
    let outcome = process_batch(&redeployer, messages(event, now()).unwrap(), Mode::Apply).await;
    (outcome, redeployer)
}

fn calls(redeployer: &Redeployer<FakeEcs>, operation: &str) -> usize {
    redeployer.ecs().calls(operation)
}

/// Names of the services updated, sorted.
fn updated_services(redeployer: &Redeployer<FakeEcs>) -> Vec<String> {
    let updated = redeployer.ecs().updated.lock().unwrap();
    let mut names: Vec<String> = updated.iter().map(|arn| short_name(arn).to_owned()).collect();
    names.sort();
    names
}

/// The images of every registered revision.
fn registered_images(redeployer: &Redeployer<FakeEcs>) -> Vec<BTreeMap<String, String>> {
    let registered = redeployer.ecs().registered.lock().unwrap();
    registered.iter().map(|(_, images)| images.clone()).collect()
}

fn fleet() -> FakeEcs {
    let mut ecs = FakeEcs::default();
    ecs.add_service(
        "prod",
        "web",
        &[&format!("{REGISTRY}/app:latest"), &format!("{REGISTRY}/envoy:latest")],
        &[],
    );
    ecs.add_service(
        "prod",
        "pinned-web",
        &[&format!("{REGISTRY}/app:latest"), &format!("{REGISTRY}/envoy:latest")],
        &[("ecs-redeploy", "pin")],
    );
    ecs.add_service("prod", "api", &[&format!("{REGISTRY}/api:latest")], &[]);
    ecs
}

#[tokio::test(start_paused = true)]
async fn one_scan_serves_the_batch_and_each_service_is_deployed_once() {
    let events = [
        push_event("e-app", "app", "latest", 1, "2026-12-01T10:00:00Z"),
        push_event("e-envoy", "envoy", "latest", 2, "2026-12-01T10:00:01Z"),
        push_event("e-api", "api", "latest", 3, "2026-12-01T10:00:02Z"),
        // EventBridge delivers at least once: the same event again.
        push_event("e-api", "api", "latest", 3, "2026-12-01T10:00:02Z"),
    ];
    let (outcome, redeployer) = run(fleet(), batch(&bodies(&events)), &[]).await;
    assert_eq!(outcome.failed_messages, Vec::<String>::new());
    assert_eq!(calls(&redeployer, "ListServices"), 1, "one scan for the whole batch");
    assert_eq!(calls(&redeployer, "DescribeServices"), 1);
    let updated = updated_services(&redeployer);
    assert_eq!(
        updated,
        ["api", "pinned-web", "web"],
        "app + sidecar pushes deploy each service once"
    );
    assert_eq!(calls(&redeployer, "RegisterTaskDefinition"), 1);
    let registered = registered_images(&redeployer);
    assert_eq!(
        registered,
        vec![BTreeMap::from([
            ("c0".to_owned(), format!("{REGISTRY}/app:latest@{}", digest(1))),
            ("c1".to_owned(), format!("{REGISTRY}/envoy:latest@{}", digest(2))),
        ])],
        "one revision carries both new digests"
    );
    let report = outcome.report.expect("pushes were run");
    assert_eq!(report.counts.redeployed, 3);
    assert_eq!(report.pushes.len(), 3, "the duplicate counts once");
}

#[tokio::test(start_paused = true)]
async fn the_newest_push_of_a_tag_wins() {
    let events = [
        push_event("e-new", "app", "latest", 9, "2026-12-01T10:00:09Z"),
        push_event("e-old", "app", "latest", 1, "2026-12-01T10:00:00Z"),
    ];
    let (outcome, redeployer) = run(fleet(), batch(&bodies(&events)), &[]).await;
    assert!(outcome.failed_messages.is_empty());
    assert_eq!(
        registered_images(&redeployer),
        vec![BTreeMap::from([(
            "c0".to_owned(),
            format!("{REGISTRY}/app:latest@{}", digest(9))
        )])]
    );
    let updated = updated_services(&redeployer);
    assert_eq!(updated, ["pinned-web", "web"]);
}

#[tokio::test(start_paused = true)]
async fn only_the_message_behind_a_failed_service_fails() {
    let mut ecs = fleet();
    ecs.failing_updates.push("api".into());
    let events = [
        push_event("e-app", "app", "latest", 1, "2026-12-01T10:00:00Z"),
        push_event("e-api", "api", "latest", 3, "2026-12-01T10:00:02Z"),
    ];
    let (outcome, redeployer) = run(ecs, batch(&bodies(&events)), &[]).await;
    assert_eq!(outcome.failed_messages, ["m-1"]);
    let updated = updated_services(&redeployer);
    assert_eq!(
        updated,
        ["pinned-web", "web"],
        "the other message's services still deploy"
    );
    let response = serde_json::to_value(outcome.response()).unwrap();
    assert_eq!(response, json!({ "batchItemFailures": [{ "itemIdentifier": "m-1" }] }));
}

#[tokio::test(start_paused = true)]
async fn a_failure_fails_every_message_that_carried_its_push() {
    let mut ecs = fleet();
    ecs.failing_updates.push("api".into());
    let events = [
        push_event("e-api", "api", "latest", 3, "2026-12-01T10:00:02Z"),
        push_event("e-app", "app", "latest", 1, "2026-12-01T10:00:00Z"),
        push_event("e-api", "api", "latest", 3, "2026-12-01T10:00:02Z"),
    ];
    let (outcome, _) = run(ecs, batch(&bodies(&events)), &[]).await;
    assert_eq!(outcome.failed_messages, ["m-0", "m-2"]);
}

#[tokio::test(start_paused = true)]
async fn an_unparsable_body_fails_its_message_and_nothing_else() {
    let mut texts = bodies(&[push_event("e-app", "app", "latest", 1, "2026-12-01T10:00:00Z")]);
    texts.push("{not json".into());
    let mut malformed = push_event("e-bad", "app", "latest", 1, "2026-12-01T10:00:00Z");
    malformed["account"] = json!(12);
    texts.push(malformed.to_string());
    texts.push(delete_event().to_string());
    let (outcome, redeployer) = run(fleet(), batch(&texts), &[]).await;
    assert_eq!(outcome.failed_messages, ["m-1", "m-2"], "never silently deleted");
    assert_eq!(updated_services(&redeployer).len(), 2, "the valid push still deploys");
}

#[tokio::test(start_paused = true)]
async fn a_scan_failure_fails_every_message_with_a_push() {
    let mut ecs = fleet();
    ecs.failing_listings.push("prod".into());
    let events = [
        push_event("e-app", "app", "latest", 1, "2026-12-01T10:00:00Z"),
        delete_event(),
    ];
    let (outcome, _) = run(ecs, batch(&bodies(&events)), &[]).await;
    assert_eq!(
        outcome.failed_messages,
        ["m-0"],
        "the scan may have hidden its services"
    );
}

#[test]
fn shapes_are_told_apart_by_their_envelope() {
    let bare = push_event("e", "app", "latest", 1, "2026-12-01T10:00:00Z");
    assert!(!is_sqs_event(&bare));
    assert!(is_sqs_event(&batch(&bodies(&[bare]))));
    assert!(!is_sqs_event(&json!({ "Records": [{ "eventSource": "aws:s3" }] })));
    let mut without_id = batch(&["{}".to_owned()]);
    without_id["Records"][0].as_object_mut().unwrap().remove("messageId");
    assert!(matches!(
        messages(without_id, now()),
        Err(EventError::MissingField("Records[].messageId"))
    ));
}

/// The sweep's scheduled event, as its rule puts it on the queue.
fn scheduled_event() -> Value {
    json!({
        "version": "0", "id": "sweep-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-01T10:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"], "detail": {}
    })
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_event_in_a_batch_sweeps_and_owns_what_the_sweep_found() {
    use crate::ecr::fake::FakeEcr;

    let mut ecs = FakeEcs::default();
    ecs.add_service("prod", "web", &[&format!("{REGISTRY}/app:latest")], &[]);
    ecs.add_service("prod", "jobs", &[&format!("{REGISTRY}/worker:latest")], &[]);
    ecs.set_running("prod", "web", &[Some(&digest(1))], Some(now()));
    ecs.set_running("prod", "jobs", &[Some(&digest(1))], Some(now()));
    ecs.failing_updates = vec!["jobs".into()];
    let ecr = FakeEcr {
        tags: BTreeMap::from([
            ("app:latest".to_owned(), digest(1)),
            ("worker:latest".to_owned(), digest(2)),
        ]),
        ..FakeEcr::default()
    };
    let redeployer = Redeployer::new(ecs, Config::from_lookup(|_| None).unwrap()).with_registry(ecr);
    let event = batch(&bodies(&[
        push_event("e-1", "other", "latest", 3, "2026-12-01T10:00:00Z"),
        scheduled_event(),
    ]));
    let outcome = process_batch(&redeployer, messages(event, now()).unwrap(), Mode::Apply).await;

    let report = outcome.report.as_ref().expect("a sweep ran");
    assert_eq!(report.trigger.as_str(), "sweep");
    let reasons: BTreeMap<&str, (&str, Status)> = report
        .services
        .iter()
        .map(|s| (s.service.as_str(), (s.reason.code(), s.outcome)))
        .collect();
    assert_eq!(reasons["web"], ("already-running", Status::Skipped));
    assert_eq!(
        reasons["jobs"],
        ("image-match", Status::Failed),
        "drifted, and its update failed"
    );
    assert_eq!(
        outcome.failed_messages,
        ["m-1"],
        "the scheduled message owns the sweep's failure; the push's message does not"
    );
}
