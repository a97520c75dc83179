//! Why a service is redeployed, skipped or failed: one vocabulary for the decision, the plan, the
//! execution and the report. `code()` is the stable name in reports and logs.

/// Declared from the closest miss to the farthest: when a service's containers (or several pushes)
/// give it different reasons, the smallest is the one reported, because it says most about why the
/// service was not redeployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    ImageMatch,
    PolicyMatch,
    /// The revision the service converges to runs the pushed digest in every matching container.
    AlreadyRunning,
    /// The revision the service converges to was made after the push and has not resolved the tag yet.
    RollingOut,
    /// ECS rolled back a deployment whose target ran (or was to run) the digest this push would deploy again.
    RolledBack,
    /// Staged rollout: an earlier wave of the digest has not completed (or not baked) yet.
    WaitingForWave,
    /// Staged rollout: a service of an earlier wave failed to deploy the digest.
    WaveHalted,
    AlreadyDeployed,
    /// The service asks for a new task-definition revision (pin, a tag policy) and `NEW_REVISIONS=disabled`.
    RevisionsDisabled,
    PolicyRejected,
    DigestPinned,
    TagMismatch,
    OtherRegistry,
    /// A sweep found only images in registries it cannot ask (another account or Region, not ECR).
    NotCheckable,
    /// A sweep cannot tell what the service runs, so it cannot tell drift.
    RunningUnknown,
    /// A concurrent delivery of the same push holds the deploy lock.
    InProgress,
    OptedOut,
    NotOptedIn,
    InvalidPolicy,
    /// The wave tag's value is not a whole number from 1 to 99.
    InvalidWave,
    NoDigest,
    ServiceNotActive,
    /// The pushed image lists no platform the task definition's `runtimePlatform` runs.
    PlatformMismatch,
    /// The push is an image index (multi-architecture), which a Lambda function cannot run.
    ImageIndex,
    /// A CodeDeploy or external deployment controller: `UpdateService` cannot redeploy the service.
    UnsupportedController,
    /// A function's `-alias` tag names an alias the function does not have.
    AliasNotFound,
    /// `DescribeServices` reports the service `MISSING`: deleted, or a stale tagging-API entry.
    ServiceNotFound,
    /// `DescribeServices` described the service without an ARN, which every call and the lock need.
    NoServiceArn,
    /// An old-format service ARN (`service/NAME`) names no cluster: no cluster-scoped policy covers it, so it
    /// is not described.
    OldArnFormat,
    /// `DescribeServices` failed for the service, or reported it as a failure.
    DescribeFailed,
    TaskDefinitionUnavailable,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::ImageMatch => "image-match",
            Reason::PolicyMatch => "policy-match",
            Reason::AlreadyRunning => "already-running",
            Reason::RollingOut => "rolling-out",
            Reason::RolledBack => "rolled-back",
            Reason::WaitingForWave => "waiting-for-wave",
            Reason::WaveHalted => "wave-halted",
            Reason::AlreadyDeployed => "already-deployed",
            Reason::RevisionsDisabled => "revisions-disabled",
            Reason::PolicyRejected => "policy-rejected",
            Reason::DigestPinned => "digest-pinned",
            Reason::TagMismatch => "tag-mismatch",
            Reason::OtherRegistry => "other-registry",
            Reason::NotCheckable => "not-checkable",
            Reason::RunningUnknown => "running-unknown",
            Reason::InProgress => "in-progress",
            Reason::OptedOut => "opted-out",
            Reason::NotOptedIn => "not-opted-in",
            Reason::InvalidPolicy => "invalid-policy",
            Reason::InvalidWave => "invalid-wave",
            Reason::NoDigest => "no-digest",
            Reason::ServiceNotActive => "service-not-active",
            Reason::PlatformMismatch => "platform-mismatch",
            Reason::ImageIndex => "image-index",
            Reason::UnsupportedController => "unsupported-controller",
            Reason::AliasNotFound => "alias-not-found",
            Reason::ServiceNotFound => "service-not-found",
            Reason::NoServiceArn => "no-service-arn",
            Reason::OldArnFormat => "old-arn-format",
            Reason::DescribeFailed => "describe-failed",
            Reason::TaskDefinitionUnavailable => "task-definition-unavailable",
        }
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Reason::*;

    #[test]
    fn the_closest_miss_orders_first() {
        let mut misses = [
            OtherRegistry,
            TagMismatch,
            DigestPinned,
            PolicyRejected,
            AlreadyDeployed,
            RolledBack,
        ];
        misses.sort();
        assert_eq!(
            misses.map(|r| r.code()),
            [
                "rolled-back",
                "already-deployed",
                "policy-rejected",
                "digest-pinned",
                "tag-mismatch",
                "other-registry"
            ]
        );
    }
}
