use super::*;

pub(super) fn redeployed() -> Notification {
    Notification {
        kind: NotificationKind::Redeployed,
        cluster: Some("prod".into()),
        service: Some("web".into()),
        service_arn: Some("arn:aws:ecs:us-east-1:123456789012:service/prod/web".into()),
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest".into(),
        from_digest: Some("sha256:aaaa".into()),
        to_digest: Some("sha256:bbbb".into()),
        method: Some(Method::Pin),
        reason: Reason::ImageMatch,
        deployment_id: Some("ecs-svc/1234567890123456789".into()),
        new_task_definition: Some("arn:aws:ecs:us-east-1:123456789012:task-definition/web:8".into()),
        error: None,
        trigger: Trigger::Push,
        event_id: Some("13cde686-328b-6117-af20-0e5566167482".into()),
        wave: None,
        function: None,
        function_arn: None,
    }
}

#[test]
fn detail_types_name_the_outcome() {
    assert_eq!(NotificationKind::Redeployed.detail_type(), "ECS Service Redeployed");
    assert_eq!(
        NotificationKind::RedeployFailed.detail_type(),
        "ECS Service Redeploy Failed"
    );
}

#[test]
fn detail_has_every_key_and_no_kind() {
    let detail: serde_json::Value = serde_json::from_str(&redeployed().detail()).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({
            "cluster": "prod",
            "service": "web",
            "service_arn": "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest",
            "from_digest": "sha256:aaaa",
            "to_digest": "sha256:bbbb",
            "method": "pin",
            "reason": "image-match",
            "deployment_id": "ecs-svc/1234567890123456789",
            "new_task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8",
            "error": null,
            "trigger": "push",
            "event_id": "13cde686-328b-6117-af20-0e5566167482",
            "wave": null
        })
    );
}

#[test]
fn a_function_event_has_the_service_keys_null_and_names_the_function() {
    use crate::domain::function::FunctionReport;
    use crate::domain::push::Push;
    use crate::report::Scanned;
    let push = Push {
        digest: Some("sha256:bbbb".into()),
        event_id: Some("e-1".into()),
        ..Push::of("web", "latest")
    };
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:hook";
    let entry = |name: &str, outcome: Status, error: Option<&str>| FunctionReport {
        function: name.into(),
        function_arn: arn.into(),
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest".into(),
        decision: Some("redeploy"),
        reason: Reason::ImageMatch,
        detail: String::new(),
        pushed: vec![push.image().to_string()],
        push_positions: vec![0],
        outcome,
        running: Some("sha256:aaaa".into()),
        from: Some("sha256:aaaa".into()),
        to: Some("sha256:bbbb".into()),
        alias: None,
        version: None,
        error: error.map(str::to_owned),
        retryable: None,
    };
    let scanned = Scanned {
        clusters: 0,
        services: 0,
    };
    let report = Report::new(
        Trigger::Push,
        std::slice::from_ref(&push),
        crate::config::Mode::Apply,
        scanned,
        Vec::new(),
        Vec::new(),
    )
    .with_functions(vec![
        entry("hook", Status::Redeployed, None),
        entry(
            "other",
            Status::Failed,
            Some("lambda UpdateFunctionCode failed: ResourceConflictException: busy"),
        ),
        entry("skipped", Status::Skipped, None),
    ]);
    let notifications = of_report(&report);
    let kinds: Vec<&str> = notifications.iter().map(|n| n.kind.detail_type()).collect();
    assert_eq!(kinds, ["Lambda Function Redeployed", "Lambda Function Redeploy Failed"]);
    let detail: serde_json::Value = serde_json::from_str(&notifications[0].detail()).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({
            "cluster": null, "service": null, "service_arn": null,
            "image": push.image().to_string(),
            "from_digest": "sha256:aaaa", "to_digest": "sha256:bbbb", "method": null, "reason": "image-match",
            "deployment_id": null, "new_task_definition": null, "error": null, "trigger": "push",
            "event_id": "e-1", "wave": null, "function": "hook", "function_arn": arn
        })
    );
    assert_eq!(
        Announcement::service_arn(&notifications[0]),
        arn,
        "the event's resource is the function"
    );
    // A service's event keeps its 14 keys: no function keys.
    let service: serde_json::Value = serde_json::from_str(&redeployed().detail()).unwrap();
    assert!(service.get("function").is_none() && service.get("function_arn").is_none());
}

#[test]
fn a_failed_sweep_keeps_absent_values_as_null() {
    let failed = Notification {
        kind: NotificationKind::RedeployFailed,
        from_digest: None,
        to_digest: None,
        method: None,
        deployment_id: None,
        new_task_definition: None,
        error: Some("ecs UpdateService failed: AccessDeniedException: not allowed".into()),
        trigger: Trigger::Sweep,
        event_id: None,
        ..redeployed()
    };
    let detail: serde_json::Value = serde_json::from_str(&failed.detail()).unwrap();
    let object = detail.as_object().unwrap();
    assert_eq!(object.len(), 14);
    for key in [
        "wave",
        "from_digest",
        "to_digest",
        "method",
        "deployment_id",
        "new_task_definition",
        "event_id",
    ] {
        assert_eq!(object[key], serde_json::Value::Null, "{key}");
    }
    assert_eq!(object["trigger"], "sweep");
    assert_eq!(
        object["error"],
        "ecs UpdateService failed: AccessDeniedException: not allowed"
    );
}

#[tokio::test]
async fn no_notifier_sends_nothing() {
    let none: Option<fake::FakeNotifier> = None;
    assert_eq!(none.send(&[redeployed()]).await, Delivery::default());
    assert_eq!(none.send_rollouts(&[]).await, Delivery::default());
}

#[tokio::test]
async fn some_notifier_is_that_notifier() {
    let some = Some(fake::FakeNotifier::default());
    assert_eq!(some.send(&[redeployed()]).await, Delivery { sent: 1, failed: 0 });
    assert_eq!(some.as_ref().unwrap().sent(), [redeployed()]);
}

#[tokio::test]
async fn the_fake_records_what_it_was_sent() {
    let fake = fake::FakeNotifier::default();
    let sent = [redeployed(), redeployed()];
    assert_eq!(fake.send(&sent).await, Delivery { sent: 2, failed: 0 });
    assert_eq!(fake.sent(), sent);
}
