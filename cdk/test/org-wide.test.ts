// The cross-account path: the registry account's EcrPushForwarder (the same filter as the workload rule, one rule,
// role and dead-letter queue per target account) and the workload side's bus policy (sourceAccounts or
// sourceOrganization). registry/template.yaml is checked against template.yaml by `make lint-template`.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cfninc from 'aws-cdk-lib/cloudformation-include';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EcrPushForwarder, EcrPushForwarderProps, EcsRedeploy, EcsRedeployProps } from '../lib';

type Json = any;

const accounts = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1).padStart(12, '0'));

function forwarderTemplate(props: EcrPushForwarderProps): Json {
  const stack = new Stack(new App(), 'Registry', { env: { account: '999999999999', region: 'eu-west-1' } });
  new EcrPushForwarder(stack, 'Forwarder', props);
  return Template.fromStack(stack).toJSON();
}

function workloadTemplate(props: EcsRedeployProps = {}): Json {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Workload', { env: { account: '123456789012', region: 'eu-west-1' } });
  new EcsRedeploy(stack, 'EcsRedeploy', props);
  return Template.fromStack(stack).toJSON();
}

function ofType(template: Json, type: string): [string, Json][] {
  return Object.entries<Json>(template.Resources).filter(([, r]) => r.Type === type);
}

/** An ARN as CDK renders it (`Fn::Join` with the partition's `Ref`), as text in the aws partition. */
function arn(value: Json): string {
  if (typeof value === 'string') return value;
  const [separator, parts] = value['Fn::Join'];
  return parts.map((p: Json) => (p.Ref === 'AWS::Partition' ? 'aws' : p)).join(separator);
}

/** `{"Fn::GetAtt": [id, attribute]}` or `{"Ref": id}`: the logical id it names. */
const named = (value: Json): string => value['Fn::GetAtt']?.[0] ?? value.Ref;

