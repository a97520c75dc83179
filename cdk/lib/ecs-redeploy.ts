import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as eventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as CargoLambdaCdk from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { ecrPushEventPattern, repositoryFilterProblem } from './ecr-push-pattern';

/** `matching`: every service running the image unless its tag value is `off`; `opted-in`: only tagged services. */
export type ServiceSelection = 'matching' | 'opted-in';
/** `DryRun` plans and logs the deployments without starting them. */
export type RunMode = 'Redeploy' | 'DryRun';
/** AWS SDK retry mode; `adaptive` adds client-side rate limiting. */
export type RetryMode = 'standard' | 'adaptive';
export type EcsPacing = 'documented' | 'off';
/**
 * `Enabled` grants what registering new task-definition revisions needs: the pin mode (`defaultAction: 'pin'`)
 * and services tagged `pin` or with a `semver:`/`glob:`/`regex:`/`prefix:` policy.
 */
export type NewRevisions = 'Disabled' | 'Enabled';
/**
 * `Enabled` also updates the container-image Lambda functions whose image names the pushed tag (and grants the
 * Lambda calls that takes); `Disabled` grants none of them.
 */
export type LambdaFunctions = 'Disabled' | 'Enabled';
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
   * Refused at synth: consecutive `*` (EventBridge refuses `**`), and a list that makes the rule's event pattern
   * longer than EventBridge's default quota of 2,048 characters (`EVENT_PATTERN_SIZE_QUOTA`).
   * Default: every repository.
   */
  readonly repositories?: string[];
  /** Default: `Ignore`. */
  readonly replicatedImages?: ReplicatedImages;
  /** ECS cluster names to search; the IAM policy is limited to their services. Default: every cluster. */
  readonly clusters?: string[];
  /**
   * Service tag key that opts services in or out; `aws:` keys (any case) are reserved and refused at synth.
   * Default: `ecs-redeploy`.
   */
  readonly tagKey?: string;
  /**
   * Service tag key whose value (a whole number from 1 to 99) puts the service in a wave of a staged rollout
   * (`WAVE_TAG_KEY`); must differ from `tagKey`. Default: `ecs-redeploy-wave`.
   */
  readonly waveTagKey?: string;
  /**
   * How long a completed wave bakes before the next wave starts (`WAVE_BAKE`), whole seconds 0..86400. Up to 15
   * minutes the function wakes itself with a delayed message on its event queue; a longer bake ends at the first
   * sweep after it. Default: 0.
   */
  readonly waveBake?: Duration;
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
  /** Default: `adaptive` (as the function's own default), which adds client-side rate limiting once ECS throttles. */
  readonly retryMode?: RetryMode;
  /** AWS SDK attempts per ECS call, 1–10. Default: 5. */
  readonly maxAttempts?: number;
  /**
   * Default: `documented`: each ECS call waits for a token of its throttle category at the documented burst and
   * refill rate, so throttling is the exception; `off` leaves throttling to the SDK's retries (`ECS_PACING`).
   */
  readonly ecsPacing?: EcsPacing;
  /**
   * Default: `Unreserved`; `maxConcurrentBatches` already bounds the invocations the queue starts. A reservation
   * must be at least `maxConcurrentBatches` (checked at synth time): below it, throttled batches return to the
   * queue and count towards `maxReceiveCount`.
   */
  readonly reservedConcurrency?: ReservedConcurrency;
  /**
   * Most push events handed to one invocation, 1–100. Above 10 needs a `batchWindow` of at least 1 second.
   * Default: 10.
   */
  readonly batchSize?: number;
  /**
   * How long the event queue gathers push events before invoking the function, 0–300 whole seconds
   * (`MaximumBatchingWindowInSeconds`); pushes of one release arrive together and share an invocation.
   * Default: 5 seconds.
   */
  readonly batchWindow?: Duration;
  /**
   * Most invocations the event queue runs at once (`ScalingConfig.MaximumConcurrency`), 2–1000; bounds the load a
   * burst of pushes puts on the ECS API. Default: 2 (Lambda's minimum).
   */
  readonly maxConcurrentBatches?: number;
  /**
   * Deliveries of a push event that fail before it moves to the event dead-letter queue, 1–1000. A failed event
   * is retried once the queue's visibility timeout (6 × `timeout`) has passed. Default: 5.
   */
  readonly maxReceiveCount?: number;
  /** Default: `Disabled`. */
  readonly newRevisions?: NewRevisions;
  /**
   * Whether container-image Lambda functions on the pushed tag follow pushes too (`UpdateFunctionCode` by tag; a
   * version published and the alias moved when tagged `<tagKey>-alias`). Default: `Enabled`.
   */
  readonly lambdaFunctions?: LambdaFunctions;
  /**
   * With `newRevisions: 'Enabled'`: the task and execution roles the function may pass to ECS tasks when it
   * registers a revision (`iam:PassRole`, still only to `ecs-tasks.amazonaws.com`). IAM role ARNs (`role.roleArn`
   * works; `*` may stand for part of a path or name). A revision whose roles are not listed fails to register
   * (AccessDenied). Default (also `[]`): any role of this account.
   */
  readonly passRoleArns?: string[];
  /** Default: ARM_64. */
  readonly architecture?: lambda.Architecture;
  /** Default: 128 MB. */
  readonly memorySize?: number;
  /**
   * Whole seconds, 1–15 minutes (at least a minute, so that 6 × `timeout` also covers `timeout` plus the longest
   * `batchWindow`). The event queue's visibility timeout is 6 × `timeout` (AWS's advice for SQS event
   * sources), which is also the wait before a failed push event is retried. Default: 5 minutes.
   */
  readonly timeout?: Duration;
  /** Default: INFO. */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /** Default: one month. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Build the function from the Rust crate at synth time (cargo-lambda-cdk's `RustFunction`, which needs the
   * optional peer dependency `cargo-lambda-cdk`, cargo-lambda and zig on PATH) instead of using the bootstrap zip
   * this package carries for `architecture`. For contributors working on the function. Default: false.
   */
  readonly buildFromSource?: boolean;
  /** With `buildFromSource`: Cargo.toml of the ecs-redeploy crate. Default: the one at the root of this repository. */
  readonly manifestPath?: string;
  /**
   * CloudWatch namespace of the metrics the function writes once per invocation (`METRICS_NAMESPACE`): 1-255
   * letters, digits, spaces and `. - _ / # :`, not starting with `AWS/`. Default: `ecs-redeploy`.
   */
  readonly metricsNamespace?: string;
  /**
   * Email address that receives the alarms: creates `alarmTopic` with an email subscription (confirm it from the
   * first message). Default: none; the alarms exist but notify nobody (add actions to `alarms` yourself).
   */
  readonly alarmEmail?: string;
  /**
   * Registry accounts that may put their ECR push events on this account's default event bus (their
   * `EcrPushForwarder`, or registry/template.yaml): an event bus policy for `events:PutEvents`, source `aws.ecr`
   * only. 12-digit account IDs. Default: none.
   */
  readonly sourceAccounts?: string[];
  /**
   * An AWS Organizations ID (`o-…`) whose accounts may do the same (`aws:PrincipalOrgID`). Default: none.
   */
  readonly sourceOrganization?: string;
  /**
   * How often the function sweeps every service in scope for an image whose tag moved on without a push event
   * reaching it (ECR sends its events on a best-effort basis). A rule puts a scheduled event on the event queue,
   * so sweeps share `maxConcurrentBatches`, the retries and the dead-letter queue with the pushes.
   * `'off'`: no sweep. Default: every 30 minutes.
   */
  readonly sweepSchedule?: events.Schedule | 'off';
  /**
   * Where the function announces each redeployed or failed service (`NOTIFY_BUS`; source `ecs-redeploy`): `true`
   * for this account's default event bus, an event bus of yours (`NOTIFY_BUS` is its ARN), or `false` for none.
   * The role may put events on that one bus. Default: `true`.
   */
  readonly notifications?: boolean | events.IEventBus;
}

