use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::config::{NewRevisions, Select};
use crate::domain::image::Registry;
use crate::domain::policy::Method;
use crate::domain::push::Trigger;
use crate::ecs::{Container, DeploymentController, VersionConsistency};

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const ARN: &str = "arn:aws:ecs:us-east-1:123456789012";

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn push(repository: &str, tag: &str, digest_no: u8, time: &str) -> Push {
    Push {
        registry: Registry::ecr("123456789012", "us-east-1").unwrap(),
        repository: repository.into(),
        tag: tag.into(),
        digest: Some(digest(digest_no)),
        event_id: Some(format!("e-{digest_no}")),
        time: Some(time.parse::<DateTime<Utc>>().unwrap()),
        replicated_from: None,
        trigger: Trigger::Push,
        retry_rolled_back: false,
    }
}

/// A service whose containers run `images`, with the redeploy tag `policy` when given.
fn service(name: &str, images: &[&str], policy: Option<&str>) -> (Service, Arc<TaskDefinition>) {
    let td = format!("{ARN}:task-definition/{name}:1");
    let service = Service {
        arn: format!("{ARN}:service/prod/{name}"),
        name: name.into(),
        cluster_arn: format!("{ARN}:cluster/prod"),
        status: "ACTIVE".into(),
        task_definition: td.clone(),
        tags: policy
            .map(|p| ("ecs-redeploy".to_owned(), p.to_owned()))
            .into_iter()
            .collect(),
        deployments: Vec::new(),
        deployment_controller: DeploymentController::Ecs,
        current_deployment: None,
        current_revisions: Vec::new(),
    };
    let containers = images
        .iter()
        .enumerate()
        .map(|(i, image)| Container {
            name: ["app", "sidecar", "third"][i].into(),
            image: format!("{REGISTRY}/{image}"),
            version_consistency: VersionConsistency::Enabled,
        })
        .collect();
    (
        service,
        Arc::new(TaskDefinition {
            arn: td,
            containers,
            pinned: Default::default(),
            runtime_platform: None,
        }),
    )
}

const SELECTION: Selection = Selection {
    tag_key: "ecs-redeploy",
    select: Select::Matching,
    default_method: Method::Force,
    new_revisions: NewRevisions::Enabled,
};

fn planned_for<'p>(planned: &'p [Planned], name: &str) -> &'p Planned {
    planned
        .iter()
        .find(|p| p.service.name == name)
        .unwrap_or_else(|| panic!("{name} not planned"))
}

#[test]
fn a_service_matched_by_several_pushes_gets_one_action() {
    let fleet = vec![
        service("both-force", &["app:latest", "envoy:latest"], None),
        service("both-pin", &["app:latest", "envoy:latest"], Some("pin")),
        service("app-only", &["app:latest"], None),
        service("unrelated", &["db:latest"], None),
    ];
    let pushes = [
        push("app", "latest", 1, "2026-12-01T10:00:00Z"),
        push("envoy", "latest", 2, "2026-12-01T10:00:01Z"),
    ];
    let planned = plan(&pushes, &[], &fleet, &HashMap::new(), &HashMap::new(), SELECTION);
    assert_eq!(planned.len(), 3, "the unrelated service is left out");

    let force = planned_for(&planned, "both-force");
    assert_eq!(force.decision.action, Action::Redeploy(Method::Force));
    assert_eq!(force.pushes, vec![0, 1]);
    assert_eq!(force.decision.containers, ["app", "sidecar"]);

    let pin = planned_for(&planned, "both-pin");
    assert_eq!(pin.decision.action, Action::Redeploy(Method::Pin));
    assert_eq!(
        pin.decision.images,
        BTreeMap::from([
            ("app".to_owned(), format!("{REGISTRY}/app:latest@{}", digest(1))),
            ("sidecar".to_owned(), format!("{REGISTRY}/envoy:latest@{}", digest(2))),
        ]),
        "one revision carries every new digest"
    );
    let key = pin.lock_key.as_ref().expect("digests give a lock key");
    assert_eq!(key.digest, format!("{}+{}", digest(1), digest(2)));

    let app_only = planned_for(&planned, "app-only");
    assert_eq!(app_only.pushes, vec![0]);
    assert_eq!(app_only.lock_key.as_ref().map(|k| k.digest.clone()), Some(digest(1)));
}

