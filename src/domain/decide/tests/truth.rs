//! Digest truth: the decision from what the converging revision runs, with the deployment-time rule only as the
//! fallback when ECS did not say.

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::running::{HoldSource, RolledBack, RunningRevision};
use crate::ecs::Deployment;

const PUSHED_AT: &str = "2026-12-02T10:00:00Z";
/// A platform manifest of the pushed image index.
const CHILD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn at(time: &str) -> DateTime<Utc> {
    time.parse().unwrap()
}

fn pushed(trigger: Trigger) -> Push {
    Push {
        time: (trigger == Trigger::Push).then(|| at(PUSHED_AT)),
        trigger,
        ..push("app", "latest")
    }
}

fn revision(digests: &[(&str, Option<&str>)], created: &str, rolled_back_to: bool) -> Running {
    Running::Known(RunningRevision {
        arn: "arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/42".into(),
        created_at: Some(at(created)),
        digests: digests
            .iter()
            .map(|(c, d)| ((*c).to_owned(), d.map(str::to_owned)))
            .collect(),
        rolled_back_to,
    })
}

/// A service with a deployment after the push: what fooled the time rule.
fn deployed_after_push() -> Service {
    let mut svc = service(&[]);
    svc.deployments = vec![Deployment {
        id: "ecs-svc/2".into(),
        created_at: Some(at("2026-12-02T10:00:30Z")),
        service_deployment: None,
    }];
    svc
}

#[test]
fn force_and_pin_decide_from_the_running_digest() {
    let image = format!("{REGISTRY}/app:latest");
    let unknown = Running::Unknown(Unknown::NotRecorded);
    let denied = Running::Unknown(Unknown::Unavailable(std::sync::Arc::new(crate::ecs::EcsError::new(
        "DescribeServiceRevisions",
        crate::ecs::EcsErrorKind::AccessDenied,
        "AccessDeniedException: no",
    ))));
    #[rustfmt::skip]
    let cases: Vec<(&str, Trigger, Running, &str)> = vec![
        ("runs the pushed digest", Trigger::Push, revision(&[("web", Some(DIGEST))], "2026-12-02T09:00:00Z", false), "already-running"),
        ("runs a platform manifest of the pushed index", Trigger::Push, revision(&[("web", Some(CHILD))], "2026-12-02T09:00:00Z", false), "already-running"),
        ("another digest, though deployed after the push", Trigger::Push, revision(&[("web", Some(OTHER_DIGEST))], "2026-12-02T10:00:30Z", false), "image-match"),
        ("rolled back to the old digest after the push", Trigger::Push, revision(&[("web", Some(OTHER_DIGEST))], "2026-12-02T08:00:00Z", true), "image-match"),
        ("resolving, made after the push", Trigger::Push, revision(&[("web", None)], "2026-12-02T10:00:01Z", false), "rolling-out"),
        ("resolving, made within the push's second", Trigger::Push, revision(&[("web", None)], "2026-12-02T10:00:00.900Z", false), "image-match"),
        ("resolving, made before the push", Trigger::Push, revision(&[("web", None)], "2026-12-02T09:59:00Z", false), "image-match"),
        ("a sweep: resolving at any time", Trigger::Sweep, revision(&[("web", None)], "2026-12-02T09:59:00Z", false), "rolling-out"),
        ("a sweep: another digest", Trigger::Sweep, revision(&[("web", Some(OTHER_DIGEST))], "2026-12-02T09:59:00Z", false), "image-match"),
        ("a sweep: the current digest", Trigger::Sweep, revision(&[("web", Some(DIGEST))], "2026-12-02T09:59:00Z", false), "already-running"),
        ("unknown: the time rule", Trigger::Push, unknown.clone(), "already-deployed"),
        ("denied: the time rule", Trigger::Push, denied.clone(), "already-deployed"),
        ("a sweep cannot tell without digests", Trigger::Sweep, unknown, "running-unknown"),
        ("a sweep, denied", Trigger::Sweep, denied, "running-unknown"),
    ];
    for (case, trigger, running, expected) in cases {
        let push = pushed(trigger);
        let td = task_definition(vec![container("web", &image)]);
        let children = [CHILD.to_owned()];
        let decision = decide(&push, &deployed_after_push(), &td, &running, None, &children, MATCHING).unwrap();
        assert_eq!(decision.reason.code(), expected, "{case}: {}", decision.detail);
        assert_eq!(decision.action == Action::Skip, expected != "image-match", "{case}");
        if let Some(digests) = running.digests() {
            assert_eq!(&decision.running, digests, "{case}: the running digests are reported");
        }
        if expected == "image-match" {
            assert_eq!(
                decision.to,
                BTreeMap::from([("web".to_owned(), DIGEST.to_owned())]),
                "{case}"
            );
        } else {
            assert!(decision.to.is_empty(), "{case}");
        }
        let warned = decision
            .warnings
            .iter()
            .any(|w| w.contains("without the running digests"));
        assert_eq!(
            warned,
            running.digests().is_none() && trigger == Trigger::Push,
            "{case}"
        );
    }

    let pin = Selection {
        default_method: Method::Pin,
        ..MATCHING
    };
    let td = task_definition(vec![container("web", &image)]);
    let push = pushed(Trigger::Push);
    let old = revision(&[("web", Some(OTHER_DIGEST))], "2026-12-02T10:00:30Z", false);
    let decision = decide(&push, &deployed_after_push(), &td, &old, None, &[], pin).unwrap();
    assert_eq!(decision.action, Action::Redeploy(Method::Pin));
    let current = revision(&[("web", Some(DIGEST))], "2026-12-02T10:00:30Z", false);
    let decision = decide(&push, &deployed_after_push(), &td, &current, None, &[], pin).unwrap();
    assert_eq!(decision.reason, Reason::AlreadyRunning);
}