/** The alarms: each fires on a single occurrence within 5 minutes; no data (nothing happened) is OK. */
export interface EcsRedeployAlarms {
  /** `Failed` ≥ 1 (namespace `metricsNamespace`, `Trigger=batch`): a queued push failed to redeploy a service. */
  readonly failedServicesBatch: cloudwatch.Alarm;
  /** `Failed` ≥ 1 with `Trigger=push`: a push event handed to the function directly failed a service. */
  readonly failedServicesPush: cloudwatch.Alarm;
  /** `ApproximateNumberOfMessagesVisible` ≥ 1 on the event dead-letter queue. */
  readonly eventDeadLetterQueue: cloudwatch.Alarm;
  /** `ApproximateNumberOfMessagesVisible` ≥ 1 on the undelivered-event queue (the rule's dead-letter queue). */
  readonly undeliveredEventQueue: cloudwatch.Alarm;
  /** AWS/Lambda `Errors` ≥ 1 for the function: an invocation failed as a whole. */
  readonly functionErrors: cloudwatch.Alarm;
  /** `RolloutsFailed` ≥ 1 with `Trigger=batch`: a deployment the function started failed or was rolled back. */
  readonly failedRollouts?: cloudwatch.Alarm;
  /** `FunctionsFailed` ≥ 1 with `Trigger=batch`: a queued push failed to update a Lambda function (`lambdaFunctions`). */
  readonly failedFunctions?: cloudwatch.Alarm;
}

