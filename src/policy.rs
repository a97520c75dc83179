//! The redeploy policy a service chooses with its opt-in tag, and the tag policies that decide
//! whether a push of an immutable tag should move a service off the tag it runs now.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;
use semver::{Version, VersionReq};
use thiserror::Error;

/// What a service asks for with its opt-in tag.
#[derive(Debug, Clone)]
pub enum ServicePolicy {
    /// Never touch the service.
    Off,
    /// Opted in with the function's default action.
    Default,
    /// New deployment of the same task definition (`forceNewDeployment`).
    Force,
    /// New task-definition revision pinned to the pushed digest.
    Pin,
    /// Follow pushes of other tags of the repository the service runs that satisfy the policy.
    Track(TagPolicy),
}

/// How a [`TagPolicy`] pattern is written; also its prefix in the tag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPolicyKind {
    Semver,
    Glob,
    Regex,
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
         semver:RANGE, glob:PATTERN or regex:PATTERN"
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
            "force" => Ok(Self::Force),
            "pin" => Ok(Self::Pin),
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for ServicePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Default => f.write_str("on"),
            Self::Force => f.write_str("force"),
            Self::Pin => f.write_str("pin"),
            Self::Track(policy) => policy.fmt(f),
        }
    }
}

impl TagPolicyKind {
    fn from_prefix(prefix: &str) -> Option<Self> {
        [Self::Semver, Self::Glob, Self::Regex]
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
mod tests {
    use super::*;
    use RejectReason::*;
    use Verdict::{Accept, Reject};

    fn policy(value: &str) -> TagPolicy {
        match ServicePolicy::parse(value) {
            Ok(ServicePolicy::Track(policy)) => policy,
            other => panic!("`{value}` did not parse to a tag policy: {other:?}"),
        }
    }

    #[test]
    fn parses_keywords_in_any_case_with_whitespace() {
        use std::mem::discriminant;
        for (expected, values) in [
            (ServicePolicy::Off, ["off", "OFF", "  Off\t", "oFf"]),
            (ServicePolicy::Default, ["on", "TRUE", " Yes ", "Enabled"]),
            (ServicePolicy::Default, ["ON", "true", "yes", "enabled"]),
            (ServicePolicy::Force, ["force", "FORCE", "Force\n", "fOrCe"]),
            (ServicePolicy::Pin, ["pin", "PIN", "Pin", "\tpin "]),
        ] {
            for value in values {
                let parsed = ServicePolicy::parse(value).unwrap();
                assert_eq!(discriminant(&parsed), discriminant(&expected), "{value:?}");
                assert_eq!(parsed.to_string(), expected.to_string(), "{value:?}");
            }
        }
    }

    #[test]
    fn parses_tag_policies_keeping_the_pattern_text() {
        for (value, canonical) in [
            ("semver:^1.4", "semver:^1.4"),
            ("  SemVer: ~2 ", "semver:~2"),
            ("semver:>=1.2, <2", "semver:>=1.2, <2"),
            ("glob:main-*", "glob:main-*"),
            ("GLOB:Main-*", "glob:Main-*"),
            (r"regex:release-\d+", r"regex:release-\d+"),
            ("Regex: ^v[0-9]+:x$ ", "regex:^v[0-9]+:x$"),
        ] {
            let parsed = ServicePolicy::parse(value).unwrap();
            assert!(matches!(parsed, ServicePolicy::Track(_)), "{value:?}");
            assert_eq!(parsed.to_string(), canonical, "{value:?}");
            let reparsed = ServicePolicy::parse(canonical).unwrap();
            assert_eq!(reparsed.to_string(), canonical, "{value:?}");
        }
    }

    #[test]
    fn rejects_unknown_values_and_empty_patterns() {
        let unknown = |value: &str| PolicyError::Unknown(value.to_owned());
        let empty = |kind, value: &str| PolicyError::EmptyPattern {
            kind,
            value: value.to_owned(),
        };
        for (value, expected) in [
            ("", unknown("")),
            ("   ", unknown("")),
            ("maybe", unknown("maybe")),
            (" o n ", unknown("o n")),
            ("disabled", unknown("disabled")),
            ("semvr:^1", unknown("semvr:^1")),
            ("on:^1", unknown("on:^1")),
            (":main-*", unknown(":main-*")),
            ("semver:", empty(TagPolicyKind::Semver, "semver:")),
            ("glob:  ", empty(TagPolicyKind::Glob, "glob:")),
            ("Regex:", empty(TagPolicyKind::Regex, "Regex:")),
        ] {
            let err = ServicePolicy::parse(value).unwrap_err();
            assert_eq!(err, expected, "{value:?}");
        }
        assert_eq!(
            ServicePolicy::parse("Maybe").unwrap_err().to_string(),
            "unknown redeploy policy `Maybe`: expected off, on, true, yes, enabled, force, pin, \
             semver:RANGE, glob:PATTERN or regex:PATTERN"
        );
    }

    #[test]
    fn rejects_invalid_patterns_without_panicking() {
        for (value, kind) in [
            ("semver:>>1", TagPolicyKind::Semver),
            ("semver:1.2.3.4", TagPolicyKind::Semver),
            ("semver:latest", TagPolicyKind::Semver),
            ("glob:main-[", TagPolicyKind::Glob),
            ("glob:{main,release", TagPolicyKind::Glob),
            ("regex:release-(", TagPolicyKind::Regex),
            ("regex:*", TagPolicyKind::Regex),
            // Would compile once wrapped in `\A(?:…)\z` and then match any tag starting `a`.
            ("regex:a)|(?:b", TagPolicyKind::Regex),
        ] {
            let err = ServicePolicy::parse(value).unwrap_err();
            let is_expected = matches!(&err, PolicyError::InvalidPattern { kind: k, value: v, .. }
                if *k == kind && v == value);
            assert!(is_expected, "{value:?} gave {err:?}");
        }
        for huge_or_odd in [
            "🦀".repeat(10_000),
            format!("semver:{}", "^1, ".repeat(1_000)),
            format!("semver:{}.0.0", "9".repeat(100)),
            format!("glob:{}", "{".repeat(10_000)),
            format!("regex:{}", "(".repeat(10_000)),
            "regex:a{1000}{1000}".to_owned(),
            "semver:\u{0}".to_owned(),
        ] {
            assert!(ServicePolicy::parse(&huge_or_odd).is_err(), "{huge_or_odd:.40}");
        }
        let message = ServicePolicy::parse("glob:main-[").unwrap_err().to_string();
        assert!(message.starts_with("invalid glob pattern in redeploy policy `glob:main-[`: "));
    }

    #[test]
    fn evaluates_semver_policies() {
        for (range, current, new, expected) in [
            ("^1.4", "1.4.0", "1.5.0", Accept),
            ("^1.4", "1.5.0", "1.4.9", Reject(NotNewer)),
            ("^1.4", "1.5.0", "1.5.0", Reject(SameTag)),
            ("^1.4", "v1.5.0", "1.5.0", Reject(NotNewer)),
            ("^1.4", "1.5.0", "2.0.0", Reject(OutOfRange)),
            ("^1.4", "1.3.0", "1.3.9", Reject(OutOfRange)),
            ("^1.4", "1.5.0", "v1.6.0", Accept),
            ("^1.4", "V1.5.0", "V1.6.0", Accept),
            ("^1.4", "1.5.0", "1.6.0-rc.1", Reject(OutOfRange)),
            ("^1.4", "latest", "1.4.3", Accept),
            ("^1.4", "1.4.0", "main-abc", Reject(NotSemver)),
            ("^1.4", "1.4.0", "latest", Reject(NotSemver)),
            // Partial versions are moving tags, not versions.
            ("^1.4", "1.4.0", "1.5", Reject(NotSemver)),
            ("^1.4", "1.4.0", "1", Reject(NotSemver)),
            ("^1.4", "1.4", "1.4.1", Accept),
            ("^1.4", "1.4.0", "01.5.0", Reject(NotSemver)),
            ("^1.4", "1.4.0", "vv1.5.0", Reject(NotSemver)),
            // Build metadata is ignored for precedence, as SemVer says.
            ("^1.4", "1.4.0", "1.5.0+build.7", Accept),
            ("^1.4", "1.5.0+build.1", "1.5.0+build.2", Reject(NotNewer)),
            (">=1.6.0-rc.0", "1.5.0", "1.6.0-rc.1", Accept),
            (">=1.6.0-rc.0", "1.6.0-rc.1", "1.6.0-rc.0", Reject(NotNewer)),
            (">=1.6.0-rc.0", "1.6.0-rc.1", "1.6.0", Accept),
            (">=1.6.0-rc.0", "1.6.0", "1.7.0-rc.1", Reject(OutOfRange)),
            ("~2", "2.0.0", "2.0.5", Accept),
            ("~2", "2.0.5", "2.1.0", Accept),
            ("~2", "2.1.0", "3.0.0", Reject(OutOfRange)),
            ("~2", "2.1.0", "1.9.0", Reject(OutOfRange)),
            (">=1.2, <2", "1.2.0", "1.9.9", Accept),
            (">=1.2, <2", "1.9.9", "2.0.0", Reject(OutOfRange)),
            (">=1.2, <2", "1.0.0", "1.1.9", Reject(OutOfRange)),
            (">=1.2, <2", "1.2.0", "1.2.0", Reject(SameTag)),
        ] {
            let verdict = policy(&format!("semver:{range}")).evaluate(current, new);
            assert_eq!(verdict, expected, "{range}: {current} -> {new}");
        }
    }

    #[test]
    fn evaluates_glob_and_regex_policies_on_the_whole_tag() {
        let (main, digits, release) = ("glob:main-*", "glob:r-[0-9]*", r"regex:release-\d+");
        let either = "regex:main|release";
        for (value, current, new, expected) in [
            (main, "main-aaa", "main-abc123", Accept),
            (main, "main-aaa", "feature-x", Reject(NoMatch)),
            (main, "main-abc123", "main-abc123", Reject(SameTag)),
            (main, "main-aaa", "xmain-1", Reject(NoMatch)),
            (main, "main-aaa", "Main-1", Reject(NoMatch)),
            (digits, "latest", "r-7", Accept),
            (digits, "latest", "r-x", Reject(NoMatch)),
            (r"glob:v\*", "v1", "v*", Accept),
            (r"glob:v\*", "v*", "v1", Reject(NoMatch)),
            (release, "release-0", "release-1", Accept),
            (release, "release-0", "xrelease-1x", Reject(NoMatch)),
            (release, "release-0", "xrelease-1", Reject(NoMatch)),
            (release, "release-0", "release-1x", Reject(NoMatch)),
            (release, "release-1", "release-1", Reject(SameTag)),
            (r"regex:^release-\d+$", "release-0", "release-22", Accept),
            (either, "main", "release", Accept),
            (either, "main", "mainline", Reject(NoMatch)),
            (either, "main", "prerelease", Reject(NoMatch)),
        ] {
            let verdict = policy(value).evaluate(current, new);
            assert_eq!(verdict, expected, "{value}: {current} -> {new}");
        }
    }

    #[test]
    fn evaluates_huge_and_odd_tags_without_panicking() {
        let tags = [
            "x".repeat(100_000),
            "🦀".repeat(10_000),
            "1.2.3-é".to_owned(),
            "é1.2.3".to_owned(),
            "v".to_owned(),
            "99999999999999999999.0.0".to_owned(),
            String::new(),
            "\u{0}\u{feff}".to_owned(),
        ];
        for (value, reason) in [
            ("semver:^1", NotSemver),
            ("glob:main-*", NoMatch),
            (r"regex:release-\d+", NoMatch),
        ] {
            for tag in &tags {
                let verdict = policy(value).evaluate("1.0.0", tag);
                assert_eq!(verdict, Reject(reason), "{value}: {tag:.20}");
            }
        }
    }

    #[test]
    fn reject_reasons_have_stable_codes() {
        for (reason, code) in [
            (SameTag, "same-tag"),
            (NotSemver, "not-semver"),
            (OutOfRange, "out-of-range"),
            (NotNewer, "not-newer"),
            (NoMatch, "no-match"),
        ] {
            assert_eq!(reason.code(), code);
            assert!(reason.to_string().starts_with("the pushed "), "{reason:?}");
        }
    }
}
