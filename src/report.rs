//! What an invocation did, for every service it considered: returned by the Lambda, printed by the CLI.

use std::fmt::Write as _;

use serde::Serialize;

use std::collections::BTreeMap;

use crate::decide::{Action, Method};
use crate::event::{Ignored, Push};

/// The result of one event: ignored (with why), or processed into a report.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Invocation {
    Ignored { reason: &'static str, detail: String },
    Processed(Box<Report>),
}

impl Invocation {
    pub fn ignored(why: &Ignored) -> Self {
        Invocation::Ignored {
            reason: why.code(),
            detail: why.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Apply,
    Plan,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::Plan => "plan",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Redeployed,
    Planned,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Redeployed => "redeployed",
            Outcome::Planned => "planned",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushedImage {
    pub uri: String,
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    /// The registry an `ECR Replication Action` copied the image from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicated_from: Option<String>,
}

impl From<&Push> for PushedImage {
    fn from(push: &Push) -> Self {
        PushedImage {
            uri: push.image().to_string(),
            registry: push.registry.to_string(),
            repository: push.repository.clone(),
            tag: push.tag.clone(),
            digest: push.digest.clone(),
            replicated_from: push.replicated_from.as_ref().map(ToString::to_string),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceReport {
    pub cluster: String,
    pub service: String,
    pub service_arn: String,
    pub task_definition: Option<String>,
    /// `None` when the service could not be examined (its description or task definition failed).
    pub decision: Option<Action>,
    /// How a redeploy is done: `force` (same task definition) or `pin` (a new revision).
    pub method: Option<Method>,
    pub reason: &'static str,
    pub detail: String,
    pub containers: Vec<String>,
    /// Pin mode: container → the image its new revision names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub outcome: Outcome,
    /// Pin mode: the revision the service was moved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_task_definition: Option<String>,
    pub deployment_id: Option<String>,
    pub error: Option<String>,
}

/// A cluster-level step that failed, so some services may be missing from the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanError {
    pub cluster: Option<String>,
    pub step: &'static str,
    pub error: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub clusters: usize,
    /// Every service described, related to the push or not.
    pub scanned: usize,
    /// Services with a container referring to the pushed repository: the ones listed.
    pub considered: usize,
    pub redeployed: usize,
    pub planned: usize,
    pub skipped: usize,
    pub failed: usize,
    pub scan_errors: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub image: PushedImage,
    pub event_id: Option<String>,
    pub mode: Mode,
    pub services: Vec<ServiceReport>,
    pub scan_errors: Vec<ScanError>,
    pub counts: Counts,
}

impl Report {
    /// Builds the report; services are sorted by cluster and name, and counts derived from them.
    pub fn new(
        push: &Push,
        mode: Mode,
        clusters: usize,
        scanned: usize,
        mut services: Vec<ServiceReport>,
        scan_errors: Vec<ScanError>,
    ) -> Self {
        services.sort_by(|a, b| (&a.cluster, &a.service).cmp(&(&b.cluster, &b.service)));
        let count = |outcome| services.iter().filter(|s| s.outcome == outcome).count();
        let counts = Counts {
            clusters,
            scanned,
            considered: services.len(),
            redeployed: count(Outcome::Redeployed),
            planned: count(Outcome::Planned),
            skipped: count(Outcome::Skipped),
            failed: count(Outcome::Failed),
            scan_errors: scan_errors.len(),
        };
        Report {
            image: PushedImage::from(push),
            event_id: push.event_id.clone(),
            mode,
            services,
            scan_errors,
            counts,
        }
    }

    /// True when something failed: a service update, or a scan step that may have hidden services.
    pub fn has_failures(&self) -> bool {
        self.counts.failed > 0 || self.counts.scan_errors > 0
    }

    /// `cluster/service` of every failed service, and the failed scan steps.
    pub fn failure_names(&self) -> Vec<String> {
        let services = self
            .services
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
            .map(|s| format!("{}/{}", s.cluster, s.service));
        let steps = self
            .scan_errors
            .iter()
            .map(|e| format!("{} {}", e.step, e.cluster.as_deref().unwrap_or("(all clusters)")));
        services.chain(steps).collect()
    }

    /// A human summary for a terminal.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let verb = match self.mode {
            Mode::Apply => "apply",
            Mode::Plan => "plan (no changes made)",
        };
        let _ = writeln!(out, "push {} — {verb}", self.image.uri);
        let width = self
            .services
            .iter()
            .map(|s| s.cluster.len() + s.service.len() + 1)
            .max()
            .unwrap_or(0);
        for s in &self.services {
            let name = format!("{}/{}", s.cluster, s.service);
            let extra = match (&s.deployment_id, &s.error, &s.new_task_definition) {
                (_, Some(error), _) => format!(" — error: {error}"),
                (Some(id), None, Some(revision)) => format!(" — {} deployment {id}", short_revision(revision)),
                (Some(id), None, None) => format!(" — deployment {id}"),
                (None, None, _) => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<10} {name:<width$}  {}: {}{extra}",
                s.outcome.as_str(),
                s.reason,
                s.detail
            );
            for warning in &s.warnings {
                let _ = writeln!(out, "  {:<10} {:<width$}  warning: {warning}", "", "");
            }
        }
        for e in &self.scan_errors {
            let cluster = e.cluster.as_deref().unwrap_or("(all clusters)");
            let _ = writeln!(out, "  scan error {cluster}: {} failed: {}", e.step, e.error);
        }
        let c = &self.counts;
        let _ = writeln!(
            out,
            "{} redeployed, {} planned, {} skipped, {} failed — {} related of {} services scanned in {} clusters",
            c.redeployed, c.planned, c.skipped, c.failed, c.considered, c.scanned, c.clusters
        );
        out
    }
}

/// `…:task-definition/web:8` → `web:8`.
fn short_revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