#[test]
fn every_matching_container_must_run_the_push() {
    let app = format!("{REGISTRY}/app:latest");
    let td = task_definition(vec![container("web", &app), container("worker", &app)]);
    let half = revision(
        &[("web", Some(DIGEST)), ("worker", Some(OTHER_DIGEST))],
        "2026-12-02T09:00:00Z",
        false,
    );
    let decision = decide(&pushed(Trigger::Push), &service(&[]), &td, &half, None, &[], MATCHING).unwrap();
    assert_eq!(decision.reason, Reason::ImageMatch);
    assert_eq!(decision.running.get("worker"), Some(&Some(OTHER_DIGEST.to_owned())));
}

#[test]
fn no_digest_is_recorded_without_version_consistency() {
    let mut web = container("web", &format!("{REGISTRY}/app:latest"));
    web.version_consistency = VersionConsistency::Disabled;
    let td = task_definition(vec![web]);
    let resolving = revision(&[("web", None)], "2026-12-02T10:00:05Z", false);
    let decide_as = |trigger| decide(&pushed(trigger), &service(&[]), &td, &resolving, None, &[], MATCHING).unwrap();
    let swept = decide_as(Trigger::Sweep);
    assert_eq!(swept.reason, Reason::RunningUnknown, "{}", swept.detail);
    assert!(swept.detail.contains("versionConsistency disabled"), "{}", swept.detail);
    let event = decide_as(Trigger::Push);
    assert_eq!(
        event.action,
        Action::Redeploy(Method::Force),
        "the time rule, which has no later deployment"
    );
}

/// The decision for a service whose deployment `held` ECS (or the function's record) rolled back.
fn decide_held(push: &Push, service: &Service, td: &TaskDefinition, running: &Running, held: &RolledBack) -> Decision {
    decide(push, service, td, running, Some(held), &[], MATCHING).unwrap()
}

const ROLLED_BACK_AT: &str = "2026-12-02T10:05:00Z";

/// Deployment `ecs-svc-9` of prod/web, rolled back by its circuit breaker: its target ran `web` on `digest`
/// (`None`: never resolved), and was made at `target_made`.
fn rolled_back(digest: Option<&str>, target_made: &str) -> RolledBack {
    RolledBack {
        deployment: "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/ecs-svc-9".into(),
        status: Some(crate::ecs::DeploymentStatus::RollbackSuccessful),
        status_reason: Some("circuit breaker: 3 tasks failed to start".into()),
        at: Some(at(ROLLED_BACK_AT)),
        target_revision: "arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/43".into(),
        target_created_at: Some(at(target_made)),
        digests: BTreeMap::from([("web".to_owned(), digest.map(str::to_owned))]),
        source: HoldSource::CurrentDeployment,
    }
}

