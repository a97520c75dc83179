//! The function step against the fake Lambda: discovery and its cache, the update, the alias after an update in
//! progress, the lock, and one function's failure beside the others' updates — the paths moto cannot show.

use std::collections::BTreeMap;

use super::*;
use crate::aws::ErrorKind;
use crate::lambda::fake::FakeLambda;
use crate::lock::fake::FakeLock;

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

fn function(name: &str, image: &str, tags: &[(&str, &str)]) -> Function {
    let (repository, _) = image.split_once(':').unwrap_or((image, ""));
    Function {
        arn: arn(name),
        name: name.into(),
        image_uri: format!("{REGISTRY}/{image}"),
        resolved_image_uri: Some(format!("{REGISTRY}/{repository}@{}", digest('0'))),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        last_update_status: UpdateStatus::Successful,
        revision_id: Some(format!("{name}-r1")),
    }
}

fn pushed(repository: &str, tag: &str, d: char) -> Push {
    Push {
        digest: Some(digest(d)),
        ..Push::of(repository, tag)
    }
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned())).expect("valid")
}

const SELECTION: FunctionSelection = FunctionSelection {
    tag_key: "ecs-redeploy",
    select: Select::Matching,
};

async fn run<L: DeployLock>(lambda: &FakeLambda, lock: &L, pushes: &[Push], mode: Mode) -> Vec<FunctionReport> {
    let scan = discover(lambda, &config(&[]), Some(pushes), 4).await.expect("listed");
    let planned = plan(&scan.functions, pushes, &vec![None; pushes.len()], SELECTION);
    let mut reports = execute(lambda, lock, planned, mode, 4).await;
    reports.extend(scan.failed);
    reports.sort_by(|a, b| a.function.cmp(&b.function));
    reports
}

fn entry<'r>(reports: &'r [FunctionReport], name: &str) -> &'r FunctionReport {
    reports
        .iter()
        .find(|r| r.function == name)
        .unwrap_or_else(|| panic!("{name} not reported: {reports:?}"))
}

#[tokio::test]
async fn the_function_on_the_pushed_tag_is_updated_by_tag_and_the_others_are_not() {
    let lambda = FakeLambda::with([
        function("worker", "app:latest", &[]),
        function("other-tag", "app:v1", &[]),
        function("opted-out", "app:latest", &[("ecs-redeploy", "off")]),
        function("unrelated", "db:latest", &[]),
    ]);
    lambda.resolve(&format!("{REGISTRY}/app:latest"), &digest('a'));
    let reports = run(&lambda, &None::<FakeLock>, &[pushed("app", "latest", 'a')], Mode::Apply).await;
    let worker = entry(&reports, "worker");
    assert_eq!(
        (worker.outcome, worker.reason),
        (Status::Redeployed, Reason::ImageMatch)
    );
    assert_eq!(worker.from, Some(digest('0')));
    assert_eq!(worker.to, Some(digest('a')));
    assert_eq!(
        lambda.function(&arn("worker")).image_uri,
        format!("{REGISTRY}/app:latest"),
        "still by tag"
    );
    assert_eq!(entry(&reports, "other-tag").reason, Reason::TagMismatch);
    assert_eq!(entry(&reports, "opted-out").reason, Reason::OptedOut);
    assert!(
        reports.iter().all(|r| r.function != "unrelated"),
        "unrelated functions are not reported"
    );
    let updated: Vec<String> = lambda
        .calls()
        .into_iter()
        .filter(|(op, _)| *op == "UpdateFunctionCode")
        .map(|(_, arn)| arn)
        .collect();
    assert_eq!(updated, [arn("worker")]);
}

#[tokio::test]
async fn a_repeat_finds_the_pushed_digest_running() {
    let lambda = FakeLambda::with([function("worker", "app:latest", &[])]);
    lambda.resolve(&format!("{REGISTRY}/app:latest"), &digest('a'));
    let push = [pushed("app", "latest", 'a')];
    run(&lambda, &None::<FakeLock>, &push, Mode::Apply).await;
    let again = run(&lambda, &None::<FakeLock>, &push, Mode::Apply).await;
    assert_eq!(entry(&again, "worker").reason, Reason::AlreadyRunning);
    assert_eq!(lambda.count("UpdateFunctionCode"), 1);
}

