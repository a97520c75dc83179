//! The strict ECS front: an HTTP proxy between the SDK and moto that makes moto behave like
//! real ECS where the tests depend on it: request limits and paging, per-category throttling,
//! latency and seeded faults. Test and bench support only; never part of the Lambda.
//!
//! Each call goes through, in order: count as received, latency, body check, fault dice (a fault before moto
//! answers here; one after it lets the call through and then loses moto's answer), throttle buckets, limits, and
//! only then moto; the deployments in moto's answer are then dated
//! by the front's ECS clock, which the test can advance instead of sleeping.
//!
//! The front also keeps what moto lacks: service revisions and service deployments, recorded when a
//! call makes a deployment, with image tags resolved to digests from a test-controlled registry
//! ([`Front::set_image_digest`]) once the resolve delay has passed on the ECS clock. It answers
//! `DescribeServiceRevisions` and `DescribeServiceDeployments` itself, through the same checks, and adds
//! `currentServiceDeployment` and `currentServiceRevisions` to the services moto describes.

mod buckets;
mod clock;
mod counts;
mod faults;
mod history;
mod old_arns;
mod paging;
mod pipeline;
mod registry;
mod revisions;
mod upstream;
mod wire;

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

pub use buckets::{ThrottleCategory, throttle_lower_bound};
pub use counts::{ActionCounts, CallCounts, NOT_AN_ECS_CALL};
pub use faults::FaultKind;

use pipeline::Shared;

/// Whether ECS request limits are checked (moto checks none of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limits {
    /// `DescribeServices` takes at most 10 services; `ListServices`/`ListClusters` honour
    /// `maxResults` (1–100) and `nextToken`.
    Enforced,
    /// Every call goes to moto as sent.
    Off,
}

