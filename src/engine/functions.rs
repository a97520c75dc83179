//! Container-image Lambda functions: found once per run (bounded concurrency), decided (pure, per push), updated —
//! claimed like a service (function ARN + digest), `UpdateFunctionCode` by tag, with the alias tag a version
//! published and the alias moved once `Successful`. A failed function is its own entry; the others go on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::{StreamExt, stream};
use tracing::{info, warn};

use crate::config::{Config, LambdaFunctions, Mode, Select};
use crate::domain::function::{
    AliasStep, FunctionAction, FunctionDecision, FunctionReport, FunctionSelection, decide_alias, decide_function,
};
use crate::domain::image::{ImageRef, Registry};
use crate::domain::push::Push;
use crate::domain::reason::Reason;
use crate::ecr::PushedManifest;
use crate::error_chain;
use crate::lambda::{Function, LambdaApi, LambdaError, UpdateStatus};
use crate::lock::{Claim, ClaimState, DeployLock, LockKey};
use crate::report::Status;

/// Between two `GetFunction`s while an update is `InProgress` (as botocore's `FunctionUpdatedV2` waiter).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Polls before giving up on an update that stays `InProgress`; the run fails the function, retryably.
const MAX_POLLS: u32 = 120;

/// What discovery found: the image functions (those that may relate to a push), and the ones it could not read.
#[derive(Debug, Default)]
pub struct FunctionScan {
    pub functions: Vec<Function>,
    /// Functions `GetFunction` failed for: reported failed, retryably when a retry may read them.
    pub failed: Vec<FunctionReport>,
    /// Image functions listed (related to a push or not).
    pub listed: usize,
}

/// Every image function that may relate to one of `pushes` (`None`: a sweep, the tags the functions use): with
/// `SELECT=opted-in` those the tagging API finds with `TAG_KEY`, else all `ListFunctions` lists; one whose image is
/// known for its `RevisionId` and unrelated to every push is not described again. `Err`: the listing failed.
pub async fn discover<F: LambdaApi>(
    lambda: &F,
    config: &Config,
    pushes: Option<&[Push]>,
    limit: usize,
) -> Result<FunctionScan, LambdaError> {
    if config.lambda_functions == LambdaFunctions::Disabled || pushes.is_some_and(<[Push]>::is_empty) {
        return Ok(FunctionScan::default());
    }
    let arns: Vec<String> = match config.select {
        Select::OptedIn => lambda.list_tagged_functions(&config.tag_key).await?,
        Select::Matching => {
            let summaries = lambda.list_image_functions().await?;
            summaries
                .into_iter()
                .filter(|summary| match (lambda.known_image(summary), pushes) {
                    (Some(image), Some(pushes)) => may_relate(&image, pushes),
                    _ => true,
                })
                .map(|summary| summary.arn)
                .collect()
        }
    };
    let listed = arns.len();
    let described: Vec<(String, Result<Option<Function>, LambdaError>)> = stream::iter(arns)
        .map(|arn| async move {
            let described = lambda.get_function(&arn).await;
            (arn, described)
        })
        .buffered(limit)
        .collect()
        .await;
    let mut scan = FunctionScan {
        listed,
        ..FunctionScan::default()
    };
    for (arn, described) in described {
        match described {
            // A tagged function that is not an image function.
            Ok(None) => {}
            Ok(Some(function)) => scan.functions.push(function),
            Err(error) => {
                warn!(function_arn = %arn, error = %error_chain::render(&error), "the function could not be described");
                scan.failed.push(unreadable(&arn, &error));
            }
        }
    }
    Ok(scan)
}

/// Whether an image URI names one of the pushed repositories (in any registry: the decision tells why not).
fn may_relate(image_uri: &str, pushes: &[Push]) -> bool {
    ImageRef::parse(image_uri).is_ok_and(|image| pushes.iter().any(|p| p.repository == image.repository))
}

