//! Where the service history (`revisions`) meets the calls: the answers that make deployments record them,
//! `DescribeServices` answers say what each service runs, and the front answers `DescribeServiceRevisions`
//! and `DescribeServiceDeployments` itself. Task definitions are read from moto by the front, uncounted.
//! All of it is best effort: what moto cannot tell the front goes unrecorded, and the call is answered
//! as moto answered it, errors included.

use hyper::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::pipeline::Shared;
use super::revisions::{SeenService, ServiceKey, TaskDefinitionImages};
use super::upstream::call_moto;
use super::wire::AwsError;

/// `DescribeServiceRevisions` and `DescribeServiceDeployments` take 1 to 20 ARNs.
pub(super) const DESCRIBE_ARNS_MAX: usize = 20;

/// An action about the service history, which moto does not know: the front answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HistoryRead {
    Revisions,
    Deployments,
}

impl HistoryRead {
    pub(super) fn of_action(action: &str) -> Option<Self> {
        match action {
            "DescribeServiceRevisions" => Some(Self::Revisions),
            "DescribeServiceDeployments" => Some(Self::Deployments),
            _ => None,
        }
    }

    fn arns_key(self) -> &'static str {
        match self {
            Self::Revisions => "serviceRevisionArns",
            Self::Deployments => "serviceDeploymentArns",
        }
    }

    fn answer_key(self) -> &'static str {
        match self {
            Self::Revisions => "serviceRevisions",
            Self::Deployments => "serviceDeployments",
        }
    }

    /// The ARNs asked for; with `check_count`, refused outside 1 to 20 as ECS does.
    pub(super) fn requested_arns(
        self,
        request: &Map<String, Value>,
        check_count: bool,
    ) -> Result<Vec<String>, AwsError> {
        let key = self.arns_key();
        let arns: Vec<String> = match request.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(arns)) => arns
                .iter()
                .map(|arn| arn.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| AwsError::serialization(format!("{key} must be a list of strings")))?,
            Some(_) => return Err(AwsError::serialization(format!("{key} must be a list of strings"))),
        };
        if check_count && !(1..=DESCRIBE_ARNS_MAX).contains(&arns.len()) {
            return Err(AwsError::invalid_parameter(format!(
                "{key}: between 1 and {DESCRIBE_ARNS_MAX} ARNs can be described at once, got {}",
                arns.len()
            )));
        }
        Ok(arns)
    }

    /// The answer: what the front knows of each ARN, a `MISSING` failure for the others.
    pub(super) fn answer(self, shared: &Shared, arns: &[String]) -> Value {
        let now = shared.clock.now_epoch_seconds();
        let (mut found, mut failures) = (Vec::new(), Vec::new());
        for arn in arns {
            let described = match self {
                Self::Revisions => shared.history.describe_revision(arn, now),
                Self::Deployments => shared.history.describe_deployment(arn, now),
            };
            match described {
                Some(described) => found.push(described),
                None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
            }
        }
        json!({ self.answer_key(): found, "failures": failures })
    }
}

/// Before an `UpdateService` reaches moto: a service the front has no record of gets its initial revision
/// and service deployment from what it runs now, so the update's deployment has a source and a revision to roll back to.
pub(super) async fn before_update(shared: &Shared, headers: &HeaderMap, request: &Map<String, Value>) {
    let Some(service) = request.get("service").and_then(Value::as_str) else {
        return;
    };
    let cluster = request.get("cluster").and_then(Value::as_str).unwrap_or("default");
    let key = ServiceKey {
        cluster: last_segment(cluster).to_owned(),
        service: last_segment(service).to_owned(),
    };
    if shared.history.knows(&key) {
        return;
    }
    let described = call_moto(
        shared,
        headers,
        "DescribeServices",
        &json!({"cluster": cluster, "services": [service]}),
    )
    .await;
    // moto refuses the update the same way when it cannot describe the service.
    let Ok(described) = described else {
        return;
    };
    for service in described["services"].as_array().into_iter().flatten() {
        record_initial(shared, headers, service, shared.clock.now_epoch_seconds()).await;
    }
}

/// After moto answered a call that may make deployments or describes services: records the deployments
/// made (`made`: the ids of those moto made, already dated) and says what each service runs.
pub(super) async fn after_answer(
    shared: &Shared,
    headers: &HeaderMap,
    action: &str,
    request: &Map<String, Value>,
    answer: &mut Value,
    made: &[String],
) {
    let now = shared.clock.now_epoch_seconds();
    match action {
        "CreateService" | "UpdateService" => {
            let Some(service) = answer.get_mut("service") else {
                return;
            };
            let Some(seen) = seen_service(service) else {
                return;
            };
            let made_at = made_at(service, made);
            let asked_for_task_definition = action == "UpdateService" && request.contains_key("taskDefinition");
            if action == "CreateService" || made_at.is_some() || asked_for_task_definition {
                let Some(images) = task_definition(shared, headers, service).await else {
                    return;
                };
                // moto makes no deployment for a new task definition alone; ECS does.
                let new_task_definition =
                    shared.history.newest_task_definition(&seen.key).as_deref() != Some(images.arn.as_str());
                if action == "CreateService" || made_at.is_some() || new_task_definition {
                    let created_at = made_at.unwrap_or(now);
                    let ecs_id = primary_id(service);
                    shared
                        .history
                        .record_deployment_as(seen.clone(), images, created_at, now, ecs_id);
                }
            }
            add_current_fields(shared, service, &seen, now);
        }
        "DescribeServices" => {
            for service in answer["services"].as_array_mut().into_iter().flatten() {
                if service.get("status").and_then(Value::as_str) == Some("INACTIVE") {
                    continue;
                }
                record_initial(shared, headers, service, now).await;
                if let Some(seen) = seen_service(service) {
                    add_current_fields(shared, service, &seen, now);
                }
            }
        }
        "DeleteService" => {
            if let Some(seen) = answer.get("service").and_then(seen_service) {
                shared.history.forget(&seen.key);
            }
        }
        _ => {}
    }
}

