use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::domain::running::Unknown;
use crate::ecs::{Container, Deployment, DeploymentController, VersionConsistency};

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const DIGEST: &str = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
const OTHER_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000abc";

/// Digest truth is not known: the rules from before service revisions apply.
const NOT_RECORDED: Running = Running::Unknown(Unknown::NotRecorded);

/// `decide` with nothing recorded: no running digests, no rollback, no platform manifests.
fn decide_unrecorded(push: &Push, service: &Service, td: &TaskDefinition, selection: Selection) -> Option<Decision> {
    decide(push, service, td, &NOT_RECORDED, None, &[], selection)
}

fn push(repository: &str, tag: &str) -> Push {
    Push {
        digest: Some(DIGEST.into()),
        ..Push::of(repository, tag)
    }
}

fn container(name: &str, image: &str) -> Container {
    Container {
        name: name.into(),
        image: image.into(),
        version_consistency: VersionConsistency::Enabled,
    }
}

fn service(tags: &[(&str, &str)]) -> Service {
    Service {
        arn: "arn:aws:ecs:us-east-1:123456789012:service/prod/web".into(),
        name: "web".into(),
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
        status: "ACTIVE".into(),
        task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1".into(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect::<BTreeMap<_, _>>(),
        deployments: Vec::new(),
        deployment_controller: DeploymentController::Ecs,
        current_deployment: None,
        current_revisions: Vec::new(),
    }
}

fn task_definition(containers: Vec<Container>) -> TaskDefinition {
    TaskDefinition {
        arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1".into(),
        containers,
        pinned: BTreeSet::new(),
        runtime_platform: None,
    }
}

const MATCHING: Selection = Selection {
    tag_key: "ecs-redeploy",
    select: Select::Matching,
    default_method: Method::Force,
    new_revisions: NewRevisions::Enabled,
};

/// (case, pushed repository:tag, container images, expected reason code or "unrelated")
#[test]
fn image_matching_table() {
    let pinned = format!("{REGISTRY}/app@{OTHER_DIGEST}");
    let tag_and_digest = format!("{REGISTRY}/app:latest@{OTHER_DIGEST}");
    /// (case, pushed repository and tag, container images, expected reason code or "unrelated")
    type Case = (&'static str, (&'static str, &'static str), Vec<String>, &'static str);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("exact tag", ("app", "latest"), vec![format!("{REGISTRY}/app:latest")], "image-match"),
        ("implied latest", ("app", "latest"), vec![format!("{REGISTRY}/app")], "image-match"),
        ("implied latest, other tag pushed", ("app", "v1"), vec![format!("{REGISTRY}/app")], "tag-mismatch"),
        ("digest-pinned", ("app", "latest"), vec![pinned.clone()], "digest-pinned"),
        ("tag and digest", ("app", "latest"), vec![tag_and_digest], "digest-pinned"),
        ("other account", ("app", "latest"), vec!["210987654321.dkr.ecr.us-east-1.amazonaws.com/app:latest".into()], "other-registry"),
        ("other region", ("app", "latest"), vec!["123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest".into()], "other-registry"),
        ("fips host of the same registry", ("app", "latest"), vec!["123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app:latest".into()], "image-match"),
        ("tags are case-sensitive", ("app", "latest"), vec![format!("{REGISTRY}/app:LATEST")], "tag-mismatch"),
        ("tag prefix is not the tag", ("app", "latest"), vec![format!("{REGISTRY}/app:latest-arm")], "tag-mismatch"),
        ("repository prefix is not the repository", ("app", "latest"), vec![format!("{REGISTRY}/app-worker:latest")], "unrelated"),
        ("docker hub short name", ("app", "latest"), vec!["app:latest".into()], "other-registry"),
        ("docker hub implied library", ("nginx", "latest"), vec!["nginx".into()], "other-registry"),
        ("other registry host", ("app", "latest"), vec!["ghcr.io/org/app:latest".into()], "unrelated"),
        ("nested repository", ("team/app", "v2"), vec![format!("{REGISTRY}/team/app:v2")], "image-match"),
        ("nested repository is not its last segment", ("app", "v2"), vec![format!("{REGISTRY}/team/app:v2")], "unrelated"),
        ("unparseable image is unrelated", ("app", "latest"), vec!["NOT AN IMAGE".into()], "unrelated"),
        ("match in the second container", ("app", "latest"), vec![format!("{REGISTRY}/envoy:v1"), format!("{REGISTRY}/app:latest")], "image-match"),
        ("match wins over a pinned sibling", ("app", "latest"), vec![pinned, format!("{REGISTRY}/app:latest")], "image-match"),
        ("closest miss is reported", ("app", "latest"), vec!["app:latest".into(), format!("{REGISTRY}/app:v1")], "tag-mismatch"),
    ];
    for (case, (repository, tag), images, expected) in cases {
        let containers = images
            .iter()
            .enumerate()
            .map(|(i, image)| container(&format!("c{i}"), image))
            .collect();
        let decision = decide_unrecorded(
            &push(repository, tag),
            &service(&[]),
            &task_definition(containers),
            MATCHING,
        );
        let got = decision.as_ref().map_or("unrelated", |d| d.reason.code());
        assert_eq!(got, expected, "{case}: {decision:?}");
        if let Some(decision) = decision {
            let redeploy = expected == "image-match";
            assert_eq!(decision.action == Action::Redeploy(Method::Force), redeploy, "{case}");
            assert_eq!(decision.containers.is_empty(), !redeploy, "{case}");
            assert!(!decision.detail.is_empty(), "{case}");
        }
    }
}

