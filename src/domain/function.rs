//! The decision for a container-image Lambda function: does a push affect it, and what to do with it. Pure,
//! like the service decision, and with the same rules where they apply: the function's `Code.ImageUri` is
//! related to the push as a container image is (same registry in any host form, whole repository, a missing
//! tag meaning `latest`), and its `TAG_KEY` tag takes the same values.
//!
//! What differs: Lambda resolves a tag to a digest once, at `UpdateFunctionCode`, and keeps it — so an update by
//! tag already is a pin, `force` and `pin` do the same, and the decision never writes a digest into `ImageUri`
//! (every later push would then skip the function as `digest-pinned`). Lambda cannot run an image index (Lambda
//! developer guide, "Lambda base images", awsdocs `runtimes-images.md`: "You need to build the function image for
//! only one architecture. Lambda does not support multi-architecture images."; `docker buildx` makes an index by
//! default, with its provenance attestation), so such a push is skipped for functions, permanently. `ResolvedImageUri` tells what the function runs, and `LastUpdateStatus`
//! whether an update is still under way. Rollbacks, waves and new task-definition revisions do not apply.

use super::image::{ImageRef, Registry};
use super::policy::{ServicePolicy, Verdict};
use super::push::{Push, Trigger};
use super::reason::Reason;
use crate::config::Select;
use crate::ecr::{Platforms, PushedManifest};
use crate::lambda::{AliasTarget, Function, UpdateStatus};

/// How functions are selected: the same tag key and `SELECT` as services.
#[derive(Clone, Copy, Debug)]
pub struct FunctionSelection<'a> {
    pub tag_key: &'a str,
    pub select: Select,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FunctionAction {
    /// `UpdateFunctionCode` with this image URI (by tag); then, with an alias, a version published and the alias
    /// moved to it.
    Update {
        image_uri: String,
        alias: Option<String>,
    },
    /// The function already runs the pushed digest at `$LATEST`, and has an alias: the engine reads what the
    /// alias runs and moves it when it lags ([`decide_alias`]) — a publish or alias move that failed after a
    /// successful update is finished by the next attempt, not left behind forever.
    CheckAlias {
        alias: String,
    },
    /// An update of the function is under way: a retry decides again once it ended.
    Wait,
    Skip,
}

impl FunctionAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            FunctionAction::Update { .. } | FunctionAction::CheckAlias { .. } => "redeploy",
            FunctionAction::Wait => "wait",
            FunctionAction::Skip => "skip",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionDecision {
    pub action: FunctionAction,
    pub reason: Reason,
    /// One human sentence naming the image behind the reason.
    pub detail: String,
    /// The digest the function runs (`ResolvedImageUri`), when Lambda gave one.
    pub running: Option<String>,
    /// For an update: the pushed digest it moves to, when the push names one.
    pub to: Option<String>,
}

impl FunctionDecision {
    fn skip(function: &Function, reason: Reason, detail: String) -> Self {
        FunctionDecision {
            action: FunctionAction::Skip,
            reason,
            detail,
            running: function.running_digest().map(str::to_owned),
            to: None,
        }
    }
}

/// The suffix of the tag key whose value names the alias to move: `ecs-redeploy-alias`.
pub const ALIAS_TAG_SUFFIX: &str = "-alias";

/// How the function's image relates to the push.
enum Relation {
    SameTag,
    OtherTag(String),
    DigestPinned(String),
    OtherRegistry(Registry),
}

