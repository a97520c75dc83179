//! The first part of `make demo`: a push of app:latest and a queued batch, against a local ECS that answers as a
//! real account does — moto behind the strict ECS front, which records the service revisions and the digests
//! they run, with every image in moto's ECR — so the output holds only what a real account would print. The
//! ecs-redeploy binary (the argument) runs as a user would run it, `AWS_ENDPOINT_URL_ECS` on the front and
//! everything else on moto. Each run checks that the services the report says it redeployed are exactly those
//! the local ECS shows with a new deployment.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::time::Duration;

use ecs_redeploy_testkit::fleet::{self, ACCOUNT, REGION, ServiceSpec, deployment_ids, redeployed, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::moto::Moto;
use ecs_redeploy_testkit::registry::{observe_services, push_image};
use ecs_redeploy_testkit::sqs;
use serde_json::Value;

const CLUSTERS: [&str; 2] = ["back-office", "shop"];

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(binary) = std::env::args().nth(1) else {
        eprintln!("usage: push-demo PATH/TO/ecs-redeploy");
        return ExitCode::from(2);
    };
    match demo(&binary).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("push-demo: {why}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(binary: &str) -> Result<(), String> {
    let env = Harness::start().await;
    let registry = registry();
    let [app, app_v1, envoy] = ["app:latest", "app:v1", "envoy:v1"].map(|image| format!("{registry}/{image}"));
    // The same repository in another account's registry, and Docker Hub: their digests as ECS would record them.
    let elsewhere = [
        (
            format!("210987654321.dkr.ecr.{REGION}.amazonaws.com/app:latest"),
            digest('2'),
        ),
        ("postgres:16".to_owned(), digest('3')),
    ];
    let pinned = format!("{registry}/app@{}", digest('1'));
    // `admin` names app without a tag, which is app:latest.
    let untagged = format!("{registry}/app");

    let first = push_image(&env.moto, &env.front, "app", "latest", "app v1").await;
    env.front.set_image_digest(&untagged, &first);
    push_image(&env.moto, &env.front, "app", "v1", "app v1").await;
    push_image(&env.moto, &env.front, "envoy", "v1", "envoy v1").await;
    env.front.set_image_digest(&pinned, &digest('1'));
    for (image, digest) in &elsewhere {
        env.front.set_image_digest(image, digest);
    }
    // What a push of app:latest does to each is in the summary; `api` is tagged `pin`: it gets a new
    // task-definition revision naming the pushed digest.
    let services = [
        ServiceSpec::new("shop", "web", &[&app]),
        ServiceSpec::new("shop", "worker", &[&envoy, &app]),
        ServiceSpec::new("shop", "legacy", &[&app_v1]),
        ServiceSpec::new("shop", "pinned", &[&pinned]),
        ServiceSpec::new("shop", "api", &[&app]).tagged("ecs-redeploy", "pin"),
        ServiceSpec::new("back-office", "admin", &[&untagged]).tagged("ecs-redeploy", "on"),
        ServiceSpec::new("back-office", "frozen", &[&app]).tagged("ecs-redeploy", "off"),
        ServiceSpec::new("back-office", "reports", &[&elsewhere[0].0]),
        ServiceSpec::new("back-office", "db", &[&elsewhere[1].0]),
    ];
    fleet::seed(&env.seeder(), &services).await;
    observe_services(&env.front, &CLUSTERS).await;
    println!(
        "Local ECS (moto behind the strict ECS front, images in moto's ECR): {} services in 2 clusters.",
        services.len()
    );

    let pushed = push_image(&env.moto, &env.front, "app", "latest", "app v2").await;
    env.front.set_image_digest(&untagged, &pushed);
    let event = push_event("demo-push-1", "app", "latest", &pushed);
    println!("app:latest pushed.\n$ ecs-redeploy apply --event PUSH   # its ECR event\n");
    let before = state(&env.moto).await;
    let report = apply(binary, &env, &event).await?;
    let after = state(&env.moto).await;
    same_services(&before, &after, &report)?;
    println!("\nAccording to the local ECS, these services have a new deployment (its id, task definition):");
    for name in redeployed(&before, &after) {
        println!("  {name:<20} {} -> {}", before[&name], after[&name]);
    }

    // The queue's way: one SQS batch of three events (app:latest, envoy:v1, app:latest again), one scan.
    env.front.advance_clock(Duration::from_secs(2));
    let app_v3 = push_image(&env.moto, &env.front, "app", "latest", "app v3").await;
    env.front.set_image_digest(&untagged, &app_v3);
    let envoy_v2 = push_image(&env.moto, &env.front, "envoy", "v1", "envoy v2").await;
    let app_push = push_event("demo-push-2", "app", "latest", &app_v3);
    let batch = sqs::batch(&[
        app_push.clone(),
        push_event("demo-push-3", "envoy", "v1", &envoy_v2),
        app_push,
    ]);
    println!("\napp:latest and envoy:v1 pushed again.");
    println!("$ ecs-redeploy apply --event BATCH   # 3 queued events, app:latest twice: one fleet scan\n");
    let before = state(&env.moto).await;
    let outcome = apply(binary, &env, &batch.to_string()).await?;
    let after = state(&env.moto).await;
    same_services(&before, &after, &outcome["report"])?;
    let redelivered = outcome["failed_messages"].as_array().map_or(0, Vec::len);
    println!(
        "Each of {} services deployed once; messages to redeliver: {}.",
        redeployed(&before, &after).len(),
        if redelivered == 0 {
            "none".to_owned()
        } else {
            redelivered.to_string()
        }
    );
    println!(
        "\nThe full JSON report is what the Lambda function returns; run the CLI with RUST_LOG=info for the log lines."
    );
    Ok(())
}

fn digest(fill: char) -> String {
    format!("sha256:{}", fill.to_string().repeat(64))
}

/// An ECR push event of `repository:tag` at `digest`, timed now.
fn push_event(id: &str, repository: &str, tag: &str, digest: &str) -> String {
    let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"{{"version":"0","id":"{id}","detail-type":"ECR Image Action","source":"aws.ecr","account":"{ACCOUNT}","time":"{time}","region":"{REGION}","resources":[],"detail":{{"result":"SUCCESS","repository-name":"{repository}","image-digest":"{digest}","action-type":"PUSH","image-tag":"{tag}","manifest-media-type":"application/vnd.docker.distribution.manifest.v2+json"}}}}"#
    )
}

