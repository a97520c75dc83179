//! The gate: services that must not be touched whatever they run.

use super::{Decision, Selection};
use crate::config::Select;
use crate::domain::policy::ServicePolicy;
use crate::domain::reason::Reason;
use crate::ecs::{DeploymentController, Service};

const ACTIVE: &str = "ACTIVE";

/// A skip for a service that must not be touched whatever it runs: not active, opted out, not opted in, or
/// deployed by a controller `UpdateService` cannot drive.
pub(super) fn gate(service: &Service, policy: Option<&ServicePolicy>, selection: Selection) -> Option<Decision> {
    if service.status != ACTIVE {
        let detail = format!("service is {}, not {ACTIVE}", service.status);
        return Some(Decision::skip(Reason::ServiceNotActive, detail));
    }
    match (policy, selection.select) {
        (Some(ServicePolicy::Off), _) => Some(Decision::skip(
            Reason::OptedOut,
            format!("tag `{}` is `off`", selection.tag_key),
        )),
        (None, Select::OptedIn) => Some(Decision::skip(
            Reason::NotOptedIn,
            format!("SELECT=opted-in and the service has no `{}` tag", selection.tag_key),
        )),
        _ => unsupported_controller(service.deployment_controller),
    }
}

/// A skip for a controller `UpdateService` cannot redeploy through, with what the owner can do instead
/// (ECS API reference, `UpdateService`: a CODE_DEPLOY service takes a new task definition only through a
/// CodeDeploy deployment, and neither it nor an EXTERNAL one can be forced to a new deployment).
fn unsupported_controller(controller: DeploymentController) -> Option<Decision> {
    let detail = match controller {
        DeploymentController::Ecs => return None,
        DeploymentController::CodeDeploy => {
            "the service deploys through CodeDeploy (CODE_DEPLOY controller), which UpdateService cannot redeploy: \
             start a CodeDeploy deployment whose AppSpec names a revision with the pushed image, or move the \
             service to the ECS controller (ECS-native blue/green), which ecs-redeploy redeploys"
        }
        DeploymentController::External => {
            "the service deploys through task sets (EXTERNAL controller), which UpdateService cannot redeploy: \
             create a task set with the pushed image and shift traffic to it with the controller that owns it"
        }
    };
    Some(Decision::skip(Reason::UnsupportedController, detail.to_owned()))
}
