//! The command line: ask what a push would redeploy (`plan`), or do it (`apply`), against the
//! account and region of the standard AWS configuration chain.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use super::eventbridge::{Classified, EventError, classify_at};
use super::lambda::process;
use super::sqs::{self, Message};
use crate::app;
use crate::aws::load_sdk_config;
use crate::config::{Config, Mode, settings_help};
use crate::domain::push::Push;
use crate::report::Invocation;

/// After the commands: the settings (the same table as the function's), then where AWS configuration comes from.
fn after_help() -> String {
    format!(
        "Settings come from environment variables, as in the Lambda function:\n{}\
AWS credentials, region and endpoint come from the standard chain (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_ECS, ...). RUST_LOG=info prints every decision as a log line.

The JSON report goes to stdout, a human summary to stderr.
Exit codes: 0 done, 1 some service or scan step failed, 2 bad usage, settings or event.",
        settings_help()
    )
}

#[derive(Debug, Parser)]
#[command(name = "ecs-redeploy", version, about, after_help = after_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show which services a push (or a sweep) would redeploy, and why the others would not; change nothing.
    #[command(after_help = after_help())]
    Plan(Run),
    /// Redeploy the services a push (or a sweep) affects and print the report.
    #[command(after_help = after_help())]
    Apply(Run),
}

#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub target: Target,
    /// Deploy the --image digest even to services where ECS rolled it back (held as `rolled-back` otherwise).
    #[arg(long)]
    pub retry_rolled_back: bool,
}

