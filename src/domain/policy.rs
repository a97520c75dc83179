//! The redeploy policy a service chooses with its opt-in tag, and the tag policies that decide
//! whether a push of an immutable tag should move a service off the tag it runs now.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;
use semver::{Version, VersionReq};
use serde::Serialize;
use thiserror::Error;

/// What a service asks for with its opt-in tag.
#[derive(Debug, Clone)]
pub enum ServicePolicy {
    /// Never touch the service.
    Off,
    /// Opted in with the function's default method.
    Default,
    /// Opted in with this method.
    Method(Method),
    /// Follow pushes of other tags of the repository the service runs that satisfy the policy.
    Track(TagPolicy),
}

/// How a service is redeployed: the function's `DEFAULT_ACTION`, or what the service's tag says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `forceNewDeployment` of the same task definition: tags are resolved anew.
    Force,
    /// A new task-definition revision whose matching containers name the pushed digest.
    Pin,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Force => "force",
            Method::Pin => "pin",
        }
    }
}

/// How a [`TagPolicy`] pattern is written; also its prefix in the tag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPolicyKind {
    Semver,
    Glob,
    Regex,
    /// A literal tag prefix: the one pattern kind that needs no character ECS tag values may refuse
    /// (they allow letters, digits, spaces and `+ - = . _ : / @`).
    Prefix,
}

/// A compiled `semver:`, `glob:` or `regex:` policy with the pattern as written.
#[derive(Debug, Clone)]
pub struct TagPolicy {
    pattern: String,
    matcher: TagMatcher,
}

#[derive(Debug, Clone)]
enum TagMatcher {
    Semver(VersionReq),
    Glob(GlobMatcher),
    Regex(Regex),
    Prefix(String),
}

/// Whether a pushed tag should replace the tag a service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject(RejectReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    SameTag,
    NotSemver,
    OutOfRange,
    NotNewer,
    NoMatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error(
        "unknown redeploy policy `{0}`: expected off, on, true, yes, enabled, force, pin, \
         semver:RANGE, glob:PATTERN, regex:PATTERN or prefix:TEXT"
    )]
    Unknown(String),
    #[error("empty {kind} pattern in redeploy policy `{value}`")]
    EmptyPattern { kind: TagPolicyKind, value: String },
    #[error("invalid {kind} pattern in redeploy policy `{value}`: {reason}")]
    InvalidPattern {
        kind: TagPolicyKind,
        value: String,
        reason: String,
    },
}

impl ServicePolicy {
    /// Parses a tag value. Surrounding whitespace (also around a pattern) is ignored, keywords
    /// and policy prefixes are case-insensitive, patterns are case-sensitive.
    pub fn parse(value: &str) -> Result<Self, PolicyError> {
        let value = value.trim();
        let unknown = || PolicyError::Unknown(value.to_owned());
        if let Some((prefix, pattern)) = value.split_once(':') {
            let kind = TagPolicyKind::from_prefix(prefix.trim()).ok_or_else(unknown)?;
            return TagPolicy::compile(kind, pattern.trim(), value).map(Self::Track);
        }
        match value.to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "on" | "true" | "yes" | "enabled" => Ok(Self::Default),
            "force" => Ok(Self::Method(Method::Force)),
            "pin" => Ok(Self::Method(Method::Pin)),
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for ServicePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Default => f.write_str("on"),
            Self::Method(method) => f.write_str(method.as_str()),
            Self::Track(policy) => policy.fmt(f),
        }
    }
}

impl TagPolicyKind {
    fn from_prefix(prefix: &str) -> Option<Self> {
        [Self::Semver, Self::Glob, Self::Regex, Self::Prefix]
            .into_iter()
            .find(|kind| prefix.eq_ignore_ascii_case(&kind.to_string()))
    }
}

impl fmt::Display for TagPolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Semver => "semver",
            Self::Glob => "glob",
            Self::Regex => "regex",
            Self::Prefix => "prefix",
        })
    }
}

