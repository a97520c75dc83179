//! What the front does with one call.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::buckets::{Admission, EcsBuckets, ThrottleCategory};
use super::clock::EcsClock;
use super::counts::{CountBook, NOT_AN_ECS_CALL, Tally};
use super::faults::{FaultDice, FaultKind};
use super::history::{self, HistoryRead};
use super::paging::{self, Listing, PageRequest};
use super::revisions::ServiceHistory;
use super::upstream::{UpstreamResponse, forward};
use super::wire::{self, AwsError, FrontBody};
use super::{DeletedServices, Faults, FrontConfig, Limits, Throttle};

pub(super) const ECS_TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const REQUEST_BYTES_MAX: usize = 1 << 20;

/// Everything the connections of one front share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) upstream: String,
    pub(super) client: Client<HttpConnector, Full<Bytes>>,
    limits: Limits,
    throttle: Throttle,
    latency: Duration,
    deleted_services: DeletedServices,
    fault_dice: Option<FaultDice>,
    slow_delay: Duration,
    buckets: EcsBuckets,
    pub(super) clock: EcsClock,
    pub(super) counts: CountBook,
    pub(super) history: ServiceHistory,
    pub(super) applied_updates: AppliedUpdates,
}

/// The `UpdateService` calls moto applied, by `cluster/service` — whether their answer reached the client or not.
#[derive(Debug, Default)]
pub(super) struct AppliedUpdates(Mutex<BTreeMap<String, u64>>);

impl AppliedUpdates {
    fn add(&self, request: &Map<String, Value>) {
        let name = |key: &str, default: &str| {
            let value = request.get(key).and_then(Value::as_str).unwrap_or(default);
            value.rsplit('/').next().unwrap_or(value).to_owned()
        };
        let service = format!("{}/{}", name("cluster", "default"), name("service", ""));
        let mut applied = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *applied.entry(service).or_default() += 1;
    }

    pub(super) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Shared {
    pub(super) fn new(upstream: String, config: FrontConfig) -> io::Result<Self> {
        let (fault_dice, slow_delay) = match config.faults {
            Faults::None => (None, Duration::ZERO),
            Faults::Injected {
                seed,
                rate,
                kinds,
                slow_delay,
            } => {
                let dice = FaultDice::new(seed, rate, &kinds).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("fault rate {rate} must be in [0, 1], with at least one kind when above 0"),
                    )
                })?;
                (Some(dice), slow_delay)
            }
        };
        Ok(Self {
            upstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
            limits: config.limits,
            throttle: config.throttle,
            latency: config.latency,
            deleted_services: config.deleted_services,
            fault_dice,
            slow_delay,
            buckets: EcsBuckets::default(),
            clock: EcsClock::default(),
            counts: CountBook::default(),
            history: ServiceHistory::new(config.resolve_delay),
            applied_updates: AppliedUpdates::default(),
        })
    }
}

/// How a call is answered once the front has decided.
enum Reply {
    Now(Response<FrontBody>),
    After(Duration, Response<FrontBody>),
    /// Close the connection without a response.
    Reset,
}

impl From<AwsError> for Reply {
    fn from(error: AwsError) -> Self {
        Reply::Now(error.into_response())
    }
}

pub(super) async fn answer(
    shared: &Shared,
    request: Request<Incoming>,
    reset_requested: &Notify,
) -> Response<FrontBody> {
    let arrived = SystemTime::now();
    let action = ecs_action(request.headers());
    let count_key = action.clone().unwrap_or_else(|| NOT_AN_ECS_CALL.to_owned());
    shared.counts.add(&count_key, Tally::Received);
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    // Each outcome is counted when decided, before its effect, so a client that gives up
    // early (slow response, reset) still leaves counts that add up.
    let counted = |tally| shared.counts.add(&count_key, tally);
    let reply = match action {
        Some(action) => decide(shared, &action, request, arrived, counted).await,
        None => {
            counted(Tally::Rejected);
            AwsError::unknown_operation("X-Amz-Target names no Amazon ECS action").into()
        }
    };
    match reply {
        Reply::Now(response) => response,
        Reply::After(delay, response) => {
            tokio::time::sleep(delay).await;
            response
        }
        Reply::Reset => {
            // The connection task drops this connection with SO_LINGER 0 once notified.
            reset_requested.notify_one();
            std::future::pending().await
        }
    }
}

