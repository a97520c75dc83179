//! A moto server per test: started on a free loopback port, reset on demand, killed on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::timeout::TimeoutConfig;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

/// `MOTO_SERVER`, or the project venv's `moto_server` (`make venv` installs it in the workspace root).
fn moto_server_path() -> PathBuf {
    std::env::var_os("MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("testkit/ has a parent");
        workspace.join(".venv/bin/moto_server")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `moto_server`'s own `main` with werkzeug's threaded server turned off.
const SERIAL_MOTO_SERVER: &str = "import moto.server as s; run = s.run_simple; \
    s.run_simple = lambda *a, **k: run(*a, **{**k, 'threaded': False}); s.main()";

impl Moto {
    pub fn start() -> Moto {
        Moto::launch(moto_server_path(), &[])
    }

    /// A moto server that handles one request at a time, so every request is atomic, as a DynamoDB write to one
    /// item is. The threaded default checks a `PutItem` condition and writes the item in separate steps: two
    /// concurrent conditional puts of one item can both succeed there, never on DynamoDB.
    pub fn start_serial() -> Moto {
        Moto::launch(moto_server_path().with_file_name("python"), &["-c", SERIAL_MOTO_SERVER])
    }

    fn launch(path: PathBuf, leading_args: &[&str]) -> Moto {
        assert!(
            path.exists(),
            "{} not found: run `make venv` (or set MOTO_SERVER)",
            path.display()
        );
        // Another process may take the port between our probe and moto's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&path)
                .args(leading_args)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
            let started = Instant::now();
            while started.elapsed() < READY_TIMEOUT {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Moto {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }

    /// Forgets every resource (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("moto is reachable");
        write!(
            stream,
            "POST /moto-api/reset HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .expect("request sent");
        let mut status_line = String::new();
        BufReader::new(stream)
            .read_line(&mut status_line)
            .expect("response read");
        assert!(
            status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.0 200"),
            "moto reset: {status_line}"
        );
    }

    /// An ECS client of the test account, talking to this server, with the SDK's own retries.
    pub fn ecs_client(&self) -> aws_sdk_ecs::Client {
        ecs_client_for(&self.endpoint)
    }

    /// A Resource Groups Tagging API client of the test account, talking to this server.
    pub fn tagging_client(&self) -> aws_sdk_resourcegroupstagging::Client {
        aws_sdk_resourcegroupstagging::Client::new(&sdk_config(&self.endpoint))
    }

    /// An ECR client of the test account, talking to this server.
    pub fn ecr_client(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&sdk_config(&self.endpoint))
    }

    /// The test account's SDK configuration for this server, for the clients of APIs the testkit does not build.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint)
    }

    /// A DynamoDB client of the test account, talking to this server (moto serves every API at one endpoint).
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&sdk_config(&self.endpoint))
    }
}

/// The test account's static credentials and region, every service at `endpoint`.
fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "static",
        )))
        .endpoint_url(endpoint)
        .build()
}

pub fn ecs_client_for(endpoint: &str) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&sdk_config(endpoint))
}

/// The same with other retry and timeout settings than the SDK's: the function's, for a client as its
/// `main.rs` builds it.
pub fn ecs_client_with(endpoint: &str, retry: RetryConfig, timeout: TimeoutConfig) -> aws_sdk_ecs::Client {
    let config = aws_sdk_ecs::config::Builder::from(&sdk_config(endpoint))
        .retry_config(retry)
        .timeout_config(timeout)
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lock table as documented: partition key `id` (S), on demand, TTL on `expires_at`, and the sparse index
/// `open-deployments` (partition key `open`, sort key `started_at`, both S) of open deployment records.
pub async fn create_lock_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .unwrap()
    };
    let open_deployments = GlobalSecondaryIndex::builder()
        .index_name("open-deployments")
        .key_schema(key("open", KeyType::Hash))
        .key_schema(key("started_at", KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .unwrap();
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(string("id"))
        .attribute_definitions(string("open"))
        .attribute_definitions(string("started_at"))
        .key_schema(key("id", KeyType::Hash))
        .global_secondary_indexes(open_deployments)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("lock table created");
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("ttl enabled");
}