/**
 * The event queue's visibility timeout per second of function timeout: AWS advises at least 6 for an SQS event
 * source (room for Lambda to retry a throttled batch). The SAM template's QueueVisibilityTimeout mapping holds the
 * same products.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
const TAG_KEY_PATTERN = /^[A-Za-z0-9 _.:/=+@-]{1,128}$/;
/** What the function accepts in METRICS_NAMESPACE (the template's MetricsNamespace says the same). */
const METRICS_NAMESPACE_PATTERN = /^[A-Za-z0-9 ._/#:-]{1,255}$/;
/** The template's AlarmEmail AllowedPattern. */
const EMAIL_PATTERN = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;
/** The SAM template's SourceAccounts (each element) and SourceOrganization AllowedPatterns. */
const ACCOUNT_ID_PATTERN = /^[0-9]{12}$/;
const ORGANIZATION_ID_PATTERN = /^o-[a-z0-9]{10,32}$/;
/** The SAM template's PassRoleArns AllowedPattern, for one element. */
const ROLE_ARN_PATTERN = /^arn:aws[a-z-]*:iam::[0-9]{12}:role\/[A-Za-z0-9+=.@_/*-]+$/;

/**
 * The ecs-redeploy function, the EventBridge rule that puts ECR pushes on a queue, the event source mapping that
 * hands the queued events to the function in batches, and the dead-letter queues that keep what failed.
 */
export class EcsRedeploy extends Construct {
  readonly function: lambda.Function;
  readonly rule: events.Rule;
  /** The rule that schedules the sweep; undefined when `sweepSchedule` is `'off'`. */
  readonly sweepRule?: events.Rule;
  /** Push events on their way to the function; each message body is the EventBridge event. */
  readonly eventQueue: sqs.Queue;
  /** Push events the function failed `maxReceiveCount` times; the body is the EventBridge event. */
  readonly eventDeadLetterQueue: sqs.Queue;
  /** Push events EventBridge could not put on the event queue (the rule's dead-letter queue). */
  readonly undeliveredEventQueue: sqs.Queue;
  readonly logGroup: logs.LogGroup;
  /** The deploy-lock table (`LOCK_TABLE`); undefined when `deployLock` is `Disabled`. */
  readonly lockTable?: dynamodb.Table;
  /** The rule that routes `ECS Deployment State Change` outcomes to the queue; only with the lock table. */
  readonly deploymentRule?: events.Rule;
  readonly alarms: EcsRedeployAlarms;
  /** The topic the alarms notify, with `alarmEmail` subscribed; undefined without `alarmEmail`. */
  readonly alarmTopic?: sns.Topic;
  /** The default bus's policy statements for `sourceAccounts` and `sourceOrganization` (those given). */
  readonly sourceBusPolicies: events.CfnEventBusPolicy[];

  constructor(scope: Construct, id: string, props: EcsRedeployProps = {}) {
    super(scope, id);
    validate(props);
    const clusters = props.clusters ?? [];
    const timeout = props.timeout ?? Duration.minutes(5);

    this.undeliveredEventQueue = deadLetterQueue(this, 'UndeliveredEventQueue', "the EventBridge rule target's");
    this.eventDeadLetterQueue = deadLetterQueue(this, 'EventDeadLetterQueue', "the event queue's");
    this.eventQueue = new sqs.Queue(this, 'EventQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * timeout.toSeconds()),
      // Shorter than the dead-letter queue's 14 days: a moved message keeps its original enqueue time.
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.eventDeadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
      // Its messages are push events nothing has acted on yet; a failed first create leaves nothing behind.
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // An own role instead of the default one: the default attaches AWSLambdaBasicExecutionRole (logs on "*").
    const role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    this.logGroup.grantWrite(role);
    // Least privilege per mode: DryRun plans only, so the role gets no ECS, DynamoDB or EventBridge write.
    const dryRun = props.runMode === 'DryRun';
    grantEcsAccess(role, clusters, props.newRevisions ?? 'Disabled', props.serviceSelection ?? 'matching',
      props.passRoleArns ?? [], dryRun);
    grantImageIndexReads(role, props.repositories ?? []);
    const lambdaFunctions = props.lambdaFunctions ?? 'Enabled';
    if (lambdaFunctions === 'Enabled') {
      grantFunctionAccess(role, props.serviceSelection ?? 'matching', props.repositories ?? [], dryRun);
    }
    const notifyBus = notificationBus(this, props.notifications ?? true);
    if (notifyBus && !dryRun) {
      role.addToPolicy(
        new iam.PolicyStatement({ sid: 'PutNotifications', actions: ['events:PutEvents'], resources: [notifyBus.arn] }),
      );
    }
    if (!dryRun) {
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'WakeAfterWaveBake',
          // A staged rollout's bake (waveBake) ends with one delayed message on the function's own queue.
          actions: ['sqs:SendMessage'],
          resources: [this.eventQueue.queueArn],
        }),
      );
    }
    if ((props.deployLock ?? 'Enabled') === 'Enabled') {
      this.lockTable = lockTable(this, 'LockTable');
      // The table's reads in every mode (a DryRun plan reads the holds too), its writes only when redeploying.
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ReadDeployRecords',
          // Read a deployment's record when its state-change event comes (GetItem) and the rolled-back holds of
          // the services a run decides (BatchGetItem).
          actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem'],
          resources: [this.lockTable.tableArn],
        }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'FindOpenDeployments',
          // The sweep finds the deployments whose outcome event was lost in the sparse index of open records.
          actions: ['dynamodb:Query'],
          resources: [`${this.lockTable.tableArn}/index/${OPEN_DEPLOYMENTS_INDEX}`],
        }),
      );
      if (!dryRun) role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ClaimDeployLocks',
          // Claim (conditional PutItem), mark done (UpdateItem), release (DeleteItem); record a deployment
          // (PutItem) and close it (conditional UpdateItem); hold a rolled-back digest per service (PutItem;
          // DeleteItem when another digest deploys).
          actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
          resources: [this.lockTable.tableArn],
        }),
      );
    }

    const reserved = props.reservedConcurrency ?? 'Unreserved';
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    const functionOptions: lambda.FunctionOptions = {
      architecture,
      memorySize: props.memorySize ?? 128,
      timeout,
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
        // Without the grants (newRevisions unset or 'Disabled') a registration is denied on every push: the
        // function skips such services instead.
        NEW_REVISIONS: props.newRevisions === 'Enabled' ? 'enabled' : 'disabled',
        // Disabled, the role has no Lambda grant: the function then lists no function.
        LAMBDA_FUNCTIONS: lambdaFunctions === 'Enabled' ? 'enabled' : 'disabled',
        ...(this.lockTable && { LOCK_TABLE: this.lockTable.tableName }),
        RETRY_MODE: props.retryMode ?? 'adaptive',
        ECS_PACING: props.ecsPacing ?? 'documented',
        MAX_ATTEMPTS: String(props.maxAttempts ?? 5),
        METRICS_NAMESPACE: props.metricsNamespace ?? 'ecs-redeploy',
        ...(notifyBus && { NOTIFY_BUS: notifyBus.name }),
        WAVE_TAG_KEY: props.waveTagKey ?? 'ecs-redeploy-wave',
        WAVE_BAKE: String(wholeSeconds(props.waveBake) ?? 0),
        // Its own queue: a delayed message there ends a wave's bake (never sent by a DryRun plan).
        ...(!dryRun && { WAVE_QUEUE: this.eventQueue.queueUrl }),
      },
    };
    this.function = props.buildFromSource
      ? rustFunction(this, 'Function', props.manifestPath ?? path.join(__dirname, '..', '..', 'Cargo.toml'), functionOptions)
      : new lambda.Function(this, 'Function', {
          ...functionOptions,
          runtime: lambda.Runtime.PROVIDED_AL2023,
          handler: 'bootstrap',
          code: lambda.Code.fromAsset(packagedBootstrap(architecture)),
        });
    // The only way events reach the function. It reports the messages it failed (ReportBatchItemFailures); they
    // come back after the visibility timeout and go to the dead-letter queue after maxReceiveCount receives.
    // Grants the role ReceiveMessage, DeleteMessage, ChangeMessageVisibility, GetQueueAttributes and GetQueueUrl on
    // this queue only.
    this.function.addEventSource(
      new eventSources.SqsEventSource(this.eventQueue, {
        batchSize: props.batchSize ?? 10,
        maxBatchingWindow: props.batchWindow ?? Duration.seconds(5),
        maxConcurrency: props.maxConcurrentBatches ?? 2,
        reportBatchItemFailures: true,
      }),
    );

    const repositories = props.repositories ?? [];
    const replicated = props.replicatedImages === 'Redeploy';
    this.rule = new events.Rule(this, 'EcrPushRule', {
      description: replicated
        ? 'Successful ECR image pushes and replications, sent to ecs-redeploy'
        : 'Successful ECR image pushes, sent to ecs-redeploy',
      eventPattern: ecrPushEventPattern(repositories, replicated),
    });
    // The target's queue policy lets events.amazonaws.com send from this rule only (aws:SourceArn). Retries only
    // matter when SQS refuses the message: keep trying as long as allowed, then keep the event in the rule's DLQ.
    this.rule.addTarget(
      new targets.SqsQueue(this.eventQueue, {
        retryAttempts: 185,
        maxEventAge: Duration.hours(24),
        deadLetterQueue: this.undeliveredEventQueue,
      }),
    );

    // How the deployments the function started end: only with the lock table, where they are recorded. Only the
    // two outcomes, only this account's and Region's services (the listed clusters' when `clusters` is set).
    if (this.lockTable) {
      this.deploymentRule = new events.Rule(this, 'EcsDeploymentRule', {
        description: 'Outcomes (COMPLETED, FAILED) of ECS service deployments, sent to ecs-redeploy',
        eventPattern: ecsDeploymentEventPattern(Stack.of(this), clusters),
      });
      this.deploymentRule.addTarget(
        new targets.SqsQueue(this.eventQueue, {
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: this.undeliveredEventQueue,
        }),
      );
    }

    this.sourceBusPolicies = sourceBusPolicies(this, props.sourceAccounts ?? [], props.sourceOrganization);
    const sweep = props.sweepSchedule ?? events.Schedule.rate(Duration.minutes(30));
    if (sweep !== 'off') {
      this.sweepRule = new events.Rule(this, 'SweepRule', {
        description: 'Scheduled sweep of ecs-redeploy for services whose image tag moved on without a push event',
        schedule: sweep,
      });
      // The queue policy lets events.amazonaws.com send from this rule too. No retry policy or dead-letter queue of
      // its own: a sweep that does not reach the queue is made up for by the next one.
      this.sweepRule.addTarget(new targets.SqsQueue(this.eventQueue));
    }

    if (props.alarmEmail !== undefined) this.alarmTopic = alarmTopic(this, 'AlarmTopic', props.alarmEmail);
    this.alarms = this.createAlarms(props.metricsNamespace ?? 'ecs-redeploy', lambdaFunctions === 'Enabled');
  }

  /** The same alarms as the SAM template's; they notify `alarmTopic` when there is one. */
  private createAlarms(namespace: string, followsFunctions: boolean): EcsRedeployAlarms {
    const period = Duration.minutes(5);
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) => {
      const created = new cloudwatch.Alarm(this, id, {
        metric,
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (this.alarmTopic) created.addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
      return created;
    };
    const failed = (trigger: 'batch' | 'push') =>
      new cloudwatch.Metric({ namespace, metricName: 'Failed', dimensionsMap: { Trigger: trigger }, statistic: 'Sum', period });
    const visible = (queue: sqs.Queue) => queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period });
    return {
      failedServicesBatch: alarm('FailedServicesBatchAlarm', failed('batch'),
        'ecs-redeploy failed to redeploy at least one service from a queued push (metric Failed, Trigger=batch). ' +
          'The push is retried after the visibility timeout, then kept in the event dead-letter queue. Look for ' +
          "decision lines with an error in the function's logs."),
      failedServicesPush: alarm('FailedServicesPushAlarm', failed('push'),
        'ecs-redeploy failed to redeploy at least one service from a push event it was invoked with directly ' +
          "(metric Failed, Trigger=push). Look for decision lines with an error in the function's logs."),
      eventDeadLetterQueue: alarm('EventDeadLetterQueueAlarm', visible(this.eventDeadLetterQueue),
        'Push events are waiting in the event dead-letter queue: the function failed them maxReceiveCount times. ' +
          "Fix the cause (the function's logs say why), then move them back with aws sqs start-message-move-task " +
          '--source-arn <event dead-letter queue ARN>. The alarm stays on until the queue is empty.'),
      undeliveredEventQueue: alarm('UndeliveredEventQueueAlarm', visible(this.undeliveredEventQueue),
        'Push events are waiting in the undelivered-event queue: EventBridge could not put them on the event queue ' +
          'for 24 hours. The message attributes ERROR_CODE and ERROR_MESSAGE say why; fix it, then send the bodies ' +
          'to the event queue (docs: deploy/failures.md, Failures and replays). The alarm stays on until the queue is empty.'),
      functionErrors: alarm('FunctionErrorsAlarm', this.function.metricErrors({ statistic: 'Sum', period }),
        'An invocation of ecs-redeploy failed as a whole (error, timeout, crash, or a bad setting at start), so ' +
          "its entire batch returns to the queue. The function's logs (REPORT and error lines) say why."),
      ...(this.lockTable && {
        failedRollouts: alarm('FailedRolloutsAlarm',
          new cloudwatch.Metric({
            namespace, metricName: 'RolloutsFailed', dimensionsMap: { Trigger: 'batch' }, statistic: 'Sum', period,
          }),
          'A deployment ecs-redeploy started failed or was rolled back by ECS (metric RolloutsFailed). The image it ' +
            'deployed is held: pushes and sweeps will not deploy that digest to the service again. Read the ' +
            'ECS Service Rollout Failed event (status_reason, to_digest) or the service\'s deployments in the ' +
            'console, fix the image and push it; a new digest deploys as usual.'),
      }),
      ...(followsFunctions && {
        failedFunctions: alarm('FailedFunctionsAlarm',
          new cloudwatch.Metric({
            namespace, metricName: 'FunctionsFailed', dimensionsMap: { Trigger: 'batch' }, statistic: 'Sum', period,
          }),
          'ecs-redeploy failed to update at least one container-image Lambda function from a queued push (metric ' +
            'FunctionsFailed, Trigger=batch). A retryable failure (an update in progress, throttling) returns the ' +
            "push to the queue. Read the Lambda Function Redeploy Failed event or the function's decision lines."),
      }),
    };
  }
}

