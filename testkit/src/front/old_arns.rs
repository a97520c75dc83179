//! Services ECS created before the long ARN format: their ARN is `service/NAME`, without the cluster. For the
//! services named in [`super::FrontConfig::old_format_services`] the front answers `ListServices` with that ARN,
//! and refuses (`AccessDeniedException`) a `DescribeServices` or `UpdateService` that names an old-format ARN, as
//! IAM refuses a role scoped to `service/CLUSTER/*` (the stack's): it authorizes every service a call names.

use serde_json::{Map, Value};

use super::wire::AwsError;

/// The refusal of a call naming an old-format service ARN, when the front answers any.
pub(super) fn refused(action: &str, body: &Map<String, Value>, old_format: &[String]) -> Option<AwsError> {
    if old_format.is_empty() {
        return None;
    }
    let named: Vec<&str> = match action {
        "DescribeServices" => body
            .get("services")
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
        "UpdateService" => body.get("service").and_then(Value::as_str).into_iter().collect(),
        _ => return None,
    };
    named.into_iter().find(|s| is_old_format(s)).map(|arn| {
        AwsError::access_denied(format!(
            "User is not authorized to perform: ecs:{action} on resource: {arn} because no identity-based policy \
             allows the ecs:{action} action"
        ))
    })
}

/// A `ListServices` answer with the ARNs of the old-format services rewritten to `service/NAME`.
pub(super) fn listed(action: &str, body: Vec<u8>, old_format: &[String]) -> Vec<u8> {
    if action != "ListServices" || old_format.is_empty() {
        return body;
    }
    let Ok(mut answer) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    if let Some(arns) = answer.get_mut("serviceArns").and_then(Value::as_array_mut) {
        for arn in arns.iter_mut() {
            let Some(long) = arn.as_str() else { continue };
            let (prefix, resource) = long.rsplit_once(':').unwrap_or(("", long));
            let name = resource.rsplit('/').next().unwrap_or(resource);
            if old_format.iter().any(|o| o == name) {
                *arn = Value::from(format!("{prefix}:service/{name}"));
            }
        }
    }
    answer.to_string().into_bytes()
}

fn is_old_format(service: &str) -> bool {
    service.starts_with("arn:") && service.rsplit(':').next().is_some_and(|r| r.split('/').count() == 2)
}
