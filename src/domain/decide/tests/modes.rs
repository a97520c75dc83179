use super::*;

fn decide_with(push: &Push, image: &str, tags: &[(&str, &str)], default_method: Method) -> Decision {
    let td = task_definition(vec![container("web", image)]);
    decide_on(push, &td, tags, default_method)
}

fn decide_on(push: &Push, td: &TaskDefinition, tags: &[(&str, &str)], default_method: Method) -> Decision {
    let selection = Selection {
        default_method,
        ..MATCHING
    };
    decide_unrecorded(push, &service(tags), td, selection).expect("related")
}

#[test]
fn pin_mode_table() {
    let pinned = format!("{REGISTRY}/app:latest@{DIGEST}");
    let cases: Vec<(&str, String, &str)> = vec![
        ("tag", format!("{REGISTRY}/app:latest"), "image-match"),
        ("implied latest", format!("{REGISTRY}/app"), "image-match"),
        (
            "tag pinned by hand to an older digest",
            format!("{REGISTRY}/app:latest@{OTHER_DIGEST}"),
            "digest-pinned",
        ),
        ("already pinned", pinned.clone(), "already-deployed"),
        (
            "digest only, the pushed one",
            format!("{REGISTRY}/app@{DIGEST}"),
            "already-deployed",
        ),
        (
            "digest only, another",
            format!("{REGISTRY}/app@{OTHER_DIGEST}"),
            "digest-pinned",
        ),
        ("other tag", format!("{REGISTRY}/app:v1"), "tag-mismatch"),
    ];
    for (case, image, expected) in cases {
        for (tags, default_action) in [(vec![("ecs-redeploy", "pin")], Method::Force), (vec![], Method::Pin)] {
            let decision = decide_with(&push("app", "latest"), &image, &tags, default_action);
            assert_eq!(decision.reason.code(), expected, "{case} ({default_action:?})");
            if expected == "image-match" {
                assert_eq!(decision.action, Action::Redeploy(Method::Pin), "{case}");
                assert_eq!(
                    decision.images,
                    BTreeMap::from([("web".to_owned(), pinned.clone())]),
                    "{case}"
                );
            } else {
                assert_eq!(decision.action, Action::Skip, "{case}");
            }
        }
    }
    let mut undigested = push("app", "latest");
    undigested.digest = None;
    let decision = decide_with(
        &undigested,
        &format!("{REGISTRY}/app:latest"),
        &[("ecs-redeploy", "pin")],
        Method::Force,
    );
    assert_eq!(decision.reason, Reason::NoDigest);
}

#[test]
fn pin_mode_moves_only_the_digests_it_pinned_itself() {
    let image = format!("{REGISTRY}/app:latest@{OTHER_DIGEST}");
    let mut td = task_definition(vec![container("web", &image), container("sidecar", &image)]);
    td.pinned = ["web".to_owned()].into();
    let decision = decide_on(&push("app", "latest"), &td, &[("ecs-redeploy", "pin")], Method::Force);
    assert_eq!(decision.action, Action::Redeploy(Method::Pin));
    assert_eq!(decision.containers, ["web"], "the hand-pinned sidecar stays");
    assert_eq!(
        decision.images,
        BTreeMap::from([("web".to_owned(), format!("{REGISTRY}/app:latest@{DIGEST}"))])
    );

    td.pinned.clear();
    let decision = decide_on(&push("app", "latest"), &td, &[("ecs-redeploy", "pin")], Method::Force);
    assert_eq!((decision.action, decision.reason), (Action::Skip, Reason::DigestPinned));
    assert!(decision.detail.contains("pinned by hand"), "{}", decision.detail);
}

#[test]
fn force_mode_never_rewrites_images() {
    let decision = decide_with(
        &push("app", "latest"),
        &format!("{REGISTRY}/app:latest"),
        &[("ecs-redeploy", "force")],
        Method::Pin,
    );
    assert_eq!(decision.action, Action::Redeploy(Method::Force));
    assert!(decision.images.is_empty());
    let pinned_elsewhere = decide_with(
        &push("app", "latest"),
        &format!("{REGISTRY}/app:latest@{OTHER_DIGEST}"),
        &[],
        Method::Force,
    );
    assert_eq!(pinned_elsewhere.reason, Reason::DigestPinned);
    assert!(
        pinned_elsewhere.detail.contains("tag the service `pin`"),
        "{}",
        pinned_elsewhere.detail
    );
}

#[test]
fn tag_policies_follow_immutable_tags() {
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        ("semver:^1.4", "1.4.0", "1.5.0", "policy-match"),
        ("semver:^1.4", "1.4.0", "2.0.0", "policy-rejected"),
        ("semver:^1.4", "1.5.0", "1.4.9", "policy-rejected"),
        ("semver:^1.4", "v1.4.0", "v1.4.1", "policy-match"),
        ("semver:^1.4", "1.4.0", "1.5.0-rc.1", "policy-rejected"),
        ("semver:^1.4", "1.4.0", "main-abc", "policy-rejected"),
        ("glob:main-*", "main-aaa", "main-bbb", "policy-match"),
        ("glob:main-*", "main-aaa", "feature-x", "policy-rejected"),
        ("regex:release-[0-9]+", "release-1", "release-2", "policy-match"),
        ("regex:release-[0-9]+", "release-1", "xrelease-2", "policy-rejected"),
        // The same tag as the container's: pinned like pin mode, whatever the policy says.
        ("semver:^1.4", "1.4.0", "1.4.0", "image-match"),
    ];
    for (policy, current, pushed, expected) in cases {
        let image = format!("{REGISTRY}/app:{current}");
        let decision = decide_with(&push("app", pushed), &image, &[("ecs-redeploy", policy)], Method::Force);
        assert_eq!(
            decision.reason.code(),
            expected,
            "{policy}: {current} -> {pushed}: {}",
            decision.detail
        );
        if decision.action != Action::Skip {
            assert_eq!(decision.action, Action::Redeploy(Method::Pin));
            assert_eq!(decision.images["web"], format!("{REGISTRY}/app:{pushed}@{DIGEST}"));
        }
    }
    let done = decide_with(
        &push("app", "1.5.0"),
        &format!("{REGISTRY}/app:1.5.0@{DIGEST}"),
        &[("ecs-redeploy", "semver:^1.4")],
        Method::Force,
    );
    assert_eq!(done.reason, Reason::AlreadyDeployed);
}