#[tokio::test(start_paused = true)]
async fn the_alias_moves_to_a_version_published_once_the_update_is_successful() {
    let lambda = FakeLambda::with([function("worker", "app:latest", &[("ecs-redeploy-alias", "live")])]);
    lambda.resolve(&format!("{REGISTRY}/app:latest"), &digest('a'));
    lambda.slow(&arn("worker"), 3);
    let reports = run(&lambda, &None::<FakeLock>, &[pushed("app", "latest", 'a')], Mode::Apply).await;
    let worker = entry(&reports, "worker");
    assert_eq!(worker.outcome, Status::Redeployed, "{worker:?}");
    assert_eq!(
        (worker.alias.as_deref(), worker.version.as_deref()),
        (Some("live"), Some("1"))
    );
    assert_eq!(lambda.alias(&arn("worker"), "live").as_deref(), Some("1"));
    // Published only after the polls saw the update end (the fake refuses a publish while InProgress).
    let calls: Vec<&str> = lambda
        .calls()
        .iter()
        .map(|(op, _)| *op)
        .collect::<Vec<_>>()
        .leak()
        .to_vec();
    let publish = calls.iter().position(|op| *op == "PublishVersion").expect("published");
    let polls = calls[..publish].iter().filter(|op| **op == "GetFunction").count();
    assert!(
        polls >= 4,
        "one GetFunction of discovery and at least three polls before publishing: {calls:?}"
    );
}

#[tokio::test]
async fn a_conflict_fails_that_function_retryably_and_the_others_are_updated() {
    let lambda = FakeLambda::with([
        function("a", "app:latest", &[]),
        function("b", "app:latest", &[]),
        function("c", "app:latest", &[]),
    ]);
    lambda.resolve(&format!("{REGISTRY}/app:latest"), &digest('a'));
    lambda.fail("UpdateFunctionCode", &arn("b"), ErrorKind::Conflict);
    let lock = FakeLock::default();
    let reports = run(&lambda, &lock, &[pushed("app", "latest", 'a')], Mode::Apply).await;
    let outcomes: Vec<(&str, Status)> = reports.iter().map(|r| (r.function.as_str(), r.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("a", Status::Redeployed),
            ("b", Status::Failed),
            ("c", Status::Redeployed)
        ]
    );
    let b = entry(&reports, "b");
    assert_eq!(b.retryable, Some(true));
    assert!(
        b.error.as_deref().is_some_and(|e| e.contains("UpdateFunctionCode")),
        "{b:?}"
    );
    assert_eq!(
        *lock.released.lock().unwrap(),
        [arn("b")],
        "the failed claim is released for the retry"
    );
    let mut completed = lock.completed.lock().unwrap().clone();
    completed.sort();
    assert_eq!(completed, [arn("a"), arn("c")]);
}

#[tokio::test]
async fn an_update_in_progress_waits_as_a_retryable_failure_and_makes_no_call() {
    let lambda = FakeLambda::with([Function {
        last_update_status: UpdateStatus::InProgress,
        ..function("worker", "app:latest", &[])
    }]);
    lambda.slow(&arn("worker"), 5);
    let reports = run(&lambda, &None::<FakeLock>, &[pushed("app", "latest", 'a')], Mode::Apply).await;
    let worker = entry(&reports, "worker");
    assert_eq!(
        (worker.reason, worker.outcome, worker.retryable),
        (Reason::RollingOut, Status::Failed, Some(true))
    );
    assert_eq!(lambda.count("UpdateFunctionCode"), 0);
}

#[tokio::test]
async fn the_lock_table_keys_functions_by_arn_and_digest() {
    let lambda = FakeLambda::with([function("worker", "app:latest", &[])]);
    lambda.resolve(&format!("{REGISTRY}/app:latest"), &digest('a'));
    let lock = FakeLock {
        held: [(arn("worker"), ClaimState::Done)].into(),
        ..FakeLock::default()
    };
    let reports = run(&lambda, &lock, &[pushed("app", "latest", 'a')], Mode::Apply).await;
    assert_eq!(entry(&reports, "worker").reason, Reason::AlreadyDeployed);
    assert_eq!(lambda.count("UpdateFunctionCode"), 0);
}

