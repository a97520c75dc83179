//! Does the pushed image run where the service's tasks run? Pure: the platforms the pushed image index lists
//! against the task definition's `runtimePlatform`. Pushing an amd64-only image to a tag ARM64 tasks follow
//! would crash-loop the service, so such a redeploy becomes a skip.

use super::decide::{Action, Decision};
use super::reason::Reason;
use crate::ecr::{Platform, Platforms};
use crate::ecs::RuntimePlatform;

/// `decision` unless it redeploys onto a platform the pushed image does not list. `pushed`: `None` when the
/// image's platforms could not be asked for (no digest, or ECR did not answer).
pub fn check(decision: Decision, pushed: Option<&Platforms>, runtime: Option<&RuntimePlatform>) -> Decision {
    let Action::Redeploy(_) = decision.action else {
        return decision;
    };
    let Some(wanted) = runtime.and_then(wanted_platform) else {
        // The revision names no platform: ECS picks one the image has.
        return decision;
    };
    match pushed {
        Some(Platforms::Listed(listed)) if !listed.is_empty() && !listed.iter().any(|p| runs_on(p, &wanted)) => {
            let built_for = listed
                .iter()
                .map(|p| format!("{}/{}", p.os, p.architecture))
                .collect::<Vec<_>>()
                .join(", ");
            let detail = format!(
                "the pushed image is built for {built_for}; the task definition runs {}/{}: redeploying would \
                 crash-loop the service",
                wanted.os, wanted.architecture
            );
            Decision {
                warnings: vec![detail.clone()],
                containers: decision.containers,
                ..Decision::skip(Reason::PlatformMismatch, detail)
            }
        }
        Some(Platforms::Listed(_)) => decision,
        unknown => {
            let why = match unknown {
                Some(_) => "the push is a single manifest, whose platform is not listed",
                None => "ECR could not be asked about the pushed digest",
            };
            let mut decision = decision;
            decision.warnings.push(format!(
                "platform not checked ({why}); the task definition runs {}/{}",
                wanted.os, wanted.architecture
            ));
            decision
        }
    }
}

/// The runtime platform in an image index's words (`linux`/`arm64`); `None` when the architecture is not set.
fn wanted_platform(runtime: &RuntimePlatform) -> Option<Platform> {
    let architecture = match runtime.cpu_architecture.as_deref()? {
        "X86_64" => "amd64",
        "ARM64" => "arm64",
        other => {
            return Some(Platform {
                os: os_of(runtime),
                architecture: other.to_ascii_lowercase(),
            });
        }
    };
    Some(Platform {
        os: os_of(runtime),
        architecture: architecture.to_owned(),
    })
}

fn os_of(runtime: &RuntimePlatform) -> String {
    match runtime.os_family.as_deref() {
        Some(family) if family.starts_with("WINDOWS") => "windows".to_owned(),
        _ => "linux".to_owned(),
    }
}

fn runs_on(image: &Platform, wanted: &Platform) -> bool {
    image.os == wanted.os && image.architecture == wanted.architecture
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::Method;

    fn redeploy() -> Decision {
        Decision {
            action: Action::Redeploy(Method::Force),
            containers: vec!["web".into()],
            ..Decision::skip(Reason::ImageMatch, "`web` uses `app:latest`".into())
        }
    }

    fn runtime(cpu: &str, os: &str) -> RuntimePlatform {
        RuntimePlatform {
            cpu_architecture: Some(cpu.into()),
            os_family: Some(os.into()),
        }
    }

    fn listed(platforms: &[(&str, &str)]) -> Platforms {
        Platforms::Listed(
            platforms
                .iter()
                .map(|(os, architecture)| Platform {
                    os: (*os).into(),
                    architecture: (*architecture).into(),
                })
                .collect(),
        )
    }

    #[test]
    fn platform_table() {
        let arm = runtime("ARM64", "LINUX");
        let amd_only = listed(&[("linux", "amd64")]);
        let both = listed(&[("linux", "amd64"), ("linux", "arm64")]);
        /// (case, pushed platforms, runtime platform, expected reason, warnings)
        type Case = (&'static str, Option<Platforms>, Option<RuntimePlatform>, Reason, usize);
        let cases: Vec<Case> = vec![
            (
                "amd64-only to ARM64 tasks",
                Some(amd_only.clone()),
                Some(arm.clone()),
                Reason::PlatformMismatch,
                1,
            ),
            (
                "multi-arch to ARM64 tasks",
                Some(both.clone()),
                Some(arm.clone()),
                Reason::ImageMatch,
                0,
            ),
            (
                "amd64 to X86_64 tasks",
                Some(amd_only.clone()),
                Some(runtime("X86_64", "LINUX")),
                Reason::ImageMatch,
                0,
            ),
            (
                "linux image to Windows tasks",
                Some(both),
                Some(runtime("X86_64", "WINDOWS_SERVER_2022_CORE")),
                Reason::PlatformMismatch,
                1,
            ),
            (
                "no runtime platform: ECS picks",
                Some(amd_only.clone()),
                None,
                Reason::ImageMatch,
                0,
            ),
            (
                "a single manifest: said, not checked",
                Some(Platforms::Unknown),
                Some(arm.clone()),
                Reason::ImageMatch,
                1,
            ),
            (
                "ECR not asked: said, not checked",
                None,
                Some(arm.clone()),
                Reason::ImageMatch,
                1,
            ),
        ];
        for (case, pushed, runtime, reason, warnings) in cases {
            let decided = check(redeploy(), pushed.as_ref(), runtime.as_ref());
            assert_eq!(decided.reason, reason, "{case}");
            assert_eq!(decided.warnings.len(), warnings, "{case}: {:?}", decided.warnings);
            assert_eq!(decided.containers, ["web"], "{case}");
            assert_eq!(
                decided.action == Action::Skip,
                reason == Reason::PlatformMismatch,
                "{case}"
            );
        }
        let skip = check(
            Decision::skip(Reason::TagMismatch, "other tag".into()),
            Some(&amd_only),
            Some(&arm),
        );
        assert_eq!(skip.reason, Reason::TagMismatch, "only redeploys are checked");
    }
}
