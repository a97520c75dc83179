//! `tests/bad-events/`: malformed and odd events, one per file, each with the outcome it must have through
//! the library (`classify_json`) and through the binary (`plan --event FILE`). An error must name what is
//! wrong, an ignored event must say why, and nothing may panic.

use std::path::PathBuf;
use std::process::{Command, Output};

use ecs_redeploy::domain::image::ImageRef;
use ecs_redeploy::trigger::eventbridge::{Classified, classify_json};
use serde_json::Value;

/// Every file in `tests/bad-events/` and its outcome: `error:TEXT` (the message contains TEXT),
/// `ignored:CODE` (the reason code) or `push` (acted on, with the event's repository and tag).
const EXPECTED: &[(&str, &str)] = &[
    // Wrong JSON types: the error names the field and the type.
    (
        "account-as-number.json",
        "error:account: invalid type: integer `123456789012`, expected a string",
    ),
    (
        "source-as-number.json",
        "error:source: invalid type: integer `42`, expected a string",
    ),
    (
        "region-as-object.json",
        "error:region: invalid type: map, expected a string",
    ),
    ("time-as-epoch-number.json", "error:time: invalid type: integer"),
    ("resources-as-string.json", "error:resources: invalid type: string"),
    ("detail-as-string.json", "error:malformed `detail`"),
    ("detail-as-array.json", "error:malformed `detail`"),
    ("image-tag-as-array.json", "error:malformed `detail`"),
    ("repository-name-as-number.json", "error:malformed `detail`"),
    ("action-type-as-boolean.json", "error:malformed `detail`"),
    ("image-digest-as-object.json", "error:malformed `detail`"),
    // Missing fields: each required one is named; optional ones may be absent.
    ("missing-detail-type.json", "error:missing field `detail-type`"),
    ("missing-source.json", "error:missing field `source`"),
    ("missing-detail.json", "error:missing field `detail`"),
    ("missing-account.json", "error:missing field `account`"),
    ("missing-region.json", "error:missing field `region`"),
    ("missing-detail-action-type.json", "error:missing field `action-type`"),
    ("missing-detail-result.json", "error:missing field `result`"),
    (
        "missing-detail-repository-name.json",
        "error:missing field `repository-name`",
    ),
    ("missing-detail-image-digest.json", "push"),
    ("missing-id.json", "push"),
    ("missing-time.json", "push"),
    // null: a required string is the wrong type, an optional one is absent.
    (
        "null-detail-type.json",
        "error:detail-type: invalid type: null, expected a string",
    ),
    (
        "null-source.json",
        "error:source: invalid type: null, expected a string",
    ),
    ("null-detail.json", "error:malformed `detail`"),
    ("null-account.json", "error:missing field `account`"),
    ("null-region.json", "error:missing field `region`"),
    ("null-detail-action-type.json", "error:malformed `detail`"),
    ("null-detail-result.json", "error:malformed `detail`"),
    ("null-detail-repository-name.json", "error:malformed `detail`"),
    ("null-detail-image-tag.json", "ignored:untagged"),
    ("null-detail-image-digest.json", "push"),
    ("null-time.json", "push"),
    // Huge strings.
    (
        "huge-repository-name-1mib.json",
        "error:invalid field `detail.repository-name`",
    ),
    ("huge-image-tag-1mib.json", "error:invalid field `detail.image-tag`"),
    // Bytes that are not an event's text.
    ("not-utf8-latin1-tag.json", "error:UTF-8"),
    ("binary-garbage.bin", "error:UTF-8"),
    ("utf8-bom-prefix.json", "error:event is not valid JSON"),
    ("empty-file.json", "error:event is not valid JSON: EOF"),
    ("whitespace-only.json", "error:event is not valid JSON: EOF"),
    ("truncated.json", "error:event is not valid JSON: EOF"),
    (
        "trailing-garbage.json",
        "error:event is not valid JSON: trailing characters",
    ),
    (
        "two-concatenated-events.json",
        "error:event is not valid JSON: trailing characters",
    ),
    ("javascript-comment.json", "error:event is not valid JSON"),
    ("nan-in-extra-field.json", "error:event is not valid JSON"),
    (
        "deeply-nested-extra-field.json",
        "error:event is not valid JSON: recursion limit exceeded",
    ),
    ("literal-null.json", "error:event is not a JSON object"),
    ("literal-number.json", "error:event is not a JSON object"),
    ("literal-string.json", "error:event is not a JSON object"),
    ("array-of-one-event.json", "error:event is not a JSON object"),
    // serde reads a struct from an array field by field: an event laid out positionally is still no event.
    ("positional-array-event.json", "error:event is not a JSON object"),
    // Unicode: repositories and tags are ASCII; escapes of ASCII are the same text.
    ("unicode-emoji-tag.json", "error:invalid field `detail.image-tag`"),
    (
        "unicode-zero-width-space-tag.json",
        "error:invalid field `detail.image-tag`",
    ),
    (
        "unicode-rtl-override-repository.json",
        "error:invalid field `detail.repository-name`",
    ),
    (
        "unicode-cyrillic-homoglyph-repository.json",
        "error:invalid field `detail.repository-name`",
    ),
    ("unicode-escaped-ascii-repository.json", "push"),
    ("unicode-lone-surrogate-escape.json", "error:event is not valid JSON"),
    // Repository names.
    (
        "repository-uppercase.json",
        "error:invalid field `detail.repository-name`",
    ),
    (
        "repository-double-dot.json",
        "error:invalid field `detail.repository-name`",
    ),
    (
        "repository-leading-slash.json",
        "error:invalid field `detail.repository-name`",
    ),
    (
        "repository-trailing-dash.json",
        "error:invalid field `detail.repository-name`",
    ),
    (
        "repository-double-slash.json",
        "error:invalid field `detail.repository-name`",
    ),
    (
        "repository-empty-string.json",
        "error:invalid field `detail.repository-name`",
    ),
    (
        "repository-with-tag-suffix.json",
        "error:invalid field `detail.repository-name`",
    ),
    (
        "repository-257-chars.json",
        "error:invalid field `detail.repository-name`",
    ),
    ("repository-256-chars.json", "push"),
    // Tags.
    ("tag-with-colon.json", "error:invalid field `detail.image-tag`"),
    ("tag-with-at.json", "error:invalid field `detail.image-tag`"),
    ("tag-with-space.json", "error:invalid field `detail.image-tag`"),
    ("tag-with-newline.json", "error:invalid field `detail.image-tag`"),
    ("tag-leading-dot.json", "error:invalid field `detail.image-tag`"),
    ("tag-leading-dash.json", "error:invalid field `detail.image-tag`"),
    ("tag-129-chars.json", "error:invalid field `detail.image-tag`"),
    ("tag-128-chars.json", "push"),
    ("tag-empty-string.json", "ignored:untagged"),
    // Digests.
    ("digest-too-short.json", "error:invalid field `detail.image-digest`"),
    ("digest-uppercase-hex.json", "error:invalid field `detail.image-digest`"),
    ("digest-md5-algorithm.json", "error:invalid field `detail.image-digest`"),
    (
        "digest-without-algorithm.json",
        "error:invalid field `detail.image-digest`",
    ),
    ("digest-empty-string.json", "error:invalid field `detail.image-digest`"),
    // Accounts and regions.
    ("account-11-digits.json", "error:invalid field `account`"),
    ("account-with-letters.json", "error:invalid field `account`"),
    ("account-empty-string.json", "error:invalid field `account`"),
    ("region-uppercase.json", "error:invalid field `region`"),
    ("region-empty-string.json", "error:invalid field `region`"),
    ("region-with-trailing-space.json", "error:invalid field `region`"),
    // Times: optional; any valid RFC 3339 instant (one far ahead of our clock is acted on without it).
    ("time-far-future.json", "push"),
    ("time-with-offset.json", "push"),
    (
        "time-not-a-date.json",
        "error:malformed EventBridge event: time: input contains invalid characters",
    ),
    (
        "time-impossible-date.json",
        "error:malformed EventBridge event: time: input is out of range",
    ),
    (
        "time-without-timezone.json",
        "error:malformed EventBridge event: time: premature end of input",
    ),
    (
        "time-empty-string.json",
        "error:malformed EventBridge event: time: premature end of input",
    ),
    // Odd but valid: unknown fields are ignored; JSON's duplicate keys resolve to the last (serde_json's rule).
    ("extra-fields-everywhere.json", "push"),
    ("duplicate-key-last-wins.json", "push"),
    // Not ours to act on, whatever else is wrong: source, detail-type, action and result are exact.
    ("source-s3.json", "ignored:other-source"),
    ("source-uppercase.json", "ignored:other-source"),
    ("other-source-with-string-detail.json", "ignored:other-source"),
    (
        "detail-type-image-scan-with-push-detail.json",
        "ignored:other-detail-type",
    ),
    ("detail-type-trailing-space.json", "ignored:other-detail-type"),
    ("action-type-lowercase.json", "ignored:not-a-push"),
    ("result-lowercase.json", "ignored:not-successful"),
    ("untagged-push-without-account.json", "ignored:untagged"),
    // Replications are pushes into this registry, from a registry they must name.
    ("replication-with-push-action.json", "ignored:not-a-push"),
    (
        "replication-missing-source-account.json",
        "error:missing field `detail.source-account/source-region`",
    ),
    (
        "replication-invalid-source-region.json",
        "error:invalid field `detail.source-account/source-region`",
    ),
    // ECS Deployment State Change: the deployment id and the one service ARN are required, and named.
    (
        "deployment-missing-deployment-id.json",
        "error:malformed `detail` of an ECS Deployment State Change event: .: missing field `deploymentId`",
    ),
    (
        "deployment-id-as-number.json",
        "error:malformed `detail` of an ECS Deployment State Change event: deploymentId: invalid type: integer",
    ),
    (
        "deployment-id-empty-string.json",
        "error:empty field `detail.deploymentId`",
    ),
    ("deployment-missing-resources.json", "error:missing field `resources`"),
    ("deployment-empty-resources.json", "error:missing field `resources`"),
    (
        "deployment-resource-not-a-service.json",
        "error:field `resources` does not hold a service ARN",
    ),
    (
        "deployment-two-resources.json",
        "error:field `resources` holds 2 ARNs, not the one service ARN",
    ),
    (
        "deployment-missing-event-name.json",
        "error:malformed `detail` of an ECS Deployment State Change event: .: missing field `eventName`",
    ),
    (
        "deployment-event-name-as-array.json",
        "error:malformed `detail` of an ECS Deployment State Change event: eventName: invalid type: sequence",
    ),
    (
        "deployment-updated-at-not-a-date.json",
        "error:malformed `detail` of an ECS Deployment State Change event: updatedAt",
    ),
    (
        "deployment-detail-as-string.json",
        "error:malformed `detail` of an ECS Deployment State Change event",
    ),
    ("deployment-unknown-event-name.json", "ignored:other-event-name"),
    ("ecs-task-state-change.json", "ignored:other-detail-type"),
];

