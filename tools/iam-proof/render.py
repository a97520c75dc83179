"""The role policies and the function's environment of the stack, for the IAM proof (prove.mjs).

  render.py sam template.yaml OUT.json     template.yaml translated by samtranslator, as `make stackset-template`
                                           translates it, and resolved for each parameter set of SAM_SETS
  render.py cdk SYNTH.json OUT.json        the templates synth_cdk.ts synthesized, resolved the same way

Resolving is CloudFormation's own job; here it is done offline for one account and Region (ACCOUNT, REGION):
parameters (defaults, then the set's values), conditions, Ref, Fn::If/Sub/Join/Split/Select/GetAtt/Equals/Not/
And/Or, AWS::NoValue. A resource's Ref is its logical id (the physical name CloudFormation would choose), its Arn
the ARN of that name. An intrinsic this does not know stops the render: nothing is guessed.
"""

import copy
import json
import os
import re
import sys

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"

# The parameter sets the proof evaluates: the defaults, and one per group of IAM-relevant parameters. The
# RepositoryFilter and Clusters values are those the tests use (tests/integration, tests/e2e): requests in other
# repositories and clusters are in the negative set.
SAM_SETS = {
    "sam-defaults": {},
    "sam-scoped-opted-in-pin": {
        "Clusters": "shop,prod",
        "ServiceSelection": "opted-in",
        "RepositoryFilter": "app,team-a/*",
        "NewRevisions": "Enabled",
    },
    "sam-scoped-matching": {"Clusters": "shop,prod", "NewRevisions": "Enabled"},
    "sam-dry-run": {"RunMode": "DryRun", "NewRevisions": "Enabled"},
    "sam-no-notifications-no-lock": {"Notifications": "Disabled", "DeployLock": "Disabled"},
    "sam-no-functions": {"LambdaFunctions": "Disabled"},
}


class Unknown(Exception):
    pass


def arn_of(logical_id, resource):
    kind = resource["Type"]
    if kind == "AWS::DynamoDB::Table":
        return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{logical_id}"
    if kind == "AWS::Logs::LogGroup":
        return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{logical_id}:*"
    if kind == "AWS::SQS::Queue":
        return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{logical_id}"
    if kind == "AWS::Events::EventBus":
        return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/{logical_id}"
    if kind == "AWS::IAM::Role":
        return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{logical_id}"
    raise Unknown(f"the ARN of a {kind} ({logical_id})")


