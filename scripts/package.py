"""Release artifacts (`make package`) and their proof (`make package-proof`, which `make test` runs).

    package.py bootstrap ARCH ZIP [--target-dir DIR]
        cargo-lambda release build of one architecture, its bootstrap zipped reproducibly (fixed time, mode, order).
    package.py assemble DIST ARCH... [--checkov PATH]
        next to DIST/ecs-redeploy-<version>-<arch>.zip: template.packaged.yaml (the SAM template for those zips,
        with its Serverless Application Repository metadata), sar-<arch>/template.yaml (what a maintainer
        publishes to SAR), the registry forwarder template, README.md, the npm package of the construct carrying
        exactly those zips, and SHA256SUMS; then checks them all (one version
        everywhere, the metadata `sam publish` needs, cfn-lint, sam validate --lint, checkov).
    package.py same ZIP ZIP
        the two builds of one architecture are the same bytes (`make package` builds each twice).
    package.py prove DIST
        every file of SHA256SUMS has its checksum; a fresh CDK app, with no cargo on PATH, installs the npm package
        of DIST, compiles against its type declarations and synthesizes a stack whose function code is DIST's zip.

Run with the venv's python (samcli's YAML reader and writer, as the Makefile's template steps use).
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "cdk"
ARCHS = {"arm64": "--arm64", "x86_64": "--x86-64"}
# The zip's one entry, as Lambda runs it: a fixed time (the zip format's earliest), a regular file with mode 755.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
ZIP_MODE = 0o100755 << 16


def fail(message):
    sys.exit(f"package: {message}")


def run(args, **kwargs):
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, **kwargs)


def crate():
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]


def version():
    """The one version: the crate's. The npm package and the changelog must say the same."""
    return crate()["version"]


def zip_name(arch):
    return f"ecs-redeploy-{version()}-{arch}.zip"


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- bootstrap ---------------------------------------------------------------------------------------------------

def bootstrap(arch, out, target_dir):
    """The release build of one architecture. Paths that end up in the binary (panic locations of this crate and of
    its dependencies) are remapped, so that neither the checkout's nor the Cargo home's location is in it. RUSTFLAGS
    replaces cargo-lambda's default build.rustflags (`-C target-cpu=neoverse-n1` for arm64): the bootstrap is built
    for the generic instruction set, which every Graviton generation runs."""
    target_dir = Path(target_dir).resolve()
    lambda_dir = target_dir / "lambda"  # cargo-lambda's own layout: lambda/ecs-redeploy/bootstrap, as the bench reads it
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")).resolve()
    flags = [f"--remap-path-prefix={ROOT}=/ecs-redeploy", f"--remap-path-prefix={cargo_home}=/cargo"]
    env = {**os.environ, "RUSTFLAGS": " ".join(flags), "CARGO_TARGET_DIR": str(target_dir)}
    run(["cargo", "lambda", "build", "--release", ARCHS[arch], "--bin", "ecs-redeploy", "--lambda-dir", lambda_dir],
        cwd=ROOT, env=env)
    write_zip(lambda_dir / "ecs-redeploy" / "bootstrap", Path(out))


def write_zip(binary, out):
    out.parent.mkdir(parents=True, exist_ok=True)
    entry = zipfile.ZipInfo("bootstrap", date_time=ZIP_TIME)
    entry.external_attr = ZIP_MODE
    entry.create_system = 3  # Unix, so that the mode is read
    entry.compress_type = zipfile.ZIP_DEFLATED
    partial = out.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as z:
        z.writestr(entry, binary.read_bytes(), compresslevel=9)
    partial.replace(out)
    print(f"{out}: {out.stat().st_size} bytes, sha256 {sha256(out)}")


def same(first, second):
    a, b = Path(first).read_bytes(), Path(second).read_bytes()
    if a != b:
        fail(f"{first} and {second} differ: the build is not reproducible "
             f"({sha256(first)} != {sha256(second)})")
    print(f"reproducible: {first} and {second} are the same {len(a)} bytes")


# --- assemble ----------------------------------------------------------------------------------------------------

def sar_metadata(package):
    """AWS::ServerlessRepo::Application, from the crate's metadata. ReadmeUrl is a path next to the template:
    `sam package` uploads it (and the code) before `sam publish`."""
    return {
        "Name": "ecs-redeploy",
        "Description": package["description"],
        "Author": "ecs-redeploy-maintainers",
        "SpdxLicenseId": package["license"],
        "ReadmeUrl": "README.md",
        "Labels": ["ecs", "ecr", "redeploy", "continuous-deployment", "lambda", "rust"],
        "HomePageUrl": package["homepage"],
        "SemanticVersion": package["version"],
        "SourceCodeUrl": package["repository"],
    }