#[test]
fn every_matching_container_is_named() {
    let td = task_definition(vec![
        container("web", &format!("{REGISTRY}/app:latest")),
        container("sidecar", &format!("{REGISTRY}/envoy:v1")),
        container("worker", &format!("{REGISTRY}/app")),
    ]);
    let decision = decide_unrecorded(&push("app", "latest"), &service(&[]), &td, MATCHING).unwrap();
    assert_eq!(decision.containers, vec!["web", "worker"]);
    assert_eq!(decision.detail, format!("`web`, `worker` use `{REGISTRY}/app:latest`"));
}

#[test]
fn selection_by_tags() {
    let td = task_definition(vec![container("web", &format!("{REGISTRY}/app:latest"))]);
    let opted_in = Selection {
        select: Select::OptedIn,
        ..MATCHING
    };
    let custom_key = Selection {
        tag_key: "deploy",
        select: Select::OptedIn,
        ..MATCHING
    };
    /// (case, selection, service tags, expected reason code)
    type Case<'s> = (
        &'static str,
        Selection<'s>,
        Vec<(&'static str, &'static str)>,
        &'static str,
    );
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("untagged, matching", MATCHING, vec![], "image-match"),
        ("off", MATCHING, vec![("ecs-redeploy", "off")], "opted-out"),
        ("OFF with spaces", MATCHING, vec![("ecs-redeploy", " OFF ")], "opted-out"),
        ("other key off is irrelevant", MATCHING, vec![("other", "off")], "image-match"),
        ("opted-in without tag", opted_in, vec![], "not-opted-in"),
        ("opted-in with tag", opted_in, vec![("ecs-redeploy", "on")], "image-match"),
        ("opted-in but off", opted_in, vec![("ecs-redeploy", "off")], "opted-out"),
        ("custom key present", custom_key, vec![("deploy", "yes")], "image-match"),
        ("custom key absent", custom_key, vec![("ecs-redeploy", "on")], "not-opted-in"),
    ];
    for (case, selection, tags, expected) in cases {
        let decision = decide_unrecorded(&push("app", "latest"), &service(&tags), &td, selection).unwrap();
        assert_eq!(decision.reason.code(), expected, "{case}");
        assert_eq!(
            decision.action == Action::Redeploy(Method::Force),
            expected == "image-match",
            "{case}"
        );
    }
}

#[test]
fn inactive_services_are_skipped() {
    let td = task_definition(vec![container("web", &format!("{REGISTRY}/app:latest"))]);
    let mut draining = service(&[]);
    draining.status = "DRAINING".into();
    let decision = decide_unrecorded(&push("app", "latest"), &draining, &td, MATCHING).unwrap();
    assert_eq!(decision.reason, Reason::ServiceNotActive);
    assert_eq!(decision.action, Action::Skip);
    assert_eq!(decision.detail, "service is DRAINING, not ACTIVE");
}

#[test]
fn controllers_update_service_cannot_drive_are_skipped_in_every_mode() {
    let td = task_definition(vec![container("web", &format!("{REGISTRY}/app:latest"))]);
    // (controller, service tag, expected reason, a word the detail must name)
    let cases = [
        (DeploymentController::Ecs, "force", "image-match", "uses"),
        (DeploymentController::Ecs, "pin", "image-match", "pinning"),
        (
            DeploymentController::CodeDeploy,
            "force",
            "unsupported-controller",
            "CodeDeploy deployment",
        ),
        (
            DeploymentController::CodeDeploy,
            "pin",
            "unsupported-controller",
            "AppSpec",
        ),
        (
            DeploymentController::External,
            "force",
            "unsupported-controller",
            "task set",
        ),
        (
            DeploymentController::External,
            "pin",
            "unsupported-controller",
            "task set",
        ),
        (DeploymentController::CodeDeploy, "off", "opted-out", "off"),
    ];
    for (controller, tag, expected, named) in cases {
        let mut svc = service(&[("ecs-redeploy", tag)]);
        svc.deployment_controller = controller;
        let decision = decide(&push("app", "latest"), &svc, &td, &NOT_RECORDED, None, &[], MATCHING).unwrap();
        assert_eq!(decision.reason.code(), expected, "{controller:?} {tag}");
        assert!(
            decision.detail.contains(named),
            "{controller:?} {tag}: {}",
            decision.detail
        );
        assert_eq!(decision.action == Action::Skip, expected != "image-match");
    }
}

#[test]
fn disabled_version_consistency_warns() {
    let mut web = container("web", &format!("{REGISTRY}/app:latest"));
    web.version_consistency = VersionConsistency::Disabled;
    let mut sidecar = container("sidecar", &format!("{REGISTRY}/envoy:latest"));
    sidecar.version_consistency = VersionConsistency::Disabled;
    let decision = decide_unrecorded(
        &push("app", "latest"),
        &service(&[]),
        &task_definition(vec![web, sidecar]),
        MATCHING,
    )
    .unwrap();
    assert_eq!(decision.action, Action::Redeploy(Method::Force));
    let disabled: Vec<&String> = decision
        .warnings
        .iter()
        .filter(|w| w.contains("has versionConsistency disabled"))
        .collect();
    assert_eq!(disabled.len(), 1, "only the matching container warns: {disabled:?}");
    assert!(disabled[0].contains("`web` has versionConsistency disabled"));
}

/// Pin and force modes, tag policies and the already-deployed checks.
mod modes;
/// Decisions from the running digests.
mod truth;