/// Decides for one function. `None`: its image is not of the pushed repository in any registry. `manifest` is
/// what ECR says the pushed digest is, when known.
pub fn decide_function(
    push: &Push,
    function: &Function,
    manifest: Option<&PushedManifest>,
    selection: FunctionSelection,
) -> Option<FunctionDecision> {
    let image = ImageRef::parse(&function.image_uri).ok()?;
    let relation = relate(push, &image)?;
    if push.trigger == Trigger::Sweep && matches!(relation, Relation::OtherRegistry(_)) {
        return None;
    }
    let skip = |reason, detail| Some(FunctionDecision::skip(function, reason, detail));
    let policy = match function.tags.get(selection.tag_key).map(|v| ServicePolicy::parse(v)) {
        None => None,
        Some(Ok(policy)) => Some(policy),
        Some(Err(error)) => return skip(Reason::InvalidPolicy, error.to_string()),
    };
    let alias_key = format!("{}{ALIAS_TAG_SUFFIX}", selection.tag_key);
    let alias = match function.tags.get(&alias_key).map(|v| v.trim()) {
        None | Some("") => None,
        Some(alias) if is_alias_name(alias) => Some(alias.to_owned()),
        Some(alias) => {
            let detail = format!(
                "tag `{alias_key}` is `{}`: not an alias name (1-128 letters, digits, `-`, `_`, not all digits)",
                crate::domain::image::shown(alias)
            );
            return skip(Reason::InvalidPolicy, detail);
        }
    };
    match (&policy, selection.select) {
        (Some(ServicePolicy::Off), _) => {
            return skip(Reason::OptedOut, format!("tag `{}` is `off`", selection.tag_key));
        }
        (None, Select::OptedIn) => {
            let detail = format!("SELECT=opted-in and the function has no `{}` tag", selection.tag_key);
            return skip(Reason::NotOptedIn, detail);
        }
        _ => {}
    }
    let (image_uri, reason, detail) = match relation {
        Relation::OtherRegistry(registry) => {
            let detail = format!(
                "the function's image `{}` is from registry `{registry}`, not `{}`",
                function.image_uri, push.registry
            );
            return skip(Reason::OtherRegistry, detail);
        }
        Relation::DigestPinned(digest) => {
            let detail = format!(
                "the function's image `{}` is pinned by digest ({digest}): a deliberate pin is left alone; name a tag \
                 in its ImageUri to follow pushes",
                function.image_uri
            );
            return skip(Reason::DigestPinned, detail);
        }
        Relation::SameTag => {
            let detail = format!("the function's image `{}` uses tag `{}`", function.image_uri, push.tag);
            (with_tag(&function.image_uri, &push.tag), Reason::ImageMatch, detail)
        }
        Relation::OtherTag(current) => match &policy {
            Some(ServicePolicy::Track(tag_policy)) => match tag_policy.evaluate(&current, &push.tag) {
                Verdict::Accept => {
                    let detail = format!(
                        "`{tag_policy}` accepts `{}`: the function moves to it from `{current}`",
                        push.tag
                    );
                    (with_tag(&function.image_uri, &push.tag), Reason::PolicyMatch, detail)
                }
                Verdict::Reject(why) => {
                    let detail = format!(
                        "`{tag_policy}` keeps the function on `{current}`: {why} ({})",
                        why.code()
                    );
                    return skip(Reason::PolicyRejected, detail);
                }
            },
            _ => {
                let detail = format!("the function's image uses tag `{current}`, not `{}`", push.tag);
                return skip(Reason::TagMismatch, detail);
            }
        },
    };
    if let Some(PushedManifest {
        platforms: Platforms::Listed(platforms),
        ..
    }) = manifest
    {
        let listed: Vec<String> = platforms
            .iter()
            .map(|p| format!("{}/{}", p.os, p.architecture))
            .collect();
        let detail = format!(
            "the pushed image is an image index ({}), which Lambda does not run: push a single-platform image for \
             the function (`docker buildx build --platform linux/arm64 --provenance=false`, or a separate tag)",
            listed.join(", ")
        );
        return skip(Reason::ImageIndex, detail);
    }
    if let (Some(running), Some(pushed)) = (function.running_digest(), &push.digest)
        && running == pushed
    {
        if let Some(alias) = alias {
            return Some(FunctionDecision {
                action: FunctionAction::CheckAlias { alias },
                reason,
                detail: format!("the function runs the pushed digest {pushed}; its alias may not yet"),
                running: Some(running.to_owned()),
                to: Some(pushed.clone()),
            });
        }
        return skip(
            Reason::AlreadyRunning,
            format!("the function runs the pushed digest {pushed}"),
        );
    }
    if function.last_update_status == UpdateStatus::InProgress {
        return Some(FunctionDecision {
            action: FunctionAction::Wait,
            reason: Reason::RollingOut,
            detail: "an update of the function is in progress (LastUpdateStatus InProgress): it is decided again \
                     once that update ended"
                .to_owned(),
            running: function.running_digest().map(str::to_owned),
            to: None,
        });
    }
    Some(FunctionDecision {
        action: FunctionAction::Update { image_uri, alias },
        reason,
        detail,
        running: function.running_digest().map(str::to_owned),
        to: push.digest.clone(),
    })
}

