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
        (
            ServicePolicy::Method(Method::Force),
            ["force", "FORCE", "Force\n", "fOrCe"],
        ),
        (ServicePolicy::Method(Method::Pin), ["pin", "PIN", "Pin", "\tpin "]),
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
         semver:RANGE, glob:PATTERN, regex:PATTERN or prefix:TEXT"
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

/// Policies written only with characters ECS accepts in tag values (`+ - = . _ : / @`, letters,
/// digits, spaces): `x` wildcards and bare versions for semver, and literal prefixes.
#[test]
fn evaluates_policies_written_with_tag_safe_characters() {
    let cases = [
        ("semver:1.4", "1.4.0", "1.9.2", Accept),
        ("semver:1.4", "1.4.0", "2.0.0", Reject(OutOfRange)),
        ("semver:1.4.x", "1.4.0", "1.4.7", Accept),
        ("semver:1.4.x", "1.4.0", "1.5.0", Reject(OutOfRange)),
        ("semver:1.x", "1.4.0", "1.9.0", Accept),
        ("prefix:main-", "main-aaa", "main-bbb", Accept),
        ("prefix:main-", "main-aaa", "feature-x", Reject(NoMatch)),
        ("prefix:main-", "main-aaa", "xmain-b", Reject(NoMatch)),
    ];
    for (value, current, new, expected) in cases {
        assert_eq!(
            policy(value).evaluate(current, new),
            expected,
            "{value}: {current} -> {new}"
        );
    }
    assert_eq!(policy("Prefix: main- ").to_string(), "prefix:main-");
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
