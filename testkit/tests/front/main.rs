//! Self-tests of the strict ECS front, with raw awsJson requests against a real moto server.

mod clock;
mod faults;
mod lifecycle;
mod limits;
mod revisions;
mod rollback;
mod throttle;

use std::time::Duration;

use ecs_redeploy_testkit::front::{FaultKind, Faults, FrontConfig, Throttle};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const ECS_TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
/// moto routes a request to ECS by the service in the credential scope; it checks no signature.
const AUTHORIZATION: &str =
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=x";

#[derive(Debug)]
struct Answer {
    status: u16,
    /// The code the SDK would read: `x-amzn-errortype`, else the body's `__type`.
    error_code: Option<String>,
    body: Value,
}

impl Answer {
    fn error_code(&self) -> &str {
        self.error_code.as_deref().unwrap_or("")
    }

    fn strings(&self, key: &str) -> Vec<String> {
        self.body[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} missing in {}", self.body))
            .iter()
            .map(|value| value.as_str().expect("string").to_owned())
            .collect()
    }

    fn next_token(&self) -> Option<String> {
        self.body["nextToken"].as_str().map(str::to_owned)
    }
}

/// A bare awsJson1_1 ECS caller without retries, for the front or for moto itself.
struct Ecs {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
}

impl Ecs {
    fn at(url: &str) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url: url.to_owned(),
        }
    }

    async fn send(&self, target: &str, body: &str) -> Result<Answer, hyper_util::client::legacy::Error> {
        let request = hyper::Request::post(format!("{}/", self.url))
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.1")
            .header("authorization", AUTHORIZATION)
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("valid request");
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let header_code = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let body_code = body["__type"].as_str().map(str::to_owned);
        Ok(Answer {
            status,
            error_code: header_code.or(body_code),
            body,
        })
    }

    async fn call(&self, action: &str, body: Value) -> Answer {
        self.send(&format!("{ECS_TARGET_PREFIX}{action}"), &body.to_string())
            .await
            .unwrap_or_else(|error| panic!("{action} at {}: {error:?}", self.url))
    }
}

/// Creates `count` services in a new cluster directly at moto; returns moto's full list.
async fn seed_services(moto: &Ecs, cluster: &str, count: usize) -> Vec<String> {
    assert_eq!(
        moto.call("CreateCluster", json!({"clusterName": cluster})).await.status,
        200
    );
    let container = json!({"name": "app", "image": "nginx:latest", "memory": 128});
    let registered = moto
        .call(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [container]}),
        )
        .await;
    assert_eq!(registered.status, 200);
    for index in 0..count {
        let service = json!({"cluster": cluster, "serviceName": format!("svc-{index:02}"),
                             "taskDefinition": "web", "desiredCount": 1});
        assert_eq!(moto.call("CreateService", service).await.status, 200);
    }
    moto.call("ListServices", json!({"cluster": cluster}))
        .await
        .strings("serviceArns")
}

fn limits_only() -> FrontConfig {
    FrontConfig {
        throttle: Throttle::Off,
        ..FrontConfig::strict()
    }
}

fn with_faults(seed: u64, rate: f64, kinds: Vec<FaultKind>, slow_delay: Duration) -> FrontConfig {
    FrontConfig {
        faults: Faults::Injected {
            seed,
            rate,
            kinds,
            slow_delay,
        },
        ..limits_only()
    }
}