#[test]
fn the_newest_push_of_a_tag_wins_and_repeats_count_once() {
    let fleet = vec![service("web", &["app:latest"], Some("pin"))];
    let cases: Vec<(&str, Vec<Push>, u8)> = vec![
        (
            "later event time wins",
            vec![
                push("app", "latest", 2, "2026-12-01T10:00:05Z"),
                push("app", "latest", 1, "2026-12-01T10:00:00Z"),
            ],
            2,
        ),
        (
            "same time: the later position wins",
            vec![
                push("app", "latest", 1, "2026-12-01T10:00:00Z"),
                push("app", "latest", 3, "2026-12-01T10:00:00Z"),
            ],
            3,
        ),
        (
            "a duplicate delivery counts once",
            vec![
                push("app", "latest", 4, "2026-12-01T10:00:00Z"),
                push("app", "latest", 4, "2026-12-01T10:00:00Z"),
            ],
            4,
        ),
    ];
    for (case, pushes, winner) in cases {
        let planned = plan(&pushes, &[], &fleet, &HashMap::new(), &HashMap::new(), SELECTION);
        assert_eq!(planned.len(), 1, "{case}");
        let web = &planned[0];
        assert_eq!(web.pushes.len(), 1, "{case}");
        assert_eq!(pushes[web.pushes[0]].digest, Some(digest(winner)), "{case}");
        assert_eq!(
            web.decision.images["app"],
            format!("{REGISTRY}/app:latest@{}", digest(winner)),
            "{case}"
        );
    }
}

#[test]
fn without_a_redeploy_the_closest_miss_is_reported() {
    let fleet = vec![service("web", &["app:v1"], None)];
    let pushes = [
        push("app", "v2", 1, "2026-12-01T10:00:00Z"),
        push("app", "latest", 2, "2026-12-01T10:00:00Z"),
    ];
    let planned = plan(&pushes, &[], &fleet, &HashMap::new(), &HashMap::new(), SELECTION);
    assert_eq!(planned[0].decision.reason, Reason::TagMismatch);
    assert_eq!(planned[0].decision.action, Action::Skip);
    assert_eq!(planned[0].lock_key, None, "a skip claims nothing");

    let pinned = format!("app:v1@{}", digest(2));
    let fleet = vec![service("web", &[pinned.as_str()], None)];
    let pushes = [
        push("app", "v2", 1, "2026-12-01T10:00:00Z"),
        push("app", "v1", 2, "2026-12-01T10:00:00Z"),
    ];
    let planned = plan(&pushes, &[], &fleet, &HashMap::new(), &HashMap::new(), SELECTION);
    assert_eq!(
        planned[0].decision.reason,
        Reason::AlreadyDeployed,
        "already running one push is closer than another tag"
    );
    assert_eq!(planned[0].pushes, vec![1]);
}

#[test]
fn a_push_without_digest_gives_no_lock_key() {
    let fleet = vec![service("web", &["app:latest"], None)];
    let mut undigested = push("app", "latest", 1, "2026-12-01T10:00:00Z");
    undigested.digest = None;
    let planned = plan(&[undigested], &[], &fleet, &HashMap::new(), &HashMap::new(), SELECTION);
    assert_eq!(planned[0].decision.action, Action::Redeploy(Method::Force));
    assert_eq!(planned[0].lock_key, None);
}

#[test]
fn a_held_claim_folds_into_a_skip() {
    let fleet = vec![service("web", &["app:latest"], None)];
    let planned = plan(
        &[push("app", "latest", 1, "2026-12-01T10:00:00Z")],
        &[],
        &fleet,
        &HashMap::new(),
        &HashMap::new(),
        SELECTION,
    );
    let decision = planned[0].decision.clone();
    for (held, reason) in [
        (ClaimState::Done, Reason::AlreadyDeployed),
        (ClaimState::InProgress, Reason::InProgress),
    ] {
        let folded = fold_claim(decision.clone(), held);
        assert_eq!((folded.action, folded.reason), (Action::Skip, reason));
        assert_eq!(folded.containers, ["app"], "the containers it was for stay named");
    }
}