/** Where this package carries the function's bootstrap zips (`make package` puts them there). */
export const PACKAGED_BOOTSTRAP_DIR = path.join(__dirname, '..', 'assets');

/**
 * The bootstrap zip this package carries for an architecture (`ecs-redeploy-<arm64|x86_64>.zip` in `dir`), as a
 * path for `lambda.Code.fromAsset`: each zip holds a bootstrap for its own instruction set only. Throws, naming the
 * file, when there is none (a checkout where `make package` has not run, or a package built for one architecture).
 */
export function packagedBootstrap(architecture: lambda.Architecture, dir: string = PACKAGED_BOOTSTRAP_DIR): string {
  const zip = path.join(dir, `ecs-redeploy-${architecture.name}.zip`);
  if (!fs.existsSync(zip)) {
    throw new Error(
      `EcsRedeploy: no ${architecture.name} bootstrap at ${zip}: in a checkout, run make package (or make ` +
        'cdk-assets for arm64), or set buildFromSource to build the crate with cargo-lambda',
    );
  }
  return zip;
}

/**
 * The function built from the crate at synth time. cargo-lambda-cdk is loaded only here: an optional peer
 * dependency, so that users of the packaged bootstrap need neither it nor a Rust toolchain.
 */
function rustFunction(scope: Construct, id: string, manifestPath: string, options: lambda.FunctionOptions): lambda.Function {
  let cargoLambdaCdk: typeof CargoLambdaCdk;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cargoLambdaCdk = require('cargo-lambda-cdk');
  } catch (error) {
    throw new Error('EcsRedeploy: buildFromSource needs the cargo-lambda-cdk package (npm install cargo-lambda-cdk) ' +
      `and cargo-lambda on PATH: ${error}`);
  }
  return new cargoLambdaCdk.RustFunction(scope, id, { ...options, manifestPath, binaryName: 'ecs-redeploy' });
}

