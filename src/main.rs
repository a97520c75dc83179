//! Wiring only: the Lambda runtime when Lambda starts us, the CLI otherwise.

use std::process::ExitCode;

use ecs_redeploy::app;
use ecs_redeploy::config::Config;
use ecs_redeploy::trigger::{cli, lambda};
use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return cli::main().await;
    }
    lambda_runtime::tracing::init_default_subscriber();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    let redeployer = app::build(config).await;
    let redeployer = &redeployer;
    match lambda_runtime::run(service_fn(move |event| lambda::handle(redeployer, event))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}