function refuses(props: EcrPushForwarderProps): string | undefined {
  try {
    forwarderTemplate(props);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('EcrPushForwarder', () => {
  for (const count of [1, 5, 12]) {
    test(`${count} target account(s): one rule each, to that account's default bus, with its own role and DLQ`, () => {
      const template = forwarderTemplate({ targetAccounts: accounts(count) });
      const rules = ofType(template, 'AWS::Events::Rule');
      const roles = Object.fromEntries(ofType(template, 'AWS::IAM::Role'));
      const queues = Object.fromEntries(ofType(template, 'AWS::SQS::Queue'));
      const queuePolicies = ofType(template, 'AWS::SQS::QueuePolicy').map(([, p]) => p.Properties);
      assert.equal(rules.length, count);
      assert.equal(Object.keys(roles).length, count);
      assert.equal(Object.keys(queues).length, count);
      assert.equal(queuePolicies.length, count);
      // The template's count, against CloudFormation's 500 resources per stack: 4 per account.
      assert.equal(Object.keys(template.Resources).length, 4 * count);
      const targeted = rules.map(([id, rule]) => {
        const targets: Json[] = rule.Properties.Targets;
        assert.equal(targets.length, 1, id);
        const [target] = targets;
        assert.deepEqual(target.RetryPolicy, { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 });
        const account = arn(target.Arn).split(':')[4];
        assert.equal(arn(target.Arn), `arn:aws:events:eu-west-1:${account}:event-bus/default`);

        // The role: assumed by EventBridge for rules of this account only, PutEvents on this bus only.
        const role = roles[named(target.RoleArn)].Properties;
        assert.deepEqual(role.AssumeRolePolicyDocument.Statement, [{
          Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': '999999999999' } },
        }]);
        const statements = role.Policies.flatMap((p: Json) => p.PolicyDocument.Statement);
        assert.deepEqual(statements, [{ Sid: 'PutEventsOnWorkloadBus', Action: 'events:PutEvents', Effect: 'Allow', Resource: target.Arn }]);
        assert.equal(role.ManagedPolicyArns, undefined);

        // The DLQ: SSE-SQS, 14 days, admitting this rule only, TLS only.
        const queueId = named(target.DeadLetterConfig.Arn);
        assert.equal(queues[queueId].Properties.SqsManagedSseEnabled, true);
        assert.equal(queues[queueId].Properties.MessageRetentionPeriod, 14 * 24 * 3600);
        const [policy] = queuePolicies.filter((p) => named(p.Queues[0]) === queueId);
        const allows = policy.PolicyDocument.Statement.filter((s: Json) => s.Effect === 'Allow');
        assert.equal(allows.length, 1);
        assert.deepEqual(allows[0].Principal, { Service: 'events.amazonaws.com' });
        assert.equal(allows[0].Action, 'sqs:SendMessage');
        assert.equal(named(allows[0].Condition.ArnEquals['aws:SourceArn']), id);
        const deny = policy.PolicyDocument.Statement.find((s: Json) => s.Effect === 'Deny');
        assert.deepEqual(deny.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
        return account;
      });
      assert.deepEqual(targeted.sort(), accounts(count));
    });
  }

  test('targetRegion moves every target bus (and its role) to that Region', () => {
    const template = forwarderTemplate({ targetAccounts: accounts(2), targetRegion: 'us-east-2' });
    for (const [, rule] of ofType(template, 'AWS::Events::Rule')) {
      assert.match(arn(rule.Properties.Targets[0].Arn), /^arn:aws:events:us-east-2:\d{12}:event-bus\/default$/);
    }
    for (const [, role] of ofType(template, 'AWS::IAM::Role')) {
      assert.match(arn(role.Properties.Policies[0].PolicyDocument.Statement[0].Resource), /^arn:aws:events:us-east-2:/);
    }
  });

  test("each rule's filter is the workload rule's, for the same repositories and replication setting", () => {
    const cases: EcsRedeployProps[] = [
      {},
      { repositories: ['web'] },
      { repositories: ['team-a/*', 'web'], replicatedImages: 'Redeploy' },
      { replicatedImages: 'Ignore' },
    ];
    for (const props of cases) {
      const [[, workloadRule]] = ofType(workloadTemplate(props), 'AWS::Events::Rule');
      const rules = ofType(forwarderTemplate({ targetAccounts: accounts(3), repositories: props.repositories,
        replicatedImages: props.replicatedImages }), 'AWS::Events::Rule');
      for (const [id, rule] of rules) {
        assert.deepEqual(rule.Properties.EventPattern, workloadRule.Properties.EventPattern, `${id} ${JSON.stringify(props)}`);
        assert.equal(rule.Properties.EventBusName, undefined, 'the default bus, where ECR puts its events');
      }
    }
  });

  test('refuses no target, malformed or repeated accounts, a malformed Region, and the repository filters the workload refuses', () => {
    assert.match(refuses({ targetAccounts: [] }) ?? '', /targetAccounts is empty/);
    for (const bad of ['12345678901', '1234567890123', 'arn:aws:iam::123456789012:root', '123456789012:eu-west-1', '']) {
      assert.match(refuses({ targetAccounts: [bad] }) ?? '', /is not a 12-digit account ID/, bad);
    }
    assert.match(refuses({ targetAccounts: ['111111111111', '222222222222', '111111111111'] }) ?? '',
      /lists 111111111111 more than once/);
    assert.match(refuses({ targetAccounts: accounts(1), targetRegion: 'Europe' }) ?? '', /targetRegion "Europe"/);
    assert.match(refuses({ targetAccounts: accounts(1), repositories: ['team-a/**'] }) ?? '', /consecutive \*/);
    assert.match(refuses({ targetAccounts: accounts(1), repositories: Array.from({ length: 100 }, (_, i) => `repository-${i}`) }) ?? '',
      /event pattern would be \d+ characters, above EventBridge's default quota of 2048/);
    assert.match(refuses({ targetAccounts: accounts(1), replicatedImages: 'yes' as never }) ?? '', /replicatedImages/);
  });

  for (const count of [1, 12]) {
    test(`cdk-nag AwsSolutions passes with ${count} target account(s)`, () => {
      const app = new App();
      new EcrPushForwarder(new Stack(app, 'Nag'), 'Forwarder', {
        targetAccounts: accounts(count), repositories: ['team-a/*'], replicatedImages: 'Redeploy',
      });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      app.synth();
    });
  }
});

describe('EcsRedeploy sourceAccounts / sourceOrganization', () => {
  const bus = 'arn:aws:events:eu-west-1:123456789012:event-bus/default';
  const ecrOnly = {
    'ForAllValues:StringEquals': { 'events:source': ['aws.ecr'] },
    StringEquals: { 'events:detail-type': ['ECR Image Action', 'ECR Replication Action'] },
  };
  const busPolicies = (template: Json) => ofType(template, 'AWS::Events::EventBusPolicy').map(([, p]) => p.Properties);

  test('no bus policy without either', () => {
    assert.deepEqual(busPolicies(workloadTemplate()), []);
  });

  test('accounts: PutEvents on the default bus for those accounts, ECR push events only', () => {
    const [policy, ...others] = busPolicies(workloadTemplate({ sourceAccounts: ['111111111111', '222222222222'] }));
    assert.deepEqual(others, []);
    assert.equal(policy.EventBusName, 'default');
    assert.match(policy.StatementId, /^ecs-redeploy-accounts-[0-9a-f]{42}$/);
    assert.equal(arn(policy.Statement.Resource), bus);
    assert.deepEqual({ ...policy.Statement, Resource: bus }, {
      Effect: 'Allow', Principal: { AWS: ['111111111111', '222222222222'] }, Action: 'events:PutEvents', Resource: bus,
      Condition: ecrOnly,
    });
  });

  test('organization: any principal of that organization (aws:PrincipalOrgID), ECR push events only', () => {
    const [policy, ...others] = busPolicies(workloadTemplate({ sourceOrganization: 'o-a1b2c3d4e5' }));
    assert.deepEqual(others, []);
    assert.match(policy.StatementId, /^ecs-redeploy-org-[0-9a-f]{42}$/);
    assert.ok(policy.StatementId.length <= 64);
    assert.equal(arn(policy.Statement.Resource), bus);
    assert.deepEqual({ ...policy.Statement, Resource: bus }, {
      Effect: 'Allow', Principal: '*', Action: 'events:PutEvents', Resource: bus,
      Condition: { ...ecrOnly, StringEquals: { ...ecrOnly.StringEquals, 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } },
    });
  });

  test('both: one statement each; the rule, queue and role do not change', () => {
    const plain = workloadTemplate();
    const both = workloadTemplate({ sourceAccounts: ['111111111111'], sourceOrganization: 'o-a1b2c3d4e5' });
    assert.equal(busPolicies(both).length, 2);
    const withoutPolicies = (t: Json) => Object.fromEntries(Object.entries<Json>(t.Resources).filter(([, r]) => r.Type !== 'AWS::Events::EventBusPolicy'));
    assert.deepEqual(withoutPolicies(both), withoutPolicies(plain));
  });

  test('refuses what the template refuses', () => {
    for (const bad of ['12345678901', 'arn:aws:iam::111111111111:root', '', '111111111111,222222222222']) {
      assert.throws(() => workloadTemplate({ sourceAccounts: [bad] }), /sourceAccounts: ".*" is not a 12-digit account ID/, bad);
    }
    for (const bad of ['o-short', 'r-a1b2c3d4e5', 'O-A1B2C3D4E5', '']) {
      assert.throws(() => workloadTemplate({ sourceOrganization: bad }), /sourceOrganization ".*" is not an organization ID/, bad);
    }
  });

  test('cdk-nag AwsSolutions passes with both', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    new EcsRedeploy(new Stack(app, 'Nag'), 'EcsRedeploy', { sourceAccounts: ['111111111111'], sourceOrganization: 'o-a1b2c3d4e5' });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
  });
});

describe('template.yaml SourceAccounts / SourceOrganization', () => {
  const stack = new Stack(new App(), 'Sam');
  new cfninc.CfnInclude(stack, 'Template', { templateFile: path.join(__dirname, '..', '..', 'template.yaml') });
  const sam = Template.fromStack(stack).toJSON();
  const construct = workloadTemplate({ sourceAccounts: ['111111111111'], sourceOrganization: 'o-a1b2c3d4e5' });
  const constructPolicy = (id: string) => ofType(construct, 'AWS::Events::EventBusPolicy').find(([key]) => key.includes(id))![1];
  /** CloudFormation's AllowedPattern check, on each element of a CommaDelimitedList. */
  const accepts = (name: string, value: string) =>
    (sam.Parameters[name].Type === 'CommaDelimitedList' ? value.split(',') : [value])
      .every((v) => new RegExp(sam.Parameters[name].AllowedPattern).test(v));

  test('each policy exists only with its parameter, and grants what the construct grants', () => {
    for (const [id, condition, parameter] of [['SourceAccountsBusPolicy', 'HasSourceAccounts', 'SourceAccounts'],
      ['SourceOrganizationBusPolicy', 'HasSourceOrganization', 'SourceOrganization']]) {
      const policy = sam.Resources[id];
      assert.equal(policy.Condition, condition, id);
      assert.equal(sam.Parameters[parameter].Default, '', parameter);
      assert.equal(policy.Properties.EventBusName, 'default');
      // Principals and the bus ARN are references in one and values in the other; the rest is the same.
      const { Principal, Resource, ...rest } = policy.Properties.Statement;
      const { Principal: constructPrincipal, Resource: constructResource, ...constructRest } = constructPolicy(id).Properties.Statement;
      // The organization is the parameter in one and the prop's value in the other.
      const valued = JSON.parse(JSON.stringify(rest).replace('{"Ref":"SourceOrganization"}', '"o-a1b2c3d4e5"'));
      assert.deepEqual(valued, constructRest, id);
      assert.deepEqual(Resource, { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default' });
      assert.equal(arn(constructResource), 'arn:aws:events:eu-west-1:123456789012:event-bus/default');
      assert.deepEqual(Principal, id === 'SourceAccountsBusPolicy' ? { AWS: { Ref: 'SourceAccounts' } } : '*');
      assert.deepEqual(constructPrincipal, id === 'SourceAccountsBusPolicy' ? { AWS: ['111111111111'] } : '*');
    }
    assert.deepEqual(sam.Conditions.HasSourceAccounts, { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', { Ref: 'SourceAccounts' }] }, ''] }] });
    assert.deepEqual(sam.Conditions.HasSourceOrganization, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'SourceOrganization' }, ''] }] });
    assert.ok(sam.Rules.SourceAccountsHaveNoEmptyEntry);
  });

  test('the parameters refuse what the construct refuses', () => {
    for (const bad of ['12345678901', 'arn:aws:iam::111111111111:root', '111111111111 ,222222222222']) {
      assert.ok(!accepts('SourceAccounts', bad), bad);
      assert.throws(() => workloadTemplate({ sourceAccounts: bad.split(',') }), /sourceAccounts/, bad);
    }
    for (const good of ['', '111111111111', '111111111111,222222222222']) assert.ok(accepts('SourceAccounts', good), good);
    for (const bad of ['o-short', 'r-a1b2c3d4e5', 'O-A1B2C3D4E5']) {
      assert.ok(!accepts('SourceOrganization', bad), bad);
      assert.throws(() => workloadTemplate({ sourceOrganization: bad }), /sourceOrganization/, bad);
    }
    for (const good of ['', 'o-a1b2c3d4e5']) assert.ok(accepts('SourceOrganization', good), good);
  });
});