fn ecs_action(headers: &HeaderMap) -> Option<String> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    let action = target.strip_prefix(ECS_TARGET_PREFIX)?;
    (!action.is_empty()).then(|| action.to_owned())
}

async fn decide(
    shared: &Shared,
    action: &str,
    request: Request<Incoming>,
    arrived: SystemTime,
    counted: impl Fn(Tally),
) -> Reply {
    let (parts, body) = request.into_parts();
    let (raw_body, json_body) = match read_json_object(body).await {
        Ok(read) => read,
        Err(error) => {
            counted(Tally::Rejected);
            return error.into();
        }
    };

    // A fault before moto is never applied upstream; one after it (`after_apply`) is, and only its answer is
    // lost, as a 5xx, a reset or a timeout after the write can be in AWS: a client that retries it blindly
    // applies a non-idempotent call (UpdateService) twice. Calls the front refuses itself are answered as such.
    let fault = shared.fault_dice.as_ref().and_then(FaultDice::roll);
    if let Some(kind) = fault.filter(|kind| !kind.after_apply()) {
        counted(Tally::Faulted);
        return fault_reply(kind, shared.slow_delay);
    }
    let carried = carry_out(shared, action, parts, raw_body, json_body, arrived, &counted).await;
    match (carried, fault) {
        (Carried::Forwarded(_), Some(kind)) => {
            counted(Tally::Lost);
            fault_reply(kind, shared.slow_delay)
        }
        (Carried::Forwarded(reply) | Carried::Refused(reply), _) => reply,
    }
}

/// What the front did with a call past the fault dice: sent it on (or answered for moto), or refused it.
enum Carried {
    Forwarded(Reply),
    Refused(Reply),
}

async fn carry_out(
    shared: &Shared,
    action: &str,
    parts: hyper::http::request::Parts,
    raw_body: Bytes,
    json_body: Map<String, Value>,
    arrived: SystemTime,
    counted: &impl Fn(Tally),
) -> Carried {
    if shared.throttle == Throttle::EcsBuckets
        && let Some(category) = ThrottleCategory::of_action(action)
        && shared.buckets.try_take(category, shared.clock.now()) == Admission::Throttled
    {
        counted(Tally::Throttled);
        return Carried::Refused(AwsError::throttling().into());
    }

    let page = match shared.limits {
        Limits::Off => None,
        Limits::Enforced => match check_limits(action, &json_body) {
            Ok(page) => page,
            Err(error) => {
                counted(Tally::Rejected);
                return Carried::Refused(error.into());
            }
        },
    };

    // moto knows no service history: the front answers for it, as if it were the backend.
    if let Some(read) = HistoryRead::of_action(action) {
        return match read.requested_arns(&json_body, shared.limits == Limits::Enforced) {
            Ok(arns) => {
                counted(Tally::Forwarded);
                Carried::Forwarded(Reply::Now(wire::json_response(&read.answer(shared, &arns))))
            }
            Err(error) => {
                counted(Tally::Rejected);
                Carried::Refused(error.into())
            }
        };
    }

    counted(Tally::Forwarded);
    if action == "UpdateService" {
        history::before_update(shared, &parts.headers, &json_body).await;
    }
    let upstream_body = match &page {
        Some(page) => Bytes::from(Value::Object(page.upstream_request.clone()).to_string()),
        None => raw_body,
    };
    let response = match forward(shared, &parts, upstream_body).await {
        Ok(response) => response,
        Err(error) => return Carried::Forwarded(error.into()),
    };
    if action == "UpdateService" && response.status.is_success() {
        shared.applied_updates.add(&json_body);
    }
    Carried::Forwarded(match page {
        Some(page) if response.status.is_success() => match paging::page_response(&page, &response.body) {
            Ok(body) => Reply::Now(response.with_body(body.into()).into_front_response()),
            Err(error) => error.into(),
        },
        _ => {
            let call = Call {
                action,
                headers: &parts.headers,
                body: &json_body,
                arrived,
            };
            match recorded(shared, call, response).await {
                Ok(response) => Reply::Now(response.into_front_response()),
                Err(error) => error.into(),
            }
        }
    })
}