/// `ecs-redeploy apply --event FILE` with `event` in the file, against the front (ECS) and moto (everything
/// else); prints its summary and returns its JSON output. On a blocking thread: this runtime's one thread serves
/// the front meanwhile.
async fn apply(binary: &str, env: &Harness, event: &str) -> Result<Value, String> {
    let file = std::env::temp_dir().join(format!("ecs-redeploy-push-demo-{}.json", std::process::id()));
    std::fs::write(&file, event).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let mut command = Command::new(binary);
    command
        .args(["apply", "--event"])
        .arg(&file)
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", &env.moto.endpoint)
        .env("AWS_ENDPOINT_URL_ECS", env.front.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", "demo")
        .env("AWS_SECRET_ACCESS_KEY", "demo")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| format!("the blocking thread failed: {e}"))?
        .map_err(|e| format!("cannot run {binary}: {e}"))?;
    let _ = std::fs::remove_file(&file);
    print!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!("ecs-redeploy exited with {}", output.status));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("the report is not JSON: {e}"))
}

/// `cluster/service` → its newest deployment's id and its task definition's `family:revision`, from moto.
async fn state(moto: &Moto) -> BTreeMap<String, String> {
    let client = moto.ecs_client();
    let mut state = deployment_ids(&client, &CLUSTERS).await;
    for cluster in CLUSTERS {
        let listed = client.list_services().cluster(cluster).send().await.expect("listed");
        for batch in listed.service_arns().chunks(10) {
            let described = client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .send()
                .await
                .expect("described");
            for service in described.services() {
                let name = format!("{cluster}/{}", service.service_name().unwrap_or_default());
                let revision = service
                    .task_definition()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default();
                if let Some(id) = state.get_mut(&name) {
                    *id = format!("{id} {revision}");
                }
            }
        }
    }
    state
}

/// The services the report says it redeployed are the ones with a new deployment in the local ECS.
fn same_services(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    report: &Value,
) -> Result<(), String> {
    let changed = redeployed(before, after);
    let mut reported: Vec<String> = report["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["outcome"] == "redeployed")
        .map(|s| {
            format!(
                "{}/{}",
                s["cluster"].as_str().unwrap_or(""),
                s["service"].as_str().unwrap_or("")
            )
        })
        .collect();
    reported.sort();
    if changed == reported {
        Ok(())
    } else {
        Err(format!(
            "mismatch: ECS changed {changed:?}, the report says {reported:?}"
        ))
    }
}