/// What to act on: an EventBridge event, an image, or a sweep of every tag in use.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// Ask ECR what every tag the services follow points to now, and redeploy the services that run something
    /// else (what the scheduled sweep does).
    #[arg(long)]
    pub sweep: bool,
    /// EventBridge event file, e.g. events/ecr-push.json or events/ecs-deployment-completed.json, or an SQS batch
    /// of them (events/sqs-batch.json).
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// Pushed image: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG[@sha256:DIGEST].
    #[arg(long, value_name = "URI")]
    pub image: Option<String>,
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let (
        Run {
            target,
            retry_rolled_back,
        },
        requested,
    ) = match cli.command {
        Command::Plan(run) => (run, Mode::Plan),
        Command::Apply(run) => (run, Mode::Apply),
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return usage_error(&e),
    };
    // The event first: a bad one is reported without touching AWS configuration or credentials.
    let event = match (target.event, target.image) {
        (_, None) if retry_rolled_back => {
            Err("--retry-rolled-back deploys one digest: give it with --image".to_owned())
        }
        _ if target.sweep => Ok(Input::Event(Classified::Sweep)),
        (Some(path), _) => std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| read_event(&text).map_err(|e| format!("{}: {e}", path.display()))),
        (None, Some(uri)) => Push::from_image_uri(&uri)
            .map_err(|e| e.to_string())
            .and_then(|push| match (retry_rolled_back, &push.digest) {
                (true, None) => Err(format!(
                    "--retry-rolled-back needs the digest to deploy again: give {uri}@sha256:DIGEST"
                )),
                _ => Ok(Push {
                    retry_rolled_back,
                    ..push
                }),
            })
            .map(|push| Input::Event(Classified::Push(push))),
        (None, None) => Err("give --event FILE, --image URI or --sweep".to_owned()),
    };
    let event = match event {
        Ok(event) => event,
        Err(e) => return usage_error(&e),
    };
    if let Err(missing) = check_aws(&config).await {
        return usage_error(&missing);
    }
    let redeployer = app::build(config).await;
    let mode = match requested {
        Mode::Plan => Mode::Plan,
        Mode::Apply => redeployer.apply_mode(),
    };
    let event = match event {
        Input::Event(event) => event,
        Input::Batch(messages) => return run_batch(&redeployer, messages, mode).await,
    };
    let invocation = process(&redeployer, event, mode).await;
    match serde_json::to_string_pretty(&invocation) {
        Ok(json) => println!("{json}"),
        Err(e) => return usage_error(&format!("cannot render the report: {e}")),
    }
    match &invocation {
        Invocation::Ignored { reason, detail } => {
            eprintln!("event ignored ({reason}): {detail}");
            ExitCode::SUCCESS
        }
        Invocation::Processed(report) => {
            eprint!("{}", report.summary());
            if report.has_failures() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Invocation::Followed(followed) => {
            for entry in &followed.rollouts {
                eprintln!(
                    "{} {}: {} ({})",
                    entry.service_arn, entry.deployment_id, entry.result, entry.reason
                );
            }
            if followed.has_failures() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// Before any call: a region and credentials from the standard chain, or one line that says what to set (the
/// SDK would go on, print its providers' diagnostics and fail every call).
async fn check_aws(config: &Config) -> Result<(), String> {
    use aws_sdk_ecs::config::ProvideCredentials;
    let sdk = load_sdk_config(config).await;
    if sdk.region().is_none() {
        return Err(
            "no AWS region: set AWS_REGION (e.g. AWS_REGION=us-east-1), or AWS_PROFILE to a profile \
                    with a region (aws configure)"
                .to_owned(),
        );
    }
    let credentials = match sdk.credentials_provider() {
        Some(provider) => provider
            .provide_credentials()
            .await
            .map(drop)
            .map_err(|e| crate::error_chain::render(&e)),
        None => Err("no credentials provider".to_owned()),
    };
    credentials.map_err(|why| {
        // The chain's account of each provider it tried is many lines: for RUST_LOG, not the first screen.
        tracing::info!(error = why, "no AWS credentials");
        let profile = match std::env::var("AWS_PROFILE") {
            Ok(name) if !name.trim().is_empty() => format!(" (AWS_PROFILE={name} gave none)"),
            _ => String::new(),
        };
        format!(
            "no AWS credentials{profile}: set AWS_PROFILE to a configured profile (aws configure, aws sso login), \
             or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; RUST_LOG=info says what the SDK tried"
        )
    })
}

/// What `--event FILE` holds.
enum Input {
    Event(Classified),
    Batch(Vec<Message>),
}

fn read_event(text: &str) -> Result<Input, EventError> {
    let value = serde_json::from_str(text).map_err(|source| EventError::Json { source })?;
    let now = chrono::Utc::now();
    if sqs::is_sqs_event(&value) {
        return sqs::messages(value, now).map(Input::Batch);
    }
    classify_at(value, now).map(Input::Event)
}

/// A batch as Lambda would run it: the report and the messages it would redeliver.
async fn run_batch(redeployer: &app::App, messages: Vec<Message>, mode: Mode) -> ExitCode {
    let batch = sqs::process_batch(redeployer, messages, mode).await;
    match serde_json::to_string_pretty(&batch) {
        Ok(json) => println!("{json}"),
        Err(e) => return usage_error(&format!("cannot render the report: {e}")),
    }
    if let Some(report) = &batch.report {
        eprint!("{}", report.summary());
    }
    if batch.failed_messages.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("messages to redeliver: {}", batch.failed_messages.join(", "));
        ExitCode::from(1)
    }
}

/// Our warnings and errors to stderr by default (the summary already tells the decisions), not the SDK's
/// diagnostics (what matters of them reaches the report as a typed error); `RUST_LOG=info` shows every
/// decision line as the Lambda logs it, and the SDK's lines too.
fn init_logging() {
    use lambda_runtime::tracing::subscriber::{self, EnvFilter, filter::LevelFilter};
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::builder()
            .with_default_directive(LevelFilter::WARN.into())
            .parse_lossy(directives),
        _ => EnvFilter::new("ecs_redeploy=warn"),
    };
    subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(filter)
        .init();
}

fn usage_error(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("ecs-redeploy: {error}");
    ExitCode::from(2)
}
