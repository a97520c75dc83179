//! The engine: for a set of pushes, scan the fleet once, plan one action per service, execute the
//! plan and report every service's outcome.

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
use tracing::warn;

use crate::config::{Config, Mode};
use crate::domain::decide::Selection;
use crate::domain::function::{FunctionReport, FunctionSelection};
use crate::domain::outcome::{Outcome, ScanFailure, ServiceResult};
use crate::domain::push::{Push, Trigger};
use crate::domain::rollout::RolloutReport;
use crate::domain::running::{HoldSource, RolledBack};
use crate::ecr::sdk::SdkEcr;
use crate::ecr::{EcrApi, PushedManifest};
use crate::ecs::{EcsApi, EcsUsage, Service, TaskDefinition};
use crate::lambda::LambdaApi;
use crate::lambda::sdk::SdkLambda;
use crate::lock::dynamodb::DynamoDbLock;
use crate::lock::{DeployLock, DeploymentRecord};
use crate::notify::sdk::SdkEventBridge;
use crate::notify::{self, Notification, NotificationKind, Notifier, RolloutNotification};
use crate::report::Report;
use crate::trigger::deployment::DeploymentChange;
use futures_util::StreamExt;

use execute::Executor;
use fleet::{TaskDefinitionCache, Unexamined};
use images::ManifestCache;
use outcomes::Follower;
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

impl<E: EcsApi> Redeployer<E> {
    /// Without a lock table, registry or bus.
    pub fn new(ecs: E, config: Config) -> Self {
        Redeployer::with_lock(ecs, None, config)
    }
}

impl<E: EcsApi, L: DeployLock> Redeployer<E, L> {
    pub fn with_lock(ecs: E, lock: L, config: Config) -> Self {
        Redeployer {
            ecs,
            lock,
            ecr: None,
            config,
            task_definitions: TaskDefinitionCache::default(),
            manifests: ManifestCache::default(),
            notifier: None,
            clock: std::sync::Arc::new(Utc::now),
            waker: None,
            lambda: None,
        }
    }
}

impl<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier, F: LambdaApi> Redeployer<E, L, R, N, F> {
    /// The same redeployer, asking `ecr` what pushed images are built for.
    pub fn with_registry<R2: EcrApi>(self, ecr: R2) -> Redeployer<E, L, R2, N, F> {
        Redeployer {
            ecs: self.ecs,
            lock: self.lock,
            ecr: Some(ecr),
            config: self.config,
            task_definitions: self.task_definitions,
            manifests: self.manifests,
            notifier: self.notifier,
            clock: self.clock,
            waker: self.waker,
            lambda: self.lambda,
        }
    }

    /// The same redeployer, telling `notifier` of every service an `apply` redeployed or failed.
    pub fn with_notifier<N2: Notifier>(self, notifier: N2) -> Redeployer<E, L, R, N2, F> {
        Redeployer {
            ecs: self.ecs,
            lock: self.lock,
            ecr: self.ecr,
            config: self.config,
            task_definitions: self.task_definitions,
            manifests: self.manifests,
            notifier,
            clock: self.clock,
            waker: self.waker,
            lambda: self.lambda,
        }
    }

    /// The same redeployer, updating the container-image Lambda functions `lambda` finds on a pushed image too
    /// (when `LAMBDA_FUNCTIONS=enabled`).
    pub fn with_functions<F2: LambdaApi>(self, lambda: F2) -> Redeployer<E, L, R, N, F2> {
        Redeployer {
            ecs: self.ecs,
            lock: self.lock,
            ecr: self.ecr,
            config: self.config,
            task_definitions: self.task_definitions,
            manifests: self.manifests,
            notifier: self.notifier,
            clock: self.clock,
            waker: self.waker,
            lambda: Some(lambda),
        }
    }

    /// The same redeployer, reading the time from `clock` (a test's ECS clock) instead of the wall clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same redeployer, ending waves' bakes with a delayed message through `waker`.
    pub fn with_waker(mut self, waker: crate::wake::sdk::SdkSqsWaker) -> Self {
        self.waker = Some(std::sync::Arc::new(waker));
        self
    }

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

    /// Follows one deployment event to its outcome: notifies it if the function started the deployment and no
    /// one notified it yet.
    pub async fn follow(&self, change: &DeploymentChange, now: DateTime<Utc>) -> RolloutReport {
        self.follow_rollout(change, now).await.0
    }

    /// [`Self::follow`], and the pushes that move a staged rollout on when the event finished (or failed) a wave:
    /// the caller runs them (with its batch's pushes: one fleet scan).
    pub async fn follow_rollout(&self, change: &DeploymentChange, now: DateTime<Utc>) -> (RolloutReport, Vec<Push>) {
        let (report, notifications) = self.follower().follow(change, now).await;
        let moving_on = self.moving_on(&notifications).await;
        (self.announce(report, &notifications).await, moving_on)
    }

