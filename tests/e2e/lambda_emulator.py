"""`make e2e`: the function through the real Lambda runtime API, against a local ECS (moto).

`cargo lambda watch --only-lambda-apis` serves the Lambda runtime API, which the debug binary polls as it does
on Lambda; `cargo lambda invoke` sends it every file of events/ (with `time` set to now) and a malformed event. Checks the returned JSON, moto's deployments
and the function's JSON log lines. Prints `e2e: N passed, M failed`; exits non-zero on any failure.

Usage: .venv/bin/python tests/e2e/lambda_emulator.py   (from anywhere; `make e2e` does it)
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "target" / "e2e"  # event copies and the function's log; kept after a run for debugging
# The build `make unit` makes (a no-op after it; the whole build when run alone). Running that binary, rather than
# letting `cargo lambda watch` build one, saves a second build of the crate: without the tests' dev-dependency
# features Cargo would compile its SDK dependencies again, two minutes of CI for the same code.
BUILD = ["cargo", "test", "--workspace", "--lib", "--bins", "--tests", "--no-run", "--quiet"]
BINARY = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "ecs-redeploy"
ACCOUNT, REGION = "123456789012", "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
# A secret value that must never show up in the function's output.
SECRET = "e2e-secret-must-not-be-logged"
# The function's access key: the IAM proof tells its requests from the seeding by it (testkit/src/request_log.rs).
FUNCTION_ACCESS_KEY = "AKIAECSREDEPLOYFUNCTION"

# (cluster, service, images, tags, expected (outcome, reason) after the push; None: unrelated, not listed).
FLEET = [
    ("shop", "web", [f"{REGISTRY}/app:latest"], {}, ("redeployed", "image-match")),
    ("shop", "worker", [f"{REGISTRY}/envoy:v1", f"{REGISTRY}/app:latest"], {}, ("redeployed", "image-match")),
    ("shop", "legacy", [f"{REGISTRY}/app:v1"], {}, ("skipped", "tag-mismatch")),
    ("shop", "pinned", [f"{REGISTRY}/app@sha256:" + "1" * 64], {}, ("skipped", "digest-pinned")),
    ("shop", "sidecar", [f"{REGISTRY}/app-worker:latest"], {}, None),
    ("back-office", "admin", [f"{REGISTRY}/app"], {"ecs-redeploy": "on"}, ("redeployed", "image-match")),
    ("back-office", "frozen", [f"{REGISTRY}/app:latest"], {"ecs-redeploy": "off"}, ("skipped", "opted-out")),
    ("back-office", "reports", [f"210987654321.dkr.ecr.{REGION}.amazonaws.com/app:latest"], {},
     ("skipped", "other-registry")),
    ("back-office", "db", ["postgres:16"], {}, None),
]
CLUSTERS = sorted({f[0] for f in FLEET})
# What the scheduled sweep reports (moto records no service revisions, so no digest is known and nothing is
# redeployed); the tags it finds in moto's ECR are the ones seeded below.
SWEPT = {
    "shop/web": ("skipped", "running-unknown"),
    "shop/worker": ("skipped", "running-unknown"),
    "shop/legacy": ("skipped", "tag-mismatch"),
    "shop/pinned": ("skipped", "digest-pinned"),
    "shop/sidecar": ("skipped", "running-unknown"),
    "back-office/admin": ("skipped", "running-unknown"),
    "back-office/frozen": ("skipped", "opted-out"),
    "back-office/reports": ("skipped", "not-checkable"),
    "back-office/db": ("skipped", "not-checkable"),
}
ECR_TAGS = {"app": ["latest"], "envoy": ["v1"], "app-worker": ["latest"]}
LISTED = {f"{c}/{s}": want for c, s, _, _, want in FLEET if want}
REDEPLOYED = sorted(name for name, (outcome, _) in LISTED.items() if outcome == "redeployed")
# README's event table: every file but the push is ignored, with this reason.
IGNORED = {
    "ecr-push-untagged.json": "untagged",
    "ecr-push-signature.json": "not-an-image",
    "ecr-delete.json": "not-a-push",
    "ecr-push-failed.json": "not-successful",
    "ecr-image-scan.json": "other-detail-type",
    "ecr-storage-class.json": "not-a-push",
    # Deployment outcomes: followed only with a lock table, which the e2e function has not; a rollback's start never.
    "ecs-deployment-completed.json": "not-tracked",
    "ecs-deployment-failed.json": "not-tracked",
    "ecs-deployment-rollback-in-progress.json": "in-progress",
}
LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}

results = Counter()
# Every invocation's returned output (stdout and stderr of `cargo lambda invoke`), for the secret check.
INVOKE_OUTPUTS = []


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f"\n     {detail}"), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(moto_server, timeout=60):
    """moto_server on a port it binds itself (`-p 0`: no other process can take it first), read from werkzeug's
    `Running on` line; a thread drains its later log lines. Checks that what answers there is moto."""
    proc = subprocess.Popen([str(moto_server), "-H", "127.0.0.1", "-p", "0"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=recording_env())
    found, seen = [], []

    def read():
        for line in proc.stderr:
            if not found:
                seen.append(line)
                match = re.search(r" \* Running on http://127\.0\.0\.1:(\d+)", line)
                if match:
                    found.append(int(match.group(1)))
                    announced.set()
        announced.set()

    announced = threading.Event()
    threading.Thread(target=read, daemon=True).start()
    if not announced.wait(timeout) or not found:
        stop(proc)
        sys.exit(f"moto_server did not listen within {timeout} s: {''.join(seen)}")
    port = found[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/config", timeout=timeout) as answer:
        config = json.loads(answer.read())
    if "lambda" not in config or "batch" not in config:
        stop(proc)
        sys.exit(f"what listens on {port} is not moto: /moto-api/config answered {config}")
    return proc, port


def wait_for_port(port, proc, what, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on {port} within {timeout} s")


def stop(proc, group=False):
    """SIGTERM (to the process group with `group`), SIGKILL after 10 s."""
    if proc is None or proc.poll() is not None:
        return
    send = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    send(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()


def seed(ecs):
    for cluster in CLUSTERS:
        ecs.create_cluster(clusterName=cluster)
    for cluster, name, images, tags, _ in FLEET:
        containers = [{"name": f"c{i}", "image": image, "memory": 128} for i, image in enumerate(images)]
        arn = ecs.register_task_definition(family=name, containerDefinitions=containers)["taskDefinition"][
            "taskDefinitionArn"
        ]
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=arn, desiredCount=1,
                           tags=[{"key": k, "value": v} for k, v in tags.items()])


def seed_registry(ecr):
    """The repositories and tags the fleet follows, each tag on an image of its own (moto computes the digest)."""
    for repository, tags in ECR_TAGS.items():
        ecr.create_repository(repositoryName=repository)
        for tag in tags:
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                                   "digest": "sha256:" + f"{repository}:{tag}".encode().hex().ljust(64, "0")[:64]},
                        "layers": []}
            ecr.put_image(repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest))


def first_push(report):
    """The report's first pushed image (an event carries one push)."""
    return (report.get("pushes") or [{}])[0]