#[test]
fn a_digest_ecs_rolled_back_is_held_and_another_redeploys() {
    let image = format!("{REGISTRY}/app:latest");
    let td = task_definition(vec![container("web", &image)]);
    // What the rollback returned to: the old digest.
    let old = revision(&[("web", Some(OTHER_DIGEST))], "2026-12-02T08:00:00Z", true);
    let after_push = "2026-12-02T10:00:30Z";
    #[rustfmt::skip]
    let cases: Vec<(&str, Trigger, Option<RolledBack>, &str)> = vec![
        ("its target ran the pushed digest", Trigger::Push, Some(rolled_back(Some(DIGEST), after_push)), "rolled-back"),
        ("a sweep: its target ran the tag's current digest", Trigger::Sweep, Some(rolled_back(Some(DIGEST), after_push)), "rolled-back"),
        ("its target ran a platform manifest of the pushed index", Trigger::Push, Some(rolled_back(Some(CHILD), after_push)), "rolled-back"),
        ("its target ran another digest: a fixed image", Trigger::Push, Some(rolled_back(Some(OTHER_DIGEST), after_push)), "image-match"),
        ("a sweep: its target ran another digest", Trigger::Sweep, Some(rolled_back(Some(OTHER_DIGEST), after_push)), "image-match"),
        ("never resolved, made after the push: it was to run the push", Trigger::Push, Some(rolled_back(None, after_push)), "rolled-back"),
        ("never resolved, made before the push", Trigger::Push, Some(rolled_back(None, "2026-12-02T09:00:00Z")), "image-match"),
        ("never resolved, made within the push's second", Trigger::Push, Some(rolled_back(None, "2026-12-02T10:00:00.500Z")), "image-match"),
        ("a sweep cannot tell what a never-resolved target was to run", Trigger::Sweep, Some(rolled_back(None, after_push)), "image-match"),
        ("no rollback", Trigger::Push, None, "image-match"),
    ];
    for (case, trigger, held, expected) in cases {
        let decision = decide(
            &pushed(trigger),
            &service(&[]),
            &td,
            &old,
            held.as_ref(),
            &[CHILD.to_owned()],
            MATCHING,
        )
        .unwrap();
        assert_eq!(decision.reason.code(), expected, "{case}: {}", decision.detail);
        assert_eq!(decision.action == Action::Skip, expected == "rolled-back", "{case}");
        assert_eq!(decision.containers, ["web"], "{case}");
        assert_eq!(
            decision.running.get("web"),
            Some(&Some(OTHER_DIGEST.to_owned())),
            "{case}: what it runs is reported"
        );
        if expected == "rolled-back" {
            assert!(decision.to.is_empty(), "{case}");
            let parts = [
                "ecs-svc-9",
                "ROLLBACK_SUCCESSFUL",
                "circuit breaker: 3 tasks failed to start",
                "2026-12-02 10:05:00 UTC",
                "--retry-rolled-back",
            ];
            for part in parts {
                assert!(
                    decision.detail.contains(part),
                    "{case}: `{part}` in {}",
                    decision.detail
                );
            }
        }
    }
}

#[test]
fn a_person_may_deploy_a_held_digest_and_is_told_it_was_rolled_back() {
    let td = task_definition(vec![container("web", &format!("{REGISTRY}/app:latest"))]);
    let old = revision(&[("web", Some(OTHER_DIGEST))], "2026-12-02T08:00:00Z", true);
    let held = rolled_back(Some(DIGEST), "2026-12-02T10:00:30Z");
    let retry = Push {
        retry_rolled_back: true,
        ..pushed(Trigger::Push)
    };
    let decision = decide(&retry, &service(&[]), &td, &old, Some(&held), &[], MATCHING).unwrap();
    assert_eq!(decision.action, Action::Redeploy(Method::Force), "{}", decision.detail);
    assert_eq!(decision.to.get("web").map(String::as_str), Some(DIGEST));
    assert!(
        decision
            .warnings
            .iter()
            .any(|w| w.contains("ecs-svc-9") && w.contains("--retry-rolled-back")),
        "{:?}",
        decision.warnings
    );
    // Without the flag the same push is held; a retry of a digest that was not rolled back warns of nothing.
    let automatic = decide_held(&pushed(Trigger::Push), &service(&[]), &td, &old, &held);
    assert_eq!(automatic.reason, Reason::RolledBack);
    let unrelated = decide(&retry, &service(&[]), &td, &old, None, &[], MATCHING).unwrap();
    assert!(unrelated.warnings.is_empty(), "{:?}", unrelated.warnings);
    // A gate still wins: an opted-out service is not deployed, even deliberately.
    let opted_out = decide_held(&retry, &service(&[("ecs-redeploy", "off")]), &td, &old, &held);
    assert_eq!(opted_out.reason, Reason::OptedOut);
}

#[test]
fn the_functions_own_record_holds_like_ecs_and_says_whose_record_it_is() {
    let td = task_definition(vec![container("web", &format!("{REGISTRY}/app:latest"))]);
    // A later unrelated deployment is current and runs the old digest; only the record remembers the rollback.
    let current = revision(&[("web", Some(OTHER_DIGEST))], "2026-12-02T11:00:00Z", false);
    let recorded = RolledBack {
        source: HoldSource::OwnRecord,
        ..rolled_back(Some(DIGEST), "2026-12-02T10:00:30Z")
    };
    let decision = decide_held(&pushed(Trigger::Sweep), &service(&[]), &td, &current, &recorded);
    assert_eq!(decision.reason, Reason::RolledBack);
    assert!(decision.detail.contains("ecs-redeploy's record"), "{}", decision.detail);
}
