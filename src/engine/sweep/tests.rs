use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::*;
use crate::config::{NewRevisions, Select};
use crate::domain::policy::Method;
use crate::ecr::fake::FakeEcr;
use crate::ecs::fake::FakeEcs;

const OWN: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
const SELECTION: Selection = Selection {
    tag_key: "ecs-redeploy",
    select: Select::Matching,
    default_method: Method::Force,
    new_revisions: NewRevisions::Enabled,
};

fn fleet(services: &[(&str, &[&str], &[&str])]) -> Vec<(Service, Arc<TaskDefinition>)> {
    let mut ecs = FakeEcs::default();
    for (name, images, _) in services {
        ecs.add_service("prod", name, images, &[]);
    }
    let mut fleet = Vec::new();
    for ((name, _, pinned), service) in services.iter().zip(ecs.clusters["prod"].clone()) {
        let mut td = ecs.task_definitions[&service.task_definition].clone();
        td.pinned = pinned.iter().map(|c| (*c).to_owned()).collect();
        assert_eq!(&service.name, name);
        fleet.push((service, Arc::new(td)));
    }
    fleet
}

#[test]
fn the_tags_services_follow_in_their_own_registry() {
    let own = |image: &str| format!("{OWN}/{image}");
    let (latest, implied, ours, by_hand, bare) = (
        own("app:latest"),
        own("api"),
        own(&format!("web:v2@{DIGEST}")),
        own(&format!("app:v1@{DIGEST}")),
        own(&format!("app@{DIGEST}")),
    );
    let other_account = "210987654321.dkr.ecr.us-east-1.amazonaws.com/app:latest";
    let other_region = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest";
    let fleet = fleet(&[
        ("plain", &[&latest, &implied], &[]),
        ("pinned-by-us", &[&ours], &["c0"]),
        ("pinned-by-hand", &[&by_hand, &bare], &[]),
        ("elsewhere", &[other_account, other_region, "postgres:16"], &[]),
        ("mixed", &[&latest, "envoyproxy/envoy:v1.31"], &[]),
    ]);
    let found = in_use(&fleet, SELECTION);
    let registry = Registry::ecr("123456789012", "us-east-1").unwrap();
    let tags = |tags: &[&str]| tags.iter().map(|t| (*t).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(
        found.tags,
        BTreeMap::from([
            ((registry.clone(), "api".to_owned()), tags(&["latest"])),
            ((registry.clone(), "app".to_owned()), tags(&["latest"])),
            ((registry, "web".to_owned()), tags(&["v2"])),
        ])
    );
    assert_eq!(
        found.not_checkable,
        [(
            3,
            vec![
                other_account.to_owned(),
                other_region.to_owned(),
                "postgres:16".to_owned()
            ]
        )],
        "only a service with nothing checkable is reported; a hand pin follows nothing and is not reported"
    );
}

#[tokio::test]
async fn one_call_per_repository_for_up_to_a_hundred_tags() {
    let registry = Registry::ecr("123456789012", "us-east-1").unwrap();
    let tags: BTreeSet<String> = (0..150).map(|n| format!("v{n:03}")).collect();
    let ecr = FakeEcr {
        tags: tags.iter().map(|t| (format!("app:{t}"), DIGEST.to_owned())).collect(),
        ..FakeEcr::default()
    };
    let in_use = BTreeMap::from([((registry, "app".to_owned()), tags)]);
    let (pushes, failures) = current(&ecr, &in_use, &ManifestCache::default(), 4).await;
    assert!(failures.is_empty());
    assert_eq!(pushes.len(), 150);
    assert!(
        pushes
            .iter()
            .all(|p| p.trigger == Trigger::Sweep && p.digest.as_deref() == Some(DIGEST))
    );
    assert_eq!(ecr.calls.lock().unwrap().len(), 2, "100 + 50 tags");
}

#[tokio::test]
async fn a_repository_the_function_may_not_read_is_skipped_and_one_that_failed_is_retried() {
    let registry = Registry::ecr("123456789012", "us-east-1").unwrap();
    let ecr = FakeEcr {
        tags: BTreeMap::from([("app:latest".to_owned(), DIGEST.to_owned())]),
        denied: vec!["outside-the-filter".into()],
        unavailable: vec!["flaky".into()],
        ..FakeEcr::default()
    };
    let latest = BTreeSet::from(["latest".to_owned()]);
    let in_use = BTreeMap::from([
        ((registry.clone(), "app".to_owned()), latest.clone()),
        ((registry.clone(), "flaky".to_owned()), latest.clone()),
        ((registry, "outside-the-filter".to_owned()), latest),
    ]);
    let (pushes, failures) = current(&ecr, &in_use, &ManifestCache::default(), 4).await;
    assert_eq!(pushes.len(), 1, "app's tag is read");
    assert_eq!(
        failures.len(),
        1,
        "only the retryable failure fails the sweep: {failures:?}"
    );
    assert!(failures[0].error.to_string().contains("flaky"));
}
