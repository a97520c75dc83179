//! `events/*.json` are the single source of fixtures: each round-trips through its typed model and
//! classifies as its name says.

use std::path::PathBuf;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use ecs_redeploy::trigger::eventbridge::{Classified, EcrImageActionEvent, IMAGE_ACTION, REPLICATION_ACTION, classify};
use ecs_redeploy::trigger::sqs::{is_sqs_event, messages};
use ecs_redeploy_testkit::front::Front;
use serde_json::Value;

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events")
}

pub fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// An event file as EventBridge would deliver it now: `time` is the moment of the call, so
/// deployments of a fleet seeded just before count as older than the push.
pub fn load_now(name: &str) -> Value {
    let mut event = load(name);
    event["time"] = Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    event
}

/// `events/<name>` pushed now, in this whole second ([`load_now`]): everything seeded so far is not
/// after the push. Then `front`'s ECS clock moves on two seconds, without waiting: the deployments made
/// through it from now on date from a later second than the push, so they are recognised as after it.
pub fn event_after_seeding(front: &Front, name: &str) -> Value {
    let event = load_now(name);
    front.advance_clock(Duration::from_secs(2));
    event
}

/// Every file in `events/`, with what it must classify as: `push` or the ignore reason code.
pub const EXPECTED: &[(&str, &str)] = &[
    ("ecr-push.json", "push"),
    ("ecr-replication.json", "push"),
    ("ecr-push-untagged.json", "untagged"),
    ("ecr-push-signature.json", "not-an-image"),
    ("ecr-delete.json", "not-a-push"),
    ("ecr-push-failed.json", "not-successful"),
    ("ecr-image-scan.json", "other-detail-type"),
    ("ecr-storage-class.json", "not-a-push"),
    ("sqs-batch.json", "batch"),
    ("scheduled-sweep.json", "sweep"),
    ("ecs-deployment-completed.json", "deployment"),
    ("ecs-deployment-failed.json", "deployment"),
    ("ecs-deployment-rollback-in-progress.json", "in-progress"),
];

fn event_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/ exists")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_event_file_has_an_expectation() {
    let mut expected: Vec<String> = EXPECTED.iter().map(|(n, _)| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(event_files(), expected);
}

#[test]
fn event_files_round_trip_through_their_typed_model() {
    for name in event_files() {
        let original = load(&name);
        let reserialized = if is_sqs_event(&original) {
            let typed: SqsEvent = serde_json::from_value(original.clone()).expect(&name);
            serde_json::to_value(&typed).expect(&name)
        } else if original["detail-type"] == IMAGE_ACTION || original["detail-type"] == REPLICATION_ACTION {
            let typed: EcrImageActionEvent = serde_json::from_value(original.clone()).expect(&name);
            serde_json::to_value(&typed).expect(&name)
        } else {
            let typed: EventBridgeEvent<Value> = serde_json::from_value(original.clone()).expect(&name);
            serde_json::to_value(&typed).expect(&name)
        };
        assert_eq!(reserialized, original, "{name} does not round-trip");
    }
}

#[test]
fn event_files_classify_as_named() {
    for (name, expected) in EXPECTED {
        let event = load(name);
        if is_sqs_event(&event) {
            let bodies = messages(event, chrono::Utc::now()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!bodies.is_empty(), "{name}: a batch of no message");
            assert!(
                bodies.iter().all(|m| matches!(m.body, Ok(Classified::Push(_)))),
                "{name}: every message is a push"
            );
            assert_eq!(*expected, "batch", "{name}");
            continue;
        }
        let got = match classify(event).unwrap_or_else(|e| panic!("{name}: {e}")) {
            Classified::Push(_) => "push",
            Classified::Sweep => "sweep",
            Classified::Deployment(_) => "deployment",
            Classified::WaveWake(_) => "wave-wake",
            Classified::Ignored(why) => why.code(),
        };
        assert_eq!(got, *expected, "{name}");
    }
}
