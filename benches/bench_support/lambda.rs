//! The release binary as a Lambda function, against a minimal fake Runtime API on loopback:
//! time from spawn to its first `GET /2018-06-01/runtime/invocation/next` (init), and the peak
//! RSS (`VmHWM`) of a process that served one invocation.

use std::convert::Infallible;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const REQUEST_ID: &str = "bench-request-1";
const WAIT_LIMIT: Duration = Duration::from_secs(300);
/// Settings the bench passes on to the function, so both run the same configuration.
const TUNING: [&str; 3] = ["MAX_CONCURRENCY", "RETRY_MODE", "MAX_ATTEMPTS"];

#[derive(Default)]
struct State {
    first_next: Mutex<Option<Instant>>,
    next_seen: Notify,
    /// Handed out by the first `/next`; later ones wait forever (until the process is killed).
    event: Mutex<Option<String>>,
    /// (`response` or `error`, body) of the invocation.
    result: Mutex<Option<(String, String)>>,
    result_seen: Notify,
}

impl State {
    /// When the function first asked for an invocation; called only after that was seen.
    fn first_next_at(&self) -> Instant {
        self.first_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .expect("seen")
    }
}

struct FakeRuntime {
    address: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FakeRuntime {
    async fn start(event: Option<String>) -> FakeRuntime {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind runtime api");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(State {
            event: Mutex::new(event),
            ..State::default()
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeRuntime { address, state, task }
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if request.method() == Method::GET && path == NEXT {
        let now = Instant::now();
        state
            .first_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(now);
        state.next_seen.notify_one();
        let event = state.event.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(event) = event else {
            return std::future::pending().await;
        };
        let deadline = std::time::SystemTime::now() + Duration::from_secs(900);
        let deadline_ms = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        return Response::builder()
            .header("lambda-runtime-aws-request-id", REQUEST_ID)
            .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:ecs-redeploy",
            )
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(event)))
            .expect("valid response");
    }
    let kind = path.rsplit('/').next().unwrap_or_default().to_owned();
    let body = match request.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    *state.result.lock().unwrap_or_else(PoisonError::into_inner) = Some((kind, body));
    state.result_seen.notify_one();
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

fn spawn(binary: &Path, runtime: SocketAddr, ecs_endpoint: &str, log: &Path) -> Child {
    let log = File::create(log).expect("lambda log file");
    Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "ecs-redeploy")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", "/nonexistent")
        .env("AWS_ENDPOINT_URL_ECS", ecs_endpoint)
        // Only ECS has an endpoint here: a Lambda client would wait out its connect timeouts on every listing.
        // The functions row measures the Lambda calls.
        .env("LAMBDA_FUNCTIONS", "disabled")
        .envs(TUNING.iter().filter_map(|key| Some((*key, std::env::var(key).ok()?))))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Milliseconds from spawn to the first `/next`, once per run.
pub async fn init_ms(binary: &Path, runs: usize, log: &Path) -> Vec<f64> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let runtime = FakeRuntime::start(None).await;
        let spawned = Instant::now();
        let child = spawn(binary, runtime.address, "http://127.0.0.1:9", log);
        let seen = tokio::time::timeout(WAIT_LIMIT, runtime.state.next_seen.notified()).await;
        stop(child);
        seen.expect("the function asked for its first invocation");
        let first = runtime.state.first_next_at();
        samples.push(first.duration_since(spawned).as_secs_f64() * 1e3);
    }
    samples
}

pub struct Invoked {
    pub outcome: String,
    pub wall: Duration,
    pub peak_rss_kib: u64,
}

/// Serves `event` once to a fresh process talking to `ecs_endpoint`; reads its `VmHWM` after it
/// answered, then stops it.
pub async fn invoke_once(binary: &Path, ecs_endpoint: &str, event: String, log: &Path) -> Invoked {
    let runtime = FakeRuntime::start(Some(event)).await;
    let child = spawn(binary, runtime.address, ecs_endpoint, log);
    let answered = tokio::time::timeout(WAIT_LIMIT, runtime.state.result_seen.notified()).await;
    let answered_at = Instant::now();
    let peak_rss_kib = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0);
    stop(child);
    answered.expect("the function answered the invocation");
    let first = runtime.state.first_next_at();
    let (kind, body) = runtime
        .state
        .result
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .expect("result");
    let outcome = match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(v) if kind == "response" => format!("response: {} redeployed", v["counts"]["redeployed"]),
        _ => format!("{kind}: {}", body.chars().take(200).collect::<String>()),
    };
    Invoked {
        outcome,
        wall: answered_at.duration_since(first),
        peak_rss_kib,
    }
}
