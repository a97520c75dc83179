import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EcsRedeploy, EcsRedeployProps, PACKAGED_BOOTSTRAP_DIR, packagedBootstrap } from '../lib';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown; Sid?: string };

function stackWith(props: EcsRedeployProps = {}): { app: App; stack: Stack } {
  // Skipping bundling keeps the Rust release build out of unit tests; `make cdk-test` synths the example for real.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test');
  new EcsRedeploy(stack, 'EcsRedeploy', props);
  return { app, stack };
}

function synth(props: EcsRedeployProps = {}): Template {
  return Template.fromStack(stackWith(props).stack);
}

function allowStatements(template: Template): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy'));
  return policies
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
    .filter((s) => s.Effect === 'Allow');
}

function actions(statements: Statement[]): string[] {
  return statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

function statement(template: Template, sid: string): Statement {
  const found = allowStatements(template).find((s) => s.Sid === sid);
  assert.ok(found, `statement ${sid} not found`);
  return found;
}

/** The `Fn::Join` CDK renders for an ARN, flattened to text with pseudo parameters in angle brackets. */
function arnText(resource: unknown): string {
  const parts = (resource as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return parts.map((p) => (typeof p === 'string' ? p : `<${(p as { Ref: string }).Ref}>`)).join('');
}

function functionProperties(template: Template): Record<string, any> {
  const functions = Object.values(template.findResources('AWS::Lambda::Function'));
  assert.equal(functions.length, 1);
  return functions[0].Properties;
}

/** The logical id of the only DynamoDB table, or undefined when there is none. */
function tableId(template: Template): string | undefined {
  const ids = Object.keys(template.findResources('AWS::DynamoDB::Table'));
  assert.ok(ids.length <= 1, `more than one table: ${ids}`);
  return ids[0];
}

/** The logical id of a rule, found by its construct id (`EcrPushRule`, `SweepRule`); undefined when there is none. */
function ruleId(template: Template, name: string): string | undefined {
  const ids = Object.keys(template.findResources('AWS::Events::Rule')).filter((id) => id.startsWith(`EcsRedeploy${name}`));
  assert.ok(ids.length <= 1, `rule ${name}: ${ids}`);
  return ids[0];
}

/** The rule that matches pushes. */
function pushRule(template: Template): Record<string, any> {
  const id = ruleId(template, 'EcrPushRule');
  assert.ok(id, 'no push rule');
  return template.findResources('AWS::Events::Rule')[id];
}

/** Logical ids of the three queues, found by their construct ids. */
function queueId(template: Template, name: string): string {
  const ids = Object.keys(template.findResources('AWS::SQS::Queue')).filter((id) => id.startsWith(`EcsRedeploy${name}`));
  assert.equal(ids.length, 1, `queue ${name}: ${ids}`);
  return ids[0];
}
const eventQueueId = (template: Template) => queueId(template, 'EventQueue');
const eventDlqId = (template: Template) => queueId(template, 'EventDeadLetterQueue');
const undeliveredId = (template: Template) => queueId(template, 'UndeliveredEventQueue');

function queuePolicyStatements(template: Template, queue: string): (Statement & { Principal?: unknown })[] {
  const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')).filter(
    (p) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: queue }]),
  );
  assert.equal(policies.length, 1, `policies of ${queue}`);
  return policies[0].Properties.PolicyDocument.Statement;
}