/// Whether calls are throttled like ECS does it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttle {
    /// Token buckets per category, see [`ThrottleCategory`].
    EcsBuckets,
    Off,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Faults {
    None,
    /// Each call fails with probability `rate` (0–1), with one of `kinds` picked by a PRNG
    /// seeded with `seed`. `slow_delay` is how long a [`FaultKind::SlowResponse`] stalls.
    Injected {
        seed: u64,
        rate: f64,
        kinds: Vec<FaultKind>,
        slow_delay: Duration,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FrontConfig {
    pub limits: Limits,
    pub throttle: Throttle,
    /// Added to every call before it is answered.
    pub latency: Duration,
    pub faults: Faults,
    pub deleted_services: DeletedServices,
    /// How long after a deployment starts, on the ECS clock, version consistency resolves its revision's
    /// image tags to digests (with the digests the registry has then) and the deployment completes.
    pub resolve_delay: Duration,
    /// Names of services created before the long ARN format: `ListServices` gives their ARN as `service/NAME`,
    /// and a call naming such an ARN is refused as IAM refuses it (see `old_arns`).
    pub old_format_services: Vec<String>,
}

/// What `DescribeServices` says of a deleted service. ECS keeps it `INACTIVE` for a while, then forgets it and
/// reports it `MISSING`; moto keeps it `INACTIVE` for good. The tagging API may list it in either phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletedServices {
    /// As moto (and ECS right after the deletion) answers.
    Inactive,
    /// As ECS answers once it has forgotten the service: a `MISSING` failure.
    Missing,
}

impl FrontConfig {
    /// Limits and throttling like real ECS; no latency, no faults.
    pub fn strict() -> Self {
        Self {
            limits: Limits::Enforced,
            throttle: Throttle::EcsBuckets,
            latency: Duration::ZERO,
            faults: Faults::None,
            deleted_services: DeletedServices::Inactive,
            resolve_delay: Duration::ZERO,
            old_format_services: Vec::new(),
        }
    }
}

/// A running front on a free loopback port. Dropping it stops it, open connections included.
#[derive(Debug)]
pub struct Front {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
    closed: watch::Receiver<()>,
}

impl Front {
    /// Starts a front in front of `upstream` (`http://127.0.0.1:PORT`; loopback only).
    pub async fn start(upstream: &str, config: FrontConfig) -> io::Result<Front> {
        let upstream = loopback_base_url(upstream)?;
        let shared = Arc::new(Shared::new(upstream, config)?);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let (closed_sender, closed) = watch::channel(());
        let listening = Listening {
            listener,
            _closed: closed_sender,
        };
        let accept_task = tokio::spawn(accept_connections(listening, Arc::clone(&shared)));
        Ok(Front {
            address,
            shared,
            accept_task,
            closed,
        })
    }

    /// What to give the SDK as endpoint URL.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn calls(&self) -> CallCounts {
        self.shared.counts.snapshot()
    }

    /// How many `UpdateService` calls moto applied to each service (`cluster/service`, by name), counted whether
    /// their answer reached the client or an injected fault lost it: a service deployed twice shows 2.
    pub fn applied_updates(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.applied_updates.snapshot()
    }

    pub fn reset_counts(&self) {
        self.shared.counts.clear();
    }

    /// Lets `by` pass on the front's ECS clock, at once: the token buckets refill as if that much time
    /// had passed, and deployments made through the front from now on are dated that much later than
    /// moto dates them (in the answer that makes them and in every later `DescribeServices` answer).
    /// Deployments seeded straight into moto keep moto's wall-clock dates, so a test can put a push
    /// between the two without waiting for the wall clock to pass a second.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Now on the front's ECS clock, in epoch seconds, as a function a test hands the engine for its clock: the
    /// times the engine compares (a wave's bake) are then the ones ECS dated the deployments with.
    pub fn ecs_clock(&self) -> impl Fn() -> f64 + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || shared.clock.now_epoch_seconds()
    }

    /// Stops the front's ECS clock: from now on only [`Front::advance_clock`] moves it, so the token buckets
    /// refill only by what a test advances, never by how long the machine took (for the front's own tests).
    pub fn freeze_clock(&self) {
        self.shared.clock.freeze();
    }

    /// Points `image`, the reference exactly as a task definition's container names it, at `digest` from
    /// now on the ECS clock: a push, which moves the tag when set again.
    pub fn set_image_digest(&self, image: &str, digest: &str) {
        let now = self.shared.clock.now_epoch_seconds();
        self.shared.history.push_image(image, digest, now);
    }

    /// The resolve delay (see [`FrontConfig::resolve_delay`]) of the deployments made from now on.
    pub fn set_resolve_delay(&self, delay: Duration) {
        self.shared.history.set_resolve_delay(delay);
    }

    /// Rolls back the current service deployment of the service, as the deployment circuit breaker does:
    /// the deployment becomes `ROLLBACK_SUCCESSFUL`, with a `rollback` to the revision of the last deployment
    /// that completed, which becomes the service's only current revision. No revision is made for it.
    ///
    /// # Panics
    ///
    /// When the front has no service deployment of the service to roll back, or no completed one to return
    /// to: a mistake in the test.
    pub fn roll_back(&self, service_arn: &str) {
        let now = self.shared.clock.now_epoch_seconds();
        if let Err(why) = self.shared.history.roll_back(service_arn, now) {
            panic!("cannot roll back: {why}");
        }
    }

    /// Whether the deployments made from now on stay `IN_PROGRESS` until [`Front::complete_deployment`] (`true`),
    /// or complete once their revision resolves (`false`, the default).
    pub fn hold_rollouts(&self, hold: bool) {
        self.shared.history.set_hold_rollouts(hold);
    }

    /// Ends the service's current deployment now: a held rollout becomes `SUCCESSFUL`, a rollback started with
    /// [`Front::start_roll_back`] `ROLLBACK_SUCCESSFUL`.
    ///
    /// # Panics
    ///
    /// When the service has no deployment in progress: a mistake in the test.
    pub fn complete_deployment(&self, service_arn: &str) {
        let now = self.shared.clock.now_epoch_seconds();
        if let Err(why) = self.shared.history.complete(service_arn, now) {
            panic!("cannot complete: {why}");
        }
    }

    /// Starts rolling the current service deployment back as the circuit breaker does: `ROLLBACK_IN_PROGRESS`,
    /// with `rollback.serviceRevisionArn` the revision of the last completed deployment, which is at once the
    /// service's only current revision; the bad revision stays the target. [`Front::complete_deployment`] ends it.
    ///
    /// # Panics
    ///
    /// As [`Front::roll_back`].
    pub fn start_roll_back(&self, service_arn: &str) {
        let now = self.shared.clock.now_epoch_seconds();
        if let Err(why) = self.shared.history.start_roll_back(service_arn, now, f64::INFINITY) {
            panic!("cannot roll back: {why}");
        }
    }

    /// The `ECS Deployment State Change` event ECS sends for the service's current deployment, in the real shape:
    /// `event_name` is `SERVICE_DEPLOYMENT_COMPLETED`, `_FAILED` (both naming the deployment's `ecs-svc/…` id) or
    /// `_IN_PROGRESS` (after a rollback started: naming the deployment rolled back to).
    ///
    /// # Panics
    ///
    /// When the front has no deployment of the service, or the name is none of the three.
    pub fn deployment_event(&self, service_arn: &str, event_name: &str) -> serde_json::Value {
        let now = self.shared.clock.now_epoch_seconds();
        self.shared
            .history
            .deployment_event(service_arn, event_name, now)
            .unwrap_or_else(|why| panic!("no deployment event: {why}"))
    }

    /// Done once the front has stopped listening, which dropping it starts: for a test of that.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closed = self.closed.clone();
        async move {
            // Nothing is ever sent: this ends when the sender is dropped, after the listener.
            let _ = closed.changed().await;
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        // The accept task owns the connection tasks (a JoinSet), so they end with it.
        self.accept_task.abort();
    }
}

fn loopback_base_url(upstream: &str) -> io::Result<String> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("upstream {upstream:?}: {why}"));
    let uri: Uri = upstream.parse().map_err(|_| invalid("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid("must be http://"));
    }
    let host = uri.host().ok_or_else(|| invalid("has no host"))?;
    let is_loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !is_loopback {
        return Err(invalid("must be a loopback address"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("has no host"))?;
    Ok(format!("http://{authority}"))
}

/// The listening socket, and what tells [`Front::closed`] that it is closed.
struct Listening {
    listener: TcpListener,
    /// Dropped after `listener`: fields are dropped in order.
    _closed: watch::Sender<()>,
}

async fn accept_connections(listening: Listening, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listening.listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // A second descriptor of the same socket, to turn the close into a reset (SO_LINGER 0)
    // after hyper, which owns the stream, has been dropped.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(reset_handle) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let reset_requested = Arc::new(Notify::new());
    let service = service_fn({
        let reset_requested = Arc::clone(&reset_requested);
        move |request| {
            let shared = Arc::clone(&shared);
            let reset_requested = Arc::clone(&reset_requested);
            async move { Ok::<_, Infallible>(pipeline::answer(&shared, request, &reset_requested).await) }
        }
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        () = reset_requested.notified() => {
            if let Ok(reset_handle) = TcpStream::from_std(reset_handle) {
                // Best effort: without it the close is a plain FIN, still without a response.
                let _ = reset_handle.set_zero_linger();
            }
        }
    }
}