def packaged_template(source, ver):
    """template.yaml with the function's code taken from S3: CodeBucket, and the key of the zip of the chosen
    Architecture (its name holds the architecture, so Architecture=x86_64 deploys the x86_64 zip and nothing
    else; a bucket without that zip is refused by Lambda at deploy). The cargo-lambda build step goes."""
    template = json.loads(json.dumps(source))  # a deep copy
    parameters = template["Parameters"]
    assert parameters["Architecture"]["AllowedValues"] == list(ARCHS), parameters["Architecture"]
    parameters["Architecture"]["Description"] = (
        "Instruction set of the function; it also chooses the zip: "
        f"ecs-redeploy-{ver}-<Architecture>.zip in CodeBucket.")
    parameters["CodeBucket"] = {
        "Type": "String", "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        "ConstraintDescription": "an S3 bucket name",
        "Description": f"S3 bucket, in this stack's Region, holding ecs-redeploy-{ver}-<Architecture>.zip "
                       "(from the release's files) under CodeKeyPrefix."}
    parameters["CodeKeyPrefix"] = {
        "Type": "String", "Default": "", "AllowedPattern": "^([^/].*/)?$",
        "ConstraintDescription": "empty, or a key prefix ending in /",
        "Description": "Key prefix of the zip in CodeBucket: empty, or ending in /."}
    template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"].append(
        {"Label": {"default": "Function code"}, "Parameters": ["CodeBucket", "CodeKeyPrefix"]})
    function = template["Resources"]["RedeployFunction"]
    function["Properties"]["CodeUri"] = {
        "Bucket": {"Ref": "CodeBucket"},
        "Key": {"Fn::Sub": f"${{CodeKeyPrefix}}ecs-redeploy-{ver}-${{Architecture}}.zip"}}
    metadata = function.get("Metadata", {})
    metadata.pop("BuildMethod", None)
    metadata.pop("BuildProperties", None)
    if not metadata:
        function.pop("Metadata", None)
    template["Metadata"]["AWS::ServerlessRepo::Application"] = sar_metadata(crate())
    return template


def sar_template(packaged, arch, ver):
    """The template to publish to the Serverless Application Repository for one architecture: SAR copies the code
    when a version is published, so the code is one zip (a path that `sam package` uploads), not a bucket
    parameter, and Architecture is pinned to it (only value and default), as the Makefile's PIN_ARCHITECTURE pins
    a build. One application per architecture."""
    template = json.loads(json.dumps(packaged))
    parameters = template["Parameters"]
    for name in ("CodeBucket", "CodeKeyPrefix"):
        del parameters[name]
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    groups[:] = [g for g in groups if g["Label"]["default"] != "Function code"]
    parameters["Architecture"].update({
        "Default": arch, "AllowedValues": [arch], "Description": "Instruction set of the function.",
        "ConstraintDescription": f"this application holds an {arch} bootstrap"})
    template["Resources"]["RedeployFunction"]["Properties"]["CodeUri"] = f"../{zip_name(arch)}"
    metadata = template["Metadata"]["AWS::ServerlessRepo::Application"]
    metadata["Name"] = f"ecs-redeploy-{arch.replace('_', '-')}"
    metadata["ReadmeUrl"] = "../README.md"
    return template


# What the Serverless Application Repository accepts (CreateApplication in its API reference).
SAR_PATTERNS = {
    "Name": r"[a-zA-Z0-9-]{1,140}",
    "Author": r"[a-z0-9](?:[a-z0-9]|-(?!-)){0,125}[a-z0-9]|[a-z0-9]",
    "SemanticVersion": r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?",
    "HomePageUrl": r"https://\S+",
    "SourceCodeUrl": r"https://\S+",
}
SAR_LABEL = r"[a-zA-Z0-9+\-_:/@]{1,127}"


def check_sar_metadata(template, template_dir, ver):
    """The metadata `sam publish` reads, validated as it validates it (samcli's serverlessrepo parser, with the
    properties CreateApplication requires), and each field's value against what the API accepts."""
    from samcli.vendor.serverlessrepo.parser import get_app_metadata

    app = get_app_metadata(template)
    app.validate(["name", "description", "author", "semantic_version"])
    fields = template["Metadata"]["AWS::ServerlessRepo::Application"]
    for name, pattern in SAR_PATTERNS.items():
        if not re.fullmatch(pattern, str(fields.get(name, ""))):
            fail(f"ServerlessRepo {name} {fields.get(name)!r} does not match {pattern}")
    if not 1 <= len(fields["Description"]) <= 256:
        fail("ServerlessRepo Description must be 1-256 characters")
    labels = fields.get("Labels", [])
    if len(labels) > 10 or not all(re.fullmatch(SAR_LABEL, label) for label in labels):
        fail(f"ServerlessRepo Labels: at most 10, each {SAR_LABEL}: {labels}")
    if fields["SemanticVersion"] != ver:
        fail(f"ServerlessRepo SemanticVersion {fields['SemanticVersion']} is not the crate's {ver}")
    if not fields.get("SpdxLicenseId"):
        fail("ServerlessRepo SpdxLicenseId missing")
    if not (template_dir / fields["ReadmeUrl"]).resolve().is_file():
        fail(f"ServerlessRepo ReadmeUrl {fields['ReadmeUrl']} is not a file next to the template")


