//! The second half of `make demo`: digest truth and the sweep, which need what moto lacks — service revisions and
//! deployments, served by the strict ECS front. moto and the front start here; the ecs-redeploy binary (the
//! argument) runs as a user would run it, with `AWS_ENDPOINT_URL_ECS` on the front and everything else on moto.
//!
//! 1. A push of app:latest after which `checkout` was deployed and rolled back by its circuit breaker: the old
//!    deployment-time rule would have called it deployed; ecs-redeploy sees it runs the old digest.
//! 2. A push of app-worker:latest whose event is lost: the sweep finds `jobs` running the old digest.
//! 3. The sweep again: nothing to do.

use std::process::{Command, ExitCode};
use std::time::Duration;

use aws_sdk_ecr::types::ImageIdentifier;
use ecs_redeploy_testkit::fleet::{self, ACCOUNT, REGION, ServiceSpec, registry};
use ecs_redeploy_testkit::harness::Harness;

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
    push(&env, "app", "latest", "app v1").await;
    push(&env, "app-worker", "latest", "worker v1").await;
    let services = [
        ServiceSpec::new("shop", "web", &[&app]),
        ServiceSpec::new("shop", "checkout", &[&app]),
        ServiceSpec::new("shop", "jobs", &[&worker]),
        ServiceSpec::new("shop", "db", &["postgres:16"]),
    ];
    fleet::seed(&env.seeder(), &services).await;
    observe(&env).await;
    println!("\nDigest truth: a local ECS (moto behind the strict ECS front, which records service revisions).");

    let new_app = push(&env, "app", "latest", "app v2").await;
    let event = std::env::temp_dir().join(format!("ecs-redeploy-demo-{}.json", std::process::id()));
    let pushed_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    std::fs::write(&event, push_event(&new_app, &pushed_at)).expect("event file written");
    env.front.advance_clock(Duration::from_secs(5));
    let checkout = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/checkout");
    env.function_client()
        .update_service()
        .cluster("shop")
        .service("checkout")
        .force_new_deployment(true)
        .send()
        .await
        .expect("checkout deployed");
    env.front.roll_back(&checkout);
    println!(
        "app:latest pushed at {pushed_at}; 5 s later checkout was deployed and its circuit breaker rolled it back"
    );
    println!("to the revision that runs the old digest. Its newest deployment started after the push — it still runs");
    println!("the old image, so it is redeployed:\n");
    let mut ok = run(&binary, &env, &["apply", "--event", &event.to_string_lossy()]).await;
    let _ = std::fs::remove_file(&event);

    push(&env, "app-worker", "latest", "worker v2").await;
    env.front.advance_clock(Duration::from_secs(2));
    println!(
        "\napp-worker:latest pushed, and its event lost. The sweep (every 30 minutes on Lambda) finds the drift:\n"
    );
    ok &= run(&binary, &env, &["apply", "--sweep"]).await;
    println!("\nThe sweep again, right after: nothing left to do.\n");
    ok &= run(&binary, &env, &["apply", "--sweep"]).await;
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Pushes a distinct image to moto's ECR as `repository:tag` (moto's digest is the hash of the layer digests) and
/// tells the front's registry its digest.
async fn push(env: &Harness, repository: &str, tag: &str, content: &str) -> String {
    let ecr = env.moto.ecr_client();
    let _ = ecr.create_repository().repository_name(repository).send().await;
    let config_digest: String = content.bytes().map(|b| format!("{b:02x}")).collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:{config_digest:0<64}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1,"digest":"sha256:{config_digest:0<64}"}}]}}"#
    );
    let put = ecr
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest)
        .send()
        .await
        .expect("moto takes the image");
    let digest = put
        .image()
        .and_then(|i| i.image_id())
        .and_then(ImageIdentifier::image_digest)
        .expect("moto computes the digest")
        .to_owned();
    env.front
        .set_image_digest(&format!("{}/{repository}:{tag}", registry()), &digest);
    digest
}

/// The front records each service's first revision when it first describes it: now, before any push.
async fn observe(env: &Harness) {
    let client = env.function_client();
    let arns = client
        .list_services()
        .cluster("shop")
        .send()
        .await
        .expect("listed")
        .service_arns
        .unwrap_or_default();
    client
        .describe_services()
        .cluster("shop")
        .set_services(Some(arns))
        .send()
        .await
        .expect("described");
}

fn push_event(digest: &str, time: &str) -> String {
    format!(
        r#"{{"version":"0","id":"demo-push-1","detail-type":"ECR Image Action","source":"aws.ecr","account":"{ACCOUNT}","time":"{time}","region":"{REGION}","resources":[],"detail":{{"result":"SUCCESS","repository-name":"app","image-digest":"{digest}","action-type":"PUSH","image-tag":"latest"}}}}"#
    )
}

/// Runs ecs-redeploy against the front (ECS) and moto (everything else); prints its summary. On a blocking thread:
/// this runtime's one thread serves the front meanwhile.
async fn run(binary: &str, env: &Harness, args: &[&str]) -> bool {
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
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking thread ran")
        .expect("ecs-redeploy runs");
    print!("{}", String::from_utf8_lossy(&output.stderr));
    output.status.success()
}
