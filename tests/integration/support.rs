//! The function's side of the test support: its settings and its ECS port on the testkit's harness
//! (`ecs_redeploy_testkit` cannot name the function's types: the function dev-depends on it).

use std::collections::BTreeMap;
use std::time::Duration;

use ecs_redeploy::aws::{retry_config, timeout_config};
use ecs_redeploy::config::Config;
use ecs_redeploy::ecr::EcrApi;
use ecs_redeploy::ecs::EcsApi;
use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy::lock::DeployLock;
use ecs_redeploy::notify::Notifier;
use ecs_redeploy::report::{Invocation, Report, Status};
use ecs_redeploy::trigger::lambda::{InvocationError, Response, handle};
use ecs_redeploy_testkit::fleet::REGION;
use ecs_redeploy_testkit::harness::Harness;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

/// The function's settings from `vars` alone, as `Config::from_lookup` reads them.
pub fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()))
        .expect("valid settings")
}

/// The function's ECS port on a [`Harness`].
pub trait FunctionEcs {
    /// ECS through the front, the tagging API straight to moto (the front serves only ECS).
    fn function_ecs(&self) -> SdkEcs;

    /// The same, with the function's retry and pacing settings from `config` and the given attempt
    /// timeout, as the binary builds them (`app::build`).
    fn function_ecs_as_configured(&self, config: &Config, attempt_timeout: Duration) -> SdkEcs;
}

impl FunctionEcs for Harness {
    fn function_ecs(&self) -> SdkEcs {
        SdkEcs::new(self.function_client(), self.moto.function_tagging_client())
    }

    fn function_ecs_as_configured(&self, config: &Config, attempt_timeout: Duration) -> SdkEcs {
        let ecs = self.function_client_with(retry_config(config), timeout_config(attempt_timeout));
        SdkEcs::new(ecs, self.moto.function_tagging_client()).paced(config.pacing)
    }
}

/// One delivery of `event` to the Lambda handler: the report, or why the invocation failed.
pub async fn invoke<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier>(
    redeployer: &Redeployer<E, L, R, N>,
    event: &Value,
) -> Result<Report, InvocationError> {
    match handle(redeployer, LambdaEvent::new(event.clone(), Context::default())).await? {
        Response::Event(Invocation::Processed(report)) => Ok(*report),
        other => panic!("not processed: {other:?}"),
    }
}

/// `service` → (reason, outcome) of every service the report lists.
pub fn outcomes(report: &Report) -> BTreeMap<String, (&'static str, Status)> {
    report
        .services
        .iter()
        .map(|s| (s.service.clone(), (s.reason.code(), s.outcome)))
        .collect()
}

/// moto's JSON-protocol APIs (EventBridge, SQS) as one account: moto takes the account from the
/// `x-moto-account-id` header and the service and Region from the credential scope; it checks no signature. The
/// SDK would need an interceptor for that header, and an SQS SDK crate to build for the tests alone.
pub struct MotoAccount<'a> {
    pub client: &'a Client<HttpConnector, Full<Bytes>>,
    pub endpoint: &'a str,
    pub account: &'a str,
}

impl MotoAccount<'_> {
    pub async fn call(&self, service: &str, target: &str, body: Value) -> Value {
        let (content_type, prefix) = match service {
            "events" => ("application/x-amz-json-1.1", "AWSEvents"),
            "sqs" => ("application/x-amz-json-1.0", "AmazonSQS"),
            other => panic!("no JSON protocol for {other}"),
        };
        let request = hyper::Request::post(self.endpoint)
            .header("content-type", content_type)
            .header("x-amz-target", format!("{prefix}.{target}"))
            .header("x-moto-account-id", self.account)
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20261202/{REGION}/{service}/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a request");
        let response = self.client.request(request).await.expect("moto answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("a body").to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            status.is_success(),
            "{service} {target} as {}: {status} {text}",
            self.account
        );
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON")
        }
    }
}