def check_versions(ver):
    package = json.loads((CDK / "package.json").read_text())
    if package["version"] != ver:
        fail(f"cdk/package.json version {package['version']} is not the crate's version {ver} (Cargo.toml)")
    if package.get("private"):
        fail("cdk/package.json is private: npm would refuse to publish it")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    if not re.search(rf"^## \[{re.escape(ver)}\]", changelog, re.M):
        fail(f"CHANGELOG.md has no entry '## [{ver}]'")


def npm_pack(dist, archs, ver):
    """The construct's npm package, carrying exactly DIST's zips (cdk/assets is emptied first, so a zip of an
    earlier build cannot slip in) and a fresh build of its JavaScript (prepack)."""
    assets = CDK / "assets"
    shutil.rmtree(assets, ignore_errors=True)
    assets.mkdir()
    for arch in archs:
        shutil.copyfile(dist / zip_name(arch), assets / f"ecs-redeploy-{arch}.zip")
    shutil.rmtree(CDK / "build", ignore_errors=True)
    run(["npm", "run", "--silent", "build"], cwd=CDK)
    out = subprocess.run(["npm", "pack", "--json", "--pack-destination", dist.resolve()], cwd=CDK, check=True,
                         capture_output=True, text=True).stdout
    [packed] = json.loads(out)
    tarball = dist / packed["filename"]
    if packed["filename"] != f"ecs-redeploy-cdk-{ver}.tgz":
        fail(f"npm pack wrote {packed['filename']}")
    files = sorted(f["path"] for f in packed["files"])
    want = {f"assets/ecs-redeploy-{arch}.zip" for arch in archs} | {"build/index.js", "build/index.d.ts",
                                                                     "package.json"}
    if not want <= set(files) or any(p.startswith(("lib/", "test/", "bin/")) for p in files):
        fail(f"{tarball} holds {files}")
    print(f"{tarball}: {len(files)} files")
    return tarball