fn unreadable(arn: &str, error: &LambdaError) -> FunctionReport {
    FunctionReport {
        function: crate::lambda::function_name(arn).to_owned(),
        function_arn: arn.to_owned(),
        image: String::new(),
        decision: None,
        reason: Reason::DescribeFailed,
        detail: "GetFunction failed".to_owned(),
        pushed: Vec::new(),
        push_positions: Vec::new(),
        outcome: Status::Failed,
        running: None,
        from: None,
        to: None,
        alias: None,
        version: None,
        error: Some(error_chain::render(error)),
        retryable: Some(error.retryable()),
    }
}

/// One function's decision, with the push it is about.
#[derive(Clone, Debug)]
pub struct PlannedFunction {
    pub function: Function,
    pub decision: FunctionDecision,
    pub push: Push,
    pub push_position: usize,
}

/// Each function related to a push, with the decision that matters most: an update (of the first push that
/// updates it), else a wait, else the closest miss. `manifests` are the pushes' manifests, by position.
pub fn plan(
    functions: &[Function],
    pushes: &[Push],
    manifests: &[Option<PushedManifest>],
    selection: FunctionSelection,
) -> Vec<PlannedFunction> {
    let rank = |d: &FunctionDecision| match d.action {
        FunctionAction::Update { .. } => (0, d.reason),
        FunctionAction::CheckAlias { .. } => (1, d.reason),
        FunctionAction::Wait => (2, d.reason),
        FunctionAction::Skip => (3, d.reason),
    };
    functions
        .iter()
        .filter_map(|function| {
            pushes
                .iter()
                .enumerate()
                .filter_map(|(position, push)| {
                    let manifest = manifests.get(position).and_then(Option::as_ref);
                    decide_function(push, function, manifest, selection).map(|d| (position, push, d))
                })
                .min_by_key(|(position, _, decision)| (rank(decision), *position))
                .map(|(position, push, decision)| PlannedFunction {
                    function: function.clone(),
                    decision,
                    push: push.clone(),
                    push_position: position,
                })
        })
        .collect()
}

/// Carries out every planned function (`limit` at once) and reports each.
pub async fn execute<F: LambdaApi, L: DeployLock>(
    lambda: &F,
    lock: &L,
    planned: Vec<PlannedFunction>,
    mode: Mode,
    limit: usize,
) -> Vec<FunctionReport> {
    stream::iter(planned)
        .map(|planned| async move { execute_one(lambda, lock, planned, mode).await })
        .buffered(limit)
        .collect()
        .await
}

