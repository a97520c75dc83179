//! An SDK error as the port's `EcsError`: classified by code, the operation named, the source kept.

use aws_sdk_ecs::error::DisplayErrorContext;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use tracing::debug;

use crate::ecs::{EcsError, EcsErrorKind};

pub(in crate::ecs) fn ecs_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> EcsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (kind, message) = match error.as_service_error() {
        Some(service_error) => {
            let code = service_error.code().unwrap_or("UnknownError");
            let kind = match code {
                "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" => EcsErrorKind::Throttling,
                "ClusterNotFoundException" | "ServiceNotFoundException" | "ServiceNotActiveException" => {
                    EcsErrorKind::NotFound
                }
                "InvalidParameterException" => EcsErrorKind::InvalidParameter,
                "AccessDeniedException" => EcsErrorKind::AccessDenied,
                _ => EcsErrorKind::Other,
            };
            (
                kind,
                format!("{code}: {}", service_error.message().unwrap_or("no message")),
            )
        }
        None => (EcsErrorKind::Other, crate::error_chain::render(&error)),
    };
    debug!(operation, error = %DisplayErrorContext(&error), "ecs call failed");
    EcsError {
        operation,
        kind,
        message,
        source: Some(Box::new(error)),
    }
}
