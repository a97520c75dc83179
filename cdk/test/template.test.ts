// Checks on the SAM template (../../template.yaml) that cfn-lint cannot make: values derived by hand (the
// visibility-timeout table), the delivery path, and that the template and the construct build the same rule
// pattern and use the same defaults.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cfninc from 'aws-cdk-lib/cloudformation-include';
import { EcsRedeploy, EcsRedeployProps, EVENT_PATTERN_SIZE_QUOTA, VISIBILITY_TIMEOUT_FACTOR } from '../lib';

type Json = any;

const TEMPLATE = path.join(__dirname, '..', '..', 'template.yaml');

/** template.yaml as JSON, short-form tags expanded (`!GetAtt A.B` may stay the string form `"A.B"`). */
function samTemplate(): Json {
  const stack = new Stack(new App(), 'Sam');
  new cfninc.CfnInclude(stack, 'Template', { templateFile: TEMPLATE });
  return Template.fromStack(stack).toJSON();
}

const sam = samTemplate();
const resources: Record<string, Json> = sam.Resources;
const parameters: Record<string, Json> = sam.Parameters;

/** `{"Fn::GetAtt": ...}` in either form, as `Resource.Attribute`. */
function getAtt(value: Json): string | undefined {
  const att = value?.['Fn::GetAtt'];
  return Array.isArray(att) ? att.join('.') : att;
}

function constructTemplate(props: EcsRedeployProps = {}): Json {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Construct');
  new EcsRedeploy(stack, 'EcsRedeploy', props);
  return Template.fromStack(stack).toJSON();
}

/** The rule of a construct's template that matches pushes (the other one schedules the sweep). */
function constructPushRule(template: Json): Json {
  const found = Object.entries<Json>(template.Resources).filter(([id, r]) => r.Type === 'AWS::Events::Rule' && id.startsWith('EcsRedeployEcrPushRule'));
  assert.equal(found.length, 1);
  return found[0][1];
}

/** The only resource of a type in a template. */
function only(template: Json, type: string): Json {
  const found = Object.values<Json>(template.Resources).filter((r) => r.Type === type);
  assert.equal(found.length, 1, type);
  return found[0];
}

/**
 * Evaluates the intrinsic functions the rule pattern uses (Ref to parameters, Fn::If, Fn::Join, Fn::Split, Fn::Sub,
 * and Fn::Equals / Fn::Not in conditions) for the given parameter values (defaults otherwise).
 */
function evaluate(node: Json, values: Record<string, string>): Json {
  const param = (name: string) => {
    assert.ok(name in parameters, `unknown parameter ${name}`);
    return name in values ? values[name] : String(parameters[name].Default);
  };
  const condition = (name: string): boolean => evaluate(sam.Conditions[name], values);
  const walk = (n: Json): Json => {
    if (Array.isArray(n)) return n.map(walk);
    if (n === null || typeof n !== 'object') return n;
    const [key] = Object.keys(n);
    const arg = n[key];
    switch (key) {
      case 'Ref': return param(arg);
      case 'Fn::If': return condition(arg[0]) ? walk(arg[1]) : walk(arg[2]);
      case 'Fn::Join': return (walk(arg[1]) as string[]).join(arg[0]);
      case 'Fn::Split': return (walk(arg[1]) as string).split(arg[0]);
      case 'Fn::Equals': return String(walk(arg[0])) === String(walk(arg[1]));
      case 'Fn::Not': return !walk(arg[0]);
      case 'Fn::Sub': {
        const [text, vars] = Array.isArray(arg) ? arg : [arg, {}];
        return (text as string).replace(/\$\{([^}]+)\}/g, (_, name: string) =>
          name in vars ? walk(vars[name]) : param(name));
      }
      default: return n;
    }
  };
  return walk(node);
}