async fn execute_one<F: LambdaApi, L: DeployLock>(
    lambda: &F,
    lock: &L,
    planned: PlannedFunction,
    mode: Mode,
) -> FunctionReport {
    let PlannedFunction {
        function,
        decision,
        push,
        push_position,
    } = planned;
    let mut report = FunctionReport {
        function: function.name.clone(),
        function_arn: function.arn.clone(),
        image: function.image_uri.clone(),
        decision: Some(decision.action.as_str()),
        reason: decision.reason,
        detail: decision.detail.clone(),
        pushed: vec![push.image().to_string()],
        push_positions: vec![push_position],
        outcome: Status::Skipped,
        running: decision.running.clone(),
        from: None,
        to: None,
        alias: None,
        version: None,
        error: None,
        retryable: None,
    };
    let work = match &decision.action {
        FunctionAction::Skip => return report,
        FunctionAction::Wait => {
            // Not this run's to finish: a retry (or the sweep) decides again once the update ended.
            report.outcome = Status::Failed;
            report.error = Some("an update of the function is in progress".to_owned());
            report.retryable = Some(true);
            return report;
        }
        FunctionAction::Update { image_uri, alias } => Work::Update {
            image_uri: image_uri.clone(),
            alias: alias.clone(),
        },
        FunctionAction::CheckAlias { alias } => {
            let Some(pushed) = push.digest.clone() else {
                return report;
            };
            let target = match lambda.get_alias_target(&function.arn, alias).await {
                Ok(target) => target,
                Err(error) => {
                    warn!(function_arn = %function.arn, alias, error = %error_chain::render(&error), "the alias could not be read");
                    report.outcome = Status::Failed;
                    report.retryable = Some(error.retryable());
                    report.error = Some(error_chain::render(&error));
                    return report;
                }
            };
            match decide_alias(alias, &pushed, target.as_ref()) {
                AliasStep::Skip(reason, detail) => {
                    report.decision = Some("skip");
                    report.reason = reason;
                    report.detail = detail;
                    return report;
                }
                AliasStep::Move => {
                    report.from = target.and_then(|t| t.digest);
                    report.alias = Some(alias.clone());
                    report.detail = format!("alias `{alias}` lags the function, which runs the pushed digest {pushed}");
                    if mode == Mode::Plan {
                        report.outcome = Status::Planned;
                        report.to = Some(pushed);
                        return report;
                    }
                    Work::MoveAlias {
                        alias: alias.clone(),
                        pushed,
                    }
                }
            }
        }
    };
    if let Work::Update { alias, .. } = &work {
        report.from = decision.running.clone();
        report.alias = alias.clone();
        if mode == Mode::Plan {
            report.outcome = Status::Planned;
            report.to = decision.to.clone();
            return report;
        }
    }
    let key = push.digest.as_ref().map(|digest| LockKey::new(&function.arn, digest));
    if let Some(key) = &key {
        match lock.claim(key).await {
            Ok(Claim::Acquired) => {}
            Ok(Claim::Held(state)) => {
                let (reason, detail) = match state {
                    ClaimState::Done => (Reason::AlreadyDeployed, "the lock table records this push as deployed"),
                    ClaimState::InProgress => (Reason::InProgress, "another delivery of this push is deploying it"),
                };
                report.decision = Some("skip");
                report.reason = reason;
                report.detail = detail.to_owned();
                report.from = None;
                report.alias = None;
                return report;
            }
            Err(error) => {
                report.outcome = Status::Failed;
                report.error = Some(error_chain::render(&error));
                report.retryable = Some(true);
                return report;
            }
        }
    }
    let result = match &work {
        Work::Update { image_uri, alias } => update(lambda, &function, image_uri, alias.as_deref()).await,
        Work::MoveAlias { alias, pushed } => move_alias(lambda, &function, alias, pushed)
            .await
            .map(|version| (Some(pushed.clone()), Some(version))),
    };
    match result {
        Ok((resolved, version)) => {
            if let Some(key) = &key
                && let Err(error) = lock.complete(key).await
            {
                warn!(function_arn = %function.arn, error = %error_chain::render(&error), "the function was updated; its done marker was not written");
            }
            if let (Some(resolved), Some(pushed)) = (&resolved, &push.digest)
                && resolved != pushed
            {
                warn!(function_arn = %function.arn, resolved, pushed, "Lambda resolved the tag to another digest: it moved again");
            }
            match &work {
                Work::Update { image_uri, .. } => {
                    info!(function_arn = %function.arn, image_uri, to = resolved.as_deref(), "function updated");
                }
                Work::MoveAlias { alias, .. } => {
                    info!(function_arn = %function.arn, alias, version = version.as_deref(), "alias moved");
                    if let Some(version) = &version {
                        report.detail = format!(
                            "alias `{alias}` moved to version {version}: the function already ran the pushed digest"
                        );
                    }
                }
            }
            report.outcome = Status::Redeployed;
            report.to = resolved.or_else(|| push.digest.clone());
            report.version = version;
        }
        Err(error) => {
            if let Some(key) = &key
                && let Err(release) = lock.release(key).await
            {
                warn!(function_arn = %function.arn, error = %release, "the claim could not be released");
            }
            warn!(function_arn = %function.arn, error = %error_chain::render(&error), "function update failed");
            report.outcome = Status::Failed;
            report.retryable = Some(error.retryable());
            report.error = Some(error_chain::render(&error));
        }
    }
    report
}