def deployment_ids(ecs):
    """`cluster/service` → id of its newest deployment (moto keeps one and renews its id and createdAt)."""
    ids = {}
    for cluster in CLUSTERS:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for service in ecs.describe_services(cluster=cluster, services=arns)["services"]:
            newest = max(service["deployments"], key=lambda d: d["createdAt"])
            ids[f"{cluster}/{service['serviceName']}"] = newest["id"]
    return ids


def changed(before, after):
    return sorted(name for name in after if after[name] != before.get(name))


def fresh_copy(event_file):
    """The event byte for byte, but pushed now: only the value of `time` is replaced."""
    text = event_file.read_text()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text, n = re.subn(r'("time"\s*:\s*")[^"]*(")', rf"\g<1>{now}\g<2>", text)
    assert n == 1, f"{event_file.name}: {n} `time` fields"
    copy = WORK / "events" / event_file.name
    copy.write_text(text)
    return copy


def fresh_batch(batch_file):
    """The SQS batch with every message body's event pushed now."""
    batch = json.loads(batch_file.read_text())
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for record in batch["Records"]:
        body = json.loads(record["body"])
        body["time"] = now
        record["body"] = json.dumps(body)
    copy = WORK / "events" / batch_file.name
    copy.write_text(json.dumps(batch))
    return copy