class Resolver:
    def __init__(self, template, values):
        self.template = template
        self.refs = {
            "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "ecs-redeploy",
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/ecs-redeploy/0000",
        }
        for name, parameter in template.get("Parameters", {}).items():
            value = values.get(name, parameter.get("Default", ""))
            if parameter["Type"] == "CommaDelimitedList":
                value = value.split(",") if isinstance(value, str) else value
            self.refs[name] = value
        unknown = set(values) - set(template.get("Parameters", {}))
        assert not unknown, f"no such parameter: {unknown}"
        self.conditions = {}
        for name in template.get("Conditions", {}):
            self.condition(name)

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def value(self, node):
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                if arg in self.refs:
                    return self.refs[arg]
                if arg in self.template["Resources"]:
                    return arg
                raise Unknown(f"Ref {arg}")
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                if attribute != "Arn":
                    raise Unknown(f"Fn::GetAtt {logical_id}.{attribute}")
                return arn_of(logical_id, self.template["Resources"][logical_id])
            if key == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                variables = {k: self.value(v) for k, v in variables.items()}

                def sub(match):
                    name = match.group(1)
                    if name in variables:
                        return str(variables[name])
                    if "." in name:
                        return str(self.value({"Fn::GetAtt": name.split(".", 1)}))
                    return str(self.value({"Ref": name}))

                return re.sub(r"\$\{([^!}][^}]*)\}", sub, text)
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(i) for i in self.value(items))
            if key == "Fn::Split":
                delimiter, text = arg
                return self.value(text).split(delimiter)
            if key == "Fn::Select":
                index, items = arg
                return self.value(items)[int(self.value(index))]
            if key == "Fn::Equals":
                a, b = (self.value(v) for v in arg)
                return a == b
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(v) for v in arg)
            if key == "Fn::Or":
                return any(self.value(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise Unknown(key)
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}


NO_VALUE = object()


def function_and_role(template):
    [(function_id, function)] = [
        (k, r) for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and "Environment" in r["Properties"]]
    role = function["Properties"]["Role"]
    assert list(role) == ["Fn::GetAtt"], role
    role_id = role["Fn::GetAtt"][0] if isinstance(role["Fn::GetAtt"], list) else role["Fn::GetAtt"].split(".")[0]
    return function_id, role_id


def render(template, values, name, source):
    resolver = Resolver(template, values)
    function_id, role_id = function_and_role(template)
    present = lambda r: "Condition" not in r or resolver.condition(r["Condition"])
    role = template["Resources"][role_id]
    policies = [resolver.value(p) for p in role["Properties"].get("Policies", [])]
    policies = [p for p in policies if p is not NO_VALUE]
    # Policies attached to the role elsewhere (the CDK's RoleDefaultPolicy).
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy" and present(resource):
            properties = resolver.value(resource["Properties"])
            if role_id in properties.get("Roles", []):
                policies.append({"PolicyName": properties["PolicyName"], "PolicyDocument": properties["PolicyDocument"]})
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and present(resource):
            raise Unknown(f"managed policy {logical_id}")
    managed = resolver.value(role["Properties"].get("ManagedPolicyArns", []))
    assert not managed, f"{name}: the role has managed policies, which the proof cannot read: {managed}"
    environment = resolver.value(template["Resources"][function_id]["Properties"]["Environment"]["Variables"])
    lock_table = environment.get("LOCK_TABLE")
    # WAVE_QUEUE is the stack's own event queue (a Ref, resolved to its logical id): its ARN, as SendMessage names it.
    wave_queue = environment.get("WAVE_QUEUE")
    wave_queue_arn = wave_queue and arn_of(wave_queue, template["Resources"][wave_queue])
    return {
        "name": name,
        "source": source,
        "environment": environment,
        "lockTableArn": lock_table and f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{lock_table}",
        "waveQueueArn": wave_queue_arn,
        "repositories": [r for r in str(values.get("RepositoryFilter", "")).split(",") if r],
        "policies": [{"name": p["PolicyName"], "policy": p["PolicyDocument"]} for p in policies],
    }


def translated_sam(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    with open(path) as f:
        template = yaml_parse(f.read())
    # As `make stackset-template`: the code from S3, so that the translation needs no local build.
    template["Resources"]["RedeployFunction"]["Properties"]["CodeUri"] = {"Bucket": "code", "Key": "bootstrap.zip"}

    class NoManagedPolicies:
        def load(self):
            raise AssertionError("the template names a managed policy, which would need IAM to translate")

    return transform(copy.deepcopy(template), {}, NoManagedPolicies())


def main():
    kind, source, target = sys.argv[1:]
    if kind == "sam":
        template = translated_sam(source)
        sets = [render(template, values, name, "template.yaml") for name, values in SAM_SETS.items()]
        for s, values in zip(sets, SAM_SETS.values()):
            s["parameters"] = values
    else:
        with open(source) as f:
            synthesized = json.load(f)
        sets = []
        for entry in synthesized:
            s = render(entry["template"], {}, entry["name"], "cdk/lib/ecs-redeploy.ts")
            s["repositories"] = entry.get("repositories", [])
            s["parameters"] = entry["props"]
            sets.append(s)
    with open(target, "w") as f:
        json.dump(sets, f, indent=1)
    print(f"iam-proof: rendered {len(sets)} policy sets of {source} to {target}")


if __name__ == "__main__":
    main()
