//! What an invocation did, for every service it considered: the engine's typed outcomes rendered into
//! the report the Lambda returns and the CLI prints (this file: its JSON model), the terminal summary
//! (`summary`), one log line per decision (`log`), and a sweep's drift (`drift`).

mod drift;
mod log;
mod summary;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::Mode;
use crate::domain::decide::Action;
use crate::domain::function::FunctionReport;
use crate::domain::outcome::{Failure, Outcome, ScanFailure, ServiceResult};
use crate::domain::policy::Method;
use crate::domain::push::{Push, Trigger};
use crate::domain::reason::Reason;
use crate::domain::rollout::RolloutReport;

/// The result of one event: ignored (with why), or processed into a report.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Invocation {
    Ignored {
        reason: &'static str,
        detail: String,
    },
    Processed(Box<Report>),
    /// A deployment event: what came of the deployment it names.
    Followed(Box<RolloutReport>),
}

/// The report's name for an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Redeployed,
    Planned,
    Skipped,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Redeployed => "redeployed",
            Status::Planned => "planned",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
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
    pub event_id: Option<String>,
    /// The registry an `ECR Replication Action` copied the image from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicated_from: Option<String>,
    /// `push` (an event, or the command line) or `sweep` (what the tag points to now).
    pub trigger: Trigger,
}

impl From<&Push> for PushedImage {
    fn from(push: &Push) -> Self {
        PushedImage {
            uri: push.image().to_string(),
            registry: push.registry.to_string(),
            repository: push.repository.clone(),
            tag: push.tag.clone(),
            digest: push.digest.clone(),
            event_id: push.event_id.clone(),
            replicated_from: push.replicated_from.as_ref().map(ToString::to_string),
            trigger: push.trigger,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceReport {
    pub cluster: String,
    pub service: String,
    pub service_arn: String,
    /// Its wave in a staged rollout (the wave tag); `null` without the tag.
    pub wave: Option<crate::domain::wave::Wave>,
    pub task_definition: Option<String>,
    /// `redeploy` or `skip`; `None` when the service could not be examined.
    pub decision: Option<Action>,
    /// How a redeploy is done: `force` (same task definition) or `pin` (a new revision).
    pub method: Option<Method>,
    pub reason: Reason,
    pub detail: String,
    /// The pushed images the decision is about.
    pub pushed: Vec<String>,
    /// Their positions in the run's pushes (a batch maps them back to its messages).
    #[serde(skip)]
    pub push_positions: Vec<usize>,
    pub containers: Vec<String>,
    /// Pin mode: container → the image its new revision names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Container → the digest it runs (`null`: not resolved yet), when ECS recorded it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub running: BTreeMap<String, Option<String>>,
    /// A redeploy: container → the digest it ran before …
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub from: BTreeMap<String, Option<String>>,
    /// … and the pushed digest it moves to.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub to: BTreeMap<String, String>,
    pub outcome: Status,
    /// Pin mode: the revision the service was moved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_task_definition: Option<String>,
    pub deployment_id: Option<String>,
    pub error: Option<String>,
    /// For a failure: whether a retry may succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

/// A scan failure as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanError {
    pub cluster: Option<String>,
    pub step: &'static str,
    pub error: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub clusters: usize,
    /// Every service described, related to a push or not.
    pub scanned: usize,
    /// Services with a container referring to a pushed repository: the ones listed.
    pub considered: usize,
    pub redeployed: usize,
    pub planned: usize,
    pub skipped: usize,
    pub failed: usize,
    pub scan_errors: usize,
    /// Services a sweep found running something other than what their tags point to.
    pub drifted: usize,
    /// Staged rollouts: services skipped as `waiting-for-wave`, and as `wave-halted`.
    pub waiting: usize,
    pub halted: usize,
    /// Notifications sent (`NOTIFY_BUS`), and those EventBridge did not take: never a failure of the run.
    pub notified: usize,
    pub notify_failed: usize,
    /// The Lambda functions listed, apart from the services' counts.
    pub functions: FunctionCounts,
}

/// The report's functions by outcome, and those a sweep found running another digest than their tag names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FunctionCounts {
    pub considered: usize,
    pub redeployed: usize,
    pub planned: usize,
    pub skipped: usize,
    pub failed: usize,
    pub drifted: usize,
}

/// A Lambda function a sweep found running something other than what its tag points to now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionDrift {
    pub function: String,
    pub function_arn: String,
    /// `REGISTRY/REPO:TAG`, as the function names it.
    pub image: String,
    pub running_digest: Option<String>,
    pub current_digest: String,
}

/// A container a sweep found running something other than what its tag points to now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub cluster: String,
    pub service: String,
    pub container: String,
    /// `REGISTRY/REPO:TAG`.
    pub image: String,
    pub running_digest: Option<String>,
    pub current_digest: String,
    /// Not redeployed: ECS rolled back a deployment of the current digest (`rolled-back`).
    pub held: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `push` (events) or `sweep` (every tag in use, with any events of the same batch).
    pub trigger: Trigger,
    pub pushes: Vec<PushedImage>,
    pub mode: Mode,
    pub services: Vec<ServiceReport>,
    /// The container-image Lambda functions related to a push, by name; always there (empty when none relates, or
    /// with `LAMBDA_FUNCTIONS=disabled`).
    pub functions: Vec<FunctionReport>,
    /// A sweep's findings: every container that runs something other than its tag's current digest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// The same for Lambda functions: each one whose resolved digest is not what its tag points to now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub function_drift: Vec<FunctionDrift>,
    pub scan_errors: Vec<ScanError>,
    pub counts: Counts,
    /// A sweep's part in following deployments: the records whose outcome event was lost, read back from ECS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollouts: Option<RolloutReport>,
    /// Staged rollouts: each pushed digest's waves (services with the wave tag only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<crate::domain::wave::WaveReport>,
}