describe('template.yaml', () => {
  test('the visibility-timeout table has one entry per allowed Timeout, each 6 x its key', () => {
    const table: Record<string, { Seconds: number }> = sam.Mappings.QueueVisibilityTimeout;
    const allowed: number[] = parameters.Timeout.AllowedValues.map(Number);
    assert.deepEqual(Object.keys(table).map(Number).sort((a, b) => a - b), [...allowed].sort((a, b) => a - b));
    for (const [timeout, { Seconds }] of Object.entries(table)) {
      assert.equal(Seconds, VISIBILITY_TIMEOUT_FACTOR * Number(timeout), `Timeout ${timeout}`);
      // The visibility timeout also covers the function timeout plus the longest batching window.
      assert.ok(Seconds >= Number(timeout) + parameters.BatchWindow.MaxValue, `Timeout ${timeout}`);
    }
    assert.ok(allowed.includes(Number(parameters.Timeout.Default)));
  });

  test("the event queue's visibility timeout is looked up by the function's Timeout", () => {
    assert.deepEqual(resources.RedeployFunction.Properties.Timeout, { Ref: 'Timeout' });
    assert.deepEqual(resources.EventQueue.Properties.VisibilityTimeout, {
      'Fn::FindInMap': ['QueueVisibilityTimeout', { Ref: 'Timeout' }, 'Seconds'],
    });
  });

  test('the rule puts events on the event queue, with a retry policy and its own dead-letter queue', () => {
    const targets = resources.EcrPushRule.Properties.Targets;
    assert.equal(targets.length, 1);
    assert.equal(getAtt(targets[0].Arn), 'EventQueue.Arn');
    assert.deepEqual(targets[0].RetryPolicy, { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 });
    assert.equal(getAtt(targets[0].DeadLetterConfig.Arn), 'UndeliveredEventQueue.Arn');
    // One delivery path: no invoke permission, no asynchronous-invoke configuration.
    const types = Object.values<Json>(resources).map((r) => r.Type);
    assert.ok(!types.includes('AWS::Lambda::Permission'));
    assert.ok(!('EventInvokeConfig' in resources.RedeployFunction.Properties));
  });

  test('the function consumes the event queue in batches, reporting partial failures', () => {
    const events = resources.RedeployFunction.Properties.Events;
    assert.deepEqual(Object.keys(events), ['PushEvents']);
    assert.equal(events.PushEvents.Type, 'SQS');
    const { Queue, ...properties } = events.PushEvents.Properties;
    assert.equal(getAtt(Queue), 'EventQueue.Arn');
    assert.deepEqual(properties, {
      BatchSize: { Ref: 'BatchSize' },
      MaximumBatchingWindowInSeconds: { Ref: 'BatchWindow' },
      ScalingConfig: { MaximumConcurrency: { Ref: 'MaxConcurrentBatches' } },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    assert.deepEqual(resources.EventQueue.Properties.RedrivePolicy.maxReceiveCount, { Ref: 'MaxReceiveCount' });
    assert.equal(getAtt(resources.EventQueue.Properties.RedrivePolicy.deadLetterTargetArn), 'EventDeadLetterQueue.Arn');
  });

  test('the role may consume the event queue and send only to it (the wake of a wave bake)', () => {
    const statements = resources.RedeployFunctionRole.Properties.Policies.flatMap((p: Json) =>
      p.PolicyDocument ? p.PolicyDocument.Statement : (p['Fn::If'] ?? []).slice(1).flatMap((b: Json) => b.PolicyDocument?.Statement ?? []),
    );
    const all = statements.filter((s: Json) => [s.Action].flat().some((a: unknown) => typeof a === 'string' && a.startsWith('sqs:')));
    const wake = all.filter((s: Json) => s.Sid === 'WakeAfterWaveBake');
    assert.equal(wake.length, 1);
    assert.deepEqual(wake[0].Action, 'sqs:SendMessage');
    assert.equal(getAtt(wake[0].Resource), 'EventQueue.Arn');
    const sqsStatements = all.filter((s: Json) => s.Sid !== 'WakeAfterWaveBake');
    assert.equal(sqsStatements.length, 1);
    assert.deepEqual([sqsStatements[0].Action].flat().sort(),
      ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage']);
    assert.equal(getAtt(sqsStatements[0].Resource), 'EventQueue.Arn');
  });

  test("queues: SSE-SQS, TLS only, kept unless a create fails; the event queue admits only this stack's rules", () => {
    const queues = Object.entries<Json>(resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue').map(([id]) => id).sort();
    assert.deepEqual(queues, ['EventDeadLetterQueue', 'EventQueue', 'UndeliveredEventQueue']);
    for (const id of queues) {
      const queue = resources[id];
      assert.equal(queue.Properties.SqsManagedSseEnabled, true, id);
      assert.equal(queue.DeletionPolicy, 'RetainExceptOnCreate', id);
      assert.equal(queue.UpdateReplacePolicy, 'Retain', id);
      const policy = resources[`${id}Policy`];
      assert.deepEqual(policy.Properties.Queues, [{ Ref: id }]);
      const statements: Json[] = policy.Properties.PolicyDocument.Statement;
      const deny = statements.find((s) => s.Effect === 'Deny');
      assert.deepEqual(deny.Condition, { Bool: { 'aws:SecureTransport': 'false' } }, id);
      assert.equal(getAtt(deny.Resource), `${id}.Arn`);
      // The conditional grants (sweep rule, deployment rule) are checked below.
      const allows = statements.filter((s) => s.Effect === 'Allow' && !('Fn::If' in s));
      if (id === 'EventDeadLetterQueue') {
        assert.deepEqual(allows, [], id);
        continue;
      }
      assert.equal(allows.length, 1, id);
      assert.deepEqual(allows[0].Principal, { Service: 'events.amazonaws.com' });
      assert.equal(allows[0].Action, 'sqs:SendMessage');
      assert.equal(getAtt(allows[0].Resource), `${id}.Arn`);
      assert.equal(getAtt(allows[0].Condition.ArnEquals['aws:SourceArn']), 'EcrPushRule.Arn');
    }
    assert.equal(resources.EventDeadLetterQueue.Properties.MessageRetentionPeriod, 14 * 24 * 3600);
    assert.equal(resources.UndeliveredEventQueue.Properties.MessageRetentionPeriod, 14 * 24 * 3600);
    assert.ok(resources.EventQueue.Properties.MessageRetentionPeriod < 14 * 24 * 3600);
    // The sweep rule's grant, there when the rule is; the deployment rule's (queue and its dead letters) with the table.
    const conditional = (queue: string) =>
      resources[`${queue}Policy`].Properties.PolicyDocument.Statement.filter((s: Json) => 'Fn::If' in s)
        .map((s: Json) => s['Fn::If']);
    const grants: [string, [string, string][]][] = [
      ['EventQueue', [['SweepScheduled', 'SweepRule.Arn'], ['DeployLockEnabled', 'EcsDeploymentRule.Arn']]],
      ['UndeliveredEventQueue', [['DeployLockEnabled', 'EcsDeploymentRule.Arn']]],
    ];
    for (const [queue, expected] of grants) {
      const found = conditional(queue);
      assert.equal(found.length, expected.length, queue);
      for (const [[condition, grant, otherwise], [wantCondition, wantRule]] of found.map((f: Json, i: number) => [f, expected[i]])) {
        assert.equal(condition, wantCondition, queue);
        assert.deepEqual(otherwise, { Ref: 'AWS::NoValue' });
        assert.deepEqual(grant.Principal, { Service: 'events.amazonaws.com' });
        assert.equal(grant.Action, 'sqs:SendMessage');
        assert.equal(getAtt(grant.Resource), `${queue}.Arn`);
        assert.equal(getAtt(grant.Condition.ArnEquals['aws:SourceArn']), wantRule);
      }
    }
  });

  test("the sweep rule puts a scheduled event on the event queue, on the construct's default schedule, unless off", () => {
    const rule = resources.SweepRule;
    assert.equal(rule.Condition, 'SweepScheduled');
    assert.deepEqual(rule.Properties.ScheduleExpression, { Ref: 'SweepSchedule' });
    assert.equal(rule.Properties.EventPattern, undefined);
    assert.equal(rule.Properties.Targets.length, 1);
    assert.equal(getAtt(rule.Properties.Targets[0].Arn), 'EventQueue.Arn');
    assert.equal(evaluate(sam.Conditions.SweepScheduled, {}), true);
    assert.equal(evaluate(sam.Conditions.SweepScheduled, { SweepSchedule: 'off' }), false);
    assert.equal(sam.Outputs.SweepRuleArn.Condition, 'SweepScheduled');
    const construct = Object.entries<Json>(constructTemplate().Resources)
      .find(([id, r]) => r.Type === 'AWS::Events::Rule' && id.startsWith('EcsRedeploySweepRule'));
    assert.ok(construct);
    assert.equal(construct[1].Properties.ScheduleExpression, parameters.SweepSchedule.Default);
  });

  test('notifications: NOTIFY_BUS=default and PutEvents on the default bus only, both with Notifications=Enabled', () => {
    assert.deepEqual(resources.RedeployFunction.Properties.Environment.Variables.NOTIFY_BUS, {
      'Fn::If': ['NotificationsEnabled', 'default', { Ref: 'AWS::NoValue' }],
    });
    assert.equal(evaluate(sam.Conditions.NotificationsEnabled, {}), true);
    assert.equal(evaluate(sam.Conditions.NotificationsEnabled, { Notifications: 'Disabled' }), false);
    const policies = resources.RedeployFunctionRole.Properties.Policies;
    const put = policies.find((p: Json) => p['Fn::If']?.[0] === 'SendsNotifications')['Fn::If'];
    assert.deepEqual(put[2], { Ref: 'AWS::NoValue' });
    assert.deepEqual(put[1].PolicyDocument.Statement, [{
      Sid: 'PutNotifications',
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default' },
    }]);
    // No other statement grants an EventBridge action.
    const others = policies.filter((p: Json) => p !== policies.find((q: Json) => q['Fn::If']?.[0] === 'SendsNotifications'));
    assert.ok(!JSON.stringify(others).includes('events:'));
    // The construct's default is the same bus.
    const fn = only(constructTemplate(), 'AWS::Lambda::Function').Properties;
    assert.equal(fn.Environment.Variables.NOTIFY_BUS, 'default');
    assert.equal(parameters.Notifications.Default, 'Enabled');
  });

  test('service revisions and deployments are readable per cluster, with the service, as the construct grants', () => {
    const statements: Json[] = resources.RedeployFunctionRole.Properties.Policies.flatMap((p: Json) =>
      p.PolicyDocument ? p.PolicyDocument.Statement : p['Fn::If'][1].PolicyDocument.Statement);
    const read = statements.find((s) => s.Sid === 'ReadServiceRevisions');
    assert.deepEqual(read.Action, ['ecs:DescribeServiceRevisions', 'ecs:DescribeServiceDeployments']);
    assert.deepEqual(read.Condition, statements.find((s) => s.Sid === 'RedeployServices').Condition);
    const [condition, perCluster, every] = read.Resource['Fn::If'];
    assert.equal(condition, 'HasClusters');
    assert.deepEqual(evaluate(perCluster, { Clusters: 'prod,staging' }), [
      'arn:*:ecs:*:*:service/prod/*', 'arn:*:ecs:*:*:service/staging/*',
      'arn:*:ecs:*:*:service-revision/prod/*', 'arn:*:ecs:*:*:service-revision/staging/*',
      'arn:*:ecs:*:*:service-deployment/prod/*', 'arn:*:ecs:*:*:service-deployment/staging/*',
    ]);
    assert.deepEqual(evaluate(perCluster, { Clusters: 'prod' }), [
      'arn:*:ecs:*:*:service/prod/*', 'arn:*:ecs:*:*:service-revision/prod/*', 'arn:*:ecs:*:*:service-deployment/prod/*',
    ]);
    const account = 'arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}';
    assert.deepEqual(every, [
      { 'Fn::Sub': `${account}:service/*/*` },
      { 'Fn::Sub': `${account}:service-revision/*` },
      { 'Fn::Sub': `${account}:service-deployment/*` },
    ]);
  });

  test('outputs name the event queue, its dead-letter queue and the rule dead-letter queue', () => {
    const outputs = sam.Outputs;
    assert.deepEqual(outputs.EventQueueUrl.Value, { Ref: 'EventQueue' });
    assert.equal(getAtt(outputs.EventQueueArn.Value), 'EventQueue.Arn');
    assert.deepEqual(outputs.EventDeadLetterQueueUrl.Value, { Ref: 'EventDeadLetterQueue' });
    assert.equal(getAtt(outputs.EventDeadLetterQueueArn.Value), 'EventDeadLetterQueue.Arn');
    assert.deepEqual(outputs.UndeliveredEventQueueUrl.Value, { Ref: 'UndeliveredEventQueue' });
    assert.ok(!('FailedInvocationQueueUrl' in outputs));
  });

  test('parameters and construct props share defaults and ranges', () => {
    const p = (name: string) => parameters[name];
    assert.equal(p('ReservedConcurrency').Default, 'Unreserved');
    assert.deepEqual([p('BatchSize').Default, p('BatchSize').MinValue, p('BatchSize').MaxValue].map(Number), [10, 1, 100]);
    assert.deepEqual([p('BatchWindow').Default, p('BatchWindow').MinValue, p('BatchWindow').MaxValue].map(Number), [5, 0, 300]);
    assert.deepEqual([p('MaxConcurrentBatches').Default, p('MaxConcurrentBatches').MinValue, p('MaxConcurrentBatches').MaxValue].map(Number), [2, 2, 1000]);
    assert.deepEqual([p('MaxReceiveCount').Default, p('MaxReceiveCount').MinValue, p('MaxReceiveCount').MaxValue].map(Number), [5, 1, 1000]);
    for (const gone of ['MaximumRetryAttempts', 'MaximumEventAgeInSeconds']) assert.ok(!(gone in parameters), gone);

    const construct = constructTemplate();
    const mapping = only(construct, 'AWS::Lambda::EventSourceMapping').Properties;
    assert.equal(mapping.BatchSize, Number(p('BatchSize').Default));
    assert.equal(mapping.MaximumBatchingWindowInSeconds, Number(p('BatchWindow').Default));
    assert.equal(mapping.ScalingConfig.MaximumConcurrency, Number(p('MaxConcurrentBatches').Default));
    const fn = only(construct, 'AWS::Lambda::Function').Properties;
    assert.equal(fn.Timeout, Number(p('Timeout').Default));
    assert.equal(fn.ReservedConcurrentExecutions, undefined);
    const eventQueue = Object.values<Json>(construct.Resources).find((r) => r.Type === 'AWS::SQS::Queue' && r.Properties.RedrivePolicy);
    assert.equal(eventQueue.Properties.RedrivePolicy.maxReceiveCount, Number(p('MaxReceiveCount').Default));
    assert.equal(eventQueue.Properties.VisibilityTimeout, sam.Mappings.QueueVisibilityTimeout[p('Timeout').Default].Seconds);
    assert.equal(eventQueue.Properties.MessageRetentionPeriod, resources.EventQueue.Properties.MessageRetentionPeriod);
  });

  test('the rule pattern is valid JSON and the same as the construct builds', () => {
    const cases: [Record<string, string>, EcsRedeployProps][] = [
      [{}, {}],
      [{ RepositoryFilter: 'web' }, { repositories: ['web'] }],
      [{ RepositoryFilter: 'team-a/*,web', ReplicatedImages: 'Redeploy' }, { repositories: ['team-a/*', 'web'], replicatedImages: 'Redeploy' }],
    ];
    for (const [values, props] of cases) {
      const text = evaluate(resources.EcrPushRule.Properties.EventPattern, values);
      const pattern = JSON.parse(text);
      assert.deepEqual(pattern, constructPushRule(constructTemplate(props)).Properties.EventPattern, JSON.stringify(values));
      assert.deepEqual(pattern.detail['image-tag'], [{ 'anything-but': [''] }]);
    }
  });
});

/**
 * Whether CloudFormation would accept a parameter value: AllowedPattern (on each element of a CommaDelimitedList),
 * MinLength / MaxLength and AllowedValues, as the CloudFormation parameter reference describes them.
 */
function accepts(name: string, value: string): boolean {
  const p = parameters[name];
  assert.ok(p, `unknown parameter ${name}`);
  const values = p.Type === 'CommaDelimitedList' ? value.split(',') : [value];
  if (p.AllowedPattern !== undefined && !values.every((v) => new RegExp(p.AllowedPattern).test(v))) return false;
  if (p.MaxLength !== undefined && value.length > Number(p.MaxLength)) return false;
  if (p.MinLength !== undefined && value.length < Number(p.MinLength)) return false;
  if (p.AllowedValues !== undefined && !p.AllowedValues.map(String).includes(value)) return false;
  return true;
}

/** The construct's answer to the same value: undefined when it synthesizes, the error message when it throws. */
function constructRefuses(props: EcsRedeployProps): string | undefined {
  try {
    constructTemplate(props);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('template.yaml guards', () => {
  test('every default passes its own parameter constraints', () => {
    for (const [name, p] of Object.entries<Json>(parameters)) {
      if (p.Default !== undefined) assert.ok(accepts(name, String(p.Default)), `${name} default ${p.Default}`);
    }
  });

  test('RepositoryFilter refuses consecutive wildcards, which EventBridge refuses, and so does the construct', () => {
    for (const bad of ['a**', '**', 'team-a/**', 'web,team-**-prod', '***']) {
      assert.ok(!accepts('RepositoryFilter', bad), bad);
      assert.match(constructRefuses({ repositories: bad.split(',') }) ?? '', /consecutive \*/, bad);
    }
    for (const bad of ['Team-A', 'a b', 'a,,b', ',', 'a,']) assert.ok(!accepts('RepositoryFilter', bad), bad);
    for (const good of ['', '*', 'web', 'team-a/*', '*-prod', 'a*b*c', '*/web*', 'web,team-a/*,*-prod']) {
      assert.ok(accepts('RepositoryFilter', good), good);
      assert.equal(constructRefuses({ repositories: good === '' ? [] : good.split(',') }), undefined, good);
    }
  });

  test("RepositoryFilter's MaxLength keeps the worst-case rule pattern within the event pattern size quota", () => {
    const max = Number(parameters.RepositoryFilter.MaxLength);
    // The longest pattern for a value of n characters: as many entries as possible (one character each), with
    // replicated images on (the longest detail-type and action-type lists).
    const worst = (n: number) => Array.from({ length: Math.ceil(n / 2) }, (_, i) => (i === 0 && n % 2 === 0 ? 'ab' : 'a')).join(',');
    const size = (value: string) =>
      evaluate(resources.EcrPushRule.Properties.EventPattern, { RepositoryFilter: value, ReplicatedImages: 'Redeploy' }).length;
    assert.equal(worst(max).length, max);
    assert.ok(accepts('RepositoryFilter', worst(max)));
    assert.ok(size(worst(max)) <= EVENT_PATTERN_SIZE_QUOTA, `${size(worst(max))} characters at MaxLength`);
    // The bound is tight: one more character could exceed the quota.
    assert.ok(size(worst(max + 1)) > EVENT_PATTERN_SIZE_QUOTA);
    assert.ok(!accepts('RepositoryFilter', worst(max + 1)));
    // Any entry shape at MaxLength stays within the quota (the one-character entries are the worst).
    for (const entry of ['ab', 'abc', 'team-a/*', 'a-much-longer-repository-name/*']) {
      const list: string[] = [];
      while ([...list, entry].join(',').length <= max) list.push(entry);
      assert.ok(size(list.join(',')) <= EVENT_PATTERN_SIZE_QUOTA, entry);
    }
  });

  test('the construct measures its pattern as the template writes it, and refuses what exceeds the quota', () => {
    for (const replicated of [false, true]) {
      // Grow a list of realistic names until the pattern would exceed the quota.
      const names: string[] = [];
      const text = () => evaluate(resources.EcrPushRule.Properties.EventPattern,
        { RepositoryFilter: names.join(','), ReplicatedImages: replicated ? 'Redeploy' : 'Ignore' });
      while (text().length <= EVENT_PATTERN_SIZE_QUOTA) names.push(`team-${names.length}/service-*`);
      const props = (list: string[]): EcsRedeployProps => ({ repositories: list, replicatedImages: replicated ? 'Redeploy' : 'Ignore' });
      assert.match(constructRefuses(props(names)) ?? '', new RegExp(`event pattern would be ${text().length} characters, above EventBridge's default quota of 2048`));
      assert.equal(constructRefuses(props(names.slice(0, -1))), undefined);
    }
  });

  test('TagKey refuses aws: keys in any case, as the construct does; the function refuses them at start', () => {
    for (const bad of ['aws:x', 'aws:', 'AWS:team', 'Aws:x', 'aWs:cloudformation:stack-name', 'a,b', '', 'x'.repeat(129)]) {
      assert.ok(!accepts('TagKey', bad), bad);
      if (bad !== '') assert.ok(constructRefuses({ tagKey: bad }), bad);
    }
    for (const good of ['ecs-redeploy', 'a', 'aw', 'aws', 'awsx', 'aws-redeploy', 'aw:s', 'team:aws:x', 'b:x', 'x'.repeat(128)]) {
      assert.ok(accepts('TagKey', good), good);
      assert.equal(constructRefuses({ tagKey: good }), undefined, good);
    }
  });

  /** Whether the stack's Rules admit these parameter values (Rule functions over strings and lists). */
  function rulesAdmit(values: Record<string, string>): string[] {
    const value = (name: string): string | string[] => {
      const p = parameters[name];
      const text = name in values ? values[name] : String(p.Default);
      return p.Type === 'CommaDelimitedList' ? text.split(',') : text;
    };
    const walk = (n: Json): Json => {
      if (Array.isArray(n) || n === null || typeof n !== 'object') return n;
      const [key] = Object.keys(n);
      const arg = n[key];
      switch (key) {
        case 'Ref': return value(arg);
        case 'Fn::Not': return !walk(arg[0]);
        case 'Fn::Equals': return String(walk(arg[0])) === String(walk(arg[1]));
        case 'Fn::Contains': return (arg[0].map ? arg[0].map(walk) : walk(arg[0])).includes(walk(arg[1]));
        case 'Fn::EachMemberEquals': return (walk(arg[0]) as string[]).every((m) => m === walk(arg[1]));
        default: throw new Error(`rule function ${key} not modelled`);
      }
    };
    const refused: string[] = [];
    for (const [name, rule] of Object.entries<Json>(sam.Rules)) {
      if (rule.RuleCondition !== undefined && !walk(rule.RuleCondition)) continue;
      if (!rule.Assertions.every((a: Json) => walk(a.Assert))) refused.push(name);
    }
    return refused;
  }

  const role = (name: string) => `arn:aws:iam::123456789012:role/${name}`;

  test('PassRoleArns takes role ARNs only, and no empty entry; the construct refuses the same', () => {
    for (const bad of ['arn:aws:iam::123456789012:user/deploy', '*', 'role/x', 'arn:aws:iam::*:role/x',
      `${role('a')} ,${role('b')}`, 'arn:aws:ecs:eu-west-1:123456789012:task-definition/x:1']) {
      assert.ok(!accepts('PassRoleArns', bad), bad);
      assert.match(constructRefuses({ newRevisions: 'Enabled', passRoleArns: bad.split(',') }) ?? '', /passRoleArns: ".*" is not an IAM role ARN/, bad);
    }
    // An empty entry passes the per-element pattern (the empty default must) but not the rule.
    for (const bad of [`${role('a')},`, `${role('a')},,${role('b')}`, `,${role('a')}`]) {
      assert.deepEqual(rulesAdmit({ PassRoleArns: bad }), ['PassRoleArnsHaveNoEmptyEntry'], bad);
      assert.ok(constructRefuses({ newRevisions: 'Enabled', passRoleArns: bad.split(',') }), bad);
    }
    for (const good of ['', role('app-task'), `${role('app-task')},${role('ecs/app-execution')}`, role('ecs-tasks/*'),
      'arn:aws-cn:iam::123456789012:role/x', 'arn:aws-us-gov:iam::123456789012:role/x']) {
      assert.ok(accepts('PassRoleArns', good), good);
      assert.deepEqual(rulesAdmit({ PassRoleArns: good }), [], good);
      assert.equal(constructRefuses({ newRevisions: 'Enabled', passRoleArns: good === '' ? [] : good.split(',') }), undefined, good);
    }
    // The other rules still see through the evaluator: the defaults pass, a known bad combination does not.
    assert.deepEqual(rulesAdmit({}), []);
    assert.deepEqual(rulesAdmit({ DefaultAction: 'pin' }), ['PinModeNeedsNewRevisions']);
  });

  test('PassRoleArns narrows iam:PassRole when set, keeping the ECS-tasks condition; empty keeps any role', () => {
    const register = resources.RedeployFunctionRole.Properties.Policies.find(
      (p: Json) => p['Fn::If']?.[0] === 'RegistersRevisions')['Fn::If'][1];
    const passRole = register.PolicyDocument.Statement.find((s: Json) => s.Sid === 'PassTaskRolesToEcsTasks');
    assert.deepEqual(passRole.Resource, {
      'Fn::If': ['NarrowsPassRole', { Ref: 'PassRoleArns' }, { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*' }],
    });
    assert.deepEqual(passRole.Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    assert.deepEqual(sam.Conditions.NarrowsPassRole, { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', { Ref: 'PassRoleArns' }] }, ''] }] });
  });

  test('aws:ResourceAccount pins the services the role may describe and update, and no statement on "*"', () => {
    const statements: Json[] = resources.RedeployFunctionRole.Properties.Policies.flatMap((p: Json) =>
      p.PolicyDocument ? p.PolicyDocument.Statement : p['Fn::If'][1].PolicyDocument.Statement);
    const services = statements.find((s) => s.Sid === 'RedeployServices');
    assert.deepEqual(services.Condition, {
      StringEquals: { 'aws:RequestedRegion': { Ref: 'AWS::Region' }, 'aws:ResourceAccount': { Ref: 'AWS::AccountId' } },
    });
    for (const s of statements.filter((s) => s.Resource === '*')) {
      assert.ok(!JSON.stringify(s.Condition ?? {}).includes('aws:ResourceAccount'), s.Sid);
    }
    assert.equal(statements.find((s) => s.Sid === 'DiscoverServices').Resource, '*');
  });

  test('MetricsNamespace refuses what the function refuses (AWS/ prefix, other characters, length), as the construct does', () => {
    for (const bad of ['AWS/ECS', 'AWS/', '', 'a!', 'team,a', 'x'.repeat(256)]) {
      assert.ok(!accepts('MetricsNamespace', bad), bad);
      assert.match(constructRefuses({ metricsNamespace: bad }) ?? '', /metricsNamespace/, bad);
    }
    for (const good of ['ecs-redeploy', 'A', 'AW', 'AWS', 'AWSx', 'AWS:x', 'aws/ecs', 'Team A/redeploy#1', 'x'.repeat(255)]) {
      assert.ok(accepts('MetricsNamespace', good), good);
      assert.equal(constructRefuses({ metricsNamespace: good }), undefined, good);
    }
    assert.deepEqual(resources.RedeployFunction.Properties.Environment.Variables.METRICS_NAMESPACE, { Ref: 'MetricsNamespace' });
  });

  test('SweepSchedule takes what EventBridge schedules, or off', () => {
    for (const good of ['off', 'rate(30 minutes)', 'rate(1 minute)', 'rate(1 hour)', 'rate(1 day)', 'rate(2 hours)',
      'rate(120 minutes)', 'cron(0 6 * * ? *)', 'cron(0/15 8-18 ? * MON-FRI *)']) {
      assert.ok(accepts('SweepSchedule', good), good);
    }
    for (const bad of ['', 'Off', 'disabled', 'rate(1 minutes)', 'rate(2 minute)', 'rate(0 minutes)', 'rate(05 minutes)',
      'rate(30 seconds)', 'rate(30minutes)', 'cron(0 6 * * ?)', 'cron(0 6 * * ? * *)', 'cron((0) 6 * * ? *)',
      'rate(30 minutes) ', '30 minutes']) {
      assert.ok(!accepts('SweepSchedule', bad), bad);
    }
  });

  test('AlarmEmail takes one address or nothing, as the construct does', () => {
    for (const bad of ['ops', 'ops@example', 'a@b.c,d@e.f', 'ops @example.com']) {
      assert.ok(!accepts('AlarmEmail', bad), bad);
      assert.match(constructRefuses({ alarmEmail: bad }) ?? '', /alarmEmail/, bad);
    }
    for (const good of ['', 'ops@example.com', 'team+alerts@sub.example.co.uk']) assert.ok(accepts('AlarmEmail', good), good);
  });

  test('the alarms are the construct\'s: same metrics, statistics, thresholds; they notify the topic only with AlarmEmail', () => {
    const samAlarms = Object.fromEntries(Object.entries<Json>(resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm'));
    const construct = constructTemplate({ alarmEmail: 'ops@example.com' });
    const constructAlarms = Object.fromEntries(Object.entries<Json>(construct.Resources)
      .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
      .map(([id, r]) => [id.replace(/^EcsRedeploy/, '').replace(/[0-9A-F]{8}$/, ''), r]));
    assert.deepEqual(Object.keys(samAlarms).sort(), Object.keys(constructAlarms).sort());
    const shape = (a: Json) => {
      const { Namespace, MetricName, Statistic, Period, EvaluationPeriods, Threshold, ComparisonOperator, TreatMissingData, Dimensions } = a.Properties;
      return {
        // The parameter in the template, its default in the construct.
        Namespace: Namespace?.Ref === 'MetricsNamespace' || Namespace === parameters.MetricsNamespace.Default ? '<MetricsNamespace>' : Namespace,
        // Literal values compared; references (queue names, the function) differ in form, their names do not.
        MetricName, Statistic, Period: Number(Period), EvaluationPeriods: Number(EvaluationPeriods), Threshold: Number(Threshold),
        ComparisonOperator, TreatMissingData,
        Dimensions: Dimensions.map((d: Json) => (typeof d.Value === 'string' ? d : d.Name)),
      };
    };
    for (const [id, alarm] of Object.entries<Json>(samAlarms)) {
      assert.deepEqual(shape(alarm), shape(constructAlarms[id]), id);
      assert.deepEqual(alarm.Properties.AlarmActions, { 'Fn::If': ['HasAlarmEmail', [{ Ref: 'AlarmTopic' }], { Ref: 'AWS::NoValue' }] }, id);
    }
    assert.deepEqual(samAlarms.FailedServicesBatchAlarm.Properties.Namespace, { Ref: 'MetricsNamespace' });
    assert.equal(getAtt(samAlarms.EventDeadLetterQueueAlarm.Properties.Dimensions[0].Value), 'EventDeadLetterQueue.QueueName');
    assert.equal(getAtt(samAlarms.UndeliveredEventQueueAlarm.Properties.Dimensions[0].Value), 'UndeliveredEventQueue.QueueName');
    assert.deepEqual(samAlarms.FunctionErrorsAlarm.Properties.Dimensions[0].Value, { Ref: 'RedeployFunction' });
  });

  test('AlarmEmail creates the topic, its policy, the email subscription and the AlarmTopicArn output, and nothing else does', () => {
    for (const id of ['AlarmTopic', 'AlarmTopicPolicy', 'AlarmEmailSubscription']) assert.equal(resources[id].Condition, 'HasAlarmEmail', id);
    assert.deepEqual(sam.Conditions.HasAlarmEmail, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmEmail' }, ''] }] });
    assert.deepEqual(resources.AlarmEmailSubscription.Properties, { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' } });
    assert.equal(resources.AlarmTopic.Properties.KmsMasterKeyId, undefined);
    const statements: Json[] = resources.AlarmTopicPolicy.Properties.PolicyDocument.Statement;
    const allow = statements.find((s) => s.Effect === 'Allow');
    assert.deepEqual(allow.Principal, { Service: 'cloudwatch.amazonaws.com' });
    assert.equal(allow.Action, 'sns:Publish');
    assert.deepEqual(allow.Condition.StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    assert.deepEqual(statements.find((s) => s.Effect === 'Deny').Condition, { Bool: { 'aws:SecureTransport': 'false' } });
    assert.deepEqual(sam.Outputs.AlarmTopicArn, {
      Condition: 'HasAlarmEmail', Description: sam.Outputs.AlarmTopicArn.Description, Value: { Ref: 'AlarmTopic' },
    });
    const conditional = Object.entries<Json>(resources).filter(([, r]) => r.Condition === 'HasAlarmEmail').map(([id]) => id).sort();
    assert.deepEqual(conditional, ['AlarmEmailSubscription', 'AlarmTopic', 'AlarmTopicPolicy']);
  });
});
