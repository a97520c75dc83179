//! Property tests of the two parsers of outside input: image references and EventBridge events. Neither may
//! panic on anything; what they accept they must read exactly, and canonical forms must parse back unchanged.

use chrono::DateTime;
use ecs_redeploy::domain::image::{ImageRef, Registry};
use ecs_redeploy::domain::push::{ImageUriError, Push, Trigger};
use ecs_redeploy::trigger::eventbridge::{
    Classified, ECR_SOURCE, IMAGE_ACTION, Ignored, REPLICATION_ACTION, SCHEDULE_SOURCE, SCHEDULED_EVENT, classify,
    classify_json,
};
use proptest::prelude::*;
use proptest::string::{RegexGeneratorStrategy, string_regex};
use proptest::test_runner::RngAlgorithm;
use serde_json::{Value, json};

/// A failure prints its minimal input, which belongs in a unit test or tests/bad-events/, not in a seed file.
/// XorShift rather than the default ChaCha: in a debug build ChaCha's generation dominates the run time.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

const DOCKER_HUB_HOSTS: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// Strings matching `regex`, compiled once: a `&str` strategy would recompile it for every case.
fn pattern(regex: &str) -> RegexGeneratorStrategy<String> {
    string_regex(regex).expect("a valid regex")
}

fn account() -> impl Strategy<Value = String> {
    pattern("[0-9]{12}")
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        pattern("[a-z]{2}(-[a-z]{1,9}){1,2}-[0-9]{1,2}"),
        Just("cn-north-1".to_owned()),
        Just("us-gov-west-1".to_owned()),
    ]
}

/// One path component of the Docker grammar: alphanumerics joined by `.`, `_`, `__` or runs of `-`.
fn component() -> impl Strategy<Value = String> {
    pattern("[a-z0-9]{1,8}(([._]|__|-{1,3})[a-z0-9]{1,8}){0,2}")
}

fn repository() -> impl Strategy<Value = String> {
    prop::collection::vec(component(), 1..=3).prop_map(|components| components.join("/"))
}

fn tag() -> impl Strategy<Value = String> {
    pattern("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
}

fn digest() -> impl Strategy<Value = String> {
    pattern("sha256:[0-9a-f]{64}")
}

/// An ECR endpoint host of a registry in any of its spellings: standard, FIPS, dual-stack; China's suffix;
/// any letter case.
fn ecr_host() -> impl Strategy<Value = (String, Registry)> {
    let kind = prop_oneof![Just("dkr.ecr"), Just("dkr.ecr-fips"), Just("dkr-ecr")];
    (account(), region(), kind, any::<bool>()).prop_map(|(account, region, kind, upper)| {
        let suffix = match kind {
            "dkr-ecr" => "on.aws",
            _ if region.starts_with("cn-") => "amazonaws.com.cn",
            _ => "amazonaws.com",
        };
        let host = format!("{account}.{kind}.{region}.{suffix}");
        let host = if upper { host.to_uppercase() } else { host };
        (
            host,
            Registry::ecr(&account, &region).expect("generated registry is valid"),
        )
    })
}

/// Any other registry host, with or without a port, in any letter case. (`localhost` without a port is a host
/// only in lowercase: `LOCALHOST/app` is a Docker Hub repository, an invalid one.)
fn other_host() -> impl Strategy<Value = (String, Registry)> {
    let named = pattern("[a-z0-9]{1,10}(\\.[a-z0-9][a-z0-9-]{0,8}){1,2}(:[0-9]{1,5})?")
        .prop_filter("Docker Hub is tested on its own", |h| {
            !DOCKER_HUB_HOSTS.contains(&h.as_str())
        });
    let any_case = (prop_oneof![named, pattern("localhost:[0-9]{1,5}")], any::<bool>()).prop_map(|(host, upper)| {
        (
            if upper { host.to_uppercase() } else { host.clone() },
            Registry::Host(host),
        )
    });
    prop_oneof![
        any_case,
        Just(("localhost".to_owned(), Registry::Host("localhost".to_owned())))
    ]
}

/// Docker Hub's one-component repositories live under `library/`.
fn hub_repository(path: &str) -> String {
    if path.contains('/') {
        path.to_owned()
    } else {
        format!("library/{path}")
    }
}

/// A repository as written (with its host, if any), the registry and the repository it means.
fn written_repository() -> impl Strategy<Value = (String, Registry, String)> {
    let hub = || Registry::Host("docker.io".to_owned());
    let with_host = |hosts: BoxedStrategy<(String, Registry)>| {
        (hosts, repository()).prop_map(|((host, registry), path)| (format!("{host}/{path}"), registry, path))
    };
    let explicit_hub = (prop::sample::select(DOCKER_HUB_HOSTS.to_vec()), repository())
        .prop_map(move |(host, path)| (format!("{host}/{path}"), hub(), hub_repository(&path)));
    // Without a host the first component must not look like one (a `.`, a `:` or `localhost`).
    let short = repository()
        .prop_filter("first component looks like a host", |path| {
            let first = path.split('/').next().unwrap_or_default();
            !first.contains('.') && first != "localhost"
        })
        .prop_map(move |path| (path.clone(), hub(), hub_repository(&path)));
    prop_oneof![
        with_host(ecr_host().boxed()),
        with_host(other_host().boxed()),
        explicit_hub,
        short,
    ]
}

/// A valid image reference as text, and what parsing it must give.
fn reference() -> impl Strategy<Value = (String, ImageRef)> {
    let parts = (
        written_repository(),
        prop::option::of(tag()),
        prop::option::of(digest()),
    );
    parts.prop_map(|((written, registry, repository), tag, digest)| {
        let tag_text = tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        let digest_text = digest.as_ref().map(|d| format!("@{d}")).unwrap_or_default();
        let expected = ImageRef {
            registry,
            repository,
            tag,
            digest,
        };
        (format!("{written}{tag_text}{digest_text}"), expected)
    })
}

/// Any text, control characters included. (`any::<String>()` is a regex strategy over a huge Unicode
/// class, recompiled for every case: slow in a debug build.)
fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..64).prop_map(String::from_iter)
}

