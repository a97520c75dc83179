import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EcsRedeploy, EcsRedeployProps } from '../lib';

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

describe('EcsRedeploy', () => {
  test('the rule matches successful ECR pushes of every repository by default', () => {
    const rules = Object.values(synth().findResources('AWS::Events::Rule'));
    assert.equal(rules.length, 1);
    assert.deepEqual(rules[0].Properties.EventPattern, {
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action'],
      detail: { 'action-type': ['PUSH'], result: ['SUCCESS'] },
    });
  });

  test('replicated images join the pattern when enabled, under the same repository filter', () => {
    const rules = Object.values(
      synth({ replicatedImages: 'Redeploy', repositories: ['team-a/*', 'web'] }).findResources('AWS::Events::Rule'),
    );
    assert.equal(rules.length, 1);
    assert.deepEqual(rules[0].Properties.EventPattern, {
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action', 'ECR Replication Action'],
      detail: {
        'action-type': ['PUSH', 'REPLICATE'],
        result: ['SUCCESS'],
        'repository-name': [{ wildcard: 'team-a/*' }, { wildcard: 'web' }],
      },
    });
  });

  test('replicated images are ignored explicitly too', () => {
    const rule = Object.values(synth({ replicatedImages: 'Ignore' }).findResources('AWS::Events::Rule'))[0];
    assert.deepEqual(rule.Properties.EventPattern['detail-type'], ['ECR Image Action']);
    assert.deepEqual(rule.Properties.EventPattern.detail['action-type'], ['PUSH']);
  });

  test('repositories become wildcard filters on the repository name', () => {
    synth({ repositories: ['team-a/*', 'web'] }).hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        detail: { 'repository-name': [{ wildcard: 'team-a/*' }, { wildcard: 'web' }] },
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
    assert.equal(fn.ReservedConcurrentExecutions, 1);
    const logGroups = template.findResources('AWS::Logs::LogGroup');
    assert.equal(Object.keys(logGroups).length, 1);
    const [logGroupId, logGroup] = Object.entries(logGroups)[0];
    assert.equal(logGroup.Properties.RetentionInDays, 30);
    assert.deepEqual(fn.LoggingConfig, { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', LogGroup: { Ref: logGroupId } });
    const writeLogs = allowStatements(template).find((s) => actions([s]).includes('logs:PutLogEvents'));
    assert.deepEqual(writeLogs?.Resource, { 'Fn::GetAtt': [logGroupId, 'Arn'] });
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
        architecture: lambda.Architecture.X86_64,
        reservedConcurrency: 'Unreserved',
        defaultAction: 'pin',
        newRevisions: 'Enabled',
        deployLock: 'Disabled',
      }),
    );
    assert.deepEqual(fn.Environment.Variables, {
      TAG_KEY: 'redeploy',
      SELECT: 'opted-in',
      CLUSTERS: 'prod,staging',
      MAX_CONCURRENCY: '4',
      DRY_RUN: 'true',
      DEFAULT_ACTION: 'pin',
      RETRY_MODE: 'standard',
      MAX_ATTEMPTS: '3',
    });
    assert.deepEqual(fn.Architectures, ['x86_64']);
    assert.equal(fn.ReservedConcurrentExecutions, undefined);
  });

  test('defaults give the documented environment, LOCK_TABLE naming the lock table', () => {
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
      LOCK_TABLE: { Ref: table },
      RETRY_MODE: 'adaptive',
      MAX_ATTEMPTS: '5',
    });
  });

  test('the lock table is on-demand, keyed by id, expires items on expires_at, encrypted with KMS', () => {
    const template = synth();
    const tables = template.findResources('AWS::DynamoDB::Table');
    assert.equal(Object.keys(tables).length, 1);
    const table = Object.values(tables)[0];
    assert.deepEqual(table.Properties.KeySchema, [{ AttributeName: 'id', KeyType: 'HASH' }]);
    assert.deepEqual(table.Properties.AttributeDefinitions, [{ AttributeName: 'id', AttributeType: 'S' }]);
    assert.equal(table.Properties.BillingMode, 'PAY_PER_REQUEST');
    assert.equal(table.Properties.ProvisionedThroughput, undefined);
    assert.deepEqual(table.Properties.TimeToLiveSpecification, { AttributeName: 'expires_at', Enabled: true });
    assert.deepEqual(table.Properties.SSESpecification, { SSEEnabled: true });
    assert.deepEqual(table.Properties.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: false });
    assert.equal(table.DeletionPolicy, 'Delete');
  });

  test('the lock table is reachable for PutItem, UpdateItem and DeleteItem on its own ARN only', () => {
    const template = synth();
    const table = tableId(template);
    const dynamo = allowStatements(template).filter((s) => actions([s]).some((a) => a.startsWith('dynamodb:')));
    assert.equal(dynamo.length, 1);
    assert.equal(dynamo[0].Sid, 'ClaimDeployLocks');
    assert.deepEqual(dynamo[0].Action, ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']);
    assert.deepEqual(dynamo[0].Resource, { 'Fn::GetAtt': [table, 'Arn'] });
    assert.equal(dynamo[0].Condition, undefined);
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

  test('both dead-letter queues exist, are encrypted, keep messages 14 days and refuse plain HTTP', () => {
    const template = synth();
    const queues = template.findResources('AWS::SQS::Queue');
    assert.equal(Object.keys(queues).length, 2);
    for (const queue of Object.values(queues)) {
      assert.equal(queue.Properties.SqsManagedSseEnabled, true);
      assert.equal(queue.Properties.MessageRetentionPeriod, 14 * 24 * 3600);
    }
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy'));
    assert.equal(policies.length, 2);
    for (const policy of policies) {
      assert.ok(
        policy.Properties.PolicyDocument.Statement.some(
          (s: Statement) => s.Effect === 'Deny' && JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}',
        ),
      );
    }
  });

  test('undelivered events and failed invocations go to separate queues', () => {
    const template = synth();
    const queueIds = Object.keys(template.findResources('AWS::SQS::Queue'));
    const undelivered = queueIds.find((id) => id.includes('UndeliveredEventQueue'));
    const failed = queueIds.find((id) => id.includes('FailedInvocationQueue'));
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [undelivered, 'Arn'] } },
        }),
      ],
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: undelivered }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage' }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failed, 'Arn'] } } },
    });
    const sendToFailed = allowStatements(template).find((s) => actions([s]).includes('sqs:SendMessage'));
    assert.deepEqual(sendToFailed?.Resource, { 'Fn::GetAtt': [failed, 'Arn'] });
  });

  test('no IAM statement allows a wildcard action', () => {
    const all = actions(allowStatements(synth({ newRevisions: 'Enabled', clusters: ['prod'] })));
    assert.ok(all.length > 0);
    assert.deepEqual(all.filter((a) => a.includes('*')), []);
  });

  test('opted-in discovery uses the tagging API and lists no cluster', () => {
    const matching = actions([statement(synth(), 'DiscoverServices')]);
    assert.deepEqual(matching.sort(), ['ecs:DescribeTaskDefinition', 'ecs:ListClusters', 'ecs:ListServices']);
    const optedIn = actions([statement(synth({ serviceSelection: 'opted-in' }), 'DiscoverServices')]);
    assert.deepEqual(optedIn.sort(), ['ecs:DescribeTaskDefinition', 'tag:GetResources']);
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

  test('invalid props are rejected at synth time', () => {
    assert.throws(() => stackWith({ clusters: ['arn:aws:ecs:eu-west-1:111122223333:cluster/prod'] }), /cluster name/);
    assert.throws(() => stackWith({ repositories: ['Team A'] }), /repository pattern/);
    assert.throws(() => stackWith({ maxConcurrency: 65 }), /maxConcurrency/);
    assert.throws(() => stackWith({ maxAttempts: 0 }), /maxAttempts/);
    assert.throws(() => stackWith({ reservedConcurrency: 0 }), /reservedConcurrency/);
    assert.throws(() => stackWith({ tagKey: 'a,b' }), /tag key/);
    // Values a JavaScript caller (no type checking) could pass.
    const untyped = (props: Record<string, string>) => stackWith(props as EcsRedeployProps);
    assert.throws(() => untyped({ defaultAction: 'Pin' }), /defaultAction must be one of force, pin/);
    assert.throws(() => untyped({ deployLock: 'true' }), /deployLock/);
    assert.throws(() => untyped({ replicatedImages: 'yes' }), /replicatedImages/);
    assert.throws(() => untyped({ newRevisions: 'enabled' }), /newRevisions/);
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
