//! A moto server per test: started on a loopback port it binds itself, reset on demand, killed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::timeout::TimeoutConfig;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;

use crate::request_log::{self, FUNCTION_ACCESS_KEY};

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

/// What werkzeug prints once its socket is bound and listening: ` * Running on http://127.0.0.1:PORT`.
const RUNNING_ON: &str = " * Running on http://127.0.0.1:";

/// The port of werkzeug's `Running on` line.
fn announced_port(line: &str) -> Option<u16> {
    line.find(RUNNING_ON)
        .and_then(|at| line[at + RUNNING_ON.len()..].trim_end().parse().ok())
}

/// Whether what answers on `port` is moto: its `/moto-api/config` is moto's own settings document.
fn is_moto(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(READY_TIMEOUT));
    let request = format!("GET /moto-api/config HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        // HTTP/1.0 from werkzeug's single-threaded server (`start_serial`).
        && (response.starts_with("HTTP/1.1 201") || response.starts_with("HTTP/1.0 201"))
        && response.contains(r#""lambda": {"use_docker""#)
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
        // Port 0: moto binds a free port itself (no window in which another process can take it) and werkzeug
        // announces it on stderr. Its per-request log lines keep coming there: a thread drains them.
        let mut command = Command::new(&path);
        request_log::record_moto(&mut command);
        // moto's Lambda then resolves an image function's tag through its own ECR (`CodeSha256` becomes the
        // image's digest) instead of hashing the URI.
        command.env("MOTO_LAMBDA_STUB_ECR", "false");
        let mut child = command
            .args(leading_args)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (announced, port) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
            let mut seen = Vec::new();
            let found = lines.by_ref().find_map(|line| {
                let port = announced_port(&line);
                seen.push(line);
                port
            });
            let _ = announced.send(found.ok_or(seen));
            lines.for_each(drop);
        });
        let port = match port.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(port)) => port,
            Ok(Err(output)) => panic!("moto_server exited without listening: {}", output.join("\n")),
            Err(_) => {
                let _ = child.kill();
                panic!("moto_server did not listen within {READY_TIMEOUT:?}");
            }
        };
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        assert!(is_moto(port), "what listens on {} is not moto", moto.endpoint);
        moto
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

    /// The function's SDK configuration for this server: the test account, signed with the function's key, so
    /// that the IAM proof tells its requests from the tests' own (see [`request_log`]).
    pub fn function_sdk_config(&self) -> SdkConfig {
        function_sdk_config(&self.endpoint)
    }

    /// The function's tagging API client (see [`Moto::function_sdk_config`]).
    pub fn function_tagging_client(&self) -> aws_sdk_resourcegroupstagging::Client {
        aws_sdk_resourcegroupstagging::Client::new(&self.function_sdk_config())
    }

    /// The function's ECR client (see [`Moto::function_sdk_config`]).
    pub fn function_ecr_client(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.function_sdk_config())
    }

    /// A Lambda client of the test account, for seeding and reading back functions.
    pub fn lambda_client(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&sdk_config(&self.endpoint))
    }

    /// The function's Lambda client (see [`Moto::function_sdk_config`]).
    pub fn function_lambda_client(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.function_sdk_config())
    }

    /// Creates an IAM role Lambda functions can be created with (moto checks that a function's role exists) and
    /// returns its ARN. A raw IAM query request: the testkit needs no IAM client for one call.
    pub fn create_lambda_role(&self, name: &str) -> String {
        let address = self.endpoint.trim_start_matches("http://");
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let encoded: String = policy
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let body = format!("Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={encoded}");
        let mut stream = TcpStream::connect(address).expect("moto is reachable");
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/iam/aws4_request, \
             SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("request sent");
        let mut response = String::new();
        BufReader::new(stream)
            .read_to_string(&mut response)
            .expect("response read");
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "IAM CreateRole: {response}"
        );
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// The function's DynamoDB client (see [`Moto::function_sdk_config`]).
    pub fn function_dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.function_sdk_config())
    }
}

/// The test account's static credentials and region, every service at `endpoint`.
fn sdk_config(endpoint: &str) -> SdkConfig {
    sdk_config_signed_by("testing", endpoint)
}

/// The same, signed with the function's key.
fn function_sdk_config(endpoint: &str) -> SdkConfig {
    sdk_config_signed_by(FUNCTION_ACCESS_KEY, endpoint)
}

fn sdk_config_signed_by(access_key: &str, endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key, "testing", None, None, "static",
        )))
        .endpoint_url(endpoint)
        .build()
}

pub fn ecs_client_for(endpoint: &str) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&sdk_config(endpoint))
}

/// The function's ECS client at `endpoint` (the front): signed with the function's key.
pub fn function_ecs_client_for(endpoint: &str) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&function_sdk_config(endpoint))
}

/// The same with other retry and timeout settings than the SDK's: the function's, for a client as its
/// `main.rs` builds it.
pub fn ecs_client_with(endpoint: &str, retry: RetryConfig, timeout: TimeoutConfig) -> aws_sdk_ecs::Client {
    let config = aws_sdk_ecs::config::Builder::from(&function_sdk_config(endpoint))
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

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn the_port_is_the_one_werkzeug_announces() {
        assert_eq!(announced_port(" * Running on http://127.0.0.1:34639"), Some(34639));
        assert_eq!(announced_port("\u{1b}[33mPress CTRL+C to quit\u{1b}[0m"), None);
        assert_eq!(announced_port(" * Running on http://127.0.0.1:"), None);
    }

    #[test]
    fn the_probe_tells_moto_from_another_http_server() {
        let moto = Moto::start();
        let port: u16 = moto.endpoint.rsplit(':').next().unwrap().parse().unwrap();
        assert!(is_moto(port), "{}", moto.endpoint);

        // Another server on another port, answering every request with 201 and a JSON body.
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let other_port = other.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = other.accept().unwrap();
            let mut request = [0; 1024];
            let _ = stream.read(&mut request);
            let body = r#"{"status": "ok"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 201 CREATED\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        assert!(!is_moto(other_port), "another server is not moto");
        server.join().unwrap();
    }
}