/// The scan's size, for the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub clusters: usize,
    pub services: usize,
}

impl Report {
    /// Renders the engine's results; services are sorted by cluster and name, and counts derived from them.
    pub fn new(
        trigger: Trigger,
        pushes: &[Push],
        mode: Mode,
        scanned: Scanned,
        results: Vec<ServiceResult>,
        scan_failures: Vec<ScanFailure>,
    ) -> Self {
        let scan_errors: Vec<ScanError> = scan_failures
            .into_iter()
            .map(|f| ScanError {
                cluster: f.cluster,
                step: f.step,
                error: crate::error_chain::render(&f.error),
            })
            .collect();
        let mut services: Vec<ServiceReport> = results.into_iter().map(|r| render(pushes, r)).collect();
        services.sort_by(|a, b| (&a.cluster, &a.service).cmp(&(&b.cluster, &b.service)));
        let count = |status| services.iter().filter(|s| s.outcome == status).count();
        let drift = drift::drift(pushes, &services);
        let drifted: BTreeSet<(&str, &str)> = drift.iter().map(|d| (d.cluster.as_str(), d.service.as_str())).collect();
        let counts = Counts {
            clusters: scanned.clusters,
            scanned: scanned.services,
            considered: services.len(),
            redeployed: count(Status::Redeployed),
            planned: count(Status::Planned),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            scan_errors: scan_errors.len(),
            drifted: drifted.len(),
            waiting: services.iter().filter(|s| s.reason == Reason::WaitingForWave).count(),
            halted: services.iter().filter(|s| s.reason == Reason::WaveHalted).count(),
            notified: 0,
            notify_failed: 0,
            functions: FunctionCounts::default(),
        };
        Report {
            trigger,
            drift,
            pushes: pushes.iter().map(PushedImage::from).collect(),
            mode,
            services,
            functions: Vec::new(),
            function_drift: Vec::new(),
            scan_errors,
            counts,
            rollouts: None,
            waves: Vec::new(),
        }
    }