#[tokio::test]
async fn a_plan_makes_no_update() {
    let lambda = FakeLambda::with([function("worker", "app:latest", &[])]);
    let reports = run(&lambda, &None::<FakeLock>, &[pushed("app", "latest", 'a')], Mode::Plan).await;
    let worker = entry(&reports, "worker");
    assert_eq!(
        (worker.outcome, worker.to.clone()),
        (Status::Planned, Some(digest('a')))
    );
    assert_eq!(lambda.count("UpdateFunctionCode"), 0);
}

#[tokio::test]
async fn a_nested_repository_name_is_updated() {
    let lambda = FakeLambda::with([
        function("worker", "team/app:latest", &[]),
        function("flat", "app:latest", &[]),
    ]);
    lambda.resolve(&format!("{REGISTRY}/team/app:latest"), &digest('a'));
    let reports = run(
        &lambda,
        &None::<FakeLock>,
        &[pushed("team/app", "latest", 'a')],
        Mode::Apply,
    )
    .await;
    assert_eq!(entry(&reports, "worker").outcome, Status::Redeployed);
    assert!(reports.iter().all(|r| r.function != "flat"));
}

#[tokio::test]
async fn a_known_unrelated_image_is_not_described_again_until_its_revision_changes() {
    let lambda = FakeLambda::with([function("worker", "app:latest", &[]), function("db", "db:latest", &[])]);
    let push = [pushed("app", "latest", 'a')];
    discover(&lambda, &config(&[]), Some(&push), 4).await.expect("listed");
    assert_eq!(lambda.count("GetFunction"), 2);
    discover(&lambda, &config(&[]), Some(&push), 4).await.expect("listed");
    assert_eq!(
        lambda.count("GetFunction"),
        3,
        "db's image is known at its revision: only worker is described"
    );
    lambda.put(Function {
        revision_id: Some("db-r2".into()),
        ..function("db", "db:latest", &[])
    });
    discover(&lambda, &config(&[]), Some(&push), 4).await.expect("listed");
    assert_eq!(lambda.count("GetFunction"), 5, "a new revision may name another image");
}

#[tokio::test]
async fn disabled_makes_no_call_and_opted_in_asks_the_tagging_api() {
    let lambda = FakeLambda::with([function("worker", "app:latest", &[("ecs-redeploy", "on")])]);
    let push = [pushed("app", "latest", 'a')];
    let scan = discover(&lambda, &config(&[("LAMBDA_FUNCTIONS", "disabled")]), Some(&push), 4)
        .await
        .expect("none");
    assert!(scan.functions.is_empty());
    assert!(lambda.calls().is_empty());
    let scan = discover(&lambda, &config(&[("SELECT", "opted-in")]), Some(&push), 4)
        .await
        .expect("listed");
    assert_eq!(scan.functions.len(), 1);
    assert_eq!(lambda.count("ListFunctions"), 0);
    assert_eq!(lambda.count("GetResources"), 1);
}

#[tokio::test]
async fn a_function_that_cannot_be_described_is_reported_failed() {
    let lambda = FakeLambda::with([
        function("worker", "app:latest", &[]),
        function("locked", "app:latest", &[]),
    ]);
    lambda.resolve(&format!("{REGISTRY}/app:latest"), &digest('a'));
    lambda.fail("GetFunction", &arn("locked"), ErrorKind::AccessDenied);
    let reports = run(&lambda, &None::<FakeLock>, &[pushed("app", "latest", 'a')], Mode::Apply).await;
    let locked = entry(&reports, "locked");
    assert_eq!(
        (locked.outcome, locked.reason, locked.retryable),
        (Status::Failed, Reason::DescribeFailed, Some(false))
    );
    assert_eq!(entry(&reports, "worker").outcome, Status::Redeployed);
}

#[test]
fn a_sweep_follows_the_tags_functions_use_in_their_own_registry() {
    let mut tags = BTreeMap::new();
    add_tags_in_use(
        &[
            function("worker", "app:latest", &[]),
            function("implied", "jobs", &[]),
            Function {
                image_uri: format!("{REGISTRY}/pinned@{}", digest('1')),
                ..function("pinned", "pinned:x", &[])
            },
            Function {
                image_uri: "999999999999.dkr.ecr.us-east-1.amazonaws.com/app:v2".into(),
                ..function("elsewhere", "app:v2", &[])
            },
        ],
        &mut tags,
    );
    let found: Vec<(String, Vec<String>)> = tags
        .into_iter()
        .map(|((_, repository), tags)| (repository, tags.into_iter().collect()))
        .collect();
    assert_eq!(
        found,
        [
            ("app".into(), vec!["latest".into()]),
            ("jobs".into(), vec!["latest".into()])
        ]
    );
}

