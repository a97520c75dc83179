//! The engine: for a set of pushes, scan the fleet once, plan one action per service, execute the
//! plan and report every service's outcome.

mod build;
mod deployments;
mod execute;
pub mod fleet;
pub mod functions;
mod images;
pub mod outcomes;
pub mod plan;
mod running;
pub mod sweep;
pub mod waves;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, Mode};
use crate::domain::decide::Selection;
use crate::domain::function::{FunctionReport, FunctionSelection};
use crate::domain::outcome::{Outcome, ScanFailure, ServiceResult};
use crate::domain::push::{Push, Trigger};
use crate::ecr::sdk::SdkEcr;
use crate::ecr::{EcrApi, PushedManifest};
use crate::ecs::{EcsApi, EcsUsage, Service, TaskDefinition};
use crate::lambda::LambdaApi;
use crate::lambda::sdk::SdkLambda;
use crate::lock::DeployLock;
use crate::lock::dynamodb::DynamoDbLock;
use crate::notify::sdk::SdkEventBridge;
use crate::notify::{self, Notifier};
use crate::report::Report;

use execute::Executor;
use fleet::{TaskDefinitionCache, Unexamined};
use images::ManifestCache;
use plan::Planned;

/// The deployments a run started: their service deployments by service ARN, and when.
struct Started {
    service_deployments: HashMap<String, Option<String>>,
    at: DateTime<Utc>,
}

/// `L` and `N` are optional ports: `None` when `LOCK_TABLE` or `NOTIFY_BUS` is unset (see their `Option` impls).
pub struct Redeployer<E, L = Option<DynamoDbLock>, R = SdkEcr, N = Option<SdkEventBridge>, F = SdkLambda> {
    ecs: E,
    lock: L,
    /// Asked what each pushed digest is built for; without it no platform is checked (each redeploy onto a
    /// declared `runtimePlatform` says so).
    ecr: Option<R>,
    config: Config,
    /// Kept for the warm process: task-definition revisions never change.
    task_definitions: TaskDefinitionCache,
    /// Kept for the warm process: a digest's manifest never changes.
    manifests: ManifestCache,
    /// Told of every service an `apply` redeployed or failed.
    notifier: N,
    /// Now, for the waves' bake: the wall clock, or a test's ECS clock.
    clock: Clock,
    /// Where a wave's bake is ended by a delayed message (`WAVE_QUEUE`); `None`: by the sweep.
    waker: Option<std::sync::Arc<crate::wake::sdk::SdkSqsWaker>>,
    /// The container-image Lambda functions that follow pushes too (`LAMBDA_FUNCTIONS=enabled`); `None`: none.
    lambda: Option<F>,
}

/// Where the engine reads the time from.
pub type Clock = std::sync::Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

impl<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier, F: LambdaApi> Redeployer<E, L, R, N, F> {
    /// The mode `apply` runs in: `DRY_RUN=true` turns it into a plan.
    pub fn apply_mode(&self) -> Mode {
        self.config.mode
    }

    /// fleet → plan → execute → report, for every push at once.
    pub async fn run(&self, pushes: &[Push], mode: Mode) -> Report {
        self.run_all(pushes, Trigger::Push, mode).await
    }

    /// A sweep: every tag in use asked what it points to now, and redeployed where services run something else;
    /// `pushes` (events that came with the schedule) are decided in the same run.
    pub async fn sweep(&self, pushes: &[Push], mode: Mode) -> Report {
        self.run_all(pushes, Trigger::Sweep, mode).await
    }

    /// trigger → scan → (a sweep's findings) → observe → plan → execute → report → notify, for every push at once.
    async fn run_all(&self, events: &[Push], trigger: Trigger, mode: Mode) -> Report {
        // The functions are found alongside the fleet scan: neither waits for the other.
        let (fleet, discovered) = tokio::join!(
            fleet::scan(&self.ecs, &self.config, &self.task_definitions),
            self.discover_functions(trigger, events),
        );
        let scanned = fleet.scanned();
        let found = self.sweep_findings(trigger, &fleet.services).await;
        let pushes = [events, &found.pushes].concat();
        let related = plan::related(&pushes, &fleet.services);
        let manifests = self.load_manifests(&pushes, &related, &fleet.services).await;
        let seen = self.observe(&related, &fleet.services).await;
        let mut planned = self.plan(&pushes, &manifests, &fleet.services, &seen);
        let rollouts = self.gate_waves(&mut planned, &pushes, &seen);
        let (results, started) = self.execute(planned, fleet.unexamined, found.not_checkable, mode).await;
        // The functions' own sweep findings (tags no service follows) come after the services' pushes, so that the
        // services' push positions stay as they are.
        let (functions, function_pushes, function_failures) =
            self.follow_functions(trigger, &pushes, discovered, mode).await;
        let all_pushes = [pushes.as_slice(), &function_pushes].concat();
        let scan_failures = fleet
            .scan_failures
            .into_iter()
            .chain(found.failures)
            .chain(function_failures)
            .collect();
        let mut report =
            Report::new(trigger, &all_pushes, mode, scanned, results, scan_failures).with_functions(functions);
        self.notify(&mut report, &started).await;
        self.announce_waves(&mut report, rollouts, mode).await;
        self.close_lost_after_sweep(trigger, mode, &mut report).await;
        report.log();
        report
    }

