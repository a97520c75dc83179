# Two entry points: `make demo` and `make test`. Everything else is a step of those two.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PYTHON ?= python3
# cargo-lambda finds zig as `python -m ziglang` of the first python on PATH: the venv's must come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server

.PHONY: test demo venv fmt clippy links docs fuzz-check unit lint-template cdk-test cdk-assets package package-proof e2e \
	iam-proof build sam-build stackset-template bench fuzz clean

test: fmt clippy links fuzz-check unit lint-template cdk-test package-proof e2e iam-proof

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# A push and a queued batch; then digest truth, the sweep and outcomes (a rollback, its notification): each against moto behind the strict ECS front (which
# records the service revisions moto lacks), with the images in moto's ECR, as a real account answers.
demo: venv
	cargo build --quiet --bin ecs-redeploy
	cargo build --quiet -p ecs-redeploy-testkit --bins
	target/debug/push-demo target/debug/ecs-redeploy
	target/debug/digest-demo target/debug/ecs-redeploy

fmt:
	cargo fmt --check

clippy:
	cargo clippy --workspace --all-targets --quiet -- -D warnings

# Every relative link and #anchor of README.md and the book resolves (no build: mdBook's compile would cost CI
# minutes); the script first shows that a broken link fails it.
links:
	$(PYTHON) scripts/check_links.py

# The book (docs/, into target/book): mdBook from crates.io, pinned, installed into a directory of its version.
MDBOOK_VERSION := 0.5.4
MDBOOK := target/tools/mdbook-$(MDBOOK_VERSION)/bin/mdbook
docs: $(MDBOOK)
	$(MDBOOK) build docs

$(MDBOOK):
	cargo install --locked --quiet mdbook@$(MDBOOK_VERSION) --no-default-features --features search \
	  --root target/tools/mdbook-$(MDBOOK_VERSION)

# The fuzz targets (fuzz/, a workspace of its own) type-check against the library: `cargo check` only, without
# libFuzzer's C++ runtime, in the main target directory so the library's dependencies checked by clippy are reused.
fuzz-check:
	cargo check --quiet --manifest-path fuzz/Cargo.toml --no-default-features --bins --target-dir target

# Where unit and e2e record every AWS request they make (testkit/src/request_log.rs), for iam-proof.
IAM_REQUESTS := $(CURDIR)/target/iam-proof/requests

# Library, binary and integration tests of the workspace (the testkit's own tests of the strict ECS front
# included); benchmarks run only in `make bench`.
unit: venv
	rm -rf $(IAM_REQUESTS)
	ECS_REDEPLOY_REQUEST_LOG=$(IAM_REQUESTS) cargo test --workspace --lib --bins --tests

# The function through the real Lambda runtime API (cargo lambda watch --only-lambda-apis + invoke) against moto.
e2e: venv
	ECS_REDEPLOY_REQUEST_LOG=$(IAM_REQUESTS) $(VENV)/bin/python tests/e2e/lambda_emulator.py


# Calls, wall time, throttling and process figures against moto behind the strict ECS front; `build` makes
# the arm64 bootstrap whose size it reports. The table ends the output; target/bench/summary.json has it all.
# It exits non-zero when a goal is missed; BENCH_ALLOW_MISS=1 prints and writes everything and exits 0. A full
# run rewrites the measured part of benches/README.md with its own output.
bench: venv build
	cargo bench --bench redeploy
	@echo "table: target/bench/table.txt  summary: target/bench/summary.json  page: benches/README.md"

# --- Deployment (template.yaml, cdk/) ---
# Lambda architecture for `build` and `sam-build`: arm64 or x86_64 (the SAM Architecture parameter's values).
ARCH ?= arm64
$(if $(filter-out arm64 x86_64,$(ARCH)),$(error ARCH must be arm64 or x86_64, not $(ARCH)))
CDK_DIR := cdk
# SAM asks before collecting telemetry on first use; tests and builds must not prompt or phone home.
SAM := SAM_CLI_TELEMETRY=0 sam

# The release build `make package` ships (target/lambda/ecs-redeploy/bootstrap), and its reproducible zip.
build: venv
	$(PACKAGE) bootstrap $(ARCH) $(PROOF_DIST)/ecs-redeploy-$(VERSION)-$(ARCH).zip

