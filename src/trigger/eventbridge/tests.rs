use super::*;
use serde_json::json;

fn push_event() -> Value {
    json!({
        "version": "0", "id": "e-1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {
            "result": "SUCCESS", "repository-name": "team/app", "action-type": "PUSH", "image-tag": "latest",
            "image-digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001"
        }
    })
}

fn with(mut event: Value, pointer: &str, value: Value) -> Value {
    *event.pointer_mut(pointer).expect("pointer exists") = value;
    event
}

fn without(mut event: Value, parent: &str, key: &str) -> Value {
    event
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("object")
        .remove(key);
    event
}

#[test]
fn a_successful_tagged_push_is_acted_on() {
    let Classified::Push(push) = classify(push_event()).unwrap() else {
        panic!("not a push")
    };
    assert_eq!(push.registry, Registry::ecr("123456789012", "us-east-1").unwrap());
    assert_eq!(push.repository, "team/app");
    assert_eq!(push.tag, "latest");
    assert_eq!(push.event_id.as_deref(), Some("e-1"));
    assert_eq!(
        push.image().to_string(),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:latest@sha256:0000000000000000000000000000000000000000000000000000000000000001"
    );
}

#[test]
fn a_replication_into_this_registry_is_a_push() {
    let event = json!({
        "version": "0", "id": "r-1", "detail-type": "ECR Replication Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {
            "result": "SUCCESS", "repository-name": "app", "action-type": "REPLICATE", "image-tag": "v2",
            "image-digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
            "source-account": "210987654321", "source-region": "us-east-1"
        }
    });
    let Classified::Push(push) = classify(event.clone()).unwrap() else {
        panic!("not a push")
    };
    assert_eq!(
        push.registry,
        Registry::ecr("123456789012", "eu-west-1").unwrap(),
        "the destination registry"
    );
    assert_eq!(
        push.replicated_from,
        Some(Registry::ecr("210987654321", "us-east-1").unwrap())
    );
    assert_eq!(push.tag, "v2");
    let push_type = with(event.clone(), "/detail/action-type", json!("PUSH"));
    assert!(matches!(
        classify(push_type),
        Ok(Classified::Ignored(Ignored::NotAPush(_)))
    ));
    let failed = with(event.clone(), "/detail/result", json!("FAILED"));
    assert!(matches!(
        classify(failed),
        Ok(Classified::Ignored(Ignored::NotSuccessful(_)))
    ));
    let error = classify(without(event, "/detail", "source-region"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("source-region"), "{error}");
}