fn bad_events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad-events")
}

fn corpus_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(bad_events_dir())
        .expect("tests/bad-events/ exists")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(bad_events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Whether `actual` (an outcome in the manifest's notation, errors with their whole message) meets `expected`.
fn meets(expected: &str, actual: &str) -> bool {
    match (expected.strip_prefix("error:"), actual.strip_prefix("error:")) {
        (Some(needle), Some(message)) => message.contains(needle),
        _ => expected == actual,
    }
}

/// The repository and tag an acted-on event must carry: its own `detail` fields, as JSON reads them.
fn pushed_repository_and_tag(bytes: &[u8]) -> (String, String) {
    let event: Value = serde_json::from_slice(bytes).expect("a push is valid JSON");
    let field = |name: &str| event["detail"][name].as_str().expect("a push names it").to_owned();
    (field("repository-name"), field("image-tag"))
}

/// What the library makes of a file's bytes. Non-UTF-8 never reaches `classify_json`: the CLI reads files
/// with `read_to_string`, which rejects it, and the Lambda runtime only ever passes parsed JSON.
fn library_outcome(name: &str, bytes: &[u8]) -> String {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => return format!("error:event is not UTF-8: {e}"),
    };
    match classify_json(text) {
        Ok(Classified::Ignored(why)) => format!("ignored:{}", why.code()),
        Ok(Classified::Sweep) => "sweep".to_owned(),
        Ok(Classified::Deployment(_)) => "deployment".to_owned(),
        Ok(Classified::WaveWake(_)) => "wave-wake".to_owned(),
        Err(e) => format!("error:{e}"),
        Ok(Classified::Push(push)) => {
            let (repository, tag) = pushed_repository_and_tag(bytes);
            assert_eq!((&push.repository, &push.tag), (&repository, &tag), "{name}");
            let image = push.image();
            assert_eq!(ImageRef::parse(&image.to_string()).as_ref(), Ok(&image), "{name}");
            "push".to_owned()
        }
    }
}

#[test]
fn every_bad_event_file_has_an_expectation() {
    let mut expected: Vec<String> = EXPECTED.iter().map(|(n, _)| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(corpus_files(), expected);
}

#[test]
fn bad_events_classify_as_expected() {
    let mismatches: Vec<String> = EXPECTED
        .iter()
        .filter_map(|(name, expected)| {
            let actual = library_outcome(name, &read(name));
            let shown: String = actual.chars().take(300).collect();
            (!meets(expected, &actual)).then(|| format!("{name}: expected `{expected}`, got `{shown}`"))
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `plan --event FILE` with credentials and region set and an endpoint where nothing listens, so a push
/// fails its first ECS call at once instead of reaching AWS.
fn plan(name: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecs-redeploy"))
        .args(["plan", "--event"])
        .arg(bad_events_dir().join(name))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("MAX_ATTEMPTS", "1")
        .output()
        .expect("binary runs")
}

/// What went wrong with the binary's run of one file, if anything.
fn binary_mismatch(name: &str, expected: &str) -> Option<String> {
    let output = plan(name);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    if stderr.contains("panicked") || code == Some(101) {
        return Some(format!("{name}: panicked: {stderr}"));
    }
    let report: Option<Value> = serde_json::from_slice(&output.stdout).ok();
    let report = report.as_ref();
    let field = |key: &str| report.and_then(|r| r[key].as_str()).unwrap_or_default();
    let ok = match expected.split_once(':') {
        Some(("error", needle)) => code == Some(2) && output.stdout.is_empty() && stderr.contains(needle),
        Some(("ignored", reason)) => code == Some(0) && field("result") == "ignored" && field("reason") == reason,
        // Nothing listens at the endpoint: the first ECS call fails, which is a scan error (exit 1).
        _ => {
            let (repository, tag) = pushed_repository_and_tag(&read(name));
            code == Some(1)
                && field("result") == "processed"
                && report.is_some_and(|r| r["pushes"][0]["repository"] == repository.as_str())
                && report.is_some_and(|r| r["pushes"][0]["tag"] == tag.as_str())
        }
    };
    let shown: String = stderr.chars().take(300).collect();
    (!ok).then(|| format!("{name}: expected `{expected}`, got exit {code:?}, stderr `{shown}`"))
}

#[test]
fn the_binary_rejects_or_ignores_bad_events_without_panicking() {
    let mismatches: Vec<String> = EXPECTED
        .iter()
        .filter_map(|(name, expected)| binary_mismatch(name, expected))
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
