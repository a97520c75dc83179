//! The functions row: a push of `app:latest` with `FUNCTIONS` container-image Lambda functions in the Region,
//! `MATCHING` of them on `app:latest`, the rest on another repository. Its own moto (whose Lambda resolves the tag
//! through its ECR). The Lambda calls are counted as they leave the SDK client (an interceptor), against the
//! least a push needs: the listing pages, one `GetFunction` per listed image function (`ListFunctions` has no
//! image URI), one `UpdateFunctionCode` per matching function.
//!
//! moto lists every function in one page (it ignores `MaxItems`); Lambda returns 50 a page, so there the minimum
//! has `FUNCTIONS / 50` pages (the adapter's paging is tested against aws-smithy-mocks). moto has no `RevisionId`
//! either, so the warm process's image cache cannot show here: a warm run would describe every function again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_lambda::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_lambda::error::BoxError;
use aws_sdk_lambda::types::{FunctionCode, PackageType};
use ecs_redeploy::config::{Config, Mode};
use ecs_redeploy::domain::function::FunctionSelection;
use ecs_redeploy::domain::push::Push;
use ecs_redeploy::engine::functions::{discover, execute, plan};
use ecs_redeploy::lambda::LIST_FUNCTIONS_PAGE_MAX;
use ecs_redeploy::lambda::sdk::SdkLambda;
use ecs_redeploy::lock::dynamodb::DynamoDbLock;
use ecs_redeploy::report::Status;
use ecs_redeploy_testkit::fleet::registry;
use ecs_redeploy_testkit::front::FrontConfig;
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::registry::push_image;
use serde_json::json;

use super::table::{Goal, wall_goal};

const FUNCTIONS: usize = 200;
const MATCHING: usize = 20;
const OPERATIONS: [&str; 3] = ["ListFunctions", "GetFunction", "UpdateFunctionCode"];

/// Lambda requests by operation, from their method and path (botocore lambda/2015-03-31 `requestUri`).
#[derive(Debug, Default)]
struct CountCalls(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountLambdaCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        // The URI is absolute (`http://HOST:PORT/2015-03-31/functions/…`): the path starts at the API version.
        let uri = request.uri();
        let path = uri[uri.find("/2015-03-31").unwrap_or(0)..]
            .split('?')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let operation = match (request.method(), segments.as_slice()) {
            ("GET", [_, "functions"]) => "ListFunctions",
            ("GET", [_, "functions", _]) => "GetFunction",
            ("PUT", [_, "functions", _, "code"]) => "UpdateFunctionCode",
            _ => "other",
        };
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(operation)
            .or_default() += 1;
        Ok(())
    }
}

pub struct FunctionsRow {
    calls: BTreeMap<&'static str, u64>,
    wall: Duration,
    updated: usize,
    failed: usize,
    seeding: Duration,
}

pub async fn measure(config: &Config, progress: impl Fn(&str)) -> FunctionsRow {
    let env = Harness::start_with(FrontConfig::strict()).await;
    let seeding = Instant::now();
    push_image(&env.moto, &env.front, "app", "latest", "old").await;
    push_image(&env.moto, &env.front, "other", "latest", "other").await;
    let role = env.moto.create_lambda_role("bench-functions");
    let seeder = env.moto.lambda_client();
    for i in 0..FUNCTIONS {
        let image = if i < MATCHING { "app:latest" } else { "other:latest" };
        seeder
            .create_function()
            .function_name(format!("fn-{i:03}"))
            .role(&role)
            .package_type(PackageType::Image)
            .code(
                FunctionCode::builder()
                    .image_uri(format!("{}/{image}", registry()))
                    .build(),
            )
            .send()
            .await
            .expect("moto creates the function");
    }
    let new = push_image(&env.moto, &env.front, "app", "latest", "new").await;
    let seeding = seeding.elapsed();
    progress(&format!(
        "functions: seeded {FUNCTIONS} image functions in {:.1} s",
        seeding.as_secs_f64()
    ));

    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let client = env.moto.function_lambda_client();
    let counted = client
        .config()
        .to_builder()
        .interceptor(CountCalls(Arc::clone(&counts)))
        .build();
    let lambda = SdkLambda::new(
        aws_sdk_lambda::Client::from_conf(counted),
        env.moto.function_tagging_client(),
        config.pacing,
    );
    let push = [Push::from_image_uri(&format!("{}/app:latest@{new}", registry())).expect("a push")];
    let selection = FunctionSelection {
        tag_key: &config.tag_key,
        select: config.select,
    };
    let started = Instant::now();
    let scan = discover(&lambda, config, Some(&push), config.max_concurrency.get())
        .await
        .expect("listed");
    let planned = plan(&scan.functions, &push, &[None], selection);
    let reports = execute(
        &lambda,
        &None::<DynamoDbLock>,
        planned,
        Mode::Apply,
        config.max_concurrency.get(),
    )
    .await;
    let wall = started.elapsed();
    let calls = counts.lock().unwrap_or_else(PoisonError::into_inner).clone();
    progress(&format!("functions: {:.2} s", wall.as_secs_f64()));
    FunctionsRow {
        calls,
        wall,
        updated: reports.iter().filter(|r| r.outcome == Status::Redeployed).count(),
        failed: reports.iter().filter(|r| r.outcome == Status::Failed).count() + scan.failed.len(),
        seeding,
    }
}

