//! What a service runs, as ECS recorded it: the service revision it converges to and the digest each of its
//! containers resolved to. The engine reads it (`DescribeServiceDeployments`, `DescribeServiceRevisions`); the
//! decision compares it with what was pushed.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::ecs::EcsError;

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