def invoke(port, *data):
    """`cargo lambda invoke`: the result JSON on stdout and exit 0, or exit 1 and the error on stderr."""
    run = subprocess.run(
        ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1",
         "--invoke-port", str(port), *data],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    INVOKE_OUTPUTS.append(run.stdout + run.stderr)
    return run


def function_lines(log_text):
    """The function's output lines."""
    return [line for line in log_text.splitlines() if line.strip()]


def run_checks(ecs, port):
    files = sorted(p.name for p in (ROOT / "events").glob("*.json"))
    check("events/: every file is invoked below",
          files == sorted([*IGNORED, "ecr-push.json", "ecr-replication.json", "sqs-batch.json",
                           "scheduled-sweep.json"]),
          files)
    # Each `before` is taken right before the invoke it judges: a change since then is that invocation's.
    for name, reason in IGNORED.items():
        before = deployment_ids(ecs)
        run = invoke(port, "--data-file", str(fresh_copy(ROOT / "events" / name)))
        out = json.loads(run.stdout) if run.returncode == 0 else {"exit": run.returncode, "stderr": run.stderr}
        check(f"{name}: ignored, reason {reason}",
              out.get("result") == "ignored" and out.get("reason") == reason, out)
        after = deployment_ids(ecs)
        check(f"{name}: no deployment started", changed(before, after) == [], changed(before, after))

    # A replication into this registry is a push of the same image: the same services are redeployed.
    before = deployment_ids(ecs)
    run = invoke(port, "--data-file", str(fresh_copy(ROOT / "events" / "ecr-replication.json")))
    replicated = json.loads(run.stdout) if run.returncode == 0 else {}
    redeployed = sorted(f"{s['cluster']}/{s['service']}" for s in replicated.get("services", [])
                        if s["outcome"] == "redeployed")
    check("ecr-replication.json: processed, the source registry reported, the matching services redeployed",
          replicated.get("result") == "processed" and redeployed == REDEPLOYED
          and first_push(replicated).get("replicated_from") == f"210987654321.dkr.ecr.eu-west-1.amazonaws.com",
          run.stdout + run.stderr)
    check("moto: the replication redeployed exactly the matching services",
          changed(before, deployment_ids(ecs)) == REDEPLOYED, changed(before, deployment_ids(ecs)))

    push_event = json.loads((ROOT / "events" / "ecr-push.json").read_text())
    # After the replication's redeploys: the push must start deployments of its own.
    before = deployment_ids(ecs)
    run = invoke(port, "--data-file", str(fresh_copy(ROOT / "events" / "ecr-push.json")))
    report = json.loads(run.stdout) if run.returncode == 0 else {}
    check("ecr-push.json: invocation succeeds, result processed in apply mode",
          report.get("result") == "processed" and report.get("mode") == "apply"
          and first_push(report).get("event_id") == push_event["id"], run.stdout + run.stderr)
    check("ecr-push.json: reported image is the pushed one, and only it",
          [p.get("uri") for p in report.get("pushes", [])]
          == [f"{REGISTRY}/app:latest@{push_event['detail']['image-digest']}"], report.get("pushes"))
    listed = listing(report)
    check("ecr-push.json: every related service listed with its outcome and reason, unrelated ones not",
          listed == LISTED, f"got {listed}")
    counts = report.get("counts", {})
    want = {"clusters": 2, "scanned": len(FLEET), "considered": len(LISTED), "redeployed": len(REDEPLOYED),
            "planned": 0, "skipped": len(LISTED) - len(REDEPLOYED), "failed": 0, "scan_errors": 0, "drifted": 0,
            "waiting": 0, "halted": 0, "notified": 0, "notify_failed": 0,
            "functions": {k: 0 for k in ("considered", "redeployed", "planned", "skipped", "failed", "drifted")}}
    check("ecr-push.json: counts", counts == want, f"got {counts}, want {want}")
    worker = next((s for s in report.get("services", []) if s["service"] == "worker"), {})
    check("ecr-push.json: worker's matching container named", worker.get("containers") == ["c1"], worker)

    after = deployment_ids(ecs)
    check("moto: a new deployment for exactly the matching services", changed(before, after) == REDEPLOYED,
          f"changed {changed(before, after)}, want {REDEPLOYED}")
    reported_ids = {f"{s['cluster']}/{s['service']}": s["deployment_id"] for s in report.get("services", [])
                    if s["outcome"] == "redeployed"}
    check("moto: reported deployment ids are the new ones",
          reported_ids == {name: after[name] for name in REDEPLOYED}, reported_ids)

    # A malformed event (no `account`) fails the invocation: Lambda retries it and sees the error type.
    malformed = dict(push_event)
    del malformed["account"]
    before = deployment_ids(ecs)
    run = invoke(port, "--data-ascii", json.dumps(malformed))
    check("malformed event: invocation fails with InvalidEvent naming `account`",
          run.returncode != 0 and run.stdout.strip() == "" and "Error: InvalidEvent" in run.stderr
          and "missing field `account`" in run.stderr, f"exit {run.returncode}: {run.stdout} {run.stderr}")
    check("malformed event: no deployment started", changed(before, deployment_ids(ecs)) == [])

    # The queue's batch: app:latest, its sidecar's envoy:v1 and a duplicate of the first, in one scan.
    before = deployment_ids(ecs)
    run = invoke(port, "--data-file", str(fresh_batch(ROOT / "events" / "sqs-batch.json")))
    response = json.loads(run.stdout) if run.returncode == 0 else {}
    check("sqs-batch.json: the batch succeeds, no message to redeliver",
          response == {"batchItemFailures": []}, run.stdout + run.stderr)
    after = deployment_ids(ecs)
    check("moto: the batch redeployed exactly the matching services",
          changed(before, after) == REDEPLOYED, changed(before, after))

    # The schedule's event: a sweep of every tag in use, asked of moto's ECR.
    before = deployment_ids(ecs)
    run = invoke(port, "--data-file", str(fresh_copy(ROOT / "events" / "scheduled-sweep.json")))
    swept = json.loads(run.stdout) if run.returncode == 0 else {}
    pushes = sorted((p.get("repository"), p.get("tag"), p.get("trigger")) for p in swept.get("pushes", []))
    check("scheduled-sweep.json: processed, one push per tag in use found in ECR, each from the sweep",
          swept.get("result") == "processed"
          and pushes == sorted((r, t, "sweep") for r, tags in ECR_TAGS.items() for t in tags),
          run.stdout + run.stderr)
    listed = {f"{s['cluster']}/{s['service']}": (s["outcome"], s["reason"]) for s in swept.get("services", [])}
    check("scheduled-sweep.json: without running digests nothing is redeployed, every service says why",
          listed == SWEPT, f"got {listed}")
    check("moto: the sweep started no deployment", changed(before, deployment_ids(ecs)) == [])
    return replicated, report