/// The initial revision and service deployment of a service first seen without them, dated by its primary
/// deployment.
async fn record_initial(shared: &Shared, headers: &HeaderMap, service: &Value, now: f64) {
    let Some(seen) = seen_service(service) else {
        return;
    };
    if shared.history.knows(&seen.key) {
        return;
    }
    let Some(images) = task_definition(shared, headers, service).await else {
        return;
    };
    let deployments = service["deployments"].as_array().into_iter().flatten();
    let primary = deployments
        .clone()
        .find(|d| d["status"] == "PRIMARY")
        .or_else(|| deployments.clone().next());
    let created_at = primary.and_then(|d| d["createdAt"].as_f64()).unwrap_or(now);
    shared
        .history
        .record_initial_as(seen, images, created_at, now, primary_id(service));
}

/// The `id` (`ecs-svc/…`) of the service's PRIMARY deployment, as the SDK reads it from the answer.
fn primary_id(service: &Value) -> Option<String> {
    service["deployments"]
        .as_array()?
        .iter()
        .find(|d| d["status"] == "PRIMARY")
        .and_then(|d| d["id"].as_str())
        .map(str::to_owned)
}

fn add_current_fields(shared: &Shared, service: &mut Value, seen: &SeenService, now: f64) {
    let Some((deployment, revisions)) = shared.history.current_fields(seen, now) else {
        return;
    };
    if let Some(deployment) = deployment {
        service["currentServiceDeployment"] = json!(deployment);
    }
    service["currentServiceRevisions"] = revisions;
}

/// The newest `createdAt` of the deployments the call made.
fn made_at(service: &Value, made: &[String]) -> Option<f64> {
    let deployments = service["deployments"].as_array().into_iter().flatten();
    deployments
        .filter(|d| d["id"].as_str().is_some_and(|id| made.iter().any(|made| made == id)))
        .filter_map(|d| d["createdAt"].as_f64())
        .reduce(f64::max)
}

/// The service's task definition, by ARN, with its containers' images (moto may name it by family only).
async fn task_definition(shared: &Shared, headers: &HeaderMap, service: &Value) -> Option<TaskDefinitionImages> {
    let reference = service["taskDefinition"].as_str()?;
    if let Some(images) = shared.history.cached_task_definition(reference) {
        return Some(images);
    }
    let described = call_moto(
        shared,
        headers,
        "DescribeTaskDefinition",
        &json!({"taskDefinition": reference}),
    )
    .await
    .ok()?;
    let task_definition = &described["taskDefinition"];
    let containers = task_definition["containerDefinitions"].as_array().into_iter().flatten();
    let name = |c: &Value| c["name"].as_str().unwrap_or_default().to_owned();
    let images = TaskDefinitionImages {
        arn: task_definition["taskDefinitionArn"]
            .as_str()
            .unwrap_or(reference)
            .to_owned(),
        containers: containers
            .clone()
            .map(|c| (name(c), c["image"].as_str().unwrap_or_default().to_owned()))
            .collect(),
        unresolved: containers
            .filter(|c| c["versionConsistency"] == "disabled")
            .map(name)
            .collect(),
    };
    shared.history.cache_task_definition(&images);
    Some(images)
}

fn seen_service(service: &Value) -> Option<SeenService> {
    let arn = service["serviceArn"].as_str()?.to_owned();
    let cluster_arn = service["clusterArn"].as_str()?.to_owned();
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut path = resource.split('/').skip(1);
    let (cluster, name) = match (path.next(), path.next()) {
        (Some(cluster), Some(name)) => (cluster, name),
        // The short ARN format names no cluster.
        (Some(name), None) => (last_segment(&cluster_arn), name),
        _ => return None,
    };
    Some(SeenService {
        key: ServiceKey {
            cluster: cluster.to_owned(),
            service: name.to_owned(),
        },
        cluster_arn: cluster_arn.clone(),
        desired_count: service["desiredCount"].as_i64().unwrap_or(0),
        launch_type: service["launchType"].as_str().map(str::to_owned),
        arn,
    })
}

/// A name from a name or an ARN (`…/NAME`).
fn last_segment(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}
