//! The `SELECT=opted-in` run: a new function (cold cache) behind a new front, on the same fleet.
//! Its ECS calls are counted by the front; the tagging API's `GetResources` goes to moto directly,
//! so an interceptor on the function's tagging client counts those requests: every attempt, and
//! every successful response (one page each).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_resourcegroupstagging::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_resourcegroupstagging::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_resourcegroupstagging::error::BoxError;
use ecs_redeploy::aws::{ATTEMPT_TIMEOUT, retry_config, timeout_config};
use ecs_redeploy::config::{Config, Select};
use ecs_redeploy::domain::push::Push;
use ecs_redeploy::ecs::TAGGED_PAGE_MAX;
use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy_testkit::moto::Moto;
use serde_json::json;

use super::engine::{
    ACTIONS, Calls, Measured, admits_exactly, bucket_bound, engine_client, engine_run, latency_bound, plus, start_front,
};
use super::seed::{OPT_IN_TAG, opted_in_minimum};
use super::table::{Goal, calls_total_goal, wall_goal};

#[derive(Debug, Default)]
struct Requests {
    attempts: AtomicU64,
    pages: AtomicU64,
}

#[derive(Debug, Clone, Default)]
struct CountRequests(Arc<Requests>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().status().is_success() {
            self.0.pages.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

pub struct OptedIn {
    pub run: Measured,
    /// `GetResources` pages (successful responses) and attempts.
    pub pages: u64,
    pub attempts: u64,
}

impl OptedIn {
    /// ECS calls admitted by the front plus the tagging-API pages.
    pub fn calls_total(&self) -> u64 {
        self.run.admitted() + self.pages
    }
}

/// One cold `SELECT=opted-in` run: new front (full buckets), new function, the function's retry and
/// timeout settings on both clients.
pub async fn run(moto: &Moto, config: &Config, push: &Push) -> OptedIn {
    let mut config = config.clone();
    config.select = Select::OptedIn;
    let counter = CountRequests::default();
    let tagging = moto
        .tagging_client()
        .config()
        .to_builder()
        .retry_config(retry_config(&config))
        .timeout_config(timeout_config(ATTEMPT_TIMEOUT))
        .interceptor(counter.clone())
        .build();
    let front = start_front(moto).await;
    let ecs = SdkEcs::new(
        engine_client(&front.endpoint_url(), &config),
        aws_sdk_resourcegroupstagging::Client::from_conf(tagging),
    );
    let redeployer = Redeployer::new(ecs, config);
    let run = engine_run(&redeployer, &front, push).await;
    OptedIn {
        run,
        pages: counter.0.pages.load(Ordering::Relaxed),
        attempts: counter.0.attempts.load(Ordering::Relaxed),
    }
}

/// The median of `repeats` runs and what bounds them.
pub struct OptedInBench {
    pub median: OptedIn,
    pub walls: Vec<f64>,
    /// Every run, in the order of `walls`: its ECS calls matched the minimum plus the budget exactly, its
    /// `GetResources` pages, and its total calls.
    pub runs: Vec<(bool, u64, u64)>,
    /// Tagged services; the fewest ECS calls (`ACTIONS` order) and `GetResources` pages.
    pub tagged: usize,
    pub minimum: Calls,
    /// The running budget: digest reads of the tagged related services no push can redeploy.
    pub budget: Calls,
    pub pages_minimum: u64,
    pub bound: Duration,
}

/// `progress` is told each run's wall time.
pub async fn measure(
    moto: &Moto,
    config: &Config,
    push: &Push,
    (clusters, repeats): (usize, usize),
    progress: impl Fn(Duration),
) -> OptedInBench {
    let mut runs = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let run = run(moto, config, push).await;
        progress(run.run.wall);
        runs.push(run);
    }
    let (minimum, budget, tagged) = opted_in_minimum(clusters);
    runs.sort_by_key(|o| o.run.wall);
    let walls = runs.iter().map(|o| o.run.wall.as_secs_f64()).collect();
    let expected = plus(&minimum, &budget);
    let every = runs
        .iter()
        .map(|o| (admits_exactly(&o.run, &expected), o.pages, o.calls_total()))
        .collect();
    let median = runs.swap_remove(runs.len() / 2);
    let bound = bucket_bound(&minimum).max(latency_bound(&minimum, config.max_concurrency.get()));
    OptedInBench {
        median,
        walls,
        runs: every,
        tagged,
        minimum,
        budget,
        pages_minimum: tagged.div_ceil(TAGGED_PAGE_MAX as usize) as u64,
        bound,
    }
}

impl OptedInBench {
    pub fn minimum_total(&self) -> u64 {
        self.minimum.iter().sum::<u64>() + self.pages_minimum
    }

    fn failures(&self) -> usize {
        self.median.run.failed + self.median.run.scan_errors
    }

    pub fn note(&self, matches: usize) -> String {
        format!(
            "opted-in: {} services tagged {}={} ({matches} matching + {} others); GetResources goes to moto \
             directly, its pages counted by an interceptor on the tagging client ({} attempts; cold, warm and naive \
             list clusters instead: no tagging call); wall per run {:.2?} s",
            self.tagged,
            OPT_IN_TAG.0,
            OPT_IN_TAG.1,
            self.tagged - matches,
            self.median.attempts,
            self.walls
        )
    }

    pub fn goals(&self, cold_calls: u64, matches: usize) -> Vec<Goal> {
        let o = &self.median;
        let listed = ["ListClusters", "ListServices"]
            .map(|a| o.run.counts.action(a).received)
            .iter()
            .sum::<u64>();
        let totals: Vec<String> = self.runs.iter().map(|r| r.2.to_string()).collect();
        vec![
            calls_total_goal(
                &format!("opted-in (all {} runs; cold: {cold_calls})", self.runs.len()),
                self.minimum_total(),
                self.budget.iter().sum(),
                format!(
                    "{} (median: {} ECS + {} GetResources)",
                    totals.join("/"),
                    o.run.admitted(),
                    o.pages
                ),
                !self.runs.is_empty()
                    && self
                        .runs
                        .iter()
                        .all(|&(exact, pages, _)| exact && pages == self.pages_minimum),
            ),
            wall_goal("opted-in (median)", o.run.wall, self.bound),
            (
                format!("opted-in: no List*, {matches} redeployed, no failures"),
                format!(
                    "List* {listed}, redeployed {}, failures {}",
                    o.run.redeployed,
                    self.failures()
                ),
                listed == 0 && o.run.redeployed == matches && self.failures() == 0,
            ),
        ]
    }

    pub fn summary(&self) -> serde_json::Value {
        let o = &self.median;
        let by_action: serde_json::Map<_, _> = ACTIONS
            .iter()
            .map(|a| (a.to_string(), json!(o.run.counts.action(a).forwarded)))
            .collect();
        json!({
            "opted_in_tagged": self.tagged, "opted_in_calls_total": o.calls_total(),
            "opted_in_calls_lower_bound": self.minimum_total(), "opted_in_ecs_calls": o.run.admitted(),
            "opted_in_calls_running_budget": self.budget.iter().sum::<u64>(),
            "opted_in_get_resources_pages": o.pages, "opted_in_get_resources_attempts": o.attempts,
            "opted_in_calls_throttled": o.run.throttled(), "opted_in_calls_by_action": by_action,
            "opted_in_wall_s": o.run.wall.as_secs_f64(), "opted_in_wall_samples_s": self.walls,
            "opted_in_wall_lower_bound_s": self.bound.as_secs_f64(), "opted_in_failures": self.failures(),
            "opted_in_failures_by_step": o.run.failures, "opted_in_redeployed": o.run.redeployed,
        })
    }
}
