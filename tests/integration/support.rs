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
use ecs_redeploy_testkit::fleet::{REGION, ServiceSpec};
use ecs_redeploy_testkit::harness::Harness;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

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

/// A harness whose ECS holds `specs` (seeded in moto), and the seeding client.
pub async fn seeded(specs: &[ServiceSpec]) -> (Harness, aws_sdk_ecs::Client) {
    let env = Harness::start().await;
    let client = env.seeder();
    ecs_redeploy_testkit::fleet::seed(&client, specs).await;
    (env, client)
}

/// Asserts the report lists exactly these services, each with its (reason, outcome).
pub fn assert_outcomes(report: &Report, expected: &[(&str, &str, Status)]) {
    let actual: BTreeMap<&str, (&str, Status)> = report
        .services
        .iter()
        .map(|s| (s.service.as_str(), (s.reason.code(), s.outcome)))
        .collect();
    let expected: BTreeMap<&str, (&str, Status)> = expected
        .iter()
        .map(|&(name, reason, outcome)| (name, (reason, outcome)))
        .collect();
    assert_eq!(actual, expected, "{}", report.summary());
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
    /// One `ReceiveMessage` of up to 10 messages from the queue at `queue_url`: moto's answer.
    pub async fn receive(&self, queue_url: &str) -> Value {
        self.call(
            "sqs",
            "ReceiveMessage",
            json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
        )
        .await
    }

    /// A queue `queue` that rule `rule` on the default bus fills with every event the function announces; its URL.
    pub async fn announcements_queue(&self, queue: &str, rule: &str) -> String {
        let url = self.call("sqs", "CreateQueue", json!({"QueueName": queue})).await["QueueUrl"]
            .as_str()
            .expect("a queue URL")
            .to_owned();
        self.call(
            "events",
            "PutRule",
            json!({"Name": rule, "EventPattern": r#"{"source": ["ecs-redeploy"]}"#}),
        )
        .await;
        let arn = format!("arn:aws:sqs:{REGION}:{}:{queue}", self.account);
        self.call(
            "events",
            "PutTargets",
            json!({"Rule": rule, "Targets": [{"Id": "queue", "Arn": arn}]}),
        )
        .await;
        url
    }

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
