//! What a service runs, as ECS recorded it: the service revision it converges to and the digest each of its
//! containers resolved to. The engine reads it (`DescribeServiceDeployments`, `DescribeServiceRevisions`); the
//! decision compares it with what was pushed.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::ecs::{DeploymentStatus, EcsError};

/// A service's running digests, or why they are not known.
#[derive(Clone, Debug)]
pub enum Running {
    Known(RunningRevision),
    Unknown(Unknown),
}

/// The service revision a service converges to: the target of its current deployment, or the revision a rollback
/// returns to (older revisions of a rolling deployment are draining).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningRevision {
    pub arn: String,
    pub created_at: Option<DateTime<Utc>>,
    /// Container name → the digest ECS resolved its image to; `None` until the deployment's first task resolved it.
    pub digests: BTreeMap<String, Option<String>>,
    /// The revision is the one a rollback (circuit breaker, alarms, by hand) returned to.
    pub rolled_back_to: bool,
}

/// A deployment that was rolled back, and what its target revision ran or was to run: digests automation must
/// not deploy to the service again (a person may: `--retry-rolled-back`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledBack {
    /// The service deployment's ARN.
    pub deployment: String,
    /// `None`: ECS named a `rollback` but no status.
    pub status: Option<DeploymentStatus>,
    /// ECS's `statusReason` (else the rollback's own `reason`).
    pub status_reason: Option<String>,
    /// When the rollback started (`rollback.startedAt`), else when ECS last updated the deployment.
    pub at: Option<DateTime<Utc>>,
    /// The rolled-back deployment's `targetServiceRevision`, and when it was made.
    pub target_revision: String,
    pub target_created_at: Option<DateTime<Utc>>,
    /// Container name → the digest the target ran (ECS resolved it) or was to run (a pinned `@digest`); `None`:
    /// neither.
    pub digests: BTreeMap<String, Option<String>>,
    pub source: HoldSource,
}

/// Who tells of a rolled-back deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldSource {
    /// The service's current deployment, as `DescribeServiceDeployments` tells it.
    CurrentDeployment,
    /// The function's own record of a deployment it started (the lock table), which keeps the hold after a later
    /// unrelated deployment became current.
    OwnRecord,
}

#[derive(Clone, Debug)]
pub enum Unknown {
    /// ECS names no current service revision (a service not deployed since service revisions exist).
    NotRecorded,
    /// ECS does not know the revision it named (revisions from before 2024-10-25 cannot be described).
    NotDescribed,
    /// Reading the deployments or revisions failed (`AccessDenied` for an older policy, throttling, …).
    Unavailable(Arc<EcsError>),
    /// Not looked up: no push relates to the service.
    NotLoaded,
    /// A container has `versionConsistency` disabled: ECS records no digest for it.
    VersionConsistencyDisabled,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unknown::NotRecorded => f.write_str("ECS names no current service revision for the service"),
            Unknown::NotDescribed => f.write_str("ECS did not describe the service's current revision"),
            Unknown::Unavailable(error) => write!(f, "reading what it runs failed: {error}"),
            Unknown::NotLoaded => f.write_str("what it runs was not read"),
            Unknown::VersionConsistencyDisabled => {
                f.write_str("a matching container has versionConsistency disabled, so ECS records no digest for it")
            }
        }
    }
}

impl Running {
    /// Container name → running digest, when known.
    pub fn digests(&self) -> Option<&BTreeMap<String, Option<String>>> {
        match self {
            Running::Known(revision) => Some(&revision.digests),
            Running::Unknown(_) => None,
        }
    }
}
