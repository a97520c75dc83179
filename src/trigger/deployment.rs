//! `ECS Deployment State Change` events (source `aws.ecs`): how the deployments the function started end.
//! The event names the service only by its ARN in `resources` and the deployment by `detail.deploymentId`
//! (`ecs-svc/…`; the service-deployment ARN form is accepted too, as no document rules it out).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::eventbridge::EventError;
pub use crate::domain::rollout::DeploymentEventName;

pub const ECS_SOURCE: &str = "aws.ecs";
pub const DEPLOYMENT_STATE_CHANGE: &str = "ECS Deployment State Change";

/// A state change of one service deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentChange {
    pub service_arn: String,
    /// `ecs-svc/…`, as `UpdateService` names the deployment in `deployments[]`.
    pub deployment_id: String,
    pub event_name: DeploymentEventName,
    pub reason: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The EventBridge event id.
    pub event_id: Option<String>,
}

/// The `detail` of an `ECS Deployment State Change` event; unknown fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_name: String,
    deployment_id: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

/// What a deployment event amounts to: a change to follow, or a known event name we do not act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Change(DeploymentChange),
    /// An event name other than the three documented ones.
    OtherEventName(String),
}

/// Reads the `detail` and `resources` of an `ECS Deployment State Change` event. Every error names the field.
pub fn parse(detail: Value, resources: Option<Vec<String>>, event_id: Option<String>) -> Result<Parsed, EventError> {
    let detail: Detail =
        serde_path_to_error::deserialize(detail).map_err(|source| EventError::DeploymentDetail { source })?;
    let Some(event_name) = DeploymentEventName::parse(&detail.event_name) else {
        return Ok(Parsed::OtherEventName(detail.event_name));
    };
    if detail.deployment_id.is_empty() {
        return Err(EventError::EmptyField("detail.deploymentId"));
    }
    let resources = resources.ok_or(EventError::MissingField("resources"))?;
    let service_arn = match resources.as_slice() {
        [] => return Err(EventError::MissingField("resources")),
        [arn] if is_service_arn(arn) => arn.clone(),
        [arn] => return Err(EventError::NotAServiceArn(crate::domain::image::shown(arn))),
        _ => return Err(EventError::TooManyResources(resources.len())),
    };
    Ok(Parsed::Change(DeploymentChange {
        service_arn,
        deployment_id: detail.deployment_id,
        event_name,
        reason: detail.reason.filter(|r| !r.is_empty()),
        updated_at: detail.updated_at,
        event_id,
    }))
}

/// `arn:PARTITION:ecs:REGION:ACCOUNT:service/CLUSTER/NAME` (or the old `service/NAME`).
fn is_service_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "ecs", region, account, resource]
    if !partition.is_empty() && !region.is_empty() && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("service/").is_some_and(|rest| {
            let segments: Vec<&str> = rest.split('/').collect();
            (1..=2).contains(&segments.len()) && segments.iter().all(|s| !s.is_empty())
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SERVICE: &str = "arn:aws:ecs:us-west-2:111122223333:service/default/servicetest";

    fn detail(name: &str) -> Value {
        json!({"eventType": "ERROR", "eventName": name, "deploymentId": "ecs-svc/123",
               "updatedAt": "2020-05-23T11:11:11Z", "reason": "ECS deployment circuit breaker: task failed to start."})
    }

    #[test]
    fn the_documented_failed_event_is_a_change_of_its_service() {
        let parsed = parse(
            detail("SERVICE_DEPLOYMENT_FAILED"),
            Some(vec![SERVICE.into()]),
            Some("e-1".into()),
        )
        .unwrap();
        assert_eq!(
            parsed,
            Parsed::Change(DeploymentChange {
                service_arn: SERVICE.into(),
                deployment_id: "ecs-svc/123".into(),
                event_name: DeploymentEventName::Failed,
                reason: Some("ECS deployment circuit breaker: task failed to start.".into()),
                updated_at: Some("2020-05-23T11:11:11Z".parse().unwrap()),
                event_id: Some("e-1".into()),
            })
        );
    }

    #[test]
    fn event_names_map_to_their_kinds_and_others_are_named() {
        for (name, kind) in [
            ("SERVICE_DEPLOYMENT_IN_PROGRESS", DeploymentEventName::InProgress),
            ("SERVICE_DEPLOYMENT_COMPLETED", DeploymentEventName::Completed),
            ("SERVICE_DEPLOYMENT_FAILED", DeploymentEventName::Failed),
        ] {
            let Parsed::Change(change) = parse(detail(name), Some(vec![SERVICE.into()]), None).unwrap() else {
                panic!("{name} is a change");
            };
            assert_eq!((change.event_name, change.event_name.as_str()), (kind, name));
        }
        assert_eq!(
            parse(detail("SERVICE_DEPLOYMENT_PAUSED"), Some(vec![SERVICE.into()]), None).unwrap(),
            Parsed::OtherEventName("SERVICE_DEPLOYMENT_PAUSED".into())
        );
    }

    #[test]
    fn malformed_events_name_the_field() {
        let error =
            |detail: Value, resources: Option<Vec<String>>| parse(detail, resources, None).unwrap_err().to_string();
        let mut no_id = detail("SERVICE_DEPLOYMENT_COMPLETED");
        no_id.as_object_mut().unwrap().remove("deploymentId");
        assert!(error(no_id, Some(vec![SERVICE.into()])).contains("missing field `deploymentId`"));
        let mut numeric_id = detail("SERVICE_DEPLOYMENT_COMPLETED");
        numeric_id["deploymentId"] = json!(123);
        assert!(error(numeric_id, Some(vec![SERVICE.into()])).contains("deploymentId: invalid type: integer"));
        let mut empty_id = detail("SERVICE_DEPLOYMENT_COMPLETED");
        empty_id["deploymentId"] = json!("");
        assert_eq!(
            error(empty_id, Some(vec![SERVICE.into()])),
            "empty field `detail.deploymentId`"
        );
        let completed = || detail("SERVICE_DEPLOYMENT_COMPLETED");
        assert_eq!(error(completed(), None), "missing field `resources`");
        assert_eq!(error(completed(), Some(vec![])), "missing field `resources`");
        assert_eq!(
            error(
                completed(),
                Some(vec!["arn:aws:ecs:us-west-2:111122223333:cluster/default".into()])
            ),
            "field `resources` does not hold a service ARN: `arn:aws:ecs:us-west-2:111122223333:cluster/default`"
        );
        assert_eq!(
            error(completed(), Some(vec![SERVICE.into(), SERVICE.into()])),
            "field `resources` holds 2 ARNs, not the one service ARN"
        );
        let mut bad_time = completed();
        bad_time["updatedAt"] = json!("yesterday");
        assert!(error(bad_time, Some(vec![SERVICE.into()])).contains("updatedAt"));
    }

    #[test]
    fn service_arns_are_told_from_other_arns() {
        assert!(is_service_arn(SERVICE));
        assert!(is_service_arn("arn:aws:ecs:us-west-2:111122223333:service/servicetest"));
        assert!(is_service_arn("arn:aws-cn:ecs:cn-north-1:111122223333:service/a/b"));
        assert!(!is_service_arn("arn:aws:ecs:us-west-2:111122223333:service/a/b/c"));
        assert!(!is_service_arn("arn:aws:ecs:us-west-2:1111:service/a/b"));
        assert!(!is_service_arn("arn:aws:ecs:us-west-2:111122223333:service//b"));
        assert!(!is_service_arn("arn:aws:ecs:us-west-2:111122223333:task/a/b"));
        assert!(!is_service_arn("servicetest"));
    }
}
