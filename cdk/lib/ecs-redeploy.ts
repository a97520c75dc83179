import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

/** `matching`: every service running the image unless its tag value is `off`; `opted-in`: only tagged services. */
export type ServiceSelection = 'matching' | 'opted-in';
/** `DryRun` plans and logs the deployments without starting them. */
export type RunMode = 'Redeploy' | 'DryRun';
/** AWS SDK retry mode; `adaptive` adds client-side rate limiting. */
export type RetryMode = 'standard' | 'adaptive';
/**
 * `Enabled` grants what registering new task-definition revisions needs: the pin mode (`defaultAction: 'pin'`)
 * and services tagged `pin` or with a `semver:`/`glob:`/`regex:`/`prefix:` policy.
 */
export type NewRevisions = 'Disabled' | 'Enabled';
/** Mode of services whose tag does not choose one: `force` a new deployment, or `pin` a new revision to the digest. */
export type DefaultAction = 'force' | 'pin';
/** `Enabled` creates a DynamoDB table so that concurrent duplicate deliveries of a push deploy a service once. */
export type DeployLock = 'Enabled' | 'Disabled';
/** `Redeploy` also treats images replicated into this registry (`ECR Replication Action`) as pushes. */
export type ReplicatedImages = 'Ignore' | 'Redeploy';
/** Concurrent executions reserved for (and capping) the function, or `Unreserved` for no cap. */
export type ReservedConcurrency = number | 'Unreserved';

/** Mirrors the parameters of the SAM template (template.yaml). */
export interface EcsRedeployProps {
  /**
   * ECR repository names or patterns where `*` matches anything (`team-a/*`); applies to replications too.
   * Default: every repository.
   */
  readonly repositories?: string[];
  /** Default: `Ignore`. */
  readonly replicatedImages?: ReplicatedImages;
  /** ECS cluster names to search; the IAM policy is limited to their services. Default: every cluster. */
  readonly clusters?: string[];
  /** Service tag key that opts services in or out. Default: `ecs-redeploy`. */
  readonly tagKey?: string;
  /** Default: `matching`. */
  readonly serviceSelection?: ServiceSelection;
  /** Default: `Redeploy`. */
  readonly runMode?: RunMode;
  /** Default: `force`. `pin` requires `newRevisions: 'Enabled'` (checked at synth time). */
  readonly defaultAction?: DefaultAction;
  /** Default: `Enabled`. `Disabled` leaves the concurrent-duplicate race open. */
  readonly deployLock?: DeployLock;
  /** Bound on concurrent ECS calls within one invocation, 1–64. Default: 8. */
  readonly maxConcurrency?: number;
  /** Default: `standard`. */
  readonly retryMode?: RetryMode;
  /** AWS SDK attempts per ECS call, 1–10. Default: 5. */
  readonly maxAttempts?: number;
  /** Default: 1, so a burst of pushes is handled one push at a time instead of storming the ECS API. */
  readonly reservedConcurrency?: ReservedConcurrency;
  /** Default: `Disabled`. */
  readonly newRevisions?: NewRevisions;
  /** Default: ARM_64. */
  readonly architecture?: lambda.Architecture;
  /** Default: 128 MB. */
  readonly memorySize?: number;
  /** Default: 5 minutes. */
  readonly timeout?: Duration;
  /** Default: INFO. */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /** Default: one month. */
  readonly logRetention?: logs.RetentionDays;
  /** Lambda retries of a failed invocation, 0–2. Default: 2. */
  readonly maximumRetryAttempts?: number;
  /** Longest an event may wait in Lambda's queue, 1 minute–6 hours. Default: 6 hours. */
  readonly maximumEventAge?: Duration;
  /** Cargo.toml of the ecs-redeploy crate. Default: the one at the root of this repository. */
  readonly manifestPath?: string;
}