/// Strings that look like references: the characters of the grammar and a few that break it.
fn reference_like() -> impl Strategy<Value = String> {
    pattern("[a-zA-Z0-9./:@_ -]{0,60}")
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(pattern("[a-z-]{1,12}"), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid push event from its parts, or a replication into the registry (a push too), with unknown fields
/// that must be ignored.
fn push_event() -> impl Strategy<Value = (Value, Push)> {
    let ids = prop::option::of(pattern("[a-f0-9-]{36}"));
    // Up to the end of year 9999, the last an RFC 3339 string can hold.
    // Any instant up to now: a later one is acted on without its time.
    let now = chrono::Utc::now().timestamp();
    let times = prop::option::of((0i64..=now).prop_map(|s| DateTime::from_timestamp(s, 0).expect("in range")));
    let extra = || prop::collection::btree_map(pattern("x-[a-z]{1,8}"), json_value(), 0..3);
    let replicated_from = prop::option::of((account(), region()));
    let parts = (
        account(),
        region(),
        repository(),
        tag(),
        prop::option::of(digest()),
        ids,
        times,
        extra(),
        extra(),
        replicated_from,
    );
    parts.prop_map(
        |(account, region, repository, tag, digest, id, time, extra, extra_in_detail, replicated_from)| {
            let mut detail = json!({"result": "SUCCESS", "repository-name": repository, "image-tag": tag});
            let detail_type = match &replicated_from {
                Some((source_account, source_region)) => {
                    detail["action-type"] = json!("REPLICATE");
                    detail["source-account"] = json!(source_account);
                    detail["source-region"] = json!(source_region);
                    REPLICATION_ACTION
                }
                None => {
                    detail["action-type"] = json!("PUSH");
                    IMAGE_ACTION
                }
            };
            if let Some(digest) = &digest {
                detail["image-digest"] = json!(digest);
            }
            detail.as_object_mut().expect("an object").extend(extra_in_detail);
            let mut event = json!({
                "version": "0", "detail-type": detail_type, "source": ECR_SOURCE, "account": account, "region": region,
                "resources": [], "detail": detail,
            });
            if let Some(id) = &id {
                event["id"] = json!(id);
            }
            if let Some(time) = time {
                event["time"] = json!(time.to_rfc3339());
            }
            event.as_object_mut().expect("an object").extend(extra);
            let push = Push {
                registry: Registry::ecr(&account, &region).expect("generated registry is valid"),
                repository,
                tag,
                digest,
                event_id: id,
                time,
                replicated_from: replicated_from
                    .map(|(account, region)| Registry::ecr(&account, &region).expect("generated registry is valid")),
                trigger: Trigger::Push,
                retry_rolled_back: false,
            };
            (event, push)
        },
    )
}

/// The fields of an ECR push event that `classify` reads, or whose type the envelope checks.
const EVENT_FIELDS: [&str; 16] = [
    "/version",
    "/id",
    "/detail-type",
    "/source",
    "/account",
    "/time",
    "/region",
    "/resources",
    "/detail",
    "/detail/action-type",
    "/detail/result",
    "/detail/repository-name",
    "/detail/image-tag",
    "/detail/image-digest",
    "/detail/source-account",
    "/detail/source-region",
];

/// Events shaped like an ECR push: a valid one with up to three fields removed or replaced by values of any
/// type, or by strings a field may hold in other events.
fn event_shaped() -> impl Strategy<Value = Value> {
    let strings = prop_oneof![
        Just(String::new()),
        Just("DELETE".to_owned()),
        Just("FAILED".to_owned()),
        Just("aws.s3".to_owned()),
        Just("ECR Image Scan".to_owned()),
        Just(REPLICATION_ACTION.to_owned()),
        Just("REPLICATE".to_owned()),
        reference_like(),
    ];
    let replacement = prop::option::of(prop_oneof![json_value(), strings.prop_map(Value::from)]);
    let mutation = (prop::sample::select(EVENT_FIELDS.to_vec()), replacement);
    (push_event(), prop::collection::vec(mutation, 0..=3)).prop_map(|((mut event, _), mutations)| {
        for (pointer, replacement) in mutations {
            let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
            let Some(parent) = event.pointer_mut(parent).and_then(Value::as_object_mut) else {
                continue;
            };
            match replacement {
                Some(value) => parent.insert(key.to_owned(), value),
                None => parent.remove(key),
            };
        }
        event
    })
}

/// The action an event of this detail-type must carry to be a push.
fn push_action(detail_type: &str) -> Option<&'static str> {
    match detail_type {
        IMAGE_ACTION => Some("PUSH"),
        REPLICATION_ACTION => Some("REPLICATE"),
        _ => None,
    }
}

/// The string at `pointer` in `event`, if there is one.
fn string_at<'a>(event: &'a Value, pointer: &str) -> Option<&'a str> {
    event.pointer(pointer).and_then(Value::as_str)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn image_ref_parse_never_panics_and_what_it_accepts_reparses(text in prop_oneof![any_text(), reference_like()]) {
        if let Ok(image) = ImageRef::parse(&text) {
            prop_assert_eq!(ImageRef::parse(&image.to_string()), Ok(image));
        }
    }

    #[test]
    fn valid_references_parse_to_their_parts_and_display_stably((text, expected) in reference()) {
        let parsed = ImageRef::parse(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&expected), "{}", text);
        let canonical = expected.to_string();
        prop_assert_eq!(ImageRef::parse(&canonical), Ok(expected), "{}", canonical);
    }

    #[test]
    fn push_from_image_uri_never_panics(text in prop_oneof![any_text(), reference_like()]) {
        if let Ok(push) = Push::from_image_uri(&text) {
            prop_assert!(matches!(push.registry, Registry::Ecr { .. }), "{}", text);
        }
    }

    #[test]
    fn push_from_image_uri_reads_ecr_references_exactly((text, image) in reference()) {
        let result = Push::from_image_uri(&text);
        match (&image.registry, image.effective_tag()) {
            (Registry::Ecr { .. }, Some(tag)) => {
                let push = result.map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                prop_assert_eq!(push.image(), ImageRef { tag: Some(tag.to_owned()), ..image });
            }
            (Registry::Ecr { .. }, None) => prop_assert!(matches!(result, Err(ImageUriError::Untagged(_)))),
            (Registry::Host(_), _) => prop_assert!(matches!(result, Err(ImageUriError::NotEcr(_)))),
        }
    }

    #[test]
    fn classify_never_panics_and_acts_only_on_what_the_event_says(event in event_shaped()) {
        let at = |pointer| string_at(&event, pointer);
        match classify(event.clone()) {
            Ok(Classified::Push(push)) => {
                let detail_type = at("/detail-type").unwrap_or_default();
                prop_assert_eq!(at("/source"), Some(ECR_SOURCE));
                prop_assert!(push_action(detail_type).is_some(), "{}", detail_type);
                prop_assert_eq!(at("/detail/action-type"), push_action(detail_type));
                prop_assert_eq!(at("/detail/result"), Some("SUCCESS"));
                let source = (detail_type == REPLICATION_ACTION).then(|| {
                    Registry::ecr(at("/detail/source-account").unwrap_or_default(), at("/detail/source-region").unwrap_or_default())
                });
                prop_assert_eq!(push.replicated_from.map(Ok), source);
                let registry = Registry::ecr(at("/account").unwrap_or_default(), at("/region").unwrap_or_default());
                prop_assert_eq!(Ok(push.registry), registry);
                prop_assert_eq!(at("/detail/repository-name"), Some(push.repository.as_str()));
                prop_assert_eq!(at("/detail/image-tag"), Some(push.tag.as_str()));
                prop_assert_eq!(at("/detail/image-digest"), push.digest.as_deref());
                prop_assert_eq!(at("/id"), push.event_id.as_deref());
            }
            Ok(Classified::Sweep) => {
                prop_assert_eq!(at("/source"), Some(SCHEDULE_SOURCE));
                prop_assert_eq!(at("/detail-type"), Some(SCHEDULED_EVENT));
            }
            Ok(Classified::Deployment(change)) => {
                prop_assert_eq!(at("/source"), Some("aws.ecs"));
                prop_assert_eq!(at("/detail-type"), Some("ECS Deployment State Change"));
                prop_assert_eq!(at("/detail/deploymentId"), Some(change.deployment_id.as_str()));
                prop_assert_eq!(at("/resources/0"), Some(change.service_arn.as_str()));
            }
            Ok(Classified::Ignored(why)) => {
                let why_holds = match &why {
                    Ignored::OtherSource(source) => at("/source") == Some(source) && source != ECR_SOURCE,
                    Ignored::OtherDetailType(detail_type) => {
                        at("/detail-type") == Some(detail_type) && push_action(detail_type).is_none()
                    }
                    Ignored::NotAPush(action) => {
                        at("/detail/action-type") == Some(action)
                            && push_action(at("/detail-type").unwrap_or_default()) != Some(action)
                    }
                    Ignored::NotSuccessful(result) => at("/detail/result") == Some(result) && result != "SUCCESS",
                    Ignored::Untagged => at("/detail/image-tag").is_none_or(str::is_empty),
                    Ignored::OtherEcsDetailType(detail_type) => {
                        at("/source") == Some("aws.ecs") && at("/detail-type") == Some(detail_type)
                    }
                    Ignored::OtherDeploymentEvent(name) => at("/detail/eventName") == Some(name),
                    Ignored::DeploymentInProgress => at("/detail/eventName") == Some("SERVICE_DEPLOYMENT_IN_PROGRESS"),
                    Ignored::NotAnImage(_) => {
                        at("/detail/image-tag").is_some_and(|t| t.starts_with("sha256-"))
                            || at("/detail/manifest-media-type").is_some()
                            || at("/detail/artifact-media-type").is_some()
                    }
                };
                prop_assert!(why_holds, "{}", why);
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn classify_json_never_panics_and_accepts_only_objects(text in any_text()) {
        prop_assert!(classify_json(&text).is_err() || text.trim_start().starts_with('{'), "{}", text);
    }

    #[test]
    fn an_event_classifies_the_same_from_its_text(event in event_shaped()) {
        let from_text = classify_json(&event.to_string()).map_err(|_| "error");
        prop_assert_eq!(from_text, classify(event).map_err(|_| "error"));
    }

    #[test]
    fn valid_push_events_classify_as_exactly_their_push((event, push) in push_event()) {
        prop_assert_eq!(classify(event).map_err(|e| e.to_string()), Ok(Classified::Push(push)));
    }
}