/**
 * The alarms' topic, with an email subscription. TLS only. Not encrypted: with the AWS managed key alias/aws/sns
 * CloudWatch cannot publish (that key's policy does not admit cloudwatch.amazonaws.com), so no alarm would arrive;
 * the messages are alarm state changes, delivered by plain email anyway.
 */
function alarmTopic(scope: Construct, id: string, email: string): sns.Topic {
  const topic = new sns.Topic(scope, id, { displayName: 'ecs-redeploy alarms', enforceSSL: true });
  // A topic policy replaces the default one, so CloudWatch needs its own grant: alarms of this account.
  const stack = Stack.of(topic);
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsOfThisAccount',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
      },
    }),
  );
  topic.addSubscription(new subscriptions.EmailSubscription(email));
  Validations.of(topic).acknowledge({
    id: 'AwsSolutions-SNS2',
    reason: 'CloudWatch cannot publish to a topic encrypted with alias/aws/sns; the messages are alarm state changes sent by email.',
  });
  return topic;
}

/**
 * Lets registry accounts' forwarding rules put ECR push events on this account's default bus, where the rule
 * matches them as it matches this account's own: `events:PutEvents` only, on this bus only, source `aws.ecr` and
 * the two detail-types the rule can match only. The template's SourceAccountsBusPolicy and
 * SourceOrganizationBusPolicy; the statement IDs carry the node's address: one bus, several stacks.
 */
function sourceBusPolicies(scope: Construct, accounts: string[], organization: string | undefined): events.CfnEventBusPolicy[] {
  const stack = Stack.of(scope);
  const bus = stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' });
  const ecrEvents = {
    'ForAllValues:StringEquals': { 'events:source': ['aws.ecr'] },
    StringEquals: { 'events:detail-type': ['ECR Image Action', 'ECR Replication Action'] },
  };
  // The node's address is 42 characters: with either prefix, within the 64 a statement ID may have.
  const statementId = (what: 'accounts' | 'org') => `ecs-redeploy-${what}-${scope.node.addr}`;
  const policies: events.CfnEventBusPolicy[] = [];
  if (accounts.length > 0) {
    policies.push(new events.CfnEventBusPolicy(scope, 'SourceAccountsBusPolicy', {
      eventBusName: 'default',
      statementId: statementId('accounts'),
      statement: { Effect: 'Allow', Principal: { AWS: accounts }, Action: 'events:PutEvents', Resource: bus, Condition: ecrEvents },
    }));
  }
  if (organization !== undefined) {
    policies.push(new events.CfnEventBusPolicy(scope, 'SourceOrganizationBusPolicy', {
      eventBusName: 'default',
      statementId: statementId('org'),
      statement: {
        Effect: 'Allow',
        Principal: '*',
        Action: 'events:PutEvents',
        Resource: bus,
        Condition: {
          ...ecrEvents,
          StringEquals: { ...ecrEvents.StringEquals, 'aws:PrincipalOrgID': organization },
        },
      },
    }));
  }
  return policies;
}

