//! The binary as a user runs it: `plan` / `apply` against moto through the standard AWS config chain.

use std::process::Output;

use tokio::process::Command;

use serde_json::Value;

use crate::events::{events_dir, load_now};
use crate::support::seeded;
use ecs_redeploy_testkit::fleet::{ServiceSpec, deployment_ids, redeployed, registry};
use ecs_redeploy_testkit::harness::Harness;
use ecs_redeploy_testkit::moto::REGION;

async fn run(harness: &Harness, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecs-redeploy"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", harness.front.endpoint_url())
        // The front serves ECS only; the functions are looked for in moto (none there).
        .env("AWS_ENDPOINT_URL_LAMBDA", &harness.moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(vars.iter().copied())
        .output()
        .await
        .expect("binary runs")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// Service `name` of a report's JSON.
fn reported<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("{name} not reported"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn plan_then_apply_from_the_command_line() {
    let app = format!("{}/app:latest", registry());
    let (env, client) = seeded(&[
        ServiceSpec::new("alpha", "web", &[&app]),
        ServiceSpec::new("alpha", "old", &[&format!("{}/app:v1", registry())]),
    ])
    .await;
    let before = deployment_ids(&client, &["alpha"]).await;
    let event_file = std::env::temp_dir().join(format!("ecs-redeploy-cli-{}.json", std::process::id()));
    std::fs::write(&event_file, load_now("ecr-push.json").to_string()).unwrap();
    let event = event_file.to_str().unwrap();

    let plan = run(&env, &["plan", "--event", event], &[]).await;
    assert!(plan.status.success(), "{}", stderr(&plan));
    let report = json(&plan);
    assert_eq!(report["result"], "processed");
    assert_eq!(report["mode"], "plan");
    assert_eq!(report["counts"]["planned"], 1);
    assert!(stderr(&plan).contains("planned    alpha/web"), "{}", stderr(&plan));
    assert_eq!(
        deployment_ids(&client, &["alpha"]).await,
        before,
        "plan changes nothing"
    );

    let dry = run(&env, &["apply", "--image", &app], &[("DRY_RUN", "true")]).await;
    assert!(dry.status.success());
    assert_eq!(json(&dry)["mode"], "plan", "DRY_RUN makes apply a plan");
    assert_eq!(deployment_ids(&client, &["alpha"]).await, before);

    let apply = run(&env, &["apply", "--image", &app], &[]).await;
    assert!(apply.status.success(), "{}", stderr(&apply));
    let report = json(&apply);
    assert_eq!(report["counts"]["redeployed"], 1);
    assert_eq!(report["pushes"][0]["tag"], "latest");
    let web = reported(&report, "web");
    assert_eq!(web["outcome"], "redeployed");
    assert_eq!(web["decision"], "redeploy");
    let old = reported(&report, "old");
    assert_eq!(
        (&old["outcome"], &old["reason"]),
        (&Value::from("skipped"), &Value::from("tag-mismatch"))
    );
    let after = deployment_ids(&client, &["alpha"]).await;
    assert_eq!(redeployed(&before, &after), vec!["alpha/web"]);
    assert_eq!(
        web["deployment_id"].as_str(),
        after.get("alpha/web").map(String::as_str)
    );
}

#[tokio::test]
async fn ignored_events_and_bad_input_from_the_command_line() {
    let env = Harness::start().await;
    let delete = events_dir().join("ecr-delete.json");
    let ignored = run(&env, &["apply", "--event", delete.to_str().unwrap()], &[]).await;
    assert!(ignored.status.success());
    assert_eq!(json(&ignored)["result"], "ignored");
    assert_eq!(json(&ignored)["reason"], "not-a-push");

    /// (arguments, environment, expected message)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (&["plan", "--image", "nginx:latest"], &[], "not in an ECR registry"),
        (
            &["plan", "--event", "no-such-file.json"],
            &[],
            "cannot read no-such-file.json",
        ),
        (&["plan", "--event", "Cargo.toml"], &[], "event is not valid JSON"),
        (
            &["plan", "--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1"],
            &[("SELECT", "all")],
            "invalid SELECT=`all`: expected `matching` or `opted-in`",
        ),
        (&["plan"], &[], "--event <FILE>|--image <URI>"),
    ];
    for (args, vars, needle) in cases {
        let output = run(&env, args, vars).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains(needle), "{args:?}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{args:?}: no report on bad input");
    }
}