const REPOSITORY_PATTERN = /^[a-z0-9._/*-]+$/;
const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
const TAG_KEY_PATTERN = /^[A-Za-z0-9 _.:/=+@-]{1,128}$/;

/** The ecs-redeploy function, the EventBridge rule feeding it ECR pushes, and the queues that keep what failed. */
export class EcsRedeploy extends Construct {
  readonly function: lambda.Function;
  readonly rule: events.Rule;
  /** Push events EventBridge could not deliver to the function. */
  readonly undeliveredEventQueue: sqs.Queue;
  /** Invocations that still failed after Lambda's retries, with the original event. */
  readonly failedInvocationQueue: sqs.Queue;
  readonly logGroup: logs.LogGroup;
  /** The deploy-lock table (`LOCK_TABLE`); undefined when `deployLock` is `Disabled`. */
  readonly lockTable?: dynamodb.Table;

  constructor(scope: Construct, id: string, props: EcsRedeployProps = {}) {
    super(scope, id);
    validate(props);
    const clusters = props.clusters ?? [];

    this.undeliveredEventQueue = deadLetterQueue(this, 'UndeliveredEventQueue');
    this.failedInvocationQueue = deadLetterQueue(this, 'FailedInvocationQueue');
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // An own role instead of the default one: the default attaches AWSLambdaBasicExecutionRole (logs on "*").
    const role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    this.logGroup.grantWrite(role);
    grantEcsAccess(role, clusters, props.newRevisions ?? 'Disabled', props.serviceSelection ?? 'matching');
    if ((props.deployLock ?? 'Enabled') === 'Enabled') {
      this.lockTable = lockTable(this, 'LockTable');
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ClaimDeployLocks',
          // Claim (conditional PutItem), mark done (UpdateItem), release (DeleteItem); nothing reads.
          actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
          resources: [this.lockTable.tableArn],
        }),
      );
    }

    const reserved = props.reservedConcurrency ?? 1;
    this.function = new RustFunction(this, 'Function', {
      manifestPath: props.manifestPath ?? path.join(__dirname, '..', '..', 'Cargo.toml'),
      binaryName: 'ecs-redeploy',
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 128,
      timeout: props.timeout ?? Duration.minutes(5),
      role,
      reservedConcurrentExecutions: reserved === 'Unreserved' ? undefined : reserved,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: props.logLevel ?? lambda.ApplicationLogLevel.INFO,
      logGroup: this.logGroup,
      environment: {
        TAG_KEY: props.tagKey ?? 'ecs-redeploy',
        SELECT: props.serviceSelection ?? 'matching',
        CLUSTERS: clusters.join(','),
        MAX_CONCURRENCY: String(props.maxConcurrency ?? 8),
        DRY_RUN: String(props.runMode === 'DryRun'),
        DEFAULT_ACTION: props.defaultAction ?? 'force',
        ...(this.lockTable && { LOCK_TABLE: this.lockTable.tableName }),
        RETRY_MODE: props.retryMode ?? 'adaptive',
        MAX_ATTEMPTS: String(props.maxAttempts ?? 5),
      },
      retryAttempts: props.maximumRetryAttempts ?? 2,
      maxEventAge: props.maximumEventAge ?? Duration.hours(6),
      onFailure: new destinations.SqsDestination(this.failedInvocationQueue),
    });

    const repositories = props.repositories ?? [];
    const replicated = props.replicatedImages === 'Redeploy';
    this.rule = new events.Rule(this, 'EcrPushRule', {
      description: replicated
        ? 'Successful ECR image pushes and replications, sent to ecs-redeploy'
        : 'Successful ECR image pushes, sent to ecs-redeploy',
      eventPattern: {
        source: ['aws.ecr'],
        detailType: replicated ? ['ECR Image Action', 'ECR Replication Action'] : ['ECR Image Action'],
        detail: {
          'action-type': replicated ? ['PUSH', 'REPLICATE'] : ['PUSH'],
          result: ['SUCCESS'],
          // Same form as the SAM template: a wildcard without * matches the exact name. Replication events
          // carry the same repository-name field.
          ...(repositories.length > 0 && {
            'repository-name': events.Match.anyOf(...repositories.map((r) => events.Match.wildcard(r))),
          }),
        },
      },
    });
    // Retries only matter when Lambda rejects the asynchronous invoke: keep trying as long as allowed.
    this.rule.addTarget(
      new targets.LambdaFunction(this.function, {
        retryAttempts: 185,
        maxEventAge: Duration.hours(24),
        deadLetterQueue: this.undeliveredEventQueue,
      }),
    );
  }
}

function deadLetterQueue(scope: Construct, id: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    retentionPeriod: Duration.days(14),
    enforceSSL: true,
    // Its messages are events that were not acted on: keep them even when the stack goes.
    removalPolicy: RemovalPolicy.RETAIN,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is itself a dead-letter queue (EventBridge DLQ or Lambda on-failure destination).',
  });
  return queue;
}