#[test]
fn invalid_policies_skip_with_the_parse_error() {
    for value in ["semvr:^1", "bogus", "semver:not a range", "regex:("] {
        let decision = decide_with(
            &push("app", "latest"),
            &format!("{REGISTRY}/app:latest"),
            &[("ecs-redeploy", value)],
            Method::Force,
        );
        assert_eq!(decision.reason, Reason::InvalidPolicy, "{value}");
        assert!(
            decision.detail.contains(value.split(':').next().unwrap()),
            "{value}: {}",
            decision.detail
        );
    }
}

#[test]
fn a_deployment_after_the_push_means_already_deployed() {
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let mut pushed = push("app", "latest");
    pushed.time = Some(at("2026-11-29T10:00:00Z"));
    let td = task_definition(vec![container("web", &format!("{REGISTRY}/app:latest"))]);
    let cases = [
        ("2026-11-29T09:59:59Z", "image-match"),
        // Same second as the (whole-second) push time: it may have started before the push ended.
        ("2026-11-29T10:00:00.900Z", "image-match"),
        ("2026-11-29T10:00:01Z", "already-deployed"),
        ("2026-11-29T10:05:00Z", "already-deployed"),
    ];
    for (deployed, expected) in cases {
        let mut svc = service(&[]);
        svc.deployments = vec![
            Deployment {
                id: "old".into(),
                created_at: Some(at("2026-01-01T00:00:00Z")),
                service_deployment: None,
            },
            Deployment {
                id: "new".into(),
                created_at: Some(at(deployed)),
                service_deployment: None,
            },
        ];
        let decision = decide(&pushed, &svc, &td, &NOT_RECORDED, None, &[], MATCHING).unwrap();
        assert_eq!(decision.reason.code(), expected, "deployed at {deployed}");
    }
    let mut timeless = pushed.clone();
    timeless.time = None;
    let mut svc = service(&[]);
    svc.deployments = vec![Deployment {
        id: "x".into(),
        created_at: Some(at("2030-01-01T00:00:00Z")),
        service_deployment: None,
    }];
    assert_eq!(
        decide(&timeless, &svc, &td, &NOT_RECORDED, None, &[], MATCHING)
            .unwrap()
            .reason,
        Reason::ImageMatch,
        "no push time: no check"
    );
}

/// `NEW_REVISIONS=disabled`: whatever asks for a new revision (the `pin` tag, a tag policy, `DEFAULT_ACTION=pin`)
/// is a skip naming the stack parameter; a force redeploy and the other skips are as with revisions enabled.
#[test]
fn without_new_revisions_what_needs_one_is_skipped() {
    // (case, the container's tag, the service's tag value, DEFAULT_ACTION, the pushed tag, expected reason)
    let cases = [
        (
            "pin tag",
            "latest",
            Some("pin"),
            Method::Force,
            "latest",
            "revisions-disabled",
        ),
        (
            "pin default",
            "latest",
            None,
            Method::Pin,
            "latest",
            "revisions-disabled",
        ),
        (
            "force tag, pin default",
            "latest",
            Some("force"),
            Method::Pin,
            "latest",
            "image-match",
        ),
        ("force", "latest", None, Method::Force, "latest", "image-match"),
        (
            "semver policy",
            "1.4.0",
            Some("semver:^1.4"),
            Method::Force,
            "1.5.0",
            "revisions-disabled",
        ),
        (
            "policy rejecting the push",
            "1.4.0",
            Some("semver:^2"),
            Method::Force,
            "1.5.0",
            "policy-rejected",
        ),
    ];
    for (case, current, tag, default_method, pushed, expected) in cases {
        let td = task_definition(vec![container("web", &format!("{REGISTRY}/app:{current}"))]);
        let tags: Vec<(&str, &str)> = tag.map(|v| ("ecs-redeploy", v)).into_iter().collect();
        let selection = Selection {
            default_method,
            new_revisions: NewRevisions::Disabled,
            ..MATCHING
        };
        let decision = decide_unrecorded(&push("app", pushed), &service(&tags), &td, selection).expect("related");
        assert_eq!(decision.reason.code(), expected, "{case}: {}", decision.detail);
        if expected == "revisions-disabled" {
            assert_eq!(decision.action, Action::Skip, "{case}");
            assert!(
                decision.detail.contains("NewRevisions parameter"),
                "{case}: {}",
                decision.detail
            );
            assert!(decision.images.is_empty() && decision.to.is_empty(), "{case}");
        }
    }
}