describe('EcsRedeploy', () => {
  test('the rule matches successful ECR pushes of every repository by default', () => {
    assert.deepEqual(pushRule(synth()).Properties.EventPattern, {
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action'],
      detail: { 'action-type': ['PUSH'], result: ['SUCCESS'], 'image-tag': [{ 'anything-but': [''] }] },
    });
  });

  test('replicated images join the pattern when enabled, under the same repository filter', () => {
    const rule = pushRule(synth({ replicatedImages: 'Redeploy', repositories: ['team-a/*', 'web'] }));
    assert.deepEqual(rule.Properties.EventPattern, {
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action', 'ECR Replication Action'],
      detail: {
        'action-type': ['PUSH', 'REPLICATE'],
        result: ['SUCCESS'],
        'image-tag': [{ 'anything-but': [''] }],
        'repository-name': [{ wildcard: 'team-a/*' }, { wildcard: 'web' }],
      },
    });
  });

  test('replicated images are ignored explicitly too', () => {
    const rule = pushRule(synth({ replicatedImages: 'Ignore' }));
    assert.deepEqual(rule.Properties.EventPattern['detail-type'], ['ECR Image Action']);
    assert.deepEqual(rule.Properties.EventPattern.detail['action-type'], ['PUSH']);
  });

  test('repositories become wildcard filters on the repository name, beside the tag filter', () => {
    synth({ repositories: ['team-a/*', 'web'] }).hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        detail: {
          'repository-name': [{ wildcard: 'team-a/*' }, { wildcard: 'web' }],
          'image-tag': [{ 'anything-but': [''] }],
        },
      },
    });
  });

  test('the function is a provided.al2023 arm64 bootstrap with JSON logs in its own log group', () => {
    const template = synth();
    const fn = functionProperties(template);
    assert.equal(fn.Runtime, 'provided.al2023');
    assert.equal(fn.Handler, 'bootstrap');
    assert.deepEqual(fn.Architectures, ['arm64']);
    assert.equal(fn.MemorySize, 128);
    assert.equal(fn.Timeout, 300);
    const logGroups = template.findResources('AWS::Logs::LogGroup');
    assert.equal(Object.keys(logGroups).length, 1);
    const [logGroupId, logGroup] = Object.entries(logGroups)[0];
    assert.equal(logGroup.Properties.RetentionInDays, 30);
    assert.deepEqual(fn.LoggingConfig, { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', LogGroup: { Ref: logGroupId } });
    const writeLogs = allowStatements(template).find((s) => actions([s]).includes('logs:PutLogEvents'));
    assert.deepEqual(writeLogs?.Resource, { 'Fn::GetAtt': [logGroupId, 'Arn'] });
  });

  test("the function's code is the arm64 bootstrap zip this package carries, byte for byte", () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'code-'));
    try {
      const app = new App({ outdir });
      new EcsRedeploy(new Stack(app, 'Code'), 'EcsRedeploy');
      const assembly = app.synth();
      const fn = functionProperties(Template.fromJSON(assembly.getStackByName('Code').template));
      const key: string = fn.Code.S3Key;
      assert.match(key, /^[0-9a-f]{64}\.zip$/);
      const staged = path.join(outdir, `asset.${key}`);
      assert.deepEqual(fs.readFileSync(staged), fs.readFileSync(path.join(PACKAGED_BOOTSTRAP_DIR, 'ecs-redeploy-arm64.zip')));
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('each architecture takes its own zip, and a missing one is refused naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'assets-'));
    try {
      fs.writeFileSync(path.join(dir, 'ecs-redeploy-x86_64.zip'), '');
      assert.equal(packagedBootstrap(lambda.Architecture.X86_64, dir), path.join(dir, 'ecs-redeploy-x86_64.zip'));
      assert.throws(() => packagedBootstrap(lambda.Architecture.ARM_64, dir),
        { message: new RegExp(`no arm64 bootstrap at ${path.join(dir, 'ecs-redeploy-arm64.zip')}.*buildFromSource`) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('manifestPath without buildFromSource is refused: the packaged bootstrap would ignore it', () => {
    assert.throws(() => synth({ manifestPath: '/elsewhere/Cargo.toml' }), /manifestPath is only read when building from source/);
  });

  test('props reach the environment variables the function reads', () => {
    const fn = functionProperties(
      synth({
        clusters: ['prod', 'staging'],
        tagKey: 'redeploy',
        serviceSelection: 'opted-in',
        runMode: 'DryRun',
        maxConcurrency: 4,
        retryMode: 'standard',
        maxAttempts: 3,
        ecsPacing: 'off',
        architecture: lambda.Architecture.X86_64,
        // `make test` packages the arm64 bootstrap only; bundling is skipped here, so nothing is built.
        buildFromSource: true,
        reservedConcurrency: 'Unreserved',
        defaultAction: 'pin',
        newRevisions: 'Enabled',
        lambdaFunctions: 'Disabled',
        deployLock: 'Disabled',
        metricsNamespace: 'team-a/redeploy',
        notifications: false,
        waveTagKey: 'stage',
        waveBake: Duration.minutes(5),
      }),
    );
    assert.deepEqual(fn.Environment.Variables, {
      TAG_KEY: 'redeploy',
      SELECT: 'opted-in',
      CLUSTERS: 'prod,staging',
      MAX_CONCURRENCY: '4',
      DRY_RUN: 'true',
      DEFAULT_ACTION: 'pin',
      NEW_REVISIONS: 'enabled',
      LAMBDA_FUNCTIONS: 'disabled',
      RETRY_MODE: 'standard',
      ECS_PACING: 'off',
      MAX_ATTEMPTS: '3',
      METRICS_NAMESPACE: 'team-a/redeploy',
      WAVE_TAG_KEY: 'stage',
      WAVE_BAKE: '300',
    });
    assert.deepEqual(fn.Architectures, ['x86_64']);
    assert.equal(fn.ReservedConcurrentExecutions, undefined);
  });

  test('defaults give the documented environment, LOCK_TABLE naming the lock table, NOTIFY_BUS the default bus', () => {
    const template = synth();
    const table = tableId(template);
    assert.ok(table, 'no lock table by default');
    assert.deepEqual(functionProperties(template).Environment.Variables, {
      TAG_KEY: 'ecs-redeploy',
      SELECT: 'matching',
      CLUSTERS: '',
      MAX_CONCURRENCY: '8',
      DRY_RUN: 'false',
      DEFAULT_ACTION: 'force',
      NEW_REVISIONS: 'disabled',
      LAMBDA_FUNCTIONS: 'enabled',
      LOCK_TABLE: { Ref: table },
      RETRY_MODE: 'adaptive',
      ECS_PACING: 'documented',
      MAX_ATTEMPTS: '5',
      METRICS_NAMESPACE: 'ecs-redeploy',
      NOTIFY_BUS: 'default',
      WAVE_TAG_KEY: 'ecs-redeploy-wave',
      WAVE_BAKE: '0',
      WAVE_QUEUE: { Ref: eventQueueId(template) },
    });
  });

  test('the lock table is on-demand, keyed by id, expires items on expires_at, encrypted with KMS', () => {
    const template = synth();
    const tables = template.findResources('AWS::DynamoDB::Table');
    assert.equal(Object.keys(tables).length, 1);
    const table = Object.values(tables)[0];
    assert.deepEqual(table.Properties.KeySchema, [{ AttributeName: 'id', KeyType: 'HASH' }]);
    assert.deepEqual(table.Properties.AttributeDefinitions, [
      { AttributeName: 'id', AttributeType: 'S' },
      { AttributeName: 'open', AttributeType: 'S' },
      { AttributeName: 'started_at', AttributeType: 'S' },
    ]);
    // The sparse index of open deployment records; the key schema and TTL attribute stay.
    assert.deepEqual(table.Properties.GlobalSecondaryIndexes, [{
      IndexName: 'open-deployments',
      KeySchema: [{ AttributeName: 'open', KeyType: 'HASH' }, { AttributeName: 'started_at', KeyType: 'RANGE' }],
      Projection: { ProjectionType: 'ALL' },
    }]);
    assert.equal(table.Properties.BillingMode, 'PAY_PER_REQUEST');
    assert.equal(table.Properties.ProvisionedThroughput, undefined);
    assert.deepEqual(table.Properties.TimeToLiveSpecification, { AttributeName: 'expires_at', Enabled: true });
    assert.deepEqual(table.Properties.SSESpecification, { SSEEnabled: true });
    assert.deepEqual(table.Properties.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: false });
    assert.equal(table.DeletionPolicy, 'Delete');
  });

  test('the lock table is reachable on its own ARN only, and its open-deployments index for Query only', () => {
    const template = synth();
    const table = tableId(template);
    const dynamo = allowStatements(template).filter((s) => actions([s]).some((a) => a.startsWith('dynamodb:')));
    assert.deepEqual(dynamo.map((s) => s.Sid), ['ReadDeployRecords', 'FindOpenDeployments', 'ClaimDeployLocks']);
    const [reads, open, writes] = dynamo;
    assert.deepEqual(reads.Action, ['dynamodb:GetItem', 'dynamodb:BatchGetItem']);
    assert.deepEqual(reads.Resource, { 'Fn::GetAtt': [table, 'Arn'] });
    assert.equal(open.Action, 'dynamodb:Query');
    assert.deepEqual(open.Resource, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/open-deployments']] });
    assert.deepEqual(writes.Action, ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']);
    assert.deepEqual(writes.Resource, { 'Fn::GetAtt': [table, 'Arn'] });
    assert.ok(dynamo.every((s) => s.Condition === undefined));
    // A DryRun plan reads the records, and writes none.
    const dryRun = allowStatements(synth({ runMode: 'DryRun' })).filter((s) =>
      actions([s]).some((a) => a.startsWith('dynamodb:')));
    assert.deepEqual(dryRun.map((s) => s.Sid), ['ReadDeployRecords', 'FindOpenDeployments']);
  });

  test('deployment outcomes: COMPLETED and FAILED of this account\'s services (the listed clusters\') reach the queue', () => {
    const pattern = (template: Template) =>
      template.findResources('AWS::Events::Rule')[ruleId(template, 'EcsDeploymentRule')!].Properties.EventPattern;
    const all = pattern(synth());
    assert.deepEqual(all.source, ['aws.ecs']);
    assert.deepEqual(all['detail-type'], ['ECS Deployment State Change']);
    assert.deepEqual(all.detail, { eventName: ['SERVICE_DEPLOYMENT_COMPLETED', 'SERVICE_DEPLOYMENT_FAILED'] });
    assert.deepEqual(all.account, [{ Ref: 'AWS::AccountId' }]);
    assert.deepEqual(all.region, [{ Ref: 'AWS::Region' }]);
    assert.deepEqual(all.resources, [{ wildcard: 'arn:*:ecs:*:*:service/*' }]);
    assert.deepEqual(pattern(synth({ clusters: ['prod', 'staging'] })).resources, [
      { wildcard: 'arn:*:ecs:*:*:service/prod/*' },
      { wildcard: 'arn:*:ecs:*:*:service/staging/*' },
    ]);
    const off = synth({ deployLock: 'Disabled' });
    assert.equal(ruleId(off, 'EcsDeploymentRule'), undefined, 'no table, no deployment events');
  });

  test('deployLock Disabled drops the table, LOCK_TABLE and the DynamoDB permissions', () => {
    const template = synth({ deployLock: 'Disabled' });
    assert.equal(tableId(template), undefined);
    assert.ok(!('LOCK_TABLE' in functionProperties(template).Environment.Variables));
    assert.deepEqual(actions(allowStatements(template)).filter((a) => a.startsWith('dynamodb:')), []);
  });

  test('the construct exposes the lock table only when it exists', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    assert.ok(new EcsRedeploy(stack, 'WithLock').lockTable);
    assert.equal(new EcsRedeploy(stack, 'WithoutLock', { deployLock: 'Disabled' }).lockTable, undefined);
  });

  test("defaultAction 'pin' needs newRevisions 'Enabled'", () => {
    assert.throws(() => stackWith({ defaultAction: 'pin' }), /defaultAction 'pin'.*newRevisions: 'Enabled'/);
    assert.throws(() => stackWith({ defaultAction: 'pin', newRevisions: 'Disabled' }), /newRevisions/);
    const template = synth({ defaultAction: 'pin', newRevisions: 'Enabled' });
    assert.equal(functionProperties(template).Environment.Variables.DEFAULT_ACTION, 'pin');
    assert.equal(statement(template, 'RegisterRevisions').Action, 'ecs:RegisterTaskDefinition');
  });

  test('three queues: the event queue and two dead-letter queues, encrypted, TLS only, kept unless a create fails', () => {
    const template = synth();
    const queues = template.findResources('AWS::SQS::Queue');
    assert.deepEqual(Object.keys(queues).sort(), [eventQueueId(template), eventDlqId(template), undeliveredId(template)].sort());
    for (const queue of Object.values(queues)) {
      assert.equal(queue.Properties.SqsManagedSseEnabled, true);
      assert.equal(queue.Properties.KmsMasterKeyId, undefined);
      assert.equal(queue.DeletionPolicy, 'RetainExceptOnCreate');
      assert.equal(queue.UpdateReplacePolicy, 'Retain');
    }
    assert.equal(queues[eventDlqId(template)].Properties.MessageRetentionPeriod, 14 * 24 * 3600);
    assert.equal(queues[undeliveredId(template)].Properties.MessageRetentionPeriod, 14 * 24 * 3600);
    // Shorter than the dead-letter queue's retention: a moved message keeps its original enqueue time.
    assert.equal(queues[eventQueueId(template)].Properties.MessageRetentionPeriod, 4 * 24 * 3600);
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy'));
    assert.equal(policies.length, 3);
    for (const policy of policies) {
      const [queue] = policy.Properties.Queues as { Ref: string }[];
      assert.ok(
        (policy.Properties.PolicyDocument.Statement as Statement[]).some(
          (s) =>
            s.Effect === 'Deny' &&
            JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}' &&
            s.Action === 'sqs:*' &&
            JSON.stringify(s.Resource) === JSON.stringify({ 'Fn::GetAtt': [queue.Ref, 'Arn'] }),
        ),
        `${queue.Ref} accepts plain HTTP`,
      );
    }
  });

  test('the rule targets the event queue, retrying for a day before its own dead-letter queue', () => {
    const template = synth();
    const targets = pushRule(template).Properties.Targets;
    assert.equal(targets.length, 1);
    assert.deepEqual(targets[0].Arn, { 'Fn::GetAtt': [eventQueueId(template), 'Arn'] });
    assert.deepEqual(targets[0].RetryPolicy, { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 });
    assert.deepEqual(targets[0].DeadLetterConfig, { Arn: { 'Fn::GetAtt': [undeliveredId(template), 'Arn'] } });
    // One delivery path: nothing invokes the function directly or asynchronously.
    assert.deepEqual(Object.keys(template.findResources('AWS::Lambda::Permission')), []);
    assert.deepEqual(Object.keys(template.findResources('AWS::Lambda::EventInvokeConfig')), []);
  });

  test('only events.amazonaws.com, sending for these rules, may put messages on the event queue and the rule DLQ', () => {
    const template = synth();
    const sourceArn = (allow: Statement) =>
      ((allow.Condition as { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': string[] } } }).ArnEquals['aws:SourceArn'])['Fn::GetAtt'];
    // The sweep's scheduled events share the event queue; nothing else sends to the rule DLQ.
    const senders: [string, string[]][] = [
      [eventQueueId(template), [
        ruleId(template, 'EcrPushRule')!, ruleId(template, 'SweepRule')!, ruleId(template, 'EcsDeploymentRule')!,
      ]],
      [undeliveredId(template), [ruleId(template, 'EcrPushRule')!, ruleId(template, 'EcsDeploymentRule')!]],
    ];
    for (const [queue, rules] of senders) {
      const allows = queuePolicyStatements(template, queue).filter((s) => s.Effect === 'Allow');
      assert.ok(allows.length > 0, `${queue}: no Allow statement`);
      assert.ok(actions(allows).includes('sqs:SendMessage'), `${queue}: no SendMessage`);
      for (const allow of allows) {
        assert.deepEqual(allow.Principal, { Service: 'events.amazonaws.com' }, `${queue}: ${JSON.stringify(allow)}`);
        assert.deepEqual(sourceArn(allow)[1], 'Arn');
        assert.deepEqual(allow.Resource, { 'Fn::GetAtt': [queue, 'Arn'] });
        assert.deepEqual(actions([allow]).filter((a) => !['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'].includes(a)), []);
      }
      assert.deepEqual(allows.map((a) => sourceArn(a)[0]).sort(), [...rules].sort(), queue);
    }
    // Nothing but the event queue's redrive writes to its dead-letter queue.
    assert.deepEqual(queuePolicyStatements(template, eventDlqId(template)).filter((s) => s.Effect === 'Allow'), []);
  });

  test('the event queue redrives to its dead-letter queue after maxReceiveCount receives', () => {
    const redrive = (template: Template) => template.findResources('AWS::SQS::Queue')[eventQueueId(template)].Properties.RedrivePolicy;
    const defaults = synth();
    assert.deepEqual(redrive(defaults), { deadLetterTargetArn: { 'Fn::GetAtt': [eventDlqId(defaults), 'Arn'] }, maxReceiveCount: 5 });
    assert.equal(redrive(synth({ maxReceiveCount: 12 })).maxReceiveCount, 12);
  });

  test("the event queue's visibility timeout is 6 x the function timeout", () => {
    for (const [timeout, seconds] of [[undefined, 300], [Duration.minutes(1), 60], [Duration.seconds(450), 450], [Duration.minutes(15), 900]] as const) {
      const template = synth({ timeout });
      assert.equal(functionProperties(template).Timeout, seconds);
      assert.equal(template.findResources('AWS::SQS::Queue')[eventQueueId(template)].Properties.VisibilityTimeout, 6 * seconds);
      // Also covers the function timeout plus the longest batching window.
      assert.ok(6 * seconds >= seconds + 300);
    }
  });

  test('the event source mapping hands the function batches from the event queue, with partial failures', () => {
    const defaults = synth();
    const mapping = (template: Template) => {
      const found = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
      assert.equal(found.length, 1);
      return found[0].Properties;
    };
    const fnId = Object.keys(defaults.findResources('AWS::Lambda::Function'))[0];
    assert.deepEqual(mapping(defaults), {
      EventSourceArn: { 'Fn::GetAtt': [eventQueueId(defaults), 'Arn'] },
      FunctionName: { Ref: fnId },
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 5,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const custom = mapping(synth({ batchSize: 50, batchWindow: Duration.minutes(5), maxConcurrentBatches: 20 }));
    assert.equal(custom.BatchSize, 50);
    assert.equal(custom.MaximumBatchingWindowInSeconds, 300);
    assert.deepEqual(custom.ScalingConfig, { MaximumConcurrency: 20 });
    assert.equal(mapping(synth({ batchWindow: Duration.seconds(0), batchSize: 1 })).MaximumBatchingWindowInSeconds, 0);
  });

  test('the role may consume the event queue only, and send only to it (the wake of a wave bake)', () => {
    const template = synth();
    const all = allowStatements(template).filter((s) => actions([s]).some((a) => a.startsWith('sqs:')));
    const wake = all.filter((s) => s.Sid === 'WakeAfterWaveBake');
    assert.equal(wake.length, 1);
    assert.deepEqual(actions(wake), ['sqs:SendMessage']);
    assert.deepEqual(wake[0].Resource, { 'Fn::GetAtt': [eventQueueId(template), 'Arn'] });
    const sqsStatements = all.filter((s) => s.Sid !== 'WakeAfterWaveBake');
    assert.equal(sqsStatements.length, 1);
    assert.deepEqual(sqsStatements[0].Resource, { 'Fn::GetAtt': [eventQueueId(template), 'Arn'] });
    assert.equal(sqsStatements[0].Condition, undefined);
    const granted = actions(sqsStatements).sort();
    for (const needed of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility']) {
      assert.ok(granted.includes(needed), `${needed} missing`);
    }
    // CDK's grantConsumeMessages adds GetQueueUrl (read-only, same queue); nothing else.
    assert.deepEqual(granted.filter((a) => !['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes',
      'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl'].includes(a)), []);
    // Lambda checks the role's permissions when it creates the mapping: the function (which the mapping refers to)
    // waits for the policy.
    const policy = Object.keys(template.findResources('AWS::IAM::Policy'))[0];
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    assert.ok((fn.DependsOn as string[]).includes(policy));
  });

  test('the function reserves no concurrency unless asked, and a reservation covers the concurrent batches', () => {
    assert.equal(functionProperties(synth()).ReservedConcurrentExecutions, undefined);
    assert.equal(functionProperties(synth({ reservedConcurrency: 'Unreserved' })).ReservedConcurrentExecutions, undefined);
    assert.equal(functionProperties(synth({ reservedConcurrency: 2 })).ReservedConcurrentExecutions, 2);
    assert.equal(functionProperties(synth({ reservedConcurrency: 10, maxConcurrentBatches: 10 })).ReservedConcurrentExecutions, 10);
    assert.throws(() => stackWith({ reservedConcurrency: 1 }), /reservedConcurrency \(1\) must be at least maxConcurrentBatches \(2\)/);
    assert.throws(() => stackWith({ reservedConcurrency: 5, maxConcurrentBatches: 6 }), /at least maxConcurrentBatches \(6\)/);
  });

  test('the construct exposes its queues', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const construct = new EcsRedeploy(new Stack(app, 'Test'), 'EcsRedeploy');
    const ids = new Set([construct.eventQueue, construct.eventDeadLetterQueue, construct.undeliveredEventQueue].map((q) => q.node.path));
    assert.equal(ids.size, 3);
    assert.equal(construct.eventQueue.deadLetterQueue?.queue, construct.eventDeadLetterQueue);
  });

  test('no IAM statement allows a wildcard action', () => {
    const all = actions(allowStatements(synth({ newRevisions: 'Enabled', clusters: ['prod'] })));
    assert.ok(all.length > 0);
    assert.deepEqual(all.filter((a) => a.includes('*')), []);
  });

  test('image functions: listed, read with their tags and updated on this account\'s functions; none of it when disabled', () => {
    const template = synth({ repositories: ['app', 'team-a/*'] });
    assert.deepEqual(actions([statement(template, 'ListImageFunctions')]), ['lambda:ListFunctions']);
    assert.deepEqual(statement(template, 'ListImageFunctions').Resource, '*');
    const read = statement(template, 'ReadImageFunctions');
    assert.deepEqual(actions([read]).sort(), ['lambda:GetFunction', 'lambda:ListTags']);
    assert.equal(arnText(read.Resource), 'arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*');
    assert.deepEqual(actions([statement(template, 'UpdateImageFunctions')]).sort(),
      ['lambda:PublishVersion', 'lambda:UpdateAlias', 'lambda:UpdateFunctionCode']);
    const images = statement(template, 'ReadImagesForFunctionUpdates');
    assert.deepEqual(actions([images]), ['ecr:GetDownloadUrlForLayer']);
    assert.deepEqual((images.Resource as unknown[]).map(arnText),
      ['app', 'team-a/*'].map((r) => `arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/${r}`));
    assert.equal(Object.keys(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'FunctionsFailed' } })).length, 1);
    const optedIn = actions(allowStatements(synth({ serviceSelection: 'opted-in' })));
    assert.ok(!optedIn.includes('lambda:ListFunctions') && optedIn.includes('lambda:GetFunction'));
    const disabled = synth({ lambdaFunctions: 'Disabled' });
    assert.ok(!actions(allowStatements(disabled)).some((a) => a.startsWith('lambda:') || a === 'ecr:GetDownloadUrlForLayer'));
    assert.deepEqual(disabled.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'FunctionsFailed' } }), {});
  });

  test('opted-in discovery uses the tagging API and lists no cluster', () => {
    const matching = actions([statement(synth(), 'DiscoverServices')]);
    assert.deepEqual(matching.sort(), ['ecs:DescribeTaskDefinition', 'ecs:ListClusters', 'ecs:ListServices']);
    const optedIn = actions([statement(synth({ serviceSelection: 'opted-in' }), 'DiscoverServices')]);
    assert.deepEqual(optedIn.sort(), ['ecs:DescribeTaskDefinition', 'tag:GetResources']);
  });

  test('DryRun grants no ECS, DynamoDB or EventBridge write, whatever else is enabled', () => {
    const granted = actions(allowStatements(synth({ runMode: 'DryRun', newRevisions: 'Enabled' })));
    for (const write of ['ecs:UpdateService', 'ecs:RegisterTaskDefinition', 'ecs:TagResource', 'iam:PassRole',
      'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'events:PutEvents',
      'lambda:UpdateFunctionCode', 'lambda:PublishVersion', 'lambda:UpdateAlias', 'ecr:GetDownloadUrlForLayer']) {
      assert.ok(!granted.includes(write), write);
    }
    assert.ok(granted.includes('ecs:DescribeServices') && granted.includes('ecs:ListServices'));
    assert.ok(actions(allowStatements(synth({ newRevisions: 'Enabled' }))).includes('ecs:UpdateService'));
  });

  test('named clusters: no ListClusters, and ListServices only on them (ecs:cluster)', () => {
    const named = synth({ clusters: ['prod', 'staging'] });
    assert.deepEqual(actions([statement(named, 'DiscoverServices')]), ['ecs:DescribeTaskDefinition']);
    assert.ok(!actions(allowStatements(named)).includes('ecs:ListClusters'));
    const list = statement(named, 'ListNamedClusterServices');
    assert.deepEqual([list.Action, list.Resource], ['ecs:ListServices', '*']);
    const clusters = (list.Condition as { ArnLike: { 'ecs:cluster': unknown[] } }).ArnLike['ecs:cluster'];
    assert.deepEqual(clusters.map(arnText), [
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:cluster/prod',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:cluster/staging',
    ]);
  });

  test('services of every cluster are reachable when no cluster is given', () => {
    const resource = statement(synth(), 'RedeployServices').Resource;
    assert.equal(arnText(resource), 'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/*/*');
  });

  test('given clusters scope DescribeServices and UpdateService to their services', () => {
    const found = statement(synth({ clusters: ['prod', 'staging'] }), 'RedeployServices');
    assert.deepEqual(found.Action, ['ecs:DescribeServices', 'ecs:UpdateService']);
    assert.deepEqual((found.Resource as unknown[]).map(arnText), [
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/prod/*',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/staging/*',
    ]);
  });

  test('the platform check reads image indexes of the repositories in scope only', () => {
    const every = statement(synth(), 'ReadPushedImageIndexes');
    assert.equal(every.Action, 'ecr:BatchGetImage');
    assert.equal(arnText(every.Resource), 'arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/*');
    const scoped = statement(synth({ repositories: ['team-a/*', 'web'] }), 'ReadPushedImageIndexes');
    assert.deepEqual((scoped.Resource as unknown[]).map(arnText), [
      'arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/team-a/*',
      'arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/web',
    ]);
  });

  test('service revisions and deployments are readable for the services in scope, each with its service', () => {
    const every = statement(synth(), 'ReadServiceRevisions');
    assert.deepEqual(every.Action, ['ecs:DescribeServiceRevisions', 'ecs:DescribeServiceDeployments']);
    assert.deepEqual((every.Resource as unknown[]).map(arnText), [
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/*/*',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service-revision/*',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service-deployment/*',
    ]);
    const scoped = statement(synth({ clusters: ['prod', 'staging'] }), 'ReadServiceRevisions');
    assert.deepEqual((scoped.Resource as unknown[]).map(arnText), [
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/prod/*',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/staging/*',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service-revision/prod/*',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service-revision/staging/*',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service-deployment/prod/*',
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service-deployment/staging/*',
    ]);
  });

  test('the sweep is a rule on a 30-minute schedule that puts its event on the event queue', () => {
    const template = synth();
    const id = ruleId(template, 'SweepRule');
    assert.ok(id, 'no sweep rule by default');
    const rule = template.findResources('AWS::Events::Rule')[id].Properties;
    assert.equal(rule.ScheduleExpression, 'rate(30 minutes)');
    assert.equal(rule.EventPattern, undefined);
    assert.equal(rule.Targets.length, 1);
    assert.deepEqual(rule.Targets[0].Arn, { 'Fn::GetAtt': [eventQueueId(template), 'Arn'] });
    assert.deepEqual(
      Object.keys(template.findResources('AWS::Events::Rule')).sort(),
      [ruleId(template, 'EcrPushRule'), ruleId(template, 'EcsDeploymentRule'), id].sort(),
    );
  });

  test("sweepSchedule sets the rule's schedule, and 'off' leaves no rule and no queue grant for it", () => {
    const daily = synth({ sweepSchedule: events.Schedule.cron({ minute: '0', hour: '6' }) });
    assert.equal(daily.findResources('AWS::Events::Rule')[ruleId(daily, 'SweepRule')!].Properties.ScheduleExpression, 'cron(0 6 * * ? *)');
    const off = synth({ sweepSchedule: 'off', deployLock: 'Disabled' });
    assert.equal(ruleId(off, 'SweepRule'), undefined);
    assert.deepEqual(Object.keys(off.findResources('AWS::Events::Rule')), [ruleId(off, 'EcrPushRule')]);
    const allows = queuePolicyStatements(off, eventQueueId(off)).filter((s) => s.Effect === 'Allow');
    assert.equal(allows.length, 1);
    assert.deepEqual(allows[0].Condition, { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId(off, 'EcrPushRule'), 'Arn'] } } });
  });

  test('the construct exposes the sweep rule only when there is a sweep', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Test');
    assert.ok(new EcsRedeploy(stack, 'Swept').sweepRule);
    assert.equal(new EcsRedeploy(stack, 'Unswept', { sweepSchedule: 'off' }).sweepRule, undefined);
  });

  test('notifications go to the default bus by default: NOTIFY_BUS=default and PutEvents on that bus only', () => {
    const template = synth();
    const put = statement(template, 'PutNotifications');
    assert.equal(put.Action, 'events:PutEvents');
    assert.equal(put.Condition, undefined);
    assert.equal(arnText(put.Resource), 'arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/default');
    assert.equal(functionProperties(template).Environment.Variables.NOTIFY_BUS, 'default');
    assert.deepEqual(actions(allowStatements(template)).filter((a) => a.startsWith('events:')), ['events:PutEvents']);
  });

  test('notifications: false sets no NOTIFY_BUS and grants no PutEvents', () => {
    const template = synth({ notifications: false });
    assert.ok(!('NOTIFY_BUS' in functionProperties(template).Environment.Variables));
    assert.deepEqual(actions(allowStatements(template)).filter((a) => a.startsWith('events:')), []);
  });

  test('a given bus is NOTIFY_BUS by its ARN, and the only bus the role may put events on', () => {
    const arn = 'arn:aws:events:eu-west-1:111122223333:event-bus/deployments';
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    new EcsRedeploy(stack, 'EcsRedeploy', { notifications: events.EventBus.fromEventBusArn(stack, 'Bus', arn) });
    const template = Template.fromStack(stack);
    assert.equal(functionProperties(template).Environment.Variables.NOTIFY_BUS, arn);
    assert.equal(statement(template, 'PutNotifications').Resource, arn);
    // A bus of the app: its ARN is a token, taken as it is.
    const own = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Own');
    new EcsRedeploy(own, 'EcsRedeploy', { notifications: new events.EventBus(own, 'Deployments') });
    const ownTemplate = Template.fromStack(own);
    const busId = Object.keys(ownTemplate.findResources('AWS::Events::EventBus'))[0];
    assert.deepEqual(functionProperties(ownTemplate).Environment.Variables.NOTIFY_BUS, { 'Fn::GetAtt': [busId, 'Arn'] });
    assert.deepEqual(statement(ownTemplate, 'PutNotifications').Resource, { 'Fn::GetAtt': [busId, 'Arn'] });
  });

  test('the new-revision permissions are absent by default', () => {
    const all = actions(allowStatements(synth()));
    for (const action of ['ecs:RegisterTaskDefinition', 'ecs:TagResource', 'iam:PassRole']) {
      assert.ok(!all.includes(action), `${action} granted by default`);
    }
  });

  test('the new-revision permissions are granted, and narrowed, when enabled', () => {
    const template = synth({ newRevisions: 'Enabled' });
    assert.equal(statement(template, 'RegisterRevisions').Action, 'ecs:RegisterTaskDefinition');
    assert.deepEqual(statement(template, 'TagRevisionsOnRegistration').Condition, {
      StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' },
    });
    const passRole = statement(template, 'PassTaskRolesToEcsTasks');
    assert.equal(passRole.Action, 'iam:PassRole');
    assert.deepEqual(passRole.Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  test('passRoleArns narrows iam:PassRole to the given roles, still only to ECS tasks', () => {
    const arns = ['arn:aws:iam::123456789012:role/app-task', 'arn:aws:iam::123456789012:role/ecs/app-execution'];
    const narrowed = statement(synth({ newRevisions: 'Enabled', passRoleArns: arns }), 'PassTaskRolesToEcsTasks');
    assert.deepEqual(narrowed.Resource, arns);
    assert.deepEqual(narrowed.Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    for (const props of [{}, { passRoleArns: [] }] as EcsRedeployProps[]) {
      const any = statement(synth({ newRevisions: 'Enabled', ...props }), 'PassTaskRolesToEcsTasks');
      assert.equal(arnText(any.Resource), 'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*');
    }
    // A role defined in the app: its ARN is a token, taken as it is.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    const taskRole = new iam.Role(stack, 'TaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    new EcsRedeploy(stack, 'EcsRedeploy', { newRevisions: 'Enabled', passRoleArns: [taskRole.roleArn] });
    const roleId = Object.keys(Template.fromStack(stack).findResources('AWS::IAM::Role')).find((id) => id.startsWith('TaskRole'));
    assert.deepEqual(statement(Template.fromStack(stack), 'PassTaskRolesToEcsTasks').Resource, { 'Fn::GetAtt': [roleId, 'Arn'] });
  });

  test('aws:ResourceAccount pins DescribeServices and UpdateService to the stack account, and no statement on "*"', () => {
    for (const clusters of [undefined, ['prod']]) {
      const template = synth({ clusters, newRevisions: 'Enabled' });
      for (const sid of ['RedeployServices', 'ReadServiceRevisions']) {
        assert.deepEqual(statement(template, sid).Condition, {
          StringEquals: { 'aws:ResourceAccount': { Ref: 'AWS::AccountId' } },
        }, sid);
      }
      const onStar = allowStatements(template).filter((s) => s.Resource === '*');
      assert.ok(onStar.length > 0);
      for (const s of onStar) assert.ok(!JSON.stringify(s.Condition ?? {}).includes('aws:ResourceAccount'), s.Sid);
    }
  });

  /** The alarms of a template by construct id, e.g. `FailedServicesBatchAlarm`. */
  function alarmsOf(template: Template): Record<string, Record<string, any>> {
    const found: Record<string, Record<string, any>> = {};
    for (const [id, alarm] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
      const name = id.replace(/^EcsRedeploy/, '').replace(/[0-9A-F]{8}$/, '');
      found[name] = alarm.Properties;
    }
    return found;
  }
  const alarmNames = ['EventDeadLetterQueueAlarm', 'FailedFunctionsAlarm', 'FailedRolloutsAlarm', 'FailedServicesBatchAlarm',
    'FailedServicesPushAlarm', 'FunctionErrorsAlarm', 'UndeliveredEventQueueAlarm'];
  const oneOccurrenceIn5Minutes = {
    Period: 300, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching',
  };

  test('alarms: failed services per Trigger value, each dead-letter queue, function errors; no actions without alarmEmail', () => {
    const template = synth();
    const alarms = alarmsOf(template);
    assert.deepEqual(Object.keys(alarms).sort(), alarmNames);
    for (const [name, alarm] of Object.entries(alarms)) {
      assert.deepEqual(
        Object.fromEntries(Object.keys(oneOccurrenceIn5Minutes).map((k) => [k, alarm[k]])), oneOccurrenceIn5Minutes, name);
      assert.equal(alarm.AlarmActions, undefined, name);
      assert.ok(alarm.AlarmDescription.length > 40, name);
    }
    for (const [name, trigger] of [['FailedServicesBatchAlarm', 'batch'], ['FailedServicesPushAlarm', 'push']]) {
      assert.equal(alarms[name].Namespace, 'ecs-redeploy');
      assert.equal(alarms[name].MetricName, 'Failed');
      assert.equal(alarms[name].Statistic, 'Sum');
      assert.deepEqual(alarms[name].Dimensions, [{ Name: 'Trigger', Value: trigger }]);
    }
    assert.equal(alarms.FailedRolloutsAlarm.Namespace, 'ecs-redeploy');
    assert.equal(alarms.FailedRolloutsAlarm.MetricName, 'RolloutsFailed');
    assert.equal(alarms.FailedRolloutsAlarm.Statistic, 'Sum');
    assert.deepEqual(alarms.FailedRolloutsAlarm.Dimensions, [{ Name: 'Trigger', Value: 'batch' }]);
    assert.ok(!('FailedRolloutsAlarm' in alarmsOf(synth({ deployLock: 'Disabled' }))), 'no table, no rollouts followed');
    assert.equal(alarms.FailedFunctionsAlarm.MetricName, 'FunctionsFailed');
    assert.deepEqual(alarms.FailedFunctionsAlarm.Dimensions, [{ Name: 'Trigger', Value: 'batch' }]);
    assert.ok(!('FailedFunctionsAlarm' in alarmsOf(synth({ lambdaFunctions: 'Disabled' }))), 'no functions followed');
    for (const [name, queue] of [['EventDeadLetterQueueAlarm', eventDlqId(template)], ['UndeliveredEventQueueAlarm', undeliveredId(template)]]) {
      assert.equal(alarms[name].Namespace, 'AWS/SQS');
      assert.equal(alarms[name].MetricName, 'ApproximateNumberOfMessagesVisible');
      assert.equal(alarms[name].Statistic, 'Maximum');
      assert.deepEqual(alarms[name].Dimensions, [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }]);
    }
    const fnId = Object.keys(template.findResources('AWS::Lambda::Function'))[0];
    assert.equal(alarms.FunctionErrorsAlarm.Namespace, 'AWS/Lambda');
    assert.equal(alarms.FunctionErrorsAlarm.MetricName, 'Errors');
    assert.equal(alarms.FunctionErrorsAlarm.Statistic, 'Sum');
    assert.deepEqual(alarms.FunctionErrorsAlarm.Dimensions, [{ Name: 'FunctionName', Value: { Ref: fnId } }]);
    assert.deepEqual(Object.keys(template.findResources('AWS::SNS::Topic')), []);
    assert.deepEqual(Object.keys(template.findResources('AWS::SNS::Subscription')), []);
  });

  test('metricsNamespace reaches METRICS_NAMESPACE and the failed-services alarms', () => {
    const template = synth({ metricsNamespace: 'team-a/redeploy' });
    assert.equal(functionProperties(template).Environment.Variables.METRICS_NAMESPACE, 'team-a/redeploy');
    const alarms = alarmsOf(template);
    assert.equal(alarms.FailedServicesBatchAlarm.Namespace, 'team-a/redeploy');
    assert.equal(alarms.FailedServicesPushAlarm.Namespace, 'team-a/redeploy');
  });

  test('alarmEmail: a TLS-only topic with an email subscription that every alarm notifies, CloudWatch of this account may publish', () => {
    const template = synth({ alarmEmail: 'ops@example.com' });
    const topics = Object.keys(template.findResources('AWS::SNS::Topic'));
    assert.equal(topics.length, 1);
    const [topic] = topics;
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topic } });
    for (const [name, alarm] of Object.entries(alarmsOf(template))) assert.deepEqual(alarm.AlarmActions, [{ Ref: topic }], name);
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy'));
    assert.equal(policies.length, 1);
    assert.deepEqual(policies[0].Properties.Topics, [{ Ref: topic }]);
    const statements = policies[0].Properties.PolicyDocument.Statement as (Statement & { Principal: unknown })[];
    const cloudwatch = statements.find((s) => s.Sid === 'CloudWatchAlarmsOfThisAccount');
    assert.ok(cloudwatch);
    assert.deepEqual(cloudwatch.Principal, { Service: 'cloudwatch.amazonaws.com' });
    assert.equal(cloudwatch.Action, 'sns:Publish');
    assert.deepEqual((cloudwatch.Condition as any).StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    assert.equal(arnText((cloudwatch.Condition as any).ArnLike['aws:SourceArn']),
      'arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*');
    assert.ok(statements.some((s) => s.Effect === 'Deny' && JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}'));
    // Not encrypted with alias/aws/sns, which CloudWatch cannot use.
    assert.equal(Object.values(template.findResources('AWS::SNS::Topic'))[0].Properties.KmsMasterKeyId, undefined);
  });

  test('the construct exposes its alarms, and the topic only with alarmEmail', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    const without = new EcsRedeploy(stack, 'Without');
    assert.equal(without.alarmTopic, undefined);
    assert.deepEqual(Object.keys(without.alarms).sort(),
      ['eventDeadLetterQueue', 'failedFunctions', 'failedRollouts', 'failedServicesBatch', 'failedServicesPush',
        'functionErrors', 'undeliveredEventQueue']);
    assert.equal(new Set(Object.values(without.alarms).map((a) => a.node.path)).size, 7);
    assert.equal(new EcsRedeploy(stack, 'Unlocked', { deployLock: 'Disabled' }).alarms.failedRollouts, undefined);
    const withEmail = new EcsRedeploy(stack, 'With', { alarmEmail: 'ops@example.com' });
    assert.ok(withEmail.alarmTopic);
  });

  test('invalid props are rejected at synth time', () => {
    assert.throws(() => stackWith({ clusters: ['arn:aws:ecs:eu-west-1:111122223333:cluster/prod'] }), /cluster name/);
    assert.throws(() => stackWith({ repositories: ['Team A'] }), /repository pattern/);
    assert.throws(() => stackWith({ repositories: ['web', 'team-a/**'] }), /"team-a\/\*\*" has consecutive \* \(EventBridge refuses \*\*/);
    assert.throws(() => stackWith({ repositories: Array.from({ length: 100 }, (_, i) => `repository-${i}`) }),
      /event pattern would be \d+ characters, above EventBridge's default quota of 2048/);
    assert.throws(() => stackWith({ maxConcurrency: 65 }), /maxConcurrency/);
    assert.throws(() => stackWith({ maxAttempts: 0 }), /maxAttempts/);
    assert.throws(() => stackWith({ reservedConcurrency: 0 }), /reservedConcurrency/);
    assert.throws(() => stackWith({ tagKey: 'a,b' }), /tag key/);
    assert.throws(() => stackWith({ newRevisions: 'Enabled', passRoleArns: ['arn:aws:iam::123456789012:user/deploy'] }),
      /passRoleArns: "arn:aws:iam::123456789012:user\/deploy" is not an IAM role ARN/);
    assert.throws(() => stackWith({ newRevisions: 'Enabled', passRoleArns: ['*'] }), /passRoleArns/);
    assert.throws(() => stackWith({ metricsNamespace: 'AWS/Lambda' }), /metricsNamespace "AWS\/Lambda" must be .* not starting with AWS\//);
    assert.throws(() => stackWith({ metricsNamespace: '' }), /metricsNamespace/);
    assert.throws(() => stackWith({ metricsNamespace: 'a!' }), /metricsNamespace/);
    assert.throws(() => stackWith({ metricsNamespace: 'x'.repeat(256) }), /metricsNamespace/);
    assert.throws(() => stackWith({ alarmEmail: 'ops' }), /alarmEmail "ops" is not an email address/);
    assert.throws(() => stackWith({ alarmEmail: 'a@b.c,d@e.f' }), /alarmEmail/);
    assert.throws(() => stackWith({ tagKey: 'aws:team' }), /tag key "aws:team" starts with aws:, which AWS reserves/);
    assert.throws(() => stackWith({ tagKey: 'AWS:team' }), /starts with aws:/);
    assert.throws(() => stackWith({ batchSize: 0 }), /batchSize must be an integer in 1\.\.100/);
    assert.throws(() => stackWith({ batchSize: 101 }), /batchSize/);
    assert.throws(() => stackWith({ batchSize: 2.5 }), /batchSize/);
    assert.throws(() => stackWith({ batchWindow: Duration.seconds(301) }), /batchWindow must be whole seconds in 0\.\.300/);
    assert.throws(() => stackWith({ batchWindow: Duration.millis(1500) }), /batchWindow/);
    assert.throws(() => stackWith({ batchSize: 11, batchWindow: Duration.seconds(0) }),
      /batchSize above 10 needs a batchWindow of at least 1 second/);
    stackWith({ batchSize: 10, batchWindow: Duration.seconds(0) });
    stackWith({ batchSize: 100, batchWindow: Duration.seconds(1) });
    assert.throws(() => stackWith({ maxConcurrentBatches: 1 }), /maxConcurrentBatches must be an integer in 2\.\.1000/);
    assert.throws(() => stackWith({ maxConcurrentBatches: 1001 }), /maxConcurrentBatches/);
    assert.throws(() => stackWith({ maxReceiveCount: 0 }), /maxReceiveCount must be an integer in 1\.\.1000/);
    assert.throws(() => stackWith({ maxReceiveCount: 1001 }), /maxReceiveCount/);
    assert.throws(() => stackWith({ timeout: Duration.seconds(59) }), /timeout must be whole seconds in 60\.\.900/);
    assert.throws(() => stackWith({ timeout: Duration.minutes(16) }), /timeout/);
    // Values a JavaScript caller (no type checking) could pass.
    const untyped = (props: Record<string, string>) => stackWith(props as EcsRedeployProps);
    assert.throws(() => untyped({ defaultAction: 'Pin' }), /defaultAction must be one of force, pin/);
    assert.throws(() => untyped({ deployLock: 'true' }), /deployLock/);
    assert.throws(() => untyped({ replicatedImages: 'yes' }), /replicatedImages/);
    assert.throws(() => untyped({ newRevisions: 'enabled' }), /newRevisions/);
    assert.throws(() => untyped({ sweepSchedule: 'rate(30 minutes)' }), /sweepSchedule must be an events.Schedule or 'off'/);
    assert.throws(() => untyped({ notifications: 'default' }), /notifications must be true, false or an event bus/);
  });
});

describe('cdk-nag AwsSolutions', () => {
  function synthWithNag(configure: (stack: Stack) => void): void {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    configure(new Stack(app, 'Nag'));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
  }

  test('reports an unacknowledged finding (the check is live)', () => {
    assert.throws(() => synthWithNag((stack) => new sqs.Queue(stack, 'PlainQueue')), /Validation failed/);
  });

  test('passes with defaults', () => {
    synthWithNag((stack) => new EcsRedeploy(stack, 'EcsRedeploy'));
  });

  test('passes with clusters, pin mode, new revisions and replication enabled', () => {
    synthWithNag(
      (stack) =>
        new EcsRedeploy(stack, 'EcsRedeploy', {
          clusters: ['prod', 'dev'],
          newRevisions: 'Enabled',
          defaultAction: 'pin',
          replicatedImages: 'Redeploy',
        }),
    );
  });

  test('passes with iam:PassRole narrowed to given roles', () => {
    synthWithNag((stack) => new EcsRedeploy(stack, 'EcsRedeploy', {
      newRevisions: 'Enabled',
      passRoleArns: ['arn:aws:iam::123456789012:role/app-task', 'arn:aws:iam::123456789012:role/app-execution'],
    }));
  });

  test('passes with an alarm email (the topic)', () => {
    synthWithNag((stack) => new EcsRedeploy(stack, 'EcsRedeploy', { alarmEmail: 'ops@example.com' }));
  });

  test('passes without the sweep and with notifications to a bus of the app', () => {
    synthWithNag((stack) => new EcsRedeploy(stack, 'EcsRedeploy', {
      sweepSchedule: 'off',
      notifications: new events.EventBus(stack, 'Deployments'),
    }));
  });

  test('passes without notifications, with a daily sweep of given clusters', () => {
    synthWithNag((stack) => new EcsRedeploy(stack, 'EcsRedeploy', {
      notifications: false,
      sweepSchedule: events.Schedule.cron({ minute: '0', hour: '6' }),
      clusters: ['prod'],
    }));
  });

  test('passes without the lock table', () => {
    synthWithNag((stack) => new EcsRedeploy(stack, 'EcsRedeploy', { deployLock: 'Disabled' }));
  });

  test("the lock table's only cdk-nag finding is the acknowledged AwsSolutions-DDB3 (no PITR)", () => {
    // The lock table's settings without the construct's acknowledgement: the report names what it hides.
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nag-'));
    try {
      const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
      new dynamodb.Table(new Stack(app, 'Nag'), 'Bare', {
        partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        timeToLiveAttribute: 'expires_at',
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
      });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      assert.throws(() => app.synth(), /Validation failed/);
      const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
      const rules = report.pluginReports.flatMap((r: { violations: { ruleName: string }[] }) => r.violations.map((v) => v.ruleName));
      assert.deepEqual(rules, ['AwsSolutions-DDB3']);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
