//! How a [`Redeployer`] is built: its required ports, then the optional ones added one at a time.

use chrono::Utc;

use super::fleet::TaskDefinitionCache;
use super::images::ManifestCache;
use super::{Clock, Redeployer};
use crate::config::Config;
use crate::ecr::EcrApi;
use crate::ecs::EcsApi;
use crate::lambda::LambdaApi;
use crate::lock::DeployLock;
use crate::notify::Notifier;

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
        self.with_ports(|_, notifier, lambda| (Some(ecr), notifier, lambda))
    }

    /// The same redeployer, telling `notifier` of every service an `apply` redeployed or failed.
    pub fn with_notifier<N2: Notifier>(self, notifier: N2) -> Redeployer<E, L, R, N2, F> {
        self.with_ports(|ecr, _, lambda| (ecr, notifier, lambda))
    }

    /// The same redeployer, updating the container-image Lambda functions `lambda` finds on a pushed image too
    /// (when `LAMBDA_FUNCTIONS=enabled`).
    pub fn with_functions<F2: LambdaApi>(self, lambda: F2) -> Redeployer<E, L, R, N, F2> {
        self.with_ports(|ecr, notifier, _| (ecr, notifier, Some(lambda)))
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
}

impl<E, L, R, N, F> Redeployer<E, L, R, N, F> {
    /// The same redeployer with its registry, notifier and functions ports replaced by `ports` of the old ones
    /// (the ports that change the redeployer's type).
    fn with_ports<R2, N2, F2>(
        self,
        ports: impl FnOnce(Option<R>, N, Option<F>) -> (Option<R2>, N2, Option<F2>),
    ) -> Redeployer<E, L, R2, N2, F2> {
        let (ecr, notifier, lambda) = ports(self.ecr, self.notifier, self.lambda);
        Redeployer {
            ecs: self.ecs,
            lock: self.lock,
            ecr,
            config: self.config,
            task_definitions: self.task_definitions,
            manifests: self.manifests,
            notifier,
            clock: self.clock,
            waker: self.waker,
            lambda,
        }
    }
}
