//! What the engine leaves for each service, typed: the decision, the pushes behind it, and the outcome
//! with its data or its failure. `report` renders them.

use std::sync::Arc;

use thiserror::Error;

use super::decide::Decision;
use crate::ecr::EcrError;
use crate::ecs::EcsError;
use crate::lock::LockError;

/// Why a service failed; typed until the report renders it.
#[derive(Debug, Error)]
pub enum Failure {
    /// Shared by every service the failed call was for (a describe batch, a task definition, a registration).
    #[error(transparent)]
    Ecs(Arc<EcsError>),
    #[error(transparent)]
    Lock(#[from] LockError),
    /// ECS named the service a failure without an error (`DescribeServices`' `failures`).
    #[error("{0}")]
    Reported(String),
}

impl From<EcsError> for Failure {
    fn from(error: EcsError) -> Self {
        Failure::Ecs(Arc::new(error))
    }
}

impl Failure {
    /// Whether a retry of the invocation may get past it.
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Ecs(error) => error.retryable(),
            // The lock's state is unknown: a retry asks again.
            Failure::Lock(_) => true,
            Failure::Reported(_) => false,
        }
    }
}

/// What happened to a service, with what it produced.
#[derive(Debug)]
pub enum Outcome {
    Redeployed(Deployed),
    Planned,
    Skipped,
    Failed(Failure),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployed {
    pub deployment_id: String,
    /// The service deployment ECS made for it (`currentServiceDeployment` of `UpdateService`'s answer).
    pub service_deployment: Option<String>,
    /// Pin mode: the revision the service was moved to.
    pub new_task_definition: Option<String>,
}

/// The service a result is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceId {
    pub cluster: String,
    pub name: String,
    pub arn: String,
}

/// One service's decision and outcome, as the engine leaves them.
#[derive(Debug)]
pub struct ServiceResult {
    pub service: ServiceId,
    /// `None` when the service could not be examined.
    pub task_definition: Option<String>,
    pub decision: Decision,
    /// Positions (in the invocation's pushes) of the pushes behind the decision.
    pub pushes: Vec<usize>,
    pub outcome: Outcome,
    /// Its wave in a staged rollout; `None` without the wave tag.
    pub wave: Option<super::wave::Wave>,
}

/// A cluster-level step that failed, so some services may be missing from the fleet (or, for a sweep, some tags
/// were not checked).
#[derive(Debug)]
pub struct ScanFailure {
    /// `None`: a step for every cluster (listing clusters or tagged services, reading tags).
    pub cluster: Option<String>,
    pub step: &'static str,
    pub error: StepError,
}

#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Ecs(#[from] EcsError),
    #[error(transparent)]
    Ecr(#[from] EcrError),
    #[error(transparent)]
    Lambda(#[from] crate::lambda::LambdaError),
}