def listing(report):
    """`cluster/service` → (outcome, reason) of every service a report lists."""
    return {f"{s['cluster']}/{s['service']}": (s["outcome"], s["reason"]) for s in report.get("services", [])}


def check_logs(log_text, replicated, report):
    lines = function_lines(log_text)
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    metrics = [p for p in parsed if isinstance(p, dict) and "_aws" in p]
    bad = [line for line, p in zip(lines, parsed)
           if not (isinstance(p, dict) and (p.get("level") in LEVELS or "_aws" in p))]
    check("logs: every function line is a JSON object with a level, or a metrics record", bool(lines) and not bad,
          f"{len(bad)}: {bad[:3]}")
    records = [p for p in parsed if isinstance(p, dict) and "_aws" not in p]

    # One EMF record per invocation: the ignored events, the replication, the push, the malformed event, the batch,
    # the sweep.
    invocations = len(IGNORED) + 5
    declared = [m["_aws"]["CloudWatchMetrics"][0] for m in metrics]
    # Eight metrics of every invocation, the two rollout counts, the two wave counts (Waiting, Halted) and the two
    # function counts; RolloutSeconds only where a rollout ended.
    check("metrics: one EMF record per invocation, namespace ecs-redeploy, dimension Trigger, fourteen metrics",
          len(metrics) == invocations
          and all(d["Namespace"] == "ecs-redeploy" and d["Dimensions"] == [["Trigger"]] and len(d["Metrics"]) == 14
                  for d in declared), f"{len(metrics)} records, want {invocations}: {declared[:1]}")
    by_trigger = Counter(m.get("Trigger") for m in metrics)
    # The completed and failed deployment events are followed (then not tracked: no lock table) as deployments; the
    # rollback's start is ignored before it is classified, as any event the function does not follow.
    check("metrics: the batch's record says batch, the sweep's sweep, the two followed deployment events "
          "deployment, the others push",
          by_trigger == Counter({"push": invocations - 4, "deployment": 2, "batch": 1, "sweep": 1}), by_trigger)
    redeployed = [m.get("Redeployed") for m in metrics]
    check("metrics: Redeployed per invocation (replication, push, batch) and zero for the rest",
          sorted(r for r in redeployed if r) == [len(REDEPLOYED)] * 3 and redeployed.count(0) == invocations - 3
          and all(m.get("EcsCalls", 0) > 0 for m in metrics if m.get("Redeployed")), redeployed)

    def message(p):  # lambda_runtime's JSON subscriber nests the message and fields under `fields`
        return p.get("fields", {}).get("message")

    # The replication comes first, the push second, then the batch and the sweep: one summary line each.
    summaries = [p for p in records if message(p) == "summary"]
    check("logs: one summary line per processed event or batch", len(summaries) == 4, summaries)
    requests = [p.get("span", {}).get("requestId") for p in summaries]
    batch_images = summaries[2].get("fields", {}).get("image", "").split(", ") if len(summaries) > 2 else []
    check("logs: the batch's one summary names its two distinct pushes", len(batch_images) == 2, batch_images)

    def decisions(request):
        """The request's decision lines: how many, and `cluster/service` → (outcome, reason)."""
        lines = [d for d in records if message(d) == "decision" and d.get("span", {}).get("requestId") == request]
        return len(lines), {f"{d['fields'].get('cluster')}/{d['fields'].get('service')}":
                            (d["fields"].get("outcome"), d["fields"].get("reason")) for d in lines}

    # Each processed event's own lines against its own report: the replication's, then the push's.
    logged = [decisions(request) for request in requests[:2]]
    wanted = [listing(replicated), listing(report)]
    check("logs: one decision line per listed service of the replication and of the push, with the outcome and "
          "reason of that invocation's report",
          len(logged) == 2 and all(n == len(want) and got == want and want == LISTED
                                   for (n, got), want in zip(logged, wanted)),
          f"logged {logged}, reported {wanted}")
    summaries = summaries[1:2]
    fields = summaries[0].get("fields", {}) if summaries else {}
    # The log line flattens the report's nested function counts as functions_<count>.
    counts = dict(report.get("counts", {}))
    counts.update({f"functions_{k}": v for k, v in counts.pop("functions", {}).items()})
    check("logs: summary counts match the report",
          bool(report.get("counts")) and all(fields.get(k) == v for k, v in counts.items()), fields)
    ignored = Counter(p["fields"].get("reason") for p in records if message(p) == "event ignored")
    check("logs: one `event ignored` line per ignored event, with its reason",
          ignored == Counter(IGNORED.values()), ignored)
    errors = [p for p in records if p.get("level") == "ERROR" and "account" in json.dumps(p)]
    check("logs: the malformed event is logged at ERROR naming `account`", len(errors) == 1, errors)
    leaked = [out for out in INVOKE_OUTPUTS if SECRET in out]
    check("logs: no secret in any output line (the function's log and every invocation's returned output)",
          bool(INVOKE_OUTPUTS) and SECRET not in log_text and not leaked, f"in the log: {SECRET in log_text}, "
          f"in {len(leaked)} of {len(INVOKE_OUTPUTS)} invocation outputs")


