//! The report as CloudWatch Logs Insights reads it: one line per decision, per warning and per scan error,
//! and one summary line, with fields.

use tracing::{info, warn};

use super::Report;
use crate::domain::decide::Action;
use crate::domain::policy::Method;

impl Report {
    /// One line per decision and one summary line, with fields for CloudWatch Logs Insights.
    pub fn log(&self) {
        for s in &self.services {
            let image = s.pushed.join(", ");
            let decision = s.decision.map_or("none", Action::as_str);
            let method = s.method.map_or("", Method::as_str);
            let outcome = s.outcome.as_str();
            match &s.error {
                Some(error) => warn!(
                    cluster = %s.cluster, service = %s.service, service_arn = %s.service_arn, image,
                    decision, method, reason = s.reason.code(), detail = %s.detail, outcome, error = %error, "decision"
                ),
                None => info!(
                    cluster = %s.cluster, service = %s.service, service_arn = %s.service_arn, image,
                    decision, method, reason = s.reason.code(), detail = %s.detail, outcome,
                    new_task_definition = s.new_task_definition.as_deref().unwrap_or(""),
                    deployment_id = s.deployment_id.as_deref().unwrap_or(""), "decision"
                ),
            }
            for warning in &s.warnings {
                warn!(cluster = %s.cluster, service = %s.service, image, warning = %warning, "decision warning");
            }
        }
        for f in &self.functions {
            let image = f.pushed.join(", ");
            let decision = f.decision.unwrap_or("none");
            let (from, to) = (f.from.as_deref().unwrap_or(""), f.to.as_deref().unwrap_or(""));
            match &f.error {
                Some(error) => warn!(
                    function = %f.function, function_arn = %f.function_arn, image, decision, reason = f.reason.code(),
                    detail = %f.detail, outcome = f.outcome.as_str(), error = %error, "function decision"
                ),
                None => info!(
                    function = %f.function, function_arn = %f.function_arn, image, decision, reason = f.reason.code(),
                    detail = %f.detail, outcome = f.outcome.as_str(), from, to,
                    alias = f.alias.as_deref().unwrap_or(""), version = f.version.as_deref().unwrap_or(""),
                    "function decision"
                ),
            }
        }
        for e in &self.scan_errors {
            warn!(cluster = e.cluster.as_deref().unwrap_or(""), step = e.step, error = %e.error, "scan error");
        }
        let c = &self.counts;
        let event_ids: Vec<&str> = self.pushes.iter().filter_map(|p| p.event_id.as_deref()).collect();
        info!(
            image = self.pushed_uris(),
            event_id = event_ids.join(","),
            mode = self.mode.as_str(),
            clusters = c.clusters,
            scanned = c.scanned,
            considered = c.considered,
            redeployed = c.redeployed,
            planned = c.planned,
            skipped = c.skipped,
            failed = c.failed,
            scan_errors = c.scan_errors,
            drifted = c.drifted,
            waiting = c.waiting,
            halted = c.halted,
            notified = c.notified,
            notify_failed = c.notify_failed,
            functions_considered = c.functions.considered,
            functions_redeployed = c.functions.redeployed,
            functions_planned = c.functions.planned,
            functions_skipped = c.functions.skipped,
            functions_failed = c.functions.failed,
            functions_drifted = c.functions.drifted,
            "summary"
        );
    }
}