def assemble(dist, archs, checkov):
    from samcli.yamlhelper import yaml_dump, yaml_parse

    ver = version()
    check_versions(ver)
    dist = Path(dist)
    for arch in archs:
        if not (dist / zip_name(arch)).is_file():
            fail(f"{dist / zip_name(arch)} is missing: build it first (package.py bootstrap)")
    source = yaml_parse((ROOT / "template.yaml").read_text())
    template = packaged_template(source, ver)
    (dist / "template.packaged.yaml").write_text(yaml_dump(template))
    shutil.copyfile(ROOT / "registry" / "template.yaml", dist / "registry-template.yaml")
    shutil.copyfile(ROOT / "README.md", dist / "README.md")
    sar = []
    for arch in archs:
        (dist / f"sar-{arch}").mkdir(exist_ok=True)
        sar.append(dist / f"sar-{arch}" / "template.yaml")
        sar[-1].write_text(yaml_dump(sar_template(template, arch, ver)))
    tarball = npm_pack(dist, archs, ver)
    sums = [zip_name(a) for a in archs] + ["template.packaged.yaml", "registry-template.yaml", tarball.name]
    (dist / "SHA256SUMS").write_text("".join(f"{sha256(dist / n)}  {n}\n" for n in sums))

    packaged = dist / "template.packaged.yaml"
    for t in [packaged, *sar]:
        check_sar_metadata(yaml_parse(t.read_text()), t.parent, ver)
    run(["cfn-lint", packaged, dist / "registry-template.yaml", *sar])
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    for t in (packaged, dist / "registry-template.yaml", *sar):
        run(["sam", "validate", "--lint", "-t", t], env=env)
    if checkov:
        run([checkov, "--skip-download", "--framework", "cloudformation", "--compact", "--quiet", "-f", packaged],
            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"})
    print(f"{dist}: ecs-redeploy {ver} for {', '.join(archs)}")


# --- prove -------------------------------------------------------------------------------------------------------

def check_sums(dist):
    lines = (dist / "SHA256SUMS").read_text().splitlines()
    if not lines:
        fail("SHA256SUMS is empty")
    for line in lines:
        digest, name = line.split("  ", 1)
        actual = sha256(dist / name)
        if actual != digest:
            fail(f"{dist / name}: sha256 {actual}, SHA256SUMS says {digest}")
    zips = [line.split("  ", 1)[1] for line in lines if line.endswith(".zip")]
    if not zips:
        fail("SHA256SUMS lists no bootstrap zip")
    print(f"SHA256SUMS: {len(lines)} files match ({', '.join(zips)})")
    return dict(reversed(line.split("  ", 1)) for line in lines)


APP = """\
import { App, Stack } from 'aws-cdk-lib';
import { EcsRedeploy } from 'ecs-redeploy-cdk';

const app = new App();
new EcsRedeploy(new Stack(app, 'Proof'), 'EcsRedeploy', { clusters: ['production'], serviceSelection: 'opted-in' });
"""


def locked_versions(*names):
    """The versions cdk/package-lock.json pins, so that the throwaway app uses what the repository tests with."""
    packages = json.loads((CDK / "package-lock.json").read_text())["packages"]
    return {name: packages[f"node_modules/{name}"]["version"] for name in names}


def no_cargo_path():
    """PATH with node and npm, and no cargo or cargo-lambda."""
    node = Path(shutil.which("node")).parent
    path = os.pathsep.join(dict.fromkeys([str(node), "/usr/bin", "/bin"]))
    for tool in ("cargo", "cargo-lambda", "rustc"):
        if shutil.which(tool, path=path):
            fail(f"{tool} is on {path}: the proof needs a PATH without a Rust toolchain")
    return path


def prove(dist):
    dist = Path(dist).resolve()
    sums = check_sums(dist)
    [tarball] = [n for n in sums if n.endswith(".tgz")]
    [arm64_zip] = [n for n in sums if n.endswith("-arm64.zip")]
    app = Path(tempfile.mkdtemp(prefix="ecs-redeploy-cdk-app-"))
    try:
        pins = locked_versions("aws-cdk-lib", "constructs", "aws-cdk", "typescript", "@types/node")
        (app / "package.json").write_text(json.dumps({
            "name": "proof-app", "private": True,
            "dependencies": {"ecs-redeploy-cdk": f"file:{dist / tarball}", "aws-cdk-lib": pins["aws-cdk-lib"],
                             "constructs": pins["constructs"]},
            "devDependencies": {k: pins[k] for k in ("aws-cdk", "typescript", "@types/node")},
        }, indent=2))
        (app / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
            "target": "ES2022", "module": "commonjs", "strict": True, "skipLibCheck": True, "types": ["node"]}}))
        (app / "app.ts").write_text(APP)
        (app / "cdk.json").write_text(json.dumps({"app": "node app.js"}))
        env = {**os.environ, "PATH": no_cargo_path(), "CDK_DISABLE_CLI_TELEMETRY": "true"}
        for name in ("CARGO_HOME", "RUSTUP_HOME", "CARGO_TARGET_DIR"):
            env.pop(name, None)
        # The npm cache holds what cdk/'s npm ci fetched: the same versions come from it, the rest from the registry.
        run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], cwd=app, env=env)
        run(["npx", "tsc", "-p", "."], cwd=app, env=env)
        run(["npx", "cdk", "synth", "--no-notices", "-q"], cwd=app, env=env)
        template = json.loads((app / "cdk.out" / "Proof.template.json").read_text())
        [function] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
        key = function["Properties"]["Code"]["S3Key"]
        staged = app / "cdk.out" / f"asset.{key}"
        if function["Properties"]["Architectures"] != ["arm64"] or sha256(staged) != sums[arm64_zip]:
            fail(f"the synthesized function's code {staged} is not {arm64_zip}")
        print(f"proof: a CDK app without cargo synthesized {tarball}; its function's code is {arm64_zip}")
    finally:
        shutil.rmtree(app, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bootstrap")
    p.add_argument("arch", choices=list(ARCHS))
    p.add_argument("zip")
    p.add_argument("--target-dir", default=str(ROOT / "target"))
    p = sub.add_parser("assemble")
    p.add_argument("dist")
    p.add_argument("archs", nargs="+", choices=list(ARCHS))
    p.add_argument("--checkov")
    p = sub.add_parser("same")
    p.add_argument("first")
    p.add_argument("second")
    p = sub.add_parser("prove")
    p.add_argument("dist")
    args = parser.parse_args()
    if args.command == "bootstrap":
        bootstrap(args.arch, args.zip, args.target_dir)
    elif args.command == "assemble":
        assemble(args.dist, args.archs, args.checkov)
    elif args.command == "same":
        same(args.first, args.second)
    else:
        prove(args.dist)


if __name__ == "__main__":
    main()