/// What to do with the alias of a function that runs the pushed digest at `$LATEST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AliasStep {
    /// Publish a version (of the code `$LATEST` runs) and point the alias at it.
    Move,
    Skip(Reason, String),
}

/// `target`: what the alias runs, `None` when the function has no such alias (permanent until someone creates
/// it: a skip, not a failure a retry would repeat forever).
pub fn decide_alias(alias: &str, pushed: &str, target: Option<&AliasTarget>) -> AliasStep {
    match target {
        None => AliasStep::Skip(
            Reason::AliasNotFound,
            format!(
                "the function has no alias `{alias}` (its `-alias` tag names it): create the alias, or remove the \
                 tag"
            ),
        ),
        Some(target) if target.digest.as_deref() == Some(pushed) => AliasStep::Skip(
            Reason::AlreadyRunning,
            format!(
                "the function and its alias `{alias}` (version {}) run the pushed digest {pushed}",
                target.version
            ),
        ),
        Some(_) => AliasStep::Move,
    }
}

/// Same rules as a container's: the whole repository in the same registry (any host form), implied `latest`.
fn relate(push: &Push, image: &ImageRef) -> Option<Relation> {
    if image.repository != push.repository {
        return None;
    }
    if image.registry != push.registry {
        return Some(Relation::OtherRegistry(image.registry.clone()));
    }
    if let Some(digest) = &image.digest {
        return Some(Relation::DigestPinned(digest.clone()));
    }
    // Without a digest a reference always has a tag, named or `latest`.
    let tag = image.effective_tag().unwrap_or("latest");
    Some(if tag == push.tag {
        Relation::SameTag
    } else {
        Relation::OtherTag(tag.to_owned())
    })
}

/// The function's own image URI (its registry host as written) with `tag`: never a digest.
fn with_tag(image_uri: &str, tag: &str) -> String {
    let image_uri = image_uri.trim();
    let last_slash = image_uri.rfind('/').map_or(0, |i| i + 1);
    let name = match image_uri[last_slash..].rfind(':') {
        Some(i) => &image_uri[..last_slash + i],
        None => image_uri,
    };
    format!("{name}:{tag}")
}

/// Lambda's alias name pattern: `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`, 1-128 characters.
fn is_alias_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        && !name.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;

/// A function as the report names it: every field the issue lists, whatever happened to it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FunctionReport {
    pub function: String,
    pub function_arn: String,
    /// The function's `Code.ImageUri`.
    pub image: String,
    /// `redeploy`, `wait` or `skip`; `None` when the function could not be examined.
    pub decision: Option<&'static str>,
    pub reason: Reason,
    pub detail: String,
    /// The pushed images the decision is about.
    pub pushed: Vec<String>,
    /// Their positions in the run's pushes (a batch maps a failure back to its messages).
    #[serde(skip)]
    pub push_positions: Vec<usize>,
    pub outcome: crate::report::Status,
    /// The digest the function ran when decided (`ResolvedImageUri`).
    pub running: Option<String>,
    /// An update: the digest before it …
    pub from: Option<String>,
    /// … and the digest Lambda resolved (`CodeSha256`), or the pushed one for a plan.
    pub to: Option<String>,
    /// With the alias tag: the alias moved and the version it now points to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub error: Option<String>,
    /// For a failure: whether a retry may succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}