/**
 * A queue of events that failed, encrypted with SQS-managed keys (EventBridge cannot send to a queue encrypted with
 * the AWS managed KMS key), TLS only, kept 14 days.
 */
export function deadLetterQueue(scope: Construct, id: string, of: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    retentionPeriod: Duration.days(14),
    enforceSSL: true,
    // Its messages are events that were not acted on: keep them when the stack goes (but not after a failed create).
    removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: `This queue is itself a dead-letter queue (${of}).`,
  });
  return queue;
}

/** The sparse index of open deployment records (the function's `OPEN_DEPLOYMENTS_INDEX`). */
export const OPEN_DEPLOYMENTS_INDEX = 'open-deployments';

/**
 * Deploy locks: `SERVICE_ARN#DIGEST` items that live at most 24 hours (TTL on `expires_at`), and records of the
 * deployments the function started (`deployment#SERVICE_ARN#ecs-svc/ID`, 90 days), which carry `open` until their
 * outcome is written: the index holds only the open ones, oldest first. Adding the index updates a table in place.
 */
function lockTable(scope: Construct, id: string): dynamodb.Table {
  const table = new dynamodb.Table(scope, id, {
    partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: 'expires_at',
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
    // Claims, done markers and deployment records only: nothing worth keeping once the stack goes.
    removalPolicy: RemovalPolicy.DESTROY,
  });
  table.addGlobalSecondaryIndex({
    indexName: OPEN_DEPLOYMENTS_INDEX,
    partitionKey: { name: 'open', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'started_at', type: dynamodb.AttributeType.STRING },
    projectionType: dynamodb.ProjectionType.ALL,
  });
  Validations.of(table).acknowledge({
    id: 'AwsSolutions-DDB3',
    reason: 'Deploy-lock items live at most 24 hours; restoring old claims would only block or skip deployments.',
  });
  return table;
}

/**
 * The bus notifications go to, as `NOTIFY_BUS` names it and as the role's `events:PutEvents` statement names it;
 * undefined when they are off.
 */
function notificationBus(scope: Construct, notifications: boolean | events.IEventBus): { name: string; arn: string } | undefined {
  if (notifications === false) return undefined;
  if (notifications === true) {
    const arn = Stack.of(scope).formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' });
    return { name: 'default', arn };
  }
  // The ARN rather than the name: it reaches a bus of another account or Region, and a name would not.
  return { name: notifications.eventBusArn, arn: notifications.eventBusArn };
}