    /// The image functions that may relate to the run's pushes (all of them for a sweep, which asks their tags).
    async fn discover_functions(
        &self,
        trigger: Trigger,
        events: &[Push],
    ) -> Result<functions::FunctionScan, ScanFailure> {
        let Some(lambda) = &self.lambda else {
            return Ok(functions::FunctionScan::default());
        };
        let pushes = match trigger {
            Trigger::Sweep => None,
            Trigger::Push => Some(events),
        };
        functions::discover(lambda, &self.config, pushes, self.limit())
            .await
            .map_err(|error| ScanFailure {
                cluster: None,
                step: "list-functions",
                error: error.into(),
            })
    }

    /// discovered → (a sweep: the tags only functions follow, asked of ECR) → manifests → plan → execute. The
    /// function entries, the pushes only functions follow, and the steps that failed.
    async fn follow_functions(
        &self,
        trigger: Trigger,
        pushes: &[Push],
        discovered: Result<functions::FunctionScan, ScanFailure>,
        mode: Mode,
    ) -> (Vec<FunctionReport>, Vec<Push>, Vec<ScanFailure>) {
        let (Some(lambda), Ok(scan)) = (&self.lambda, discovered.as_ref()) else {
            return (Vec::new(), Vec::new(), discovered.err().into_iter().collect());
        };
        let mut failures = Vec::new();
        let mut own_pushes = Vec::new();
        if trigger == Trigger::Sweep
            && let Some(ecr) = &self.ecr
        {
            let mut tags = std::collections::BTreeMap::new();
            functions::add_tags_in_use(&scan.functions, &mut tags);
            // Tags a service follows too were asked already.
            for push in pushes {
                if let Some(set) = tags.get_mut(&(push.registry.clone(), push.repository.clone())) {
                    set.remove(&push.tag);
                }
            }
            tags.retain(|_, set| !set.is_empty());
            let (found, failed) = sweep::current(ecr, &tags, &self.manifests, self.limit()).await;
            own_pushes = found;
            failures = failed;
        }
        let all = [pushes, &own_pushes].concat();
        let manifests = match &self.ecr {
            Some(ecr) if !scan.functions.is_empty() => {
                let own = scan
                    .functions
                    .iter()
                    .filter_map(|f| functions::own_registry(&f.arn))
                    .collect();
                self.manifests.load(ecr, &all, &own, self.limit()).await
            }
            _ => vec![None; all.len()],
        };
        let selection = FunctionSelection {
            tag_key: &self.config.tag_key,
            select: self.config.select,
        };
        let planned = functions::plan(&scan.functions, &all, &manifests, selection);
        let mut reports = functions::execute(lambda, &self.lock, planned, mode, self.limit()).await;
        reports.extend(scan.failed.iter().cloned());
        (reports, own_pushes, failures)
    }

    /// What the pushed digests are built for (the registry's manifests), when some service relates to a push.
    async fn load_manifests(
        &self,
        pushes: &[Push],
        related: &[&Service],
        fleet: &[(Service, Arc<TaskDefinition>)],
    ) -> Vec<Option<PushedManifest>> {
        match &self.ecr {
            Some(ecr) if !related.is_empty() => {
                let own = fleet.iter().filter_map(|(s, _)| sweep::own_registry(&s.arn)).collect();
                self.manifests.load(ecr, pushes, &own, self.limit()).await
            }
            _ => vec![None; pushes.len()],
        }
    }

    /// What the related services run, and the digests ECS (or the function's own records) rolled back.
    async fn observe(&self, related: &[&Service], fleet: &[(Service, Arc<TaskDefinition>)]) -> running::Seen {
        let mut seen = running::load(&self.ecs, related, self.limit()).await;
        self.add_own_holds(related, fleet, &mut seen.rolled_back).await;
        seen
    }