impl FunctionsRow {
    /// The least calls on moto (one listing page) and on Lambda (50 a page).
    fn minimum(pages: u64) -> [u64; 3] {
        [pages, FUNCTIONS as u64, MATCHING as u64]
    }

    fn measured(&self, operation: &str) -> u64 {
        self.calls.get(operation).copied().unwrap_or(0)
    }

    pub fn table(&self, w: &mut String) {
        let lambda_pages = FUNCTIONS.div_ceil(LIST_FUNCTIONS_PAGE_MAX as usize) as u64;
        let (moto, real) = (Self::minimum(1), Self::minimum(lambda_pages));
        let _ = writeln!(
            w,
            "\nfunctions: {FUNCTIONS} image functions, {MATCHING} on the pushed `app:latest` (seeded in {:.1} s)",
            self.seeding.as_secs_f64()
        );
        let _ = writeln!(
            w,
            "{:<24}{:>12}{:>18}{:>18}",
            "action", "measured", "minimum (moto)", "minimum (Lambda)"
        );
        for (i, operation) in OPERATIONS.iter().enumerate() {
            let _ = writeln!(
                w,
                "{operation:<24}{:>12}{:>18}{:>18}",
                self.measured(operation),
                moto[i],
                real[i]
            );
        }
        let _ = writeln!(w, "{:<24}{:>12}{:>18}{:>18}", "other", self.measured("other"), 0, 0);
        let _ = writeln!(
            w,
            "{:<24}{:>12}\nupdated {} of {MATCHING}, failed {}",
            "wall",
            format!("{:.2} s", self.wall.as_secs_f64()),
            self.updated,
            self.failed
        );
    }

    /// The least time Lambda's quotas allow the minimum calls, stage after stage (ListFunctions, then the
    /// GetFunctions at 100/s beyond a second's burst, then the updates at 15/s beyond theirs); latency aside.
    fn bound() -> Duration {
        let beyond = |calls: usize, rate: f64| (calls as f64 - rate).max(0.0) / rate;
        Duration::from_secs_f64(beyond(FUNCTIONS, 100.0) + beyond(MATCHING, 15.0))
    }

    pub fn goals(&self) -> Vec<Goal> {
        let minimum = Self::minimum(1);
        let measured: Vec<u64> = OPERATIONS.iter().map(|op| self.measured(op)).collect();
        let join = |calls: &[u64]| calls.iter().map(u64::to_string).collect::<Vec<_>>().join(" + ");
        vec![
            (
                format!("functions calls = minimum {} (moto: one listing page)", join(&minimum)),
                format!("{} + other {}", join(&measured), self.measured("other")),
                measured == minimum && self.measured("other") == 0,
            ),
            wall_goal("functions", self.wall, Self::bound()),
            (
                format!("functions updated = {MATCHING}, none failed"),
                format!("{} updated, {} failed", self.updated, self.failed),
                self.updated == MATCHING && self.failed == 0,
            ),
        ]
    }

    pub fn summary(&self) -> serde_json::Value {
        json!({
            "functions": FUNCTIONS, "matching": MATCHING, "calls": self.calls,
            "wall_s": self.wall.as_secs_f64(), "updated": self.updated, "failed": self.failed,
        })
    }
}