    /// The report with the run's Lambda function entries (sorted by name) and their counts. A function whose update
    /// came from a sweep's reading of its tag had drifted.
    pub fn with_functions(mut self, mut functions: Vec<FunctionReport>) -> Self {
        functions.sort_by(|a, b| (&a.function, &a.function_arn).cmp(&(&b.function, &b.function_arn)));
        let count = |status| functions.iter().filter(|f| f.outcome == status).count();
        let swept = |f: &FunctionReport| {
            f.push_positions
                .iter()
                .any(|&i| self.pushes.get(i).is_some_and(|p| p.trigger == Trigger::Sweep))
        };
        self.function_drift = functions
            .iter()
            .filter(|f| f.decision == Some("redeploy") && swept(f))
            .filter_map(|f| {
                let current = f
                    .push_positions
                    .iter()
                    .find_map(|&i| self.pushes.get(i)?.digest.clone())?;
                Some(FunctionDrift {
                    function: f.function.clone(),
                    function_arn: f.function_arn.clone(),
                    image: f.image.clone(),
                    running_digest: f.running.clone(),
                    current_digest: current,
                })
            })
            .collect();
        self.counts.functions = FunctionCounts {
            considered: functions.len(),
            redeployed: count(Status::Redeployed),
            planned: count(Status::Planned),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            drifted: self.function_drift.len(),
        };
        self.functions = functions;
        self
    }

    /// True when something failed: a service or function update, or a scan step that may have hidden services.
    pub fn has_failures(&self) -> bool {
        self.counts.failed > 0 || self.counts.functions.failed > 0 || self.counts.scan_errors > 0
    }

    /// `cluster/service` of every failed service, and the failed scan steps.
    pub fn failure_names(&self) -> Vec<String> {
        let services = self
            .services
            .iter()
            .filter(|s| s.outcome == Status::Failed)
            .map(|s| format!("{}/{}", s.cluster, s.service));
        let functions = self
            .functions
            .iter()
            .filter(|f| f.outcome == Status::Failed)
            .map(|f| format!("function {}", f.function));
        let services = services.chain(functions);
        let steps = self
            .scan_errors
            .iter()
            .map(|e| format!("{} {}", e.step, e.cluster.as_deref().unwrap_or("(all clusters)")));
        services.chain(steps).collect()
    }

    /// The pushed image URIs, comma-separated.
    pub fn pushed_uris(&self) -> String {
        self.pushes
            .iter()
            .map(|p| p.uri.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn render(pushes: &[Push], result: ServiceResult) -> ServiceReport {
    let ServiceResult {
        service,
        task_definition,
        decision,
        pushes: behind,
        outcome,
        wave,
    } = result;
    let (status, deployed, error) = match outcome {
        Outcome::Redeployed(deployed) => (Status::Redeployed, Some(deployed), None),
        Outcome::Planned => (Status::Planned, None, None),
        Outcome::Skipped => (Status::Skipped, None, None),
        Outcome::Failed(failure) => (Status::Failed, None, Some(failure)),
    };
    ServiceReport {
        cluster: service.cluster,
        service: service.name,
        service_arn: service.arn,
        wave,
        decision: task_definition.is_some().then_some(decision.action),
        task_definition,
        method: decision.action.method(),
        reason: decision.reason,
        detail: decision.detail,
        pushed: behind
            .iter()
            .filter_map(|&i| pushes.get(i))
            .map(|p| p.image().to_string())
            .collect(),
        push_positions: behind,
        containers: decision.containers,
        images: decision.images,
        warnings: decision.warnings,
        from: if decision.to.is_empty() {
            BTreeMap::new()
        } else {
            decision.running.clone()
        },
        running: decision.running,
        to: decision.to,
        outcome: status,
        new_task_definition: deployed.as_ref().and_then(|d| d.new_task_definition.clone()),
        deployment_id: deployed.map(|d| d.deployment_id),
        retryable: error.as_ref().map(Failure::retryable),
        error: error.map(|e| crate::error_chain::render(&e)),
    }
}