/// What a function's execution does once claimed.
enum Work {
    Update {
        image_uri: String,
        alias: Option<String>,
    },
    /// `$LATEST` runs `pushed` already; the alias lags (a publish or move failed after the update).
    MoveAlias {
        alias: String,
        pushed: String,
    },
}

/// `PublishVersion` of the code `$LATEST` runs, conditional on its `CodeSha256` being the pushed digest, then
/// `UpdateAlias`. "Lambda doesn't publish a version if the function's configuration and code haven't changed since
/// the last version" (Lambda API reference, PublishVersion): a retry after a publish that succeeded adds none.
async fn move_alias<F: LambdaApi>(
    lambda: &F,
    function: &Function,
    alias: &str,
    pushed: &str,
) -> Result<String, LambdaError> {
    let code_sha256 = pushed.strip_prefix("sha256:").unwrap_or(pushed);
    let version = lambda.publish_version(&function.arn, Some(code_sha256)).await?;
    lambda.update_alias(&function.arn, alias, &version).await?;
    Ok(version)
}

/// `UpdateFunctionCode`, then with an alias: wait for `Successful`, publish, move the alias. The digest Lambda
/// resolved (`sha256:` + `CodeSha256`) and the version published.
async fn update<F: LambdaApi>(
    lambda: &F,
    function: &Function,
    image_uri: &str,
    alias: Option<&str>,
) -> Result<(Option<String>, Option<String>), LambdaError> {
    let updated = lambda
        .update_function_code(&function.arn, image_uri, function.revision_id.as_deref())
        .await?;
    let resolved = updated
        .code_sha256
        .as_deref()
        .map(|sha| match sha.strip_prefix("sha256:") {
            Some(_) => sha.to_owned(),
            None => format!("sha256:{sha}"),
        });
    let Some(alias) = alias else {
        return Ok((resolved, None));
    };
    let mut status = updated.last_update_status;
    let mut polls = 0;
    while status == UpdateStatus::InProgress {
        if polls == MAX_POLLS {
            return Err(LambdaError::new(
                "GetFunction",
                crate::aws::ErrorKind::Conflict,
                format!("the update stayed InProgress for {MAX_POLLS} polls: alias `{alias}` not moved"),
            ));
        }
        if polls > 0 {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        polls += 1;
        status = match lambda.get_function(&function.arn).await? {
            Some(function) => function.last_update_status,
            None => UpdateStatus::Unknown,
        };
    }
    if let UpdateStatus::Failed(reason) = status {
        return Err(LambdaError::new(
            "UpdateFunctionCode",
            crate::aws::ErrorKind::Other,
            format!(
                "the update failed ({}): alias `{alias}` not moved",
                reason.as_deref().unwrap_or("no reason given")
            ),
        ));
    }
    let version = lambda
        .publish_version(&function.arn, updated.code_sha256.as_deref())
        .await?;
    lambda.update_alias(&function.arn, alias, &version).await?;
    Ok((resolved, Some(version)))
}

/// Adds the tags the functions follow in their own registries (the function's account and Region: what the role
/// may read) to a sweep's tags in use: an image by tag, not by digest.
pub fn add_tags_in_use(functions: &[Function], tags: &mut BTreeMap<(Registry, String), BTreeSet<String>>) {
    for function in functions {
        let Ok(image) = ImageRef::parse(&function.image_uri) else {
            continue;
        };
        if image.digest.is_some() || Some(&image.registry) != own_registry(&function.arn).as_ref() {
            continue;
        }
        let tag = image.effective_tag().unwrap_or("latest").to_owned();
        tags.entry((image.registry, image.repository)).or_default().insert(tag);
    }
}

/// The ECR registry of a function's account and Region (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`).
pub fn own_registry(function_arn: &str) -> Option<Registry> {
    let mut parts = function_arn.split(':');
    let region = parts.nth(3)?;
    let account = parts.next()?;
    Registry::ecr(account, region).ok()
}

#[cfg(test)]
mod tests;