    /// Pure: one action per related service.
    fn plan(
        &self,
        pushes: &[Push],
        manifests: &[Option<PushedManifest>],
        fleet: &[(Service, Arc<TaskDefinition>)],
        seen: &running::Seen,
    ) -> Vec<Planned> {
        plan::plan(
            pushes,
            manifests,
            fleet,
            &seen.running,
            &seen.rolled_back,
            self.selection(),
        )
    }

    /// Pure: staged rollouts hold the planned redeploys of later waves (see `waves`).
    fn gate_waves(&self, planned: &mut [Planned], pushes: &[Push], seen: &running::Seen) -> Vec<waves::DigestRollout> {
        waves::gate(
            planned,
            pushes,
            &waves::WaveInputs {
                tag_key: &self.config.wave_tag_key,
                current: &seen.current,
                rolled_back: &seen.rolled_back,
                now: (self.clock)(),
                bake: self.config.wave_bake,
            },
        )
    }

    /// An apply announces each halted rollout (once per digest) and queues the wake of each bake; every run's report
    /// shows the rollouts.
    async fn announce_waves(&self, report: &mut Report, rollouts: Vec<waves::DigestRollout>, mode: Mode) {
        if mode == Mode::Apply {
            let delivery = self.announce_halts(&rollouts).await;
            report.counts.notified += delivery.sent;
            report.counts.notify_failed += delivery.failed;
            self.schedule_wakes(&rollouts).await;
        }
        report.waves = rollouts.into_iter().map(waves::DigestRollout::into_report).collect();
    }

    /// A sweep's findings (see `sweep`); nothing for a run of pushes.
    async fn sweep_findings(&self, trigger: Trigger, fleet: &[(Service, Arc<TaskDefinition>)]) -> sweep::Findings {
        match trigger {
            Trigger::Sweep => {
                sweep::findings(
                    fleet,
                    self.selection(),
                    self.ecr.as_ref(),
                    &self.manifests,
                    self.limit(),
                )
                .await
            }
            Trigger::Push => sweep::Findings::default(),
        }
    }

    /// A sweep that may redeploy also closes the records of deployments whose outcome event was lost.
    async fn close_lost_after_sweep(&self, trigger: Trigger, mode: Mode, report: &mut Report) {
        if trigger == Trigger::Sweep && mode == Mode::Apply && self.lock.tracks_deployments() {
            report.rollouts = Some(self.close_lost(Utc::now()).await);
        }
    }

    /// Carries out the plan; a sweep's not-checkable services join the results unless some push decided them.
    async fn execute(
        &self,
        planned: Vec<Planned>,
        unexamined: Vec<Unexamined>,
        mut not_checkable: Vec<ServiceResult>,
        mode: Mode,
    ) -> (Vec<ServiceResult>, Started) {
        sweep::keep_undecided(&mut not_checkable, &planned);
        let executor = Executor {
            ecs: &self.ecs,
            lock: &self.lock,
            limit: self.limit(),
        };
        let mut results = executor.execute(planned, unexamined, mode).await;
        let at = Utc::now();
        results.extend(not_checkable);
        let service_deployments = results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Redeployed(deployed) => Some((r.service.arn.clone(), deployed.service_deployment.clone())),
                _ => None,
            })
            .collect();
        (
            results,
            Started {
                service_deployments,
                at,
            },
        )
    }

    /// Records the deployments the run started and tells the notifier of every service redeployed or failed.
    async fn notify(&self, report: &mut Report, started: &Started) {
        let notifications = notify::of_report(report);
        self.record_deployments(&notifications, &started.service_deployments, started.at)
            .await;
        if !notifications.is_empty() {
            let delivery = self.notifier.send(&notifications).await;
            report.counts.notified = delivery.sent;
            report.counts.notify_failed = delivery.failed;
        }
    }

    fn limit(&self) -> usize {
        self.config.max_concurrency.get()
    }

    /// ECS requests sent so far (for the metrics: read before and after a run).
    pub fn ecs_usage(&self) -> EcsUsage {
        self.ecs.usage()
    }

    /// `METRICS_NAMESPACE`.
    pub fn metrics_namespace(&self) -> &str {
        &self.config.metrics_namespace
    }

    /// The ECS port, for tests that inspect their fake.
    #[cfg(test)]
    pub fn ecs(&self) -> &E {
        &self.ecs
    }

    fn selection(&self) -> Selection<'_> {
        Selection {
            tag_key: &self.config.tag_key,
            select: self.config.select,
            default_method: self.config.default_method,
            new_revisions: self.config.new_revisions,
        }
    }
}

#[cfg(test)]
mod tests;
