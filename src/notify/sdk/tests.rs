//! `SdkEventBridge` against a mocked `aws_sdk_eventbridge::Client` (aws-smithy-mocks): chunking, the
//! entries' shape, and failures counted instead of returned.

use std::sync::{Arc, Mutex};

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::error::ErrorMetadata;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::*;
use crate::domain::policy::Method;
use crate::domain::push::Trigger;
use crate::domain::reason::Reason;
use crate::notify::NotificationKind;

const BUS: &str = "arn:aws:events:us-east-1:123456789012:event-bus/deployments";

/// A notifier over `rules` that makes a single attempt per call, so an error is seen once, at once.
fn notifier(rules: &[&Rule]) -> SdkEventBridge {
    SdkEventBridge::new(
        mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, rules, |c| c
            .retry_config(RetryConfig::disabled())),
        BUS,
    )
}

/// Service `web-{i}`: redeployed when `i` is even, failed when odd.
fn notification(i: usize) -> Notification {
    let service = format!("web-{i}");
    let failed = i % 2 == 1;
    Notification {
        kind: if failed {
            NotificationKind::RedeployFailed
        } else {
            NotificationKind::Redeployed
        },
        cluster: Some("prod".into()),
        service_arn: Some(format!("arn:aws:ecs:us-east-1:123456789012:service/prod/{service}")),
        service: Some(service),
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest".into(),
        from_digest: Some("sha256:aaaa".into()),
        to_digest: (!failed).then(|| "sha256:bbbb".into()),
        method: Some(Method::Force),
        reason: Reason::ImageMatch,
        deployment_id: (!failed).then(|| format!("ecs-svc/{i}")),
        new_task_definition: None,
        error: failed.then(|| "ecs UpdateService failed: ServerException: try again".into()),
        trigger: Trigger::Sweep,
        event_id: None,
        wave: None,
        function: None,
        function_arn: None,
    }
}

fn notifications(count: usize) -> Vec<Notification> {
    (0..count).map(notification).collect()
}

/// Every entry accepted.
fn accepted(count: usize) -> PutEventsOutput {
    let entries = (0..count).map(|i| PutEventsResultEntry::builder().event_id(format!("id-{i}")).build());
    PutEventsOutput::builder()
        .failed_entry_count(0)
        .set_entries(Some(entries.collect()))
        .build()
}

#[tokio::test]
async fn sends_in_calls_of_ten_entries_with_source_detail_type_bus_and_detail() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let rule = |count: usize| {
        let requests = Arc::clone(&requests);
        mock!(Client::put_events)
            .match_requests(move |input| {
                requests.lock().unwrap().push(input.entries().to_vec());
                input.entries().len() == count
            })
            .then_output(move || accepted(count))
    };
    let (first, second, third) = (rule(10), rule(10), rule(3));
    let sent = notifications(23);

    let delivery = notifier(&[&first, &second, &third]).send(&sent).await;

    assert_eq!(delivery, Delivery { sent: 23, failed: 0 });
    assert_eq!((first.num_calls(), second.num_calls(), third.num_calls()), (1, 1, 1));
    let entries: Vec<PutEventsRequestEntry> = requests.lock().unwrap().concat();
    assert_eq!(entries.len(), 23);
    for (entry, notification) in entries.iter().zip(&sent) {
        assert_eq!(entry.event_bus_name(), Some(BUS));
        assert_eq!(entry.source(), Some("ecs-redeploy"));
        assert_eq!(entry.detail_type(), Some(notification.kind.detail_type()));
        assert_eq!(
            entry.resources(),
            [notification.service_arn.clone().expect("a service's event")]
        );
        let detail: serde_json::Value = serde_json::from_str(entry.detail().unwrap()).unwrap();
        assert_eq!(detail, serde_json::to_value(notification).unwrap());
    }
    assert_eq!(entries[0].detail_type(), Some("ECS Service Redeployed"));
    assert_eq!(entries[1].detail_type(), Some("ECS Service Redeploy Failed"));
    let detail: serde_json::Value = serde_json::from_str(entries[1].detail().unwrap()).unwrap();
    assert_eq!(detail["service"], "web-1");
    assert_eq!(detail["trigger"], "sweep");
    assert_eq!(detail["to_digest"], serde_json::Value::Null);
    assert_eq!(detail["error"], "ecs UpdateService failed: ServerException: try again");
}

#[tokio::test]
async fn refused_entries_are_counted_as_failed() {
    let rule = mock!(Client::put_events).then_output(|| {
        let entry = |i: usize| match i {
            2 | 5 => PutEventsResultEntry::builder()
                .error_code("InternalFailure")
                .error_message("try again")
                .build(),
            _ => PutEventsResultEntry::builder().event_id(format!("id-{i}")).build(),
        };
        PutEventsOutput::builder()
            .failed_entry_count(2)
            .set_entries(Some((0..7).map(entry).collect()))
            .build()
    });

    let delivery = notifier(&[&rule]).send(&notifications(7)).await;

    assert_eq!(delivery, Delivery { sent: 5, failed: 2 });
}

#[tokio::test]
async fn a_failed_entry_count_without_entries_still_counts() {
    let rule = mock!(Client::put_events).then_output(|| PutEventsOutput::builder().failed_entry_count(2).build());

    let delivery = notifier(&[&rule]).send(&notifications(4)).await;

    assert_eq!(delivery, Delivery { sent: 2, failed: 2 });
}

#[tokio::test]
async fn a_failed_call_counts_its_entries_and_the_next_call_still_goes() {
    let denied = mock!(Client::put_events).then_error(|| {
        PutEventsError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: events:PutEvents")
                .build(),
        )
    });
    let rest = mock!(Client::put_events)
        .match_requests(|input| input.entries().len() == 3)
        .then_output(|| accepted(3));

    let delivery = notifier(&[&denied, &rest]).send(&notifications(13)).await;

    assert_eq!(delivery, Delivery { sent: 3, failed: 10 });
    assert_eq!((denied.num_calls(), rest.num_calls()), (1, 1));
}

#[tokio::test]
async fn nothing_to_send_makes_no_call() {
    let rule = mock!(Client::put_events).then_output(|| accepted(0));

    let delivery = notifier(&[&rule]).send(&[]).await;

    assert_eq!(delivery, Delivery::default());
    assert_eq!(rule.num_calls(), 0);
}