#[test]
fn other_events_are_ignored_with_their_reason() {
    let cases = [
        (with(push_event(), "/source", json!("aws.s3")), "other-source"),
        (
            with(push_event(), "/detail-type", json!("ECR Image Scan")),
            "other-detail-type",
        ),
        (with(push_event(), "/detail/action-type", json!("DELETE")), "not-a-push"),
        (with(push_event(), "/detail/result", json!("FAILED")), "not-successful"),
        (with(push_event(), "/detail/image-tag", json!("")), "untagged"),
        (without(push_event(), "/detail", "image-tag"), "untagged"),
        // A scan event's detail has another shape: ignored before the detail is read.
        (with(push_event(), "/detail", json!({"image-tags": ["x"]})), "ok"),
    ];
    for (event, code) in cases {
        match classify(event) {
            Ok(Classified::Ignored(why)) => assert_eq!(why.code(), code),
            Ok(Classified::Push(_)) if code == "ok" => panic!("a push with a scan-shaped detail"),
            Err(EventError::Detail { .. }) if code == "ok" => {}
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[test]
fn pushes_that_are_not_runnable_images_are_ignored() {
    let hex = "7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json";
    // (tag, manifest media type, artifact media type, expected: "push" or the ignore code)
    let cases: Vec<(String, Option<&str>, Option<&str>, &str)> = vec![
        (format!("sha256-{hex}.sig"), None, None, "not-an-image"),
        (format!("sha256-{hex}.att"), Some(oci_manifest), None, "not-an-image"),
        (format!("sha256-{hex}.sbom"), None, None, "not-an-image"),
        (
            format!("sha256-{hex}"),
            Some("application/vnd.oci.image.index.v1+json"),
            None,
            "not-an-image",
        ),
        (format!("sha256-{hex}.tar"), None, None, "push"),
        ("sha256-short.sig".into(), None, None, "push"),
        (
            "v1.2.3".into(),
            Some(oci_manifest),
            Some("application/vnd.dev.cosign.artifact.sig.v1+json"),
            "not-an-image",
        ),
        (
            "0.4.0".into(),
            Some(oci_manifest),
            Some("application/vnd.cncf.helm.config.v1+json"),
            "not-an-image",
        ),
        (
            "sbom".into(),
            Some("application/vnd.oci.artifact.manifest.v1+json"),
            None,
            "not-an-image",
        ),
        (
            "latest".into(),
            Some(oci_manifest),
            Some("application/vnd.oci.image.config.v1+json"),
            "push",
        ),
        (
            "latest".into(),
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            Some("application/vnd.docker.container.image.v1+json"),
            "push",
        ),
        (
            "latest".into(),
            Some("application/vnd.docker.distribution.manifest.list.v2+json"),
            None,
            "push",
        ),
        ("latest".into(), Some(""), Some(""), "push"),
    ];
    for (tag, manifest, artifact, expected) in cases {
        let mut event = with(push_event(), "/detail/image-tag", json!(tag));
        let detail = event["detail"].as_object_mut().unwrap();
        detail.remove("manifest-media-type");
        if let Some(m) = manifest {
            detail.insert("manifest-media-type".into(), json!(m));
        }
        if let Some(a) = artifact {
            detail.insert("artifact-media-type".into(), json!(a));
        }
        let got = match classify(event).unwrap() {
            Classified::Push(_) => "push",
            Classified::Sweep => "sweep",
            Classified::Deployment(_) => "deployment",
            Classified::WaveWake(_) => "wave-wake",
            Classified::Ignored(why) => why.code(),
        };
        assert_eq!(got, expected, "{tag} {manifest:?} {artifact:?}");
    }
}

#[test]
fn a_wave_wake_names_the_tag_and_a_bad_one_is_an_error() {
    let now = chrono::Utc::now();
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let body: Value = serde_json::from_str(&crate::wake::body(
        image,
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        now,
        now,
    ))
    .unwrap();
    match classify(body.clone()).unwrap() {
        // The digest is read anew when the wake comes: a newer push supersedes the one that baked.
        Classified::WaveWake(push) => assert_eq!((push.tag.as_str(), push.digest), ("latest", None)),
        other => panic!("not a wake: {other:?}"),
    }
    let mut bad = body.clone();
    bad["detail"]["image"] = json!("docker.io/library/app:latest");
    assert!(matches!(classify(bad), Err(EventError::WakeImage(_))));
    let mut no_detail = body;
    no_detail["detail"] = json!({});
    assert!(matches!(classify(no_detail), Err(EventError::WakeDetail { .. })));
}

#[test]
fn a_time_far_ahead_of_the_clock_is_not_trusted() {
    let now = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().to_utc();
    let at = |time: &str| match classify_at(with(push_event(), "/time", json!(time)), now).unwrap() {
        Classified::Push(push) => push.time.map(|t| t.to_rfc3339()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        at("2026-11-29T10:04:00Z").as_deref(),
        Some("2026-11-29T10:04:00+00:00"),
        "within the skew"
    );
    assert_eq!(at("2999-01-01T00:00:00Z"), None, "acted on, without the time");
}

#[test]
fn malformed_events_name_the_field() {
    let cases = [
        (without(push_event(), "", "detail-type"), "detail-type"),
        (without(push_event(), "", "account"), "account"),
        (without(push_event(), "", "region"), "region"),
        (without(push_event(), "/detail", "repository-name"), "repository-name"),
        (without(push_event(), "/detail", "action-type"), "action-type"),
        (with(push_event(), "/account", json!("12")), "account"),
        (with(push_event(), "/region", json!("Mars")), "region"),
        (
            with(push_event(), "/account", json!(123456789012u64)),
            "account: invalid type",
        ),
        (with(push_event(), "/detail/result", json!(1)), "result: invalid type"),
        (with(push_event(), "/detail/image-tag", json!("bad tag")), "image-tag"),
        (
            with(push_event(), "/detail/repository-name", json!("Team/App")),
            "repository-name",
        ),
        (
            with(push_event(), "/detail/image-digest", json!("sha256:zz")),
            "image-digest",
        ),
        (
            with(push_event(), "/time", json!("yesterday")),
            "input contains invalid characters",
        ),
        (json!([1, 2]), "not a JSON object"),
    ];
    for (event, needle) in cases {
        let error = classify(event).expect_err(needle).to_string();
        assert!(error.contains(needle), "`{error}` does not mention `{needle}`");
    }
    let error = classify_json("{not json").unwrap_err().to_string();
    assert!(error.starts_with("event is not valid JSON"), "{error}");
}

#[test]
fn image_uris_describe_pushes() {
    let push = Push::from_image_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v2").unwrap();
    assert_eq!(push.tag, "v2");
    assert_eq!(push.digest, None);
    assert_eq!(push.time, None);
    let implied = Push::from_image_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app").unwrap();
    assert_eq!(implied.tag, "latest");
    let digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    let pinned = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@{digest}");
    for (uri, needle) in [
        ("nginx:latest", "not in an ECR registry"),
        (pinned.as_str(), "pinned by digest only"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/App:v1",
            "invalid repository",
        ),
    ] {
        let error = Push::from_image_uri(uri).unwrap_err().to_string();
        assert!(error.contains(needle), "{uri}: {error}");
    }
}

#[test]
fn ecs_deployment_state_changes_are_followed_and_other_ecs_events_ignored() {
    let deployment = |name: &str| {
        json!({
            "version": "0", "id": "d-1", "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
            "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:ecs:us-east-1:123456789012:service/prod/web"],
            "detail": {"eventType": "INFO", "eventName": name, "deploymentId": "ecs-svc/1",
                       "updatedAt": "2026-11-29T10:00:00Z", "reason": "ECS deployment ecs-svc/1 completed."}
        })
    };
    let Classified::Deployment(change) = classify(deployment("SERVICE_DEPLOYMENT_COMPLETED")).unwrap() else {
        panic!("a completed deployment is followed");
    };
    assert_eq!(
        (
            change.service_arn.as_str(),
            change.deployment_id.as_str(),
            change.event_id.as_deref()
        ),
        (
            "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
            "ecs-svc/1",
            Some("d-1")
        )
    );
    assert!(matches!(
        classify(deployment("SERVICE_DEPLOYMENT_FAILED")).unwrap(),
        Classified::Deployment(_)
    ));
    assert_eq!(
        classify(deployment("SERVICE_DEPLOYMENT_IN_PROGRESS")).unwrap(),
        Classified::Ignored(Ignored::DeploymentInProgress)
    );
    let task = with(
        deployment("SERVICE_DEPLOYMENT_COMPLETED"),
        "/detail-type",
        json!("ECS Task State Change"),
    );
    let ignored = classify(with(task, "/detail", json!("not an object"))).unwrap();
    assert_eq!(
        ignored,
        Classified::Ignored(Ignored::OtherEcsDetailType("ECS Task State Change".into()))
    );
    let Classified::Ignored(why) = ignored else {
        unreachable!()
    };
    assert_eq!(why.code(), "other-detail-type");
}
