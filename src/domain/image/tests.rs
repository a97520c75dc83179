use super::*;

const DIGEST: &str = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";

fn ecr(account: &str, region: &str) -> Registry {
    Registry::Ecr {
        account: account.into(),
        region: region.into(),
    }
}

fn host(h: &str) -> Registry {
    Registry::Host(h.into())
}

#[test]
fn parses_references() {
    let d = Some(DIGEST);
    /// (reference, registry, repository, tag, digest)
    type Case = (
        String,
        Registry,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        ("nginx".into(), host("docker.io"), "library/nginx", None, None),
        (
            "nginx:1.27".into(),
            host("docker.io"),
            "library/nginx",
            Some("1.27"),
            None,
        ),
        (
            "bitnami/redis:7".into(),
            host("docker.io"),
            "bitnami/redis",
            Some("7"),
            None,
        ),
        (
            "docker.io/library/nginx".into(),
            host("docker.io"),
            "library/nginx",
            None,
            None,
        ),
        (
            "index.docker.io/nginx".into(),
            host("docker.io"),
            "library/nginx",
            None,
            None,
        ),
        ("localhost/app".into(), host("localhost"), "app", None, None),
        (
            "localhost:5000/team/app:v1".into(),
            host("localhost:5000"),
            "team/app",
            Some("v1"),
            None,
        ),
        (
            "ghcr.io/org/app:main".into(),
            host("ghcr.io"),
            "org/app",
            Some("main"),
            None,
        ),
        ("Quay.IO/org/app".into(), host("quay.io"), "org/app", None, None),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest".into(),
            ecr("123456789012", "us-east-1"),
            "app",
            Some("latest"),
            None,
        ),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/team/svc/api:v2".into(),
            ecr("123456789012", "us-gov-west-1"),
            "team/svc/api",
            Some("v2"),
            None,
        ),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app".into(),
            ecr("123456789012", "cn-north-1"),
            "app",
            None,
            None,
        ),
        (
            "123456789012.dkr-ecr.eu-west-1.on.aws/app:1".into(),
            ecr("123456789012", "eu-west-1"),
            "app",
            Some("1"),
            None,
        ),
        (
            format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app@{DIGEST}"),
            ecr("123456789012", "us-east-1"),
            "app",
            None,
            d,
        ),
        (
            format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest@{DIGEST}"),
            ecr("123456789012", "us-east-1"),
            "app",
            Some("latest"),
            d,
        ),
        // Not an ECR host: the account part is not 12 digits, so it is just another host.
        (
            "12345.dkr.ecr.us-east-1.amazonaws.com/app".into(),
            host("12345.dkr.ecr.us-east-1.amazonaws.com"),
            "app",
            None,
            None,
        ),
    ];
    for (input, registry, repository, tag, digest) in cases {
        let parsed = ImageRef::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed.registry, registry, "{input}");
        assert_eq!(parsed.repository, repository, "{input}");
        assert_eq!(parsed.tag.as_deref(), tag, "{input}");
        assert_eq!(parsed.digest.as_deref(), digest, "{input}");
    }
}

#[test]
fn rejects_invalid_references() {
    let cases = [
        ("", ImageRefError::Empty),
        ("   ", ImageRefError::Empty),
        ("App", ImageRefError::InvalidRepository("library/App".into())),
        ("ghcr.io/Org/app", ImageRefError::InvalidRepository("Org/app".into())),
        ("ghcr.io/org//app", ImageRefError::InvalidRepository("org//app".into())),
        ("app:", ImageRefError::InvalidTag(String::new())),
        ("app:-x", ImageRefError::InvalidTag("-x".into())),
        ("app:a/b", ImageRefError::InvalidHost("app:a".into())),
        ("app:tag!", ImageRefError::InvalidTag("tag!".into())),
        ("app@sha256:abc", ImageRefError::InvalidDigest("sha256:abc".into())),
        ("app@md5:0", ImageRefError::InvalidDigest("md5:0".into())),
        ("bad_host.io:x/app", ImageRefError::InvalidHost("bad_host.io:x".into())),
    ];
    for (input, error) in cases {
        assert_eq!(ImageRef::parse(input), Err(error), "{input:?}");
    }
    for repository in [
        "app.-web", "a-.b", "a_.b", "a._b", "a-_b", "a__-b", "a___b", "-a", "a-", "a..b",
    ] {
        assert!(
            matches!(
                ImageRef::parse(&format!("ghcr.io/{repository}")),
                Err(ImageRefError::InvalidRepository(_))
            ),
            "{repository}"
        );
    }
    for repository in ["a-b", "a--b", "a__b", "a.b", "a_b", "a.b-c__d/e"] {
        assert!(
            ImageRef::parse(&format!("ghcr.io/{repository}")).is_ok(),
            "{repository}"
        );
    }
    let long_tag = format!("app:{}", "t".repeat(129));
    assert!(matches!(ImageRef::parse(&long_tag), Err(ImageRefError::InvalidTag(_))));
}

#[test]
fn effective_tag_defaults_to_latest_only_without_digest() {
    let tag = |r: &str| ImageRef::parse(r).unwrap().effective_tag().map(str::to_owned);
    assert_eq!(tag("app").as_deref(), Some("latest"));
    assert_eq!(tag("app:v1").as_deref(), Some("v1"));
    assert_eq!(tag(&format!("app@{DIGEST}")), None);
    assert_eq!(tag(&format!("app:v1@{DIGEST}")).as_deref(), Some("v1"));
}

#[test]
fn displays_canonical_form_and_pins() {
    let image = ImageRef::parse("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app:v1").unwrap();
    assert_eq!(image.to_string(), "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1");
    assert_eq!(
        ImageRef {
            digest: Some(DIGEST.into()),
            ..image
        }
        .to_string(),
        format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1@{DIGEST}")
    );
    let china = Registry::ecr("123456789012", "cn-northwest-1").unwrap();
    assert_eq!(
        china.to_string(),
        "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn"
    );
    assert_eq!(ImageRef::parse("nginx").unwrap().to_string(), "docker.io/library/nginx");
}

#[test]
fn validates_accounts_and_regions() {
    for region in [
        "us-east-1",
        "cn-north-1",
        "us-gov-west-1",
        "ap-southeast-5",
        "eu-central-2",
    ] {
        assert!(is_region(region), "{region}");
    }
    for region in [
        "",
        "us",
        "us-east",
        "US-EAST-1",
        "us-east-x",
        "useast-1",
        "us--1",
        "us-east-123",
    ] {
        assert!(!is_region(region), "{region}");
    }
    assert!(Registry::ecr("123456789012", "us-east-1").is_ok());
    assert_eq!(
        Registry::ecr("12345678901", "us-east-1"),
        Err(ImageRefError::InvalidAccount("12345678901".into()))
    );
    assert_eq!(
        Registry::ecr("123456789012", "moon-1"),
        Err(ImageRefError::InvalidRegion("moon-1".into()))
    );
}

#[test]
fn errors_show_values_escaped_and_cut() {
    let Err(ImageRefError::InvalidTag(shown)) = ImageRef::parse(&format!("app:{}", "x".repeat(5000))) else {
        panic!("a 5000-character tag is invalid")
    };
    assert_eq!(shown, format!("{}… (5000 bytes)", "x".repeat(100)));
    let Err(ImageRefError::InvalidTag(shown)) = ImageRef::parse("app:a\nb\u{202e}c") else {
        panic!("control characters are invalid in tags")
    };
    assert_eq!(shown, "a\\nb\\u{202e}c");
}