/** The platform check reads the pushed image index: `ecr:BatchGetImage` on the repositories in scope. */
function grantImageIndexReads(role: iam.Role, repositories: string[]): void {
  const stack = Stack.of(role);
  const patterns = repositories.length > 0 ? repositories : ['*'];
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadPushedImageIndexes',
      actions: ['ecr:BatchGetImage'],
      resources: patterns.map((r) => stack.formatArn({ service: 'ecr', resource: `repository/${r}` })),
    }),
  );
  for (const r of patterns.filter((p) => p.includes('*'))) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/${r}]`,
      reason: 'The repositories the rule forwards pushes of: the pattern is the user\'s own RepositoryFilter.',
    });
  }
}

/**
 * Container-image functions on the pushed image: found and read in every mode, updated only when redeploying.
 * `ListFunctions` supports no resource-level permission (opted-in uses the tagging API, granted with the services');
 * `GetFunction` returns the tags only with `ListTags` allowed, and without them an opted-out function would look
 * opted in; `UpdateFunctionCode` with an ECR image needs the caller to read the image too.
 */
function grantFunctionAccess(role: iam.Role, selection: ServiceSelection, repositories: string[], dryRun: boolean): void {
  const stack = Stack.of(role);
  const acknowledgeWildcard = (resource: string, reason: string) =>
    Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
  if (selection === 'matching') {
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'ListImageFunctions', actions: ['lambda:ListFunctions'], resources: ['*'] }),
    );
    acknowledgeWildcard('*', 'lambda:ListFunctions supports no resource-level permissions.');
  }
  const functions = stack.formatArn({ service: 'lambda', resource: 'function', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  role.addToPolicy(
    new iam.PolicyStatement({ sid: 'ReadImageFunctions', actions: ['lambda:GetFunction', 'lambda:ListTags'], resources: [functions] }),
  );
  acknowledgeWildcard('arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*',
    'Functions come and go independently of this stack; only image functions on the pushed image are updated.');
  if (dryRun) return;
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'UpdateImageFunctions',
      // function:* also covers an alias ARN (function:NAME:ALIAS), which UpdateAlias acts on.
      actions: ['lambda:UpdateFunctionCode', 'lambda:PublishVersion', 'lambda:UpdateAlias'],
      resources: [functions],
    }),
  );
  const patterns = repositories.length > 0 ? repositories : ['*'];
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadImagesForFunctionUpdates',
      // With BatchGetImage, which ReadPushedImageIndexes grants on the same repositories in every mode.
      actions: ['ecr:GetDownloadUrlForLayer'],
      resources: patterns.map((r) => stack.formatArn({ service: 'ecr', resource: `repository/${r}` })),
    }),
  );
}

function grantEcsAccess(
  role: iam.Role,
  clusters: string[],
  newRevisions: NewRevisions,
  selection: ServiceSelection,
  passRoleArns: string[],
  dryRun: boolean,
): void {
  const stack = Stack.of(role);
  const acknowledgeWildcard = (resource: string, reason: string) =>
    Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
  // Resources as cdk-nag prints them: pseudo parameters in angle brackets.
  const nagArn = (service: string, region: string, resource: string) =>
    `arn:<AWS::Partition>:${service}:${region}:<AWS::AccountId>:${resource}`;

  // opted-in finds the tagged services through the tagging API and lists no cluster; matching lists the clusters
  // only when none are named, and the named ones' services under an ecs:cluster condition (below).
  const discovery =
    selection === 'opted-in'
      ? ['tag:GetResources', 'ecs:DescribeTaskDefinition']
      : clusters.length > 0
        ? ['ecs:DescribeTaskDefinition']
        : ['ecs:ListClusters', 'ecs:ListServices', 'ecs:DescribeTaskDefinition'];
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'DiscoverServices',
      actions: discovery,
      resources: ['*'],
    }),
  );
  acknowledgeWildcard('*', `${discovery.join(', ')} support no resource-level permissions.`);
  if (selection === 'matching' && clusters.length > 0) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListNamedClusterServices',
        // ListServices acts on no resource ("*"), but carries the cluster it lists in ecs:cluster.
        actions: ['ecs:ListServices'],
        resources: ['*'],
        conditions: { ArnLike: { 'ecs:cluster': clusters.map((c) => stack.formatArn({ service: 'ecs', resource: `cluster/${c}` })) } },
      }),
    );
  }

  const services = clusters.length > 0 ? clusters.map((c) => `service/${c}/*`) : ['service/*/*'];
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'RedeployServices',
      // DryRun only describes.
      actions: dryRun ? ['ecs:DescribeServices'] : ['ecs:DescribeServices', 'ecs:UpdateService'],
      resources: services.map((s) => stack.formatArn({ service: 'ecs', resource: s })),
      // The ARNs name the account already; the condition says it outright, as the SAM template (whose per-cluster
      // ARNs wildcard the account) needs it. Only here: these actions act on a service ARN, so the key is in the
      // request context. The discovery statement's actions on "*" name no resource: there the key would be
      // missing and the condition would deny them all.
      conditions: { StringEquals: { 'aws:ResourceAccount': stack.account } },
    }),
  );
  for (const s of services) {
    acknowledgeWildcard(nagArn('ecs', '<AWS::Region>', s), 'Services come and go independently of this stack.');
  }

  // What each service runs (its revisions' image digests) and which revision its deployments move to. Both actions
  // require two resource types (Service Authorization Reference for ECS): the service, and the revision or the
  // deployment (service-revision/CLUSTER/SERVICE/ID, service-deployment/CLUSTER/SERVICE/ID).
  const revisionsAndDeployments = ['service-revision', 'service-deployment'].flatMap((kind) =>
    clusters.length > 0 ? clusters.map((c) => `${kind}/${c}/*`) : [`${kind}/*`]);
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadServiceRevisions',
      actions: ['ecs:DescribeServiceRevisions', 'ecs:DescribeServiceDeployments'],
      resources: [...services, ...revisionsAndDeployments].map((r) => stack.formatArn({ service: 'ecs', resource: r })),
      conditions: { StringEquals: { 'aws:ResourceAccount': stack.account } },
    }),
  );
  for (const r of revisionsAndDeployments) {
    acknowledgeWildcard(nagArn('ecs', '<AWS::Region>', r), 'Each deployment of a service makes a new revision and deployment.');
  }

  if (newRevisions === 'Enabled' && !dryRun) {
    const taskDefinitions = stack.formatArn({ service: 'ecs', resource: 'task-definition/*' });
    const anyRole = stack.formatArn({ service: 'iam', region: '', resource: 'role/*' });
    const roles = passRoleArns.length > 0 ? passRoleArns : [anyRole];
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
        resources: roles,
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    acknowledgeWildcard(nagArn('ecs', '<AWS::Region>', 'task-definition/*'),
      'A new revision copies an existing one, whichever task-definition family it belongs to.');
    if (passRoleArns.length === 0) {
      acknowledgeWildcard(nagArn('iam', '', 'role/*'),
        'A copied revision keeps its task and execution roles (any role); passing is limited to ECS tasks.');
    }
  }
}

/** A duration in seconds; NaN when it is not a whole number of seconds or not known at synth time. */
function wholeSeconds(duration: Duration | undefined): number | undefined {
  if (duration === undefined) return undefined;
  if (duration.isUnresolved()) return NaN;
  const ms = duration.toMilliseconds();
  return ms % 1000 === 0 ? ms / 1000 : NaN;
}