impl TagPolicy {
    fn compile(kind: TagPolicyKind, pattern: &str, value: &str) -> Result<Self, PolicyError> {
        if pattern.is_empty() {
            return Err(PolicyError::EmptyPattern {
                kind,
                value: value.to_owned(),
            });
        }
        let invalid = |reason: String| PolicyError::InvalidPattern {
            kind,
            value: value.to_owned(),
            reason,
        };
        let matcher = match kind {
            TagPolicyKind::Semver => VersionReq::parse(pattern)
                .map(TagMatcher::Semver)
                .map_err(|err| invalid(err.to_string()))?,
            // Explicit escaping so `\*` means the same on every platform.
            TagPolicyKind::Glob => GlobBuilder::new(pattern)
                .backslash_escape(true)
                .build()
                .map(|glob| TagMatcher::Glob(glob.compile_matcher()))
                .map_err(|err| invalid(err.to_string()))?,
            // The pattern alone must compile first: that proves its groups are balanced, so a
            // pattern like `a)|(?:b` cannot escape the anchoring group.
            TagPolicyKind::Regex => Regex::new(pattern)
                .and_then(|_| Regex::new(&format!(r"\A(?:{pattern})\z")))
                .map(TagMatcher::Regex)
                .map_err(|err| invalid(err.to_string()))?,
            TagPolicyKind::Prefix => TagMatcher::Prefix(pattern.to_owned()),
        };
        Ok(Self {
            pattern: pattern.to_owned(),
            matcher,
        })
    }

    /// Decides whether a push of `new_tag` should replace `current_tag` on a service.
    ///
    /// Semver policies only treat full `MAJOR.MINOR.PATCH[-pre][+build]` tags, optionally
    /// prefixed by `v`/`V`, as versions: partial tags such as `1.4` are usually moving tags.
    /// The new version must satisfy the range (pre-releases only where a comparator names a
    /// pre-release of the same `MAJOR.MINOR.PATCH`) and, when the current tag is a version,
    /// have a higher SemVer precedence (build metadata ignored).
    pub fn evaluate(&self, current_tag: &str, new_tag: &str) -> Verdict {
        if current_tag == new_tag {
            return Verdict::Reject(RejectReason::SameTag);
        }
        let matched = match &self.matcher {
            TagMatcher::Semver(range) => return evaluate_semver(range, current_tag, new_tag),
            TagMatcher::Glob(glob) => glob.is_match(new_tag),
            TagMatcher::Regex(regex) => regex.is_match(new_tag),
            TagMatcher::Prefix(prefix) => new_tag.starts_with(prefix.as_str()),
        };
        if matched {
            Verdict::Accept
        } else {
            Verdict::Reject(RejectReason::NoMatch)
        }
    }

    fn kind(&self) -> TagPolicyKind {
        match self.matcher {
            TagMatcher::Semver(_) => TagPolicyKind::Semver,
            TagMatcher::Glob(_) => TagPolicyKind::Glob,
            TagMatcher::Regex(_) => TagPolicyKind::Regex,
            TagMatcher::Prefix(_) => TagPolicyKind::Prefix,
        }
    }
}

impl fmt::Display for TagPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.pattern)
    }
}

fn evaluate_semver(range: &VersionReq, current_tag: &str, new_tag: &str) -> Verdict {
    let Some(new_version) = tag_version(new_tag) else {
        return Verdict::Reject(RejectReason::NotSemver);
    };
    if !range.matches(&new_version) {
        return Verdict::Reject(RejectReason::OutOfRange);
    }
    match tag_version(current_tag) {
        Some(current) if new_version.cmp_precedence(&current).is_le() => Verdict::Reject(RejectReason::NotNewer),
        _ => Verdict::Accept,
    }
}

fn tag_version(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix(['v', 'V']).unwrap_or(tag)).ok()
}

impl RejectReason {
    /// Stable kebab-case identifier for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SameTag => "same-tag",
            Self::NotSemver => "not-semver",
            Self::OutOfRange => "out-of-range",
            Self::NotNewer => "not-newer",
            Self::NoMatch => "no-match",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SameTag => "the pushed tag is the tag the service runs",
            Self::NotSemver => "the pushed tag is not a MAJOR.MINOR.PATCH version",
            Self::OutOfRange => "the pushed version is outside the semver range",
            Self::NotNewer => "the pushed version is not newer than the running one",
            Self::NoMatch => "the pushed tag does not match the pattern",
        })
    }
}

#[cfg(test)]
mod tests;