/// The call whose answer `recorded` completes.
struct Call<'a> {
    action: &'a str,
    headers: &'a HeaderMap,
    body: &'a Map<String, Value>,
    arrived: SystemTime,
}

/// The answer with the deployments in it dated by the front's ECS clock (see `clock`): those a
/// `CreateService` or `UpdateService` made, and in every answer those the front saw made before; then
/// with the service history (see `history`): deployments made are recorded, services say what they run.
async fn recorded(shared: &Shared, call: Call<'_>, response: UpstreamResponse) -> Result<UpstreamResponse, AwsError> {
    let action = call.action;
    let makes_deployments = matches!(action, "CreateService" | "UpdateService");
    let relevant = makes_deployments || matches!(action, "DescribeServices" | "DeleteService");
    if !response.status.is_success() || !relevant {
        return Ok(response);
    }
    let mut answer: Value = serde_json::from_slice(&response.body)
        .map_err(|error| AwsError::server(format!("moto answered unreadable JSON: {error}")))?;
    let made = if makes_deployments {
        shared.clock.stamp_new_deployments(&mut answer, call.arrived)
    } else {
        if action == "DescribeServices" && shared.deleted_services == DeletedServices::Missing {
            forget_deleted(&mut answer);
        }
        shared.clock.date_stamped_deployments(&mut answer);
        Vec::new()
    };
    history::after_answer(shared, call.headers, action, call.body, &mut answer, &made).await;
    Ok(response.with_body(Bytes::from(answer.to_string())))
}

/// A `DescribeServices` answer as ECS gives it once it has forgotten deleted services: each `INACTIVE`
/// service becomes a `MISSING` failure.
fn forget_deleted(answer: &mut Value) {
    let Some(services) = answer.get_mut("services").and_then(Value::as_array_mut) else {
        return;
    };
    let (inactive, kept): (Vec<Value>, Vec<Value>) = services
        .drain(..)
        .partition(|s| s.get("status").and_then(Value::as_str) == Some("INACTIVE"));
    *services = kept;
    if inactive.is_empty() {
        return;
    }
    let missing = inactive
        .iter()
        .map(|s| json!({"arn": s.get("serviceArn").cloned().unwrap_or(Value::Null), "reason": "MISSING"}));
    match answer.get_mut("failures").and_then(Value::as_array_mut) {
        Some(failures) => failures.extend(missing),
        None => answer["failures"] = Value::Array(missing.collect()),
    }
}

fn fault_reply(kind: FaultKind, slow_delay: Duration) -> Reply {
    match kind {
        FaultKind::Http500 => AwsError::server("injected fault: internal failure").into(),
        FaultKind::Http500AfterApply => AwsError::server("injected fault: internal failure after the call").into(),
        FaultKind::Http503 => AwsError::service_unavailable("injected fault: unavailable").into(),
        FaultKind::Throttling => AwsError::throttling().into(),
        FaultKind::ConnectionReset | FaultKind::ResetAfterApply => Reply::Reset,
        FaultKind::SlowResponse | FaultKind::StallAfterApply => Reply::After(
            slow_delay,
            AwsError::service_unavailable("injected fault: slow response").into_response(),
        ),
    }
}

/// The page to cut when the action is paged by the front; an error when a limit is broken.
fn check_limits(action: &str, body: &Map<String, Value>) -> Result<Option<PageRequest>, AwsError> {
    if action == "DescribeServices" {
        paging::check_describe_services(body)?;
    }
    Listing::of_action(action)
        .map(|listing| paging::parse_page_request(listing, body.clone()))
        .transpose()
}

async fn read_json_object(body: Incoming) -> Result<(Bytes, Map<String, Value>), AwsError> {
    let raw = Limited::new(body, REQUEST_BYTES_MAX)
        .collect()
        .await
        .map_err(|error| AwsError::serialization(format!("cannot read request body: {error}")))?
        .to_bytes();
    let json = serde_json::from_slice(&raw)
        .map_err(|error| AwsError::serialization(format!("request body is not a JSON object: {error}")))?;
    Ok((raw, json))
}
