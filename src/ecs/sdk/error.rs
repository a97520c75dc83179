//! An SDK error as the port's `EcsError`: classified by code, the operation named, the source kept.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};

use crate::ecs::{EcsError, EcsErrorKind};

pub(in crate::ecs) fn ecs_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> EcsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    EcsError::from_sdk(operation, error, kind)
}

fn kind(code: &str) -> EcsErrorKind {
    match code {
        "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" => EcsErrorKind::Throttling,
        "ClusterNotFoundException" | "ServiceNotFoundException" | "ServiceNotActiveException" => EcsErrorKind::NotFound,
        "InvalidParameterException" => EcsErrorKind::InvalidParameter,
        "AccessDeniedException" => EcsErrorKind::AccessDenied,
        _ => EcsErrorKind::Other,
    }
}