# One ARCH drives the build and the deployed function. sam build compiles the bootstrap for the Architecture it is
# given, and that bootstrap runs on that instruction set only; `sam deploy` takes Architecture from its own
# parameters (samconfig.toml, --parameter-overrides, --guided answers, or the stack's previous value), which
# nothing ties to the build. So sam-build also narrows the Architecture parameter of the built template (the one
# `sam deploy` deploys) to ARCH, as its only allowed value and its default: a deploy that asks for the other one
# is refused by CloudFormation before anything changes, instead of a function whose every invocation fails with
# an exec format error. samcli's own YAML reader and writer, the ones that wrote the built template, rewrite it.
SAM_BUILT_TEMPLATE := .aws-sam/build/template.yaml
define PIN_ARCHITECTURE
import sys
from samcli.yamlhelper import yaml_dump, yaml_parse
path, arch = sys.argv[1:]
with open(path) as f:
    template = yaml_parse(f.read())
parameter = template["Parameters"]["Architecture"]
assert arch in parameter["AllowedValues"], f"{arch} is not an Architecture of the template"
parameter["Default"] = arch
parameter["AllowedValues"] = [arch]
parameter["ConstraintDescription"] = (
    f"this build holds an {arch} bootstrap: deploy it with Architecture={arch}, "
    f"or rebuild with make sam-build ARCH=<the other one>")
with open(path, "w") as f:
    f.write(yaml_dump(template))
endef
export PIN_ARCHITECTURE

sam-build: venv
	$(SAM) build --beta-features --parameter-overrides Architecture=$(ARCH)
	$(VENV)/bin/python -c "$$PIN_ARCHITECTURE" $(SAM_BUILT_TEMPLATE) $(ARCH)

# StackSets with service-managed permissions (an organization's OUs, auto-deployed to new accounts) refuse a template
# that uses a transform, AWS::Serverless included: "StackSets with service-managed permissions don't currently
# support the use of macros in templates. (This includes the AWS::Include and AWS::Serverless transforms ...)"
# (CloudFormation API reference, CreateStackSet, Capabilities; also in botocore's cloudformation model).
# stackset-template writes template.yaml as plain CloudFormation: translated offline by samtranslator (the
# translator sam validate runs; the function has its own role, so no managed policy is looked up), the function's
# code from two new parameters, CodeBucket and CodeKey (a zip of the bootstrap, in the Region of each stack
# instance), and Architecture pinned to ARCH as sam-build pins it: the zip holds a bootstrap for one architecture.
STACKSET_TEMPLATE := .aws-sam/stackset/template.yaml
define STACKSET_TRANSLATE
import copy, os, sys
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
from samcli.yamlhelper import yaml_dump, yaml_parse
from samtranslator.translator.transform import transform
source, target = sys.argv[1:]
with open(source) as f:
    template = yaml_parse(f.read())
template["Parameters"]["CodeBucket"] = {
    "Type": "String", "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$$",
    "ConstraintDescription": "an S3 bucket name",
    "Description": "S3 bucket of the function's zip (cargo lambda build --output-format zip), in this stack's "
                   "Region, readable by the StackSet's execution role; override it per Region."}
template["Parameters"]["CodeKey"] = {
    "Type": "String", "MinLength": 1, "Description": "Key of the function's zip in CodeBucket."}
template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"].append(
    {"Label": {"default": "Function code"}, "Parameters": ["CodeBucket", "CodeKey"]})
template["Resources"]["RedeployFunction"]["Properties"]["CodeUri"] = {
    "Bucket": {"Ref": "CodeBucket"}, "Key": {"Ref": "CodeKey"}}
class NoManagedPolicies:
    def load(self):
        raise AssertionError("the template names a managed policy, which would need IAM to translate")