def recording_env():
    """moto's environment: with its recorder on when the IAM proof logs requests (testkit/src/request_log.rs)."""
    env = dict(os.environ)
    log_dir = env.get("ECS_REDEPLOY_REQUEST_LOG")
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        env.update(MOTO_ENABLE_RECORDING="True", MOTO_RECORDER_FILEPATH=os.path.join(log_dir, f"e2e-moto-{os.getpid()}.jsonl"))
    return env


def main():
    started = time.monotonic()
    venv_bin = Path(sys.executable).parent
    os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ['PATH']}"  # zig is found via the venv's python
    (WORK / "events").mkdir(parents=True, exist_ok=True)
    log_path = WORK / "function.log"
    subprocess.run(BUILD, cwd=ROOT, check=True)

    moto = watch = function = None
    try:
        moto, moto_port = start_moto(venv_bin / "moto_server")
        endpoint = f"http://127.0.0.1:{moto_port}"
        ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                           aws_secret_access_key=SECRET)
        seed(ecs)
        seed_registry(boto3.client("ecr", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                                   aws_secret_access_key=SECRET))

        # The function's environment: moto, static credentials, JSON logs, default settings.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in {
            "RUST_LOG", "TAG_KEY", "SELECT", "CLUSTERS", "MAX_CONCURRENCY", "DRY_RUN", "RETRY_MODE", "MAX_ATTEMPTS"}}
        env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=FUNCTION_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_REGION=REGION, AWS_EC2_METADATA_DISABLED="true", AWS_LAMBDA_LOG_FORMAT="JSON",
                   AWS_LAMBDA_LOG_LEVEL="INFO")
        invoke_port = free_port()
        # The runtime API only; own process group so stop() reaches it all.
        watch = subprocess.Popen(
            ["cargo", "lambda", "watch", "--only-lambda-apis", "--quiet",
             "--invoke-address", "127.0.0.1", "--invoke-port", str(invoke_port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(invoke_port, watch, "cargo lambda watch")
        # What the emulator tells a function started by hand to set; `_` is the function it invokes by default.
        env.update(AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{invoke_port}/.rt", AWS_LAMBDA_FUNCTION_NAME="_",
                   AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128")
        with open(log_path, "w") as log:
            function = subprocess.Popen([str(BINARY)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        replicated, report = run_checks(ecs, invoke_port)
        stop(function)  # flushes and closes the function's output before it is read
        check_logs(log_path.read_text(), replicated, report)
    finally:
        stop(function)
        stop(watch, group=True)
        stop(moto)
    print(f"e2e: function output in {log_path.relative_to(ROOT)}; took {time.monotonic() - started:.0f} s")
    print(f"e2e: {results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