#[tokio::test]
async fn an_alias_move_that_failed_after_the_update_is_finished_by_the_next_run_once() {
    let lambda = FakeLambda::with([function("worker", "app:latest", &[("ecs-redeploy-alias", "live")])]);
    lambda.resolve(&format!("{REGISTRY}/app:latest"), &digest('a'));
    lambda.put_alias(&arn("worker"), "live", 1, &digest('0'));
    lambda.fail("UpdateAlias", &arn("worker"), ErrorKind::Throttling);
    let lock = FakeLock::default();
    let push = [pushed("app", "latest", 'a')];

    let first = run(&lambda, &lock, &push, Mode::Apply).await;
    let worker = entry(&first, "worker");
    assert_eq!(
        (worker.outcome, worker.retryable),
        (Status::Failed, Some(true)),
        "{worker:?}"
    );
    assert_eq!(lambda.alias(&arn("worker"), "live").as_deref(), Some("1"));
    assert_eq!(
        lambda.function(&arn("worker")).running_digest(),
        Some(digest('a').as_str())
    );
    assert_eq!(
        *lock.released.lock().unwrap(),
        [arn("worker")],
        "the failed attempt released its claim"
    );

    // $LATEST runs the pushed digest now; the alias still lags: the retry publishes and moves it.
    let second = run(&lambda, &lock, &push, Mode::Apply).await;
    let worker = entry(&second, "worker");
    assert_eq!(worker.outcome, Status::Redeployed, "{worker:?}");
    assert_eq!(
        (worker.alias.as_deref(), worker.version.as_deref()),
        (Some("live"), Some("3"))
    );
    assert_eq!(
        (worker.from.clone(), worker.to.clone()),
        (Some(digest('0')), Some(digest('a')))
    );
    assert!(
        worker.detail.contains("alias `live` moved to version 3"),
        "{}",
        worker.detail
    );
    assert_eq!(lambda.alias(&arn("worker"), "live").as_deref(), Some("3"));
    assert_eq!(lambda.count("UpdateFunctionCode"), 1);
    assert_eq!(
        *lock.completed.lock().unwrap(),
        [arn("worker")],
        "the alias move is claimed and completed"
    );

    // The alias runs the pushed digest: a third run leaves it.
    let third = run(&lambda, &lock, &push, Mode::Apply).await;
    let worker = entry(&third, "worker");
    assert_eq!(
        (worker.outcome, worker.reason),
        (Status::Skipped, Reason::AlreadyRunning),
        "{worker:?}"
    );
    assert_eq!(lambda.count("PublishVersion"), 2);
    assert_eq!(lambda.count("UpdateAlias"), 2);
}

#[tokio::test]
async fn an_alias_already_on_the_pushed_digest_is_left_and_a_missing_one_is_skipped() {
    let lambda = FakeLambda::with([
        Function {
            resolved_image_uri: Some(format!("{REGISTRY}/app@{}", digest('a'))),
            ..function("current", "app:latest", &[("ecs-redeploy-alias", "live")])
        },
        Function {
            resolved_image_uri: Some(format!("{REGISTRY}/app@{}", digest('a'))),
            ..function("aliasless", "app:latest", &[("ecs-redeploy-alias", "live")])
        },
    ]);
    lambda.put_alias(&arn("current"), "live", 4, &digest('a'));
    let reports = run(&lambda, &None::<FakeLock>, &[pushed("app", "latest", 'a')], Mode::Apply).await;
    let current = entry(&reports, "current");
    assert_eq!(
        (current.decision, current.reason, current.outcome),
        (Some("skip"), Reason::AlreadyRunning, Status::Skipped),
        "{current:?}"
    );
    let aliasless = entry(&reports, "aliasless");
    assert_eq!(
        (
            aliasless.decision,
            aliasless.reason,
            aliasless.outcome,
            aliasless.error.clone()
        ),
        (Some("skip"), Reason::AliasNotFound, Status::Skipped, None),
        "{aliasless:?}"
    );
    assert!(aliasless.detail.contains("no alias `live`"), "{}", aliasless.detail);
    assert_eq!(lambda.count("PublishVersion") + lambda.count("UpdateAlias"), 0);
}