    /// The sweep's part in following deployments: closes, and notifies, the records still open
    /// [`outcomes::LOST_EVENT_AFTER`] before `now` whose deployment ECS's record says has ended.
    pub async fn close_lost(&self, now: DateTime<Utc>) -> RolloutReport {
        let (report, notifications) = self.follower().close_lost(now).await;
        self.announce(report, &notifications).await
    }

    /// With the lock table: the rolled-back digests the function's own records hold for services whose current
    /// deployment no longer tells of the rollback (a later, unrelated deployment became current). A record naming
    /// several digests (several containers) is not mapped back to its containers and holds nothing.
    async fn add_own_holds(
        &self,
        related: &[&Service],
        fleet: &[(Service, Arc<TaskDefinition>)],
        rolled_back: &mut HashMap<String, RolledBack>,
    ) {
        if !self.lock.tracks_deployments() {
            return;
        }
        let arns: Vec<String> = related
            .iter()
            .filter(|s| !rolled_back.contains_key(&s.arn))
            .map(|s| s.arn.clone())
            .collect();
        if arns.is_empty() {
            return;
        }
        let holds = match self.lock.rolled_back(&arns).await {
            Ok(holds) => holds,
            Err(error) => {
                warn!(error = %crate::error_chain::render(&error), "the function's rolled-back records cannot be read; ECS's current deployments still hold");
                return;
            }
        };
        for hold in holds {
            let Some((_, task_definition)) = fleet.iter().find(|(s, _)| s.arn == hold.service_arn) else {
                continue;
            };
            if hold.digest.contains(',') {
                continue;
            }
            let digests = task_definition
                .containers
                .iter()
                .map(|c| (c.name.clone(), Some(hold.digest.clone())))
                .collect();
            rolled_back.insert(
                hold.service_arn.clone(),
                RolledBack {
                    deployment: hold
                        .service_deployment_arn
                        .clone()
                        .unwrap_or(hold.deployment_id.clone()),
                    status: None,
                    status_reason: hold.status_reason.clone(),
                    at: hold.at,
                    target_revision: String::new(),
                    target_created_at: None,
                    digests,
                    source: HoldSource::OwnRecord,
                },
            );
        }
    }

    /// Whether deployments are recorded and followed (a lock table is configured).
    pub fn tracks_deployments(&self) -> bool {
        self.lock.tracks_deployments()
    }

    fn follower(&self) -> Follower<'_, E, L> {
        Follower {
            ecs: &self.ecs,
            lock: &self.lock,
            limit: self.config.max_concurrency.get(),
        }
    }

    async fn announce(&self, mut report: RolloutReport, notifications: &[RolloutNotification]) -> RolloutReport {
        if !notifications.is_empty() {
            let delivery = self.notifier.send_rollouts(notifications).await;
            report.counts.notified = delivery.sent;
            report.counts.notify_failed = delivery.failed;
        }
        report
    }

    /// With the lock table, records every deployment the run started, so its outcome can be followed. A record that
    /// cannot be written is logged: the deployment happened either way, only its outcome goes unannounced.
    async fn record_deployments(
        &self,
        notifications: &[Notification],
        service_deployments: &HashMap<String, Option<String>>,
        started_at: DateTime<Utc>,
    ) {
        if !self.lock.tracks_deployments() {
            return;
        }
        let records = notifications
            .iter()
            .filter(|n| n.kind == NotificationKind::Redeployed)
            .filter_map(|n| {
                let deployment_id = n.deployment_id.clone()?;
                let service_arn = n.service_arn.clone()?;
                let serde_json::Value::Object(detail) = serde_json::to_value(n).ok()? else {
                    return None;
                };
                Some(DeploymentRecord {
                    service_deployment_arn: service_deployments.get(&service_arn).cloned().flatten(),
                    service_arn,
                    deployment_id,
                    started_at,
                    to_digest: n.to_digest.clone(),
                    detail,
                })
            });
        let limit = self.config.max_concurrency.get();
        let written: Vec<_> = futures_util::stream::iter(records)
            .map(|record| async move { (self.lock.record_deployment(&record).await, record) })
            .buffer_unordered(limit)
            .collect()
            .await;
        for (result, record) in written {
            if let Err(error) = result {
                warn!(
                    service_arn = %record.service_arn,
                    deployment_id = %record.deployment_id,
                    error = %crate::error_chain::render(&error),
                    "the deployment was not recorded; its outcome will not be announced"
                );
            }
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
