"""`make demo`: a local ECS (moto) with a small fleet, one push of app:latest, and what it redeployed.

Usage: demo.py BINARY EVENT_FILE
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import boto3

ACCOUNT, REGION = "123456789012", "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
PINNED = f"{REGISTRY}/app@sha256:" + "1" * 64

# (cluster, service, container images, tags): what a push of app:latest does to each is in the summary.
# `api` is tagged `pin`: it gets a new task-definition revision naming the pushed digest.
FLEET = [
    ("shop", "web", [f"{REGISTRY}/app:latest"], {}),
    ("shop", "worker", [f"{REGISTRY}/envoy:v1", f"{REGISTRY}/app:latest"], {}),
    ("shop", "legacy", [f"{REGISTRY}/app:v1"], {}),
    ("shop", "pinned", [PINNED], {}),
    ("shop", "api", [f"{REGISTRY}/app:latest"], {"ecs-redeploy": "pin"}),
    ("back-office", "admin", [f"{REGISTRY}/app"], {"ecs-redeploy": "on"}),
    ("back-office", "frozen", [f"{REGISTRY}/app:latest"], {"ecs-redeploy": "off"}),
    ("back-office", "reports", [f"210987654321.dkr.ecr.{REGION}.amazonaws.com/app:latest"], {}),
    ("back-office", "db", ["postgres:16"], {}),
]


def free_port():
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(venv_bin):
    port = free_port()
    proc = subprocess.Popen(
        [str(venv_bin / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("moto_server did not start")


def seed(ecs):
    for cluster in sorted({c for c, *_ in FLEET}):
        ecs.create_cluster(clusterName=cluster)
    for cluster, name, images, tags in FLEET:
        containers = [{"name": f"c{i}", "image": image, "memory": 128} for i, image in enumerate(images)]
        arn = ecs.register_task_definition(family=name, containerDefinitions=containers)["taskDefinition"][
            "taskDefinitionArn"
        ]
        ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=arn,
            desiredCount=1,
            tags=[{"key": k, "value": v} for k, v in tags.items()],
        )


def deployments(ecs):
    """cluster/service -> (newest deployment id, task definition revision)."""
    state = {}
    for cluster in sorted({c for c, *_ in FLEET}):
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for service in ecs.describe_services(cluster=cluster, services=arns)["services"]:
            revision = service["taskDefinition"].rsplit("/", 1)[-1]
            state[f"{cluster}/{service['serviceName']}"] = (service["deployments"][0]["id"], revision)
    return state


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def apply(binary, event, env, ecs, report_of):
    """`ecs-redeploy apply --event` with `event` written to a file; exits unless the services the report says it
    redeployed are exactly those the local ECS shows changed. Returns the state before and after, and the output."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as event_file:
        json.dump(event, event_file)
    before = deployments(ecs)
    run = subprocess.run([binary, "apply", "--event", event_file.name], env=env, capture_output=True, text=True)
    os.unlink(event_file.name)
    print(run.stderr, end="")
    if run.returncode != 0:
        sys.exit(f"ecs-redeploy exited with {run.returncode}")
    output = json.loads(run.stdout)
    after = deployments(ecs)
    changed = sorted(name for name in after if after[name] != before[name])
    reported = sorted(f"{s['cluster']}/{s['service']}" for s in report_of(output)["services"]
                      if s["outcome"] == "redeployed")
    if changed != reported:
        sys.exit(f"mismatch: ECS changed {changed}, report says {reported}")
    return before, after, output


def main():
    binary, event = sys.argv[1], sys.argv[2]
    venv_bin = Path(sys.executable).parent
    moto, endpoint = start_moto(venv_bin)
    try:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        env.pop("AWS_PROFILE", None)
        ecs = boto3.client(
            "ecs", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="demo", aws_secret_access_key="demo"
        )
        seed(ecs)
        # The push happens now: deployments of the fleet just seeded are older than it.
        pushed = json.loads(Path(event).read_text())
        pushed["time"] = now()
        print(f"Local ECS (moto) at {endpoint}: {len(FLEET)} services in 2 clusters.")
        print(f"$ ecs-redeploy apply --event {event}   # with time set to now\n")
        before, after, _ = apply(binary, pushed, env, ecs, lambda output: output)
        changed = sorted(name for name in after if after[name] != before[name])
        print("\nAccording to the local ECS, these services changed (deployment id, task definition):")
        for name in changed:
            (old_id, old_revision), (new_id, new_revision) = before[name], after[name]
            what = f"{old_id} -> {new_id}" if old_id != new_id else f"{old_revision} -> {new_revision}"
            print(f"  {name:<20} {what}")

        # The queue's way: one SQS batch of three events (app:latest, envoy:v1, app:latest again), one scan.
        batch_file = Path(event).parent / "sqs-batch.json"
        batch = json.loads(batch_file.read_text())
        for record in batch["Records"]:
            body = json.loads(record["body"])
            body["time"] = now()
            record["body"] = json.dumps(body)
        print(f"\n$ ecs-redeploy apply --event {batch_file}   # {len(batch['Records'])} queued events, one fleet scan\n")
        before, after, outcome = apply(binary, batch, env, ecs, lambda output: output["report"])
        changed = [name for name in after if after[name] != before[name]]
        print(f"Each of {len(changed)} services deployed once; messages to redeliver: {outcome['failed_messages'] or 'none'}.")
        print("\nThe full JSON report is what the Lambda function returns; run the CLI with RUST_LOG=info for the log lines.")
    finally:
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    main()