/** Deploy locks: `SERVICE_ARN#DIGEST` items that live at most 24 hours (TTL on `expires_at`). */
function lockTable(scope: Construct, id: string): dynamodb.Table {
  const table = new dynamodb.Table(scope, id, {
    partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: 'expires_at',
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
    // Claims and done markers only: nothing worth keeping once the stack goes.
    removalPolicy: RemovalPolicy.DESTROY,
  });
  Validations.of(table).acknowledge({
    id: 'AwsSolutions-DDB3',
    reason: 'Deploy-lock items live at most 24 hours; restoring old claims would only block or skip deployments.',
  });
  return table;
}

function grantEcsAccess(role: iam.Role, clusters: string[], newRevisions: NewRevisions, selection: ServiceSelection): void {
  const stack = Stack.of(role);
  const acknowledgeWildcard = (resource: string, reason: string) =>
    Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
  // Resources as cdk-nag prints them: pseudo parameters in angle brackets.
  const nagArn = (service: string, region: string, resource: string) =>
    `arn:<AWS::Partition>:${service}:${region}:<AWS::AccountId>:${resource}`;

  // opted-in finds the tagged services through the tagging API and lists no cluster.
  const discovery =
    selection === 'opted-in'
      ? ['tag:GetResources', 'ecs:DescribeTaskDefinition']
      : ['ecs:ListClusters', 'ecs:ListServices', 'ecs:DescribeTaskDefinition'];
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'DiscoverServices',
      actions: discovery,
      resources: ['*'],
    }),
  );
  acknowledgeWildcard('*', `${discovery.join(', ')} support no resource-level permissions.`);

  const services = clusters.length > 0 ? clusters.map((c) => `service/${c}/*`) : ['service/*/*'];
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'RedeployServices',
      actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
      resources: services.map((s) => stack.formatArn({ service: 'ecs', resource: s })),
    }),
  );
  for (const s of services) {
    acknowledgeWildcard(nagArn('ecs', '<AWS::Region>', s), 'Services come and go independently of this stack.');
  }

  if (newRevisions === 'Enabled') {
    const taskDefinitions = stack.formatArn({ service: 'ecs', resource: 'task-definition/*' });
    const roles = stack.formatArn({ service: 'iam', region: '', resource: 'role/*' });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RegisterRevisions',
        actions: ['ecs:RegisterTaskDefinition'],
        resources: [taskDefinitions],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TagRevisionsOnRegistration',
        actions: ['ecs:TagResource'],
        resources: [taskDefinitions],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PassTaskRolesToEcsTasks',
        actions: ['iam:PassRole'],
        resources: [roles],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    acknowledgeWildcard(nagArn('ecs', '<AWS::Region>', 'task-definition/*'),
      'A new revision copies an existing one, whichever task-definition family it belongs to.');
    acknowledgeWildcard(nagArn('iam', '', 'role/*'),
      'A copied revision keeps its task and execution roles (any role); passing is limited to ECS tasks.');
  }
}

function validate(props: EcsRedeployProps): void {
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new Error(`EcsRedeploy: ${message}`);
  };
  const inRange = (value: number | undefined, min: number, max: number) =>
    value === undefined || (Number.isInteger(value) && value >= min && value <= max);
  for (const r of props.repositories ?? []) check(REPOSITORY_PATTERN.test(r), `invalid repository pattern "${r}"`);
  for (const c of props.clusters ?? []) check(CLUSTER_NAME_PATTERN.test(c), `invalid cluster name "${c}" (names, not ARNs)`);
  check(inRange(props.maxConcurrency, 1, 64), 'maxConcurrency must be an integer in 1..64');
  check(inRange(props.maxAttempts, 1, 10), 'maxAttempts must be an integer in 1..10');
  const reserved = props.reservedConcurrency;
  check(reserved === undefined || reserved === 'Unreserved' || inRange(reserved, 1, 9999),
    'reservedConcurrency must be a positive integer or Unreserved');
  check(props.tagKey === undefined || TAG_KEY_PATTERN.test(props.tagKey), `invalid tag key "${props.tagKey}"`);
  const oneOf = (name: string, value: string | undefined, allowed: string[]) =>
    check(value === undefined || allowed.includes(value), `${name} must be one of ${allowed.join(', ')}`);
  oneOf('defaultAction', props.defaultAction, ['force', 'pin']);
  oneOf('deployLock', props.deployLock, ['Enabled', 'Disabled']);
  oneOf('replicatedImages', props.replicatedImages, ['Ignore', 'Redeploy']);
  oneOf('newRevisions', props.newRevisions, ['Disabled', 'Enabled']);
  check(props.defaultAction !== 'pin' || props.newRevisions === 'Enabled',
    "defaultAction 'pin' registers task-definition revisions and needs newRevisions: 'Enabled'");
}
