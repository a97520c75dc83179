//! The second half of `make demo`: digest truth and the sweep, which need what moto lacks — service revisions and
//! deployments, served by the strict ECS front. moto and the front start here; the ecs-redeploy binary (the
//! argument) runs as a user would run it, with `AWS_ENDPOINT_URL_ECS` on the front and everything else on moto.
//!
//! 1. A push of app:latest after which `checkout` was deployed and rolled back by its circuit breaker: ECS gave up
//!    on that digest there, so ecs-redeploy holds it (`rolled-back`) instead of starting the crashing tasks again;
//!    `web` is redeployed.
//!    The container-image Lambda function `app-webhook` on app:latest is updated by the same push: Lambda resolves
//!    the tag again, and its `CodeSha256` becomes the pushed digest.
//! 2. A fixed app:latest: another digest, so `checkout` is deployed as usual.
//! 3. A push of app-worker:latest whose event is lost: the sweep finds `jobs` running the old digest.
//! 4. The sweep again: nothing to do.
//! 5. Outcomes (`outcome.rs`): a bad image rolled back by ECS and its `Rollout Failed` notification, a sweep that
//!    leaves it alone, a fixed image rolled out to `Rollout Completed`.
//! 6. Staged rollouts (`waves.rs`): staging → production on one push, and a rollout halted by a rollback.

mod outcome;
mod waves;

use std::process::{Command, ExitCode};
use std::time::Duration;

use ecs_redeploy_testkit::fleet::{self, ACCOUNT, REGION, ServiceSpec, registry};
use ecs_redeploy_testkit::functions::{code_sha256, create_image_function};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::registry::{deploy_and_roll_back, observe_services, push_image};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(binary) = std::env::args().nth(1) else {
        eprintln!("usage: digest-demo PATH/TO/ecs-redeploy");
        return ExitCode::from(2);
    };
    let env = Harness::start().await;
    let (app, worker) = (
        format!("{}/app:latest", registry()),
        format!("{}/app-worker:latest", registry()),
    );
    push_image(&env.moto, &env.front, "app", "latest", "app v1").await;
    push_image(&env.moto, &env.front, "app-worker", "latest", "worker v1").await;
    push_image(&env.moto, &env.front, "pay-api", "latest", "api v1").await;
    let services = [
        ServiceSpec::new("shop", "web", &[&app]),
        ServiceSpec::new("shop", "checkout", &[&app]),
        ServiceSpec::new("shop", "jobs", &[&worker]),
        ServiceSpec::new("shop", "db", &["postgres:16"]),
        ServiceSpec::new("pay", "api", &[&format!("{}/pay-api:latest", registry())]),
    ];
    fleet::seed(&env.seeder(), &services).await;
    observe_services(&env.front, &["shop", "pay"]).await;
    create_image_function(&env.moto, "app-webhook", "app:latest", &[]).await;
    println!("\nDigest truth: a local ECS (moto behind the strict ECS front, which records service revisions).");

    let new_app = push_image(&env.moto, &env.front, "app", "latest", "app v2").await;
    let event = std::env::temp_dir().join(format!("ecs-redeploy-demo-{}.json", std::process::id()));
    let pushed_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    std::fs::write(&event, push_event("app", &new_app, &pushed_at)).expect("event file written");
    env.front.advance_clock(Duration::from_secs(5));
    deploy_and_roll_back(&env.front, "shop", "checkout").await;
    println!(
        "app:latest pushed at {pushed_at}; 5 s later checkout was deployed and its circuit breaker rolled it back"
    );
    println!("to the revision that runs the old digest. ECS gave up on the pushed digest there: ecs-redeploy holds it");
    println!("(rolled-back) rather than start the failing tasks again, and redeploys web:\n");
    let before = code_sha256(&env.moto, "app-webhook").await;
    let mut ok = run(&binary, &env, &["apply", "--event", &event.to_string_lossy()], &[]).await;
    let after = code_sha256(&env.moto, "app-webhook").await;
    let refreshed = format!("sha256:{after}") == new_app;
    println!(
        "
The Lambda function app-webhook (a container image on app:latest) was refreshed by the same push:
           CodeSha256 {} -> {}{}",
        short(&before),
        short(&after),
        if refreshed {
            " (the pushed digest)"
        } else {
            " (NOT the pushed digest)"
        }
    );
    ok &= refreshed;

    let fixed = push_image(&env.moto, &env.front, "app", "latest", "app v3").await;
    let fixed_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    std::fs::write(&event, push_event("app", &fixed, &fixed_at)).expect("event file written");
    env.front.advance_clock(Duration::from_secs(2));
    println!("\nA fixed app:latest is another digest: checkout is deployed as usual.\n");
    ok &= run(&binary, &env, &["apply", "--event", &event.to_string_lossy()], &[]).await;
    let _ = std::fs::remove_file(&event);

    push_image(&env.moto, &env.front, "app-worker", "latest", "worker v2").await;
    env.front.advance_clock(Duration::from_secs(2));
    println!(
        "\napp-worker:latest pushed, and its event lost. The sweep (every 30 minutes on Lambda) finds the drift:\n"
    );
    ok &= run(&binary, &env, &["apply", "--sweep"], &[]).await;
    println!("\nThe sweep again, right after: nothing left to do.\n");
    ok &= run(&binary, &env, &["apply", "--sweep"], &[]).await;
    ok &= outcome::demo(&binary, &env).await;
    ok &= waves::demo(&binary, &env).await;
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The first 12 hex digits of a digest, as `docker images` shows them.
fn short(sha: &str) -> &str {
    let hex = sha.strip_prefix("sha256:").unwrap_or(sha);
    &hex[..hex.len().min(12)]
}

fn push_event(repository: &str, digest: &str, time: &str) -> String {
    format!(
        r#"{{"version":"0","id":"demo-push-1","detail-type":"ECR Image Action","source":"aws.ecr","account":"{ACCOUNT}","time":"{time}","region":"{REGION}","resources":[],"detail":{{"result":"SUCCESS","repository-name":"{repository}","image-digest":"{digest}","action-type":"PUSH","image-tag":"latest"}}}}"#
    )
}

/// Runs ecs-redeploy against the front (ECS) and moto (everything else); prints its summary. On a blocking thread:
/// this runtime's one thread serves the front meanwhile.
async fn run(binary: &str, env: &Harness, args: &[&str], vars: &[(&str, &str)]) -> bool {
    println!("$ ecs-redeploy {}", args.join(" "));
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", &env.moto.endpoint)
        .env("AWS_ENDPOINT_URL_ECS", env.front.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", "demo")
        .env("AWS_SECRET_ACCESS_KEY", "demo")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(vars.iter().copied());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking thread ran")
        .expect("ecs-redeploy runs");
    print!("{}", String::from_utf8_lossy(&output.stderr));
    output.status.success()
}
