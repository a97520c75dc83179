//! The function decision, table by table: matching, selection, the image index, digest truth and the alias.

use std::collections::BTreeMap;

use super::*;
use crate::ecr::Platform;

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn pushed(tag: &str) -> Push {
    Push {
        digest: Some(digest('a')),
        ..Push::of("app", tag)
    }
}

fn function(image_uri: &str, tags: &[(&str, &str)]) -> Function {
    Function {
        arn: "arn:aws:lambda:us-east-1:123456789012:function:worker".into(),
        name: "worker".into(),
        image_uri: image_uri.into(),
        resolved_image_uri: Some(format!("{REGISTRY}/app@{}", digest('0'))),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        last_update_status: UpdateStatus::Successful,
        revision_id: Some("r1".into()),
    }
}

const MATCHING: FunctionSelection = FunctionSelection {
    tag_key: "ecs-redeploy",
    select: Select::Matching,
};

fn decide(push: &Push, function: &Function) -> Option<FunctionDecision> {
    decide_function(push, function, None, MATCHING)
}

/// (image URI, tags, expected reason code, expected image URI of the update)
type Row = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    Option<&'static str>,
);

#[test]
fn matching_follows_the_container_rules() {
    let rows: &[Row] = &[
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            &[],
            "image-match",
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"),
        ),
        // An implied `latest`: the update names the tag, never a digest.
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
            &[],
            "image-match",
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"),
        ),
        // Another host form of the same registry keeps its own host.
        (
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app:latest",
            &[],
            "image-match",
            Some("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app:latest"),
        ),
        (
            "123456789012.dkr-ecr.us-east-1.on.aws/app:latest",
            &[],
            "image-match",
            Some("123456789012.dkr-ecr.us-east-1.on.aws/app:latest"),
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
            &[],
            "tag-mismatch",
            None,
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            &[],
            "digest-pinned",
            None,
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            &[],
            "digest-pinned",
            None,
        ),
        (
            "999999999999.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            &[],
            "other-registry",
            None,
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest",
            &[],
            "other-registry",
            None,
        ),
        // Selection: the same tag values as services.
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            &[("ecs-redeploy", "off")],
            "opted-out",
            None,
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            &[("ecs-redeploy", "OFF ")],
            "opted-out",
            None,
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            &[("ecs-redeploy", "force")],
            "image-match",
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"),
        ),
        // Pin is already what Lambda does with a tag: the same update.
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            &[("ecs-redeploy", "pin")],
            "image-match",
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"),
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            &[("ecs-redeploy", "sometimes")],
            "invalid-policy",
            None,
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            &[("ecs-redeploy-alias", "123")],
            "invalid-policy",
            None,
        ),
    ];
    for (image, tags, reason, update) in rows {
        let decision = decide(&pushed("latest"), &function(image, tags)).expect("related");
        assert_eq!(decision.reason.code(), *reason, "{image} {tags:?}: {}", decision.detail);
        match (update, &decision.action) {
            (Some(uri), FunctionAction::Update { image_uri, .. }) => {
                assert_eq!(image_uri, uri, "{image}");
                assert!(!image_uri.contains("@sha256:"), "never a digest in ImageUri");
                assert_eq!(decision.to, Some(digest('a')));
            }
            (None, FunctionAction::Skip) => assert_eq!(decision.to, None),
            (expected, action) => panic!("{image} {tags:?}: expected {expected:?}, got {action:?}"),
        }
    }
}

#[test]
fn nested_repositories_match_whole_paths_only() {
    let push = Push {
        digest: Some(digest('a')),
        ..Push::of("team/app", "latest")
    };
    let nested = function(&format!("{REGISTRY}/team/app:latest"), &[]);
    let decision = decide(&push, &nested).expect("related");
    assert_eq!(
        decision.action,
        FunctionAction::Update {
            image_uri: format!("{REGISTRY}/team/app:latest"),
            alias: None
        }
    );
    assert!(decide(&push, &function(&format!("{REGISTRY}/app:latest"), &[])).is_none());
    assert!(decide(&push, &function(&format!("{REGISTRY}/team/app-worker:latest"), &[])).is_none());
    assert!(decide(&push, &function(&format!("{REGISTRY}/other/team/app:latest"), &[])).is_none());
}

#[test]
fn unrelated_or_unparsable_images_are_not_reported() {
    assert!(decide(&pushed("latest"), &function(&format!("{REGISTRY}/other:latest"), &[])).is_none());
    assert!(decide(&pushed("latest"), &function("not a reference", &[])).is_none());
}

#[test]
fn opted_in_selection_needs_the_tag() {
    let opted_in = FunctionSelection {
        select: Select::OptedIn,
        ..MATCHING
    };
    let image = format!("{REGISTRY}/app:latest");
    let untagged = decide_function(&pushed("latest"), &function(&image, &[]), None, opted_in).expect("related");
    assert_eq!(untagged.reason, Reason::NotOptedIn);
    let tagged = decide_function(
        &pushed("latest"),
        &function(&image, &[("ecs-redeploy", "on")]),
        None,
        opted_in,
    )
    .expect("related");
    assert_eq!(tagged.reason, Reason::ImageMatch);
}

#[test]
fn a_tag_policy_moves_the_function_to_the_pushed_tag() {
    let image = format!("{REGISTRY}/app:v1.2.0");
    let tracking = function(&image, &[("ecs-redeploy", "semver:^1")]);
    let newer = decide(&pushed("v1.3.0"), &tracking).expect("related");
    assert_eq!(newer.reason, Reason::PolicyMatch);
    assert_eq!(
        newer.action,
        FunctionAction::Update {
            image_uri: format!("{REGISTRY}/app:v1.3.0"),
            alias: None
        }
    );
    let major = decide(&pushed("v2.0.0"), &tracking).expect("related");
    assert_eq!(major.reason, Reason::PolicyRejected);
    assert!(major.detail.contains("out-of-range"), "{}", major.detail);
    let older = decide(&pushed("v1.1.0"), &tracking).expect("related");
    assert_eq!(older.reason, Reason::PolicyRejected);
}