translated = transform(copy.deepcopy(template), {}, NoManagedPolicies())
assert "Transform" not in translated
assert not [r for r in translated["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
code = translated["Resources"]["RedeployFunction"]["Properties"]["Code"]
assert code == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}, code
with open(target, "w") as f:
    f.write(yaml_dump(translated))
endef
export STACKSET_TRANSLATE

stackset-template: venv
	mkdir -p $(dir $(STACKSET_TEMPLATE))
	$(VENV)/bin/python -c "$$STACKSET_TRANSLATE" template.yaml $(STACKSET_TEMPLATE)
	$(VENV)/bin/python -c "$$PIN_ARCHITECTURE" $(STACKSET_TEMPLATE) $(ARCH)
	@echo "$(STACKSET_TEMPLATE): for StackSets, $(ARCH) only; give it CodeBucket and CodeKey"

# checkov pins boto3==1.35.49 (and networkx<2.7, packaging<24), which aws-sam-cli's boto3==1.43.108 refuses: it
# gets a venv of its own inside $(VENV), pinned here rather than in requirements-dev.txt. Offline and quiet:
# --skip-download fetches no guidelines or policies from the Prisma Cloud platform, BC_SKIP_MAPPING=TRUE skips
# its check-ID mapping, CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE the PyPI version check (under strace: no connect()).
# Every finding it waives is skipped on the resource itself, with the reason (Metadata: checkov: skip:).
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := $(VENV)/checkov-$(CHECKOV_VERSION)
CHECKOV := BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE $(CHECKOV_VENV)/bin/checkov --skip-download

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

# sam-build's architecture pin, on template.yaml as sam build writes it: after pinning to one architecture the
# other is no longer an allowed value (what CloudFormation then refuses), and the pinned template still lints.
define CHECK_ARCHITECTURE_PIN
import os, subprocess, sys, tempfile
from samcli.yamlhelper import yaml_dump, yaml_parse
with open("template.yaml") as f:
    source = yaml_parse(f.read())
assert source["Parameters"]["Architecture"]["AllowedValues"] == ["arm64", "x86_64"]
for arch, other in (("arm64", "x86_64"), ("x86_64", "arm64")):
    with tempfile.TemporaryDirectory() as build:
        built = os.path.join(build, "template.yaml")
        with open(built, "w") as f:
            f.write(yaml_dump(source))
        subprocess.run([sys.executable, "-c", os.environ["PIN_ARCHITECTURE"], built, arch], check=True)
        with open(built) as f:
            parameter = yaml_parse(f.read())["Parameters"]["Architecture"]
        assert parameter["AllowedValues"] == [arch] and parameter["Default"] == arch, parameter
        assert other not in parameter["AllowedValues"], f"a {arch} build would deploy as {other}"
        subprocess.run(["cfn-lint", built], check=True)
print("architecture pin: a build for one architecture refuses the other")
endef
export CHECK_ARCHITECTURE_PIN

# registry/template.yaml, the registry account's forwarding rules (Fn::ForEach over TargetAccounts): its filter is
# the workload stack's (the same rule pattern, parameters and conditions, so that the two cannot drift apart), and,
# expanded offline for 1, 5 and 12 accounts by SAM CLI's AWS::LanguageExtensions processor, it holds one rule per
# account, each with one target (that account's default bus), its own role (PutEvents on that bus only) and its own
# dead-letter queue (admitting that rule only), and each expansion passes cfn-lint and checkov (given as the
# argument) as plain CloudFormation: neither looks inside an Fn::ForEach of the template itself.
define CHECK_REGISTRY_TEMPLATE
import json, os, subprocess, sys, tempfile
from samcli.yamlhelper import yaml_parse
from samcli.lib.cfn_language_extensions import PseudoParameterValues, process_template
with open("template.yaml") as f:
    workload = yaml_parse(f.read())
with open("registry/template.yaml") as f:
    registry = yaml_parse(f.read())
rule = registry["Resources"]["Fn::ForEach::Targets"][2]["Forward$${Target}"]
assert rule["Properties"]["EventPattern"] == workload["Resources"]["EcrPushRule"]["Properties"]["EventPattern"]
for name in ("RepositoryFilter", "ReplicatedImages"):
    same = lambda p: {k: v for k, v in p.items() if k != "Description"}
    assert same(registry["Parameters"][name]) == same(workload["Parameters"][name]), name
for name in ("HasRepositoryFilter", "RedeployReplicatedImages"):
    assert registry["Conditions"][name] == workload["Conditions"][name], name
pseudo = PseudoParameterValues(region="eu-west-1", account_id="999999999999", partition="aws")
cases = [(1, {}), (5, {"RepositoryFilter": "team-a/*,web"}), (12, {"ReplicatedImages": "Redeploy", "TargetRegion": "us-east-2"})]
for count, values in cases:
    accounts = [f"{i:012d}" for i in range(1, count + 1)]
    expanded = process_template(registry, parameter_values={"TargetAccounts": accounts, **values}, pseudo_parameters=pseudo)
    resources = expanded["Resources"]
    assert len(resources) == 4 * count, sorted(resources)
    for account in accounts:
        bus = f"arn:aws:events:{values.get('TargetRegion', 'eu-west-1')}:{account}:event-bus/default"
        targets = resources[f"Forward{account}"]["Properties"]["Targets"]
        assert [t["Arn"] for t in targets] == [bus], targets
        assert targets[0]["RoleArn"] == {"Fn::GetAtt": [f"ForwardRole{account}", "Arn"]}
        assert targets[0]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [f"Undelivered{account}", "Arn"]}
        pattern = json.loads(resources[f"Forward{account}"]["Properties"]["EventPattern"])
        assert ("repository-name" in pattern["detail"]) == ("RepositoryFilter" in values), pattern
        assert (pattern["detail"]["action-type"] == ["PUSH", "REPLICATE"]) == ("ReplicatedImages" in values), pattern
        [policy] = resources[f"ForwardRole{account}"]["Properties"]["Policies"]
        assert policy["PolicyDocument"]["Statement"] == [{"Sid": "PutEventsOnWorkloadBus", "Effect": "Allow",
            "Action": "events:PutEvents", "Resource": bus}], policy
        allow = resources[f"Undelivered{account}Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
        assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [f"Forward{account}", "Arn"]}}}
    del expanded["Transform"]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(expanded, f)
        f.flush()
        # The processor also resolved every parameter and condition: unused ones (W2001, W8001) and conditions of
        # constants (W8003) are what resolving leaves, not findings.
        subprocess.run(["cfn-lint", "--regions", "eu-west-1", "--ignore-checks", "W2001", "W8001", "W8003", "--",
                        f.name], check=True)
        subprocess.run([sys.argv[1], "--skip-download", "--framework", "cloudformation", "--compact", "--quiet",
                        "-f", f.name], check=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE",
                        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"})
print("registry template: the workload rule's filter; one rule, role and dead-letter queue per account (1, 5, 12)")
endef
export CHECK_REGISTRY_TEMPLATE

lint-template: venv $(CHECKOV_VENV)/.installed stackset-template
	cfn-lint template.yaml registry/template.yaml $(STACKSET_TEMPLATE)
	AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint
	AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint -t registry/template.yaml
	$(CHECKOV) --framework cloudformation --compact --quiet -f template.yaml
	$(VENV)/bin/python -c "$$CHECK_ARCHITECTURE_PIN"
	$(VENV)/bin/python -c "$$CHECK_REGISTRY_TEMPLATE" $(CHECKOV_VENV)/bin/checkov

# npm ci only when the lock changed; it wipes node_modules, stamp included.
$(CDK_DIR)/node_modules/.installed: $(CDK_DIR)/package-lock.json
	cd $(CDK_DIR) && npm ci --no-audit --no-fund
	touch $@

# The synth uses the packaged arm64 bootstrap (cdk-assets: the release build `make package` ships, so the tests
# build no crate of their own) and fails on any unacknowledged cdk-nag finding.
cdk-test: venv $(CDK_DIR)/node_modules/.installed cdk-assets
	cd $(CDK_DIR) && npx tsc --noEmit
	cd $(CDK_DIR) && npm test
	cd $(CDK_DIR) && npx cdk synth --no-notices -q

# --- Release artifacts (scripts/package.py; docs/src/contributing/releasing.md) ---
# One version: the crate's (Cargo.toml); package.py refuses an npm package or a changelog that says another.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
PACKAGE := $(VENV)/bin/python scripts/package.py
DIST := dist
# make test's artifacts: arm64 only, kept apart from dist/ so that they are never mistaken for a release.
PROOF_DIST := target/package
# make package builds each architecture a second time in a target directory of its own; the zips must be equal.
REPRO_TARGET := target/package-repro

# The arm64 bootstrap zip (release profile, as shipped) where the construct looks for it in a checkout.
cdk-assets: venv
	$(PACKAGE) bootstrap arm64 $(PROOF_DIST)/ecs-redeploy-$(VERSION)-arm64.zip
	mkdir -p $(CDK_DIR)/assets
	cp $(PROOF_DIST)/ecs-redeploy-$(VERSION)-arm64.zip $(CDK_DIR)/assets/ecs-redeploy-arm64.zip

# dist/: both zips (each built twice and compared), template.packaged.yaml (with its Serverless Application
# Repository metadata), registry-template.yaml, README.md, ecs-redeploy-cdk-<version>.tgz and SHA256SUMS, all
# checked (cfn-lint, sam validate --lint, checkov), then the proof below on them.
package: venv $(CHECKOV_VENV)/.installed $(CDK_DIR)/node_modules/.installed
	rm -rf $(DIST)
	for arch in arm64 x86_64; do \
	  $(PACKAGE) bootstrap $$arch $(DIST)/ecs-redeploy-$(VERSION)-$$arch.zip; \
	  $(PACKAGE) bootstrap $$arch $(REPRO_TARGET)/ecs-redeploy-$(VERSION)-$$arch.zip --target-dir $(REPRO_TARGET); \
	  $(PACKAGE) same $(DIST)/ecs-redeploy-$(VERSION)-$$arch.zip $(REPRO_TARGET)/ecs-redeploy-$(VERSION)-$$arch.zip; \
	done
	$(PACKAGE) assemble $(DIST) arm64 x86_64 --checkov $(CHECKOV_VENV)/bin/checkov
	$(PACKAGE) prove $(DIST)

# make test's packaging, arm64 only: the same artifacts and checks, and the proof: the checksums hold, and a fresh
# CDK app with no cargo on PATH installs the packed construct and synthesizes with its bootstrap zip.
package-proof: venv $(CHECKOV_VENV)/.installed $(CDK_DIR)/node_modules/.installed cdk-assets
	$(PACKAGE) assemble $(PROOF_DIST) arm64 --checkov $(CHECKOV_VENV)/bin/checkov
	$(PACKAGE) prove $(PROOF_DIST)

# The IAM proof (docs/src/deploy/permissions.md): every request unit and e2e recorded, mapped to what IAM
# authorizes (tools/iam-proof/calls.mjs), evaluated offline by @cloud-copilot/iam-simulate (pinned in
# tools/iam-proof/package-lock.json; test-only, never a dependency of the construct) against the role policies of
# template.yaml, translated by samtranslator and resolved for each parameter set of render.py, and of the CDK
# construct synthesized twice (synth_cdk.ts). Red on a denied or unmapped request, on an allowed request of the
# negative set, and on a granted action no needed request uses. Then it shows that it can fail: without the
# RedeployServices statement the same recordings must be denied.
IAM_PROOF := tools/iam-proof
IAM_OUT := target/iam-proof
$(IAM_PROOF)/node_modules/.installed: $(IAM_PROOF)/package-lock.json
	cd $(IAM_PROOF) && npm ci --no-audit --no-fund
	touch $@

iam-proof: venv $(IAM_PROOF)/node_modules/.installed $(CDK_DIR)/node_modules/.installed
	mkdir -p $(IAM_OUT)
	$(VENV)/bin/python $(IAM_PROOF)/render.py sam template.yaml $(IAM_OUT)/sam.json
	cd $(CDK_DIR) && npx tsx ../$(IAM_PROOF)/synth_cdk.ts ../$(IAM_OUT)/cdk-synth.json
	$(VENV)/bin/python $(IAM_PROOF)/render.py cdk $(IAM_OUT)/cdk-synth.json $(IAM_OUT)/cdk.json
	node $(IAM_PROOF)/prove.mjs $(IAM_REQUESTS) $(IAM_OUT)/sam.json $(IAM_OUT)/cdk.json
	if IAM_PROOF_DROP=RedeployServices node $(IAM_PROOF)/prove.mjs $(IAM_REQUESTS) $(IAM_OUT)/sam.json \
	    $(IAM_OUT)/cdk.json > $(IAM_OUT)/without-redeploy-services.log 2>&1; then \
	  echo "iam-proof: still passes without RedeployServices: it proves nothing"; exit 1; fi
	grep -q 'FAIL sam-defaults: denied .*ecs:UpdateService' $(IAM_OUT)/without-redeploy-services.log
	@echo "iam-proof: and fails without RedeployServices ($(IAM_OUT)/without-redeploy-services.log)"

# Not part of `test`: each cargo-fuzz target (fuzz/) for FUZZ_SECONDS, AddressSanitizer on; a finding stops
# here and lands in fuzz/artifacts/TARGET/. cargo-fuzz passes nightly-only flags (-Zsanitizer);
# RUSTC_BOOTSTRAP=1 makes the stable toolchain accept them. The event corpus starts from events/.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 60
fuzz:
	[ "$$(cargo fuzz --version 2>/dev/null)" = "cargo-fuzz $(CARGO_FUZZ_VERSION)" ] || \
	  cargo install --locked cargo-fuzz@$(CARGO_FUZZ_VERSION)
	mkdir -p fuzz/corpus/event
	cp events/*.json fuzz/corpus/event/
	for target in event image_ref; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS); \
	done

clean:
	cargo clean
	rm -rf $(VENV) $(CDK_DIR)/node_modules $(CDK_DIR)/cdk.out $(CDK_DIR)/build $(CDK_DIR)/assets .aws-sam $(DIST)