#[tokio::test]
async fn a_scan_failure_exits_non_zero() {
    let env = Harness::start().await;
    let image = format!("{}/app:latest", registry());
    let output = run(&env, &["apply", "--image", &image], &[("CLUSTERS", "missing")]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["scan_errors"][0]["step"], "list-services");
    assert_eq!(report["scan_errors"][0]["cluster"], "missing");
    // The real SDK's error as the report renders it: operation, the service's code and its message, each once.
    let error = report["scan_errors"][0]["error"].as_str().expect("an error");
    assert!(
        error.starts_with("ecs ListServices failed: ClusterNotFoundException: "),
        "{error}"
    );
    let message = error.rsplit(": ").next().expect("a message");
    assert!(!message.is_empty() && message != "ClusterNotFoundException", "{error}");
    for part in ["ListServices", "ClusterNotFoundException", message] {
        assert_eq!(error.matches(part).count(), 1, "`{part}` once in {error}");
    }
}

/// A new user's laptop: no region or no credentials anywhere in the chain (an empty HOME, no AWS variables, no
/// instance metadata) is one line that says what to set, exit code 2, before any call; `--help` lists every
/// setting.
#[tokio::test]
async fn missing_region_or_credentials_is_one_line_naming_what_to_set() {
    let home = std::env::temp_dir().join(format!("ecs-redeploy-empty-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest";
    let laptop = |args: &[&str], vars: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ecs-redeploy"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Were a call made, it would go nowhere.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .envs(vars.iter().copied());
        command
    };
    /// (environment, the problem, what to set)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 2] = [
        (
            &[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")],
            "no AWS region",
            "AWS_REGION",
        ),
        (&[("AWS_REGION", REGION)], "no AWS credentials", "AWS_PROFILE"),
    ];
    for (vars, problem, remedy) in cases {
        let output = laptop(&["plan", "--image", image], vars)
            .output()
            .await
            .expect("binary runs");
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert_eq!(text.lines().count(), 1, "one line: {text}");
        assert!(
            text.starts_with(&format!("ecs-redeploy: {problem}")) && text.contains(remedy),
            "{text}"
        );
        assert!(!text.contains('{'), "no raw structs: {text}");
        assert!(output.stdout.is_empty(), "no report: {text}");
    }

    for args in [&["--help"][..], &["plan", "--help"], &["apply", "--help"]] {
        let help = laptop(args, &[]).output().await.expect("binary runs");
        let help = String::from_utf8_lossy(&help.stdout);
        for setting in ecs_redeploy::config::SETTINGS {
            assert!(
                help.contains(&format!("  {} ", setting.variable)),
                "{args:?} {}: {help}",
                setting.variable
            );
        }
    }
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn version_is_the_crates() {
    // What `cargo install` users check first; no AWS configuration is read.
    let output = Command::new(env!("CARGO_BIN_EXE_ecs-redeploy"))
        .arg("--version")
        .env_clear()
        .output()
        .await
        .expect("binary runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("ecs-redeploy {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn retry_rolled_back_needs_an_image_with_its_digest() {
    let env = Harness::start().await;
    let image = format!("{}/app:latest", registry());
    let without_digest = run(&env, &["apply", "--image", &image, "--retry-rolled-back"], &[]).await;
    assert_eq!(without_digest.status.code(), Some(2), "{}", stderr(&without_digest));
    assert!(
        stderr(&without_digest).contains("--retry-rolled-back needs the digest"),
        "{}",
        stderr(&without_digest)
    );
    let with_a_sweep = run(&env, &["apply", "--sweep", "--retry-rolled-back"], &[]).await;
    assert_eq!(with_a_sweep.status.code(), Some(2), "{}", stderr(&with_a_sweep));
    let digest = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
    let planned = run(
        &env,
        &["plan", "--image", &format!("{image}@{digest}"), "--retry-rolled-back"],
        &[],
    )
    .await;
    assert!(planned.status.success(), "{}", stderr(&planned));
    assert_eq!(json(&planned)["pushes"][0]["digest"], digest);
}