#[test]
fn digest_truth_already_running_and_rolling_out() {
    let image = format!("{REGISTRY}/app:latest");
    let running_pushed = Function {
        resolved_image_uri: Some(format!("{REGISTRY}/app@{}", digest('a'))),
        ..function(&image, &[])
    };
    let decision = decide(&pushed("latest"), &running_pushed).expect("related");
    assert_eq!(
        (decision.action, decision.reason),
        (FunctionAction::Skip, Reason::AlreadyRunning)
    );
    assert_eq!(decision.running, Some(digest('a')));

    let updating = Function {
        last_update_status: UpdateStatus::InProgress,
        ..function(&image, &[])
    };
    let decision = decide(&pushed("latest"), &updating).expect("related");
    assert_eq!(
        (decision.action, decision.reason),
        (FunctionAction::Wait, Reason::RollingOut)
    );

    // Without a pushed digest the running one cannot match: the update goes ahead and Lambda resolves the tag.
    let no_digest = Push::of("app", "latest");
    let decision = decide(&no_digest, &running_pushed).expect("related");
    assert!(matches!(decision.action, FunctionAction::Update { .. }));
    assert_eq!(decision.running, Some(digest('a')));
    assert_eq!(decision.to, None);
}

#[test]
fn an_image_index_is_skipped_and_a_single_manifest_goes_on() {
    let image = format!("{REGISTRY}/app:latest");
    let index = PushedManifest {
        platforms: Platforms::Listed(vec![
            Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
            },
            Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
            },
        ]),
        manifests: vec![digest('b'), digest('c')],
    };
    let decision = decide_function(&pushed("latest"), &function(&image, &[]), Some(&index), MATCHING).expect("related");
    assert_eq!(
        (decision.action.clone(), decision.reason),
        (FunctionAction::Skip, Reason::ImageIndex)
    );
    assert!(
        decision.detail.contains("linux/amd64, linux/arm64"),
        "{}",
        decision.detail
    );
    assert!(decision.detail.contains("--provenance=false"), "{}", decision.detail);
    let single = PushedManifest {
        platforms: Platforms::Unknown,
        manifests: Vec::new(),
    };
    let decision =
        decide_function(&pushed("latest"), &function(&image, &[]), Some(&single), MATCHING).expect("related");
    assert_eq!(decision.reason, Reason::ImageMatch);
    // An index that does not concern the function (another tag) says why it does not match first.
    let decision = decide_function(&pushed("v9"), &function(&image, &[]), Some(&index), MATCHING).expect("related");
    assert_eq!(decision.reason, Reason::TagMismatch);
}

#[test]
fn the_alias_tag_names_the_alias_to_move() {
    let image = format!("{REGISTRY}/app:latest");
    let aliased = function(&image, &[("ecs-redeploy-alias", "live")]);
    let decision = decide(&pushed("latest"), &aliased).expect("related");
    assert_eq!(
        decision.action,
        FunctionAction::Update {
            image_uri: image.clone(),
            alias: Some("live".into())
        }
    );
    for bad in ["123", "a b", &"x".repeat(129)] {
        let decision = decide(&pushed("latest"), &function(&image, &[("ecs-redeploy-alias", bad)])).expect("related");
        assert_eq!(decision.reason, Reason::InvalidPolicy, "{bad}");
    }
}

#[test]
fn a_sweep_ignores_other_registries() {
    let sweep = Push {
        trigger: Trigger::Sweep,
        ..pushed("latest")
    };
    assert!(
        decide(
            &sweep,
            &function("999999999999.dkr.ecr.us-east-1.amazonaws.com/app:latest", &[])
        )
        .is_none()
    );
    assert_eq!(
        decide(&sweep, &function(&format!("{REGISTRY}/app:latest"), &[])).map(|d| d.reason),
        Some(Reason::ImageMatch)
    );
}

#[test]
fn a_function_running_the_pushed_digest_checks_its_alias() {
    let image = format!("{REGISTRY}/app:latest");
    let running_pushed = Function {
        resolved_image_uri: Some(format!("{REGISTRY}/app@{}", digest('a'))),
        ..function(&image, &[("ecs-redeploy-alias", "live")])
    };
    let decision = decide(&pushed("latest"), &running_pushed).expect("related");
    assert_eq!(
        (decision.action, decision.reason),
        (FunctionAction::CheckAlias { alias: "live".into() }, Reason::ImageMatch)
    );
    assert_eq!(decision.to, Some(digest('a')));
}

#[test]
fn the_alias_moves_only_when_it_runs_another_digest() {
    let pushed = digest('a');
    let at = |d: Option<String>| AliasTarget {
        version: "3".into(),
        digest: d,
    };
    // (what the alias runs, expected step's reason code; None = move)
    let rows: [(Option<AliasTarget>, Option<&str>); 4] = [
        (Some(at(Some(digest('a')))), Some("already-running")),
        (Some(at(Some(digest('0')))), None),
        (Some(at(None)), None),
        (None, Some("alias-not-found")),
    ];
    for (target, expected) in rows {
        let step = decide_alias("live", &pushed, target.as_ref());
        match (&step, expected) {
            (AliasStep::Move, None) => {}
            (AliasStep::Skip(reason, detail), Some(code)) => {
                assert_eq!(reason.code(), code, "{target:?}");
                assert!(detail.contains("`live`"), "{detail}");
            }
            _ => panic!("{target:?}: {step:?}, expected {expected:?}"),
        }
    }
}