function validate(props: EcsRedeployProps): void {
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new Error(`EcsRedeploy: ${message}`);
  };
  check(props.manifestPath === undefined || props.buildFromSource === true,
    'manifestPath is only read when building from source: set buildFromSource too');
  const inRange = (value: number | undefined, min: number, max: number) =>
    value === undefined || (Number.isInteger(value) && value >= min && value <= max);
  const repositoryProblem = repositoryFilterProblem(props.repositories ?? [], props.replicatedImages === 'Redeploy');
  check(repositoryProblem === undefined, repositoryProblem ?? '');
  for (const c of props.clusters ?? []) check(CLUSTER_NAME_PATTERN.test(c), `invalid cluster name "${c}" (names, not ARNs)`);
  check(inRange(props.maxConcurrency, 1, 64), 'maxConcurrency must be an integer in 1..64');
  check(inRange(props.maxAttempts, 1, 10), 'maxAttempts must be an integer in 1..10');
  const reserved = props.reservedConcurrency;
  check(reserved === undefined || reserved === 'Unreserved' || inRange(reserved, 1, 9999),
    'reservedConcurrency must be a positive integer or Unreserved');
  check(inRange(props.batchSize, 1, 100), 'batchSize must be an integer in 1..100');
  const window = wholeSeconds(props.batchWindow);
  check(window === undefined || (window >= 0 && window <= 300), 'batchWindow must be whole seconds in 0..300');
  check((props.batchSize ?? 10) <= 10 || (window ?? 5) >= 1,
    'a batchSize above 10 needs a batchWindow of at least 1 second (Lambda takes larger batches from SQS only then)');
  check(inRange(props.maxConcurrentBatches, 2, 1000), 'maxConcurrentBatches must be an integer in 2..1000');
  check(inRange(props.maxReceiveCount, 1, 1000), 'maxReceiveCount must be an integer in 1..1000');
  const timeout = wholeSeconds(props.timeout);
  check(timeout === undefined || (timeout >= 60 && timeout <= 900), 'timeout must be whole seconds in 60..900');
  check(typeof reserved !== 'number' || reserved >= (props.maxConcurrentBatches ?? 2),
    `reservedConcurrency (${reserved}) must be at least maxConcurrentBatches (${props.maxConcurrentBatches ?? 2}): ` +
      'throttled batches would return to the queue and count towards maxReceiveCount');
  check(props.tagKey === undefined || TAG_KEY_PATTERN.test(props.tagKey), `invalid tag key "${props.tagKey}"`);
  check(props.tagKey === undefined || !props.tagKey.toLowerCase().startsWith('aws:'),
    `tag key "${props.tagKey}" starts with aws:, which AWS reserves (the function refuses it at start)`);
  check(props.waveTagKey === undefined || TAG_KEY_PATTERN.test(props.waveTagKey), `invalid wave tag key "${props.waveTagKey}"`);
  check(props.waveTagKey === undefined || !props.waveTagKey.toLowerCase().startsWith('aws:'),
    `wave tag key "${props.waveTagKey}" starts with aws:, which AWS reserves`);
  check(props.waveTagKey === undefined || props.waveTagKey !== (props.tagKey ?? 'ecs-redeploy'),
    'waveTagKey must differ from tagKey');
  const bake = wholeSeconds(props.waveBake);
  check(bake === undefined || (bake >= 0 && bake <= 86400), 'waveBake must be whole seconds in 0..86400');
  const oneOf = (name: string, value: string | undefined, allowed: string[]) =>
    check(value === undefined || allowed.includes(value), `${name} must be one of ${allowed.join(', ')}`);
  oneOf('defaultAction', props.defaultAction, ['force', 'pin']);
  oneOf('deployLock', props.deployLock, ['Enabled', 'Disabled']);
  oneOf('replicatedImages', props.replicatedImages, ['Ignore', 'Redeploy']);
  oneOf('newRevisions', props.newRevisions, ['Disabled', 'Enabled']);
  oneOf('lambdaFunctions', props.lambdaFunctions, ['Disabled', 'Enabled']);
  const namespace = props.metricsNamespace;
  check(namespace === undefined || (METRICS_NAMESPACE_PATTERN.test(namespace) && !namespace.startsWith('AWS/')),
    `metricsNamespace "${namespace}" must be 1-255 letters, digits, spaces and . - _ / # :, not starting with AWS/`);
  check(props.alarmEmail === undefined || EMAIL_PATTERN.test(props.alarmEmail), `alarmEmail "${props.alarmEmail}" is not an email address`);
  for (const arn of props.passRoleArns ?? []) {
    check(Token.isUnresolved(arn) || ROLE_ARN_PATTERN.test(arn), `passRoleArns: "${arn}" is not an IAM role ARN`);
  }
  for (const account of props.sourceAccounts ?? []) {
    check(ACCOUNT_ID_PATTERN.test(account), `sourceAccounts: "${account}" is not a 12-digit account ID`);
  }
  check(props.sourceOrganization === undefined || ORGANIZATION_ID_PATTERN.test(props.sourceOrganization),
    `sourceOrganization "${props.sourceOrganization}" is not an organization ID (o-exampleorgid)`);
  const sweep = props.sweepSchedule;
  check(sweep === undefined || sweep === 'off' || sweep instanceof events.Schedule, "sweepSchedule must be an events.Schedule or 'off'");
  const notifications = props.notifications;
  check(notifications === undefined || typeof notifications === 'boolean' || typeof notifications?.eventBusArn === 'string',
    'notifications must be true, false or an event bus');
  check(props.defaultAction !== 'pin' || props.newRevisions === 'Enabled',
    "defaultAction 'pin' registers task-definition revisions and needs newRevisions: 'Enabled'");
}

/**
 * The outcomes of ECS service deployments in this account and Region (the listed clusters' only, when given), as the
 * SAM template's EcsDeploymentRule matches them.
 */
export function ecsDeploymentEventPattern(stack: Stack, clusters: string[]): events.EventPattern {
  const services = clusters.length > 0 ? clusters.map((c) => `arn:*:ecs:*:*:service/${c}/*`) : ['arn:*:ecs:*:*:service/*'];
  return {
    source: ['aws.ecs'],
    account: [stack.account],
    region: [stack.region],
    detailType: ['ECS Deployment State Change'],
    detail: { eventName: ['SERVICE_DEPLOYMENT_COMPLETED', 'SERVICE_DEPLOYMENT_FAILED'] },
    resources: events.Match.anyOf(...services.map((s) => events.Match.wildcard(s))),
  };
}
