//! The engine: for a set of pushes, scan the fleet once, plan one action per service, execute the
//! plan and report every service's outcome.

mod execute;
pub mod fleet;
mod images;
pub mod plan;

use crate::config::{Config, Mode};
use crate::domain::decide::Selection;
use crate::domain::push::Push;
use crate::domain::report::Report;
use crate::ecr::EcrApi;
use crate::ecr::sdk::SdkEcr;
use crate::ecs::{EcsApi, EcsUsage};
use crate::lock::{DeployLock, NoLock};

use execute::Executor;
use fleet::TaskDefinitionCache;
use images::PlatformCache;

pub struct Redeployer<E, L = NoLock, R = SdkEcr> {
    ecs: E,
    lock: L,
    /// Asked what each pushed digest is built for; without it no platform is checked (each redeploy onto a
    /// declared `runtimePlatform` says so).
    ecr: Option<R>,
    config: Config,
    /// Kept for the warm process: task-definition revisions never change.
    task_definitions: TaskDefinitionCache,
    /// Kept for the warm process: a digest's platforms never change.
    platforms: PlatformCache,
}

impl<E: EcsApi> Redeployer<E, NoLock> {
    pub fn new(ecs: E, config: Config) -> Self {
        Redeployer::with_lock(ecs, NoLock, config)
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
            platforms: PlatformCache::default(),
        }
    }
}

impl<E: EcsApi, L: DeployLock, R: EcrApi> Redeployer<E, L, R> {
    /// The same redeployer, asking `ecr` what pushed images are built for.
    pub fn with_registry<R2: EcrApi>(self, ecr: R2) -> Redeployer<E, L, R2> {
        Redeployer {
            ecs: self.ecs,
            lock: self.lock,
            ecr: Some(ecr),
            config: self.config,
            task_definitions: self.task_definitions,
            platforms: self.platforms,
        }
    }

    /// The mode `apply` runs in: `DRY_RUN=true` turns it into a plan.
    pub fn apply_mode(&self) -> Mode {
        self.config.mode
    }

    /// fleet → plan → execute → report, for every push at once.
    pub async fn run(&self, pushes: &[Push], mode: Mode) -> Report {
        let fleet = fleet::scan(&self.ecs, &self.config, &self.task_definitions).await;
        let scanned = fleet.scanned();
        let platforms = match &self.ecr {
            Some(ecr) if fleet.declares_platforms() => {
                self.platforms
                    .load(ecr, pushes, self.config.max_concurrency.get())
                    .await
            }
            _ => vec![None; pushes.len()],
        };
        let planned = plan::plan(pushes, &platforms, &fleet.services, self.selection());
        let executor = Executor {
            ecs: &self.ecs,
            lock: &self.lock,
            limit: self.config.max_concurrency.get(),
        };
        let results = executor.execute(planned, fleet.unexamined, mode).await;
        let report = Report::new(pushes, mode, scanned, results, fleet.scan_failures);
        report.log();
        report
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
        }
    }
}

#[cfg(test)]
mod tests;
