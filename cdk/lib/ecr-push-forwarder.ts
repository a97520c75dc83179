import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ecrPushEventPattern, repositoryFilterProblem } from './ecr-push-pattern';
import { deadLetterQueue, ReplicatedImages } from './ecs-redeploy';

/** Mirrors the parameters of the registry template (registry/template.yaml). */
export interface EcrPushForwarderProps {
  /**
   * Workload accounts (12-digit IDs) whose default event bus in `targetRegion` receives the pushes. Each must let
   * this account put events on its bus (`EcsRedeploy`'s `sourceAccounts` or `sourceOrganization`). At least one;
   * each gets a rule, a role and a dead-letter queue (4 resources).
   */
  readonly targetAccounts: string[];
  /**
   * Region of the target accounts' buses, when their services run in another Region than this registry (they then
   * pull from this Region). Default: this stack's Region.
   */
  readonly targetRegion?: string;
  /**
   * ECR repository names or patterns whose pushes are forwarded, as `EcsRedeploy`'s `repositories` (the same
   * checks). Default: every repository.
   */
  readonly repositories?: string[];
  /**
   * `Redeploy` also forwards images replicated into this registry: set it in a Region that receives replicas,
   * with `replicatedImages: 'Redeploy'` on the workload stacks there. Default: `Ignore`.
   */
  readonly replicatedImages?: ReplicatedImages;
}

/** One forwarding path: the rule, the role EventBridge uses to put events on the target bus, the rule's DLQ. */
export interface EcrPushForwarding {
  readonly account: string;
  /** The default event bus of the account in the target Region. */
  readonly eventBusArn: string;
  readonly rule: events.Rule;
  readonly role: iam.Role;
  /** Pushes EventBridge could not put on the target bus within its retries (the rule's dead-letter queue). */
  readonly undeliveredQueue: sqs.Queue;
}

/** The registry template's TargetAccounts (each element) and TargetRegion AllowedPatterns. */
const ACCOUNT_ID_PATTERN = /^[0-9]{12}$/;
const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-[0-9]$/;

/**
 * The registry account's side of ecs-redeploy: forwards the successful ECR pushes of this account and Region to the
 * default event bus of each workload account (EventBridge cross-account delivery), with the same filter as the
 * workload stack's rule. One rule per target (EventBridge allows 5 targets per rule; one each keeps a failing
 * account's deliveries apart), as the registry template does.
 */
export class EcrPushForwarder extends Construct {
  readonly forwardings: EcrPushForwarding[];

  constructor(scope: Construct, id: string, props: EcrPushForwarderProps) {
    super(scope, id);
    validate(props);
    const stack = Stack.of(this);
    const pattern = ecrPushEventPattern(props.repositories ?? [], props.replicatedImages === 'Redeploy');

    const region = props.targetRegion ?? stack.region;
    this.forwardings = props.targetAccounts.map((account) => {
      const eventBusArn = stack.formatArn({ service: 'events', region, account, resource: 'event-bus', resourceName: 'default' });
      // The template's logical IDs, from the account ID.
      const role = new iam.Role(this, `ForwardRole${account}`, {
        // Only rules of this account can make EventBridge use it (confused deputy).
        assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
        }),
        inlinePolicies: {
          'put-events-on-workload-bus': new iam.PolicyDocument({
            statements: [new iam.PolicyStatement({ sid: 'PutEventsOnWorkloadBus', actions: ['events:PutEvents'], resources: [eventBusArn] })],
          }),
        },
      });
      const undeliveredQueue = deadLetterQueue(this, `Undelivered${account}`, `the rule forwarding pushes to ${account}`);
      const rule = new events.Rule(this, `Forward${account}`, {
        description: `Successful ECR pushes of this registry, forwarded to the default event bus of ${account}`,
        eventPattern: pattern,
      });
      rule.addTarget({
        bind: () => ({
          arn: eventBusArn,
          role,
          // Retries matter when the other bus refuses (its policy not in place yet, throttling): keep trying for
          // the longest time allowed, then keep the event in the dead-letter queue.
          retryPolicy: { maximumRetryAttempts: 185, maximumEventAgeInSeconds: Duration.hours(24).toSeconds() },
          deadLetterConfig: { arn: undeliveredQueue.queueArn },
        }),
      });
      undeliveredQueue.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'ForwardRuleDeadLetters',
          principals: [new iam.ServicePrincipal('events.amazonaws.com')],
          actions: ['sqs:SendMessage'],
          resources: [undeliveredQueue.queueArn],
          conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
        }),
      );
      return { account, eventBusArn, rule, role, undeliveredQueue };
    });
  }
}

function validate(props: EcrPushForwarderProps): void {
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new Error(`EcrPushForwarder: ${message}`);
  };
  check(props.targetAccounts.length > 0, 'targetAccounts is empty: name at least one workload account');
  for (const account of props.targetAccounts) {
    check(ACCOUNT_ID_PATTERN.test(account), `targetAccounts: "${account}" is not a 12-digit account ID`);
  }
  const repeated = props.targetAccounts.filter((a, i) => props.targetAccounts.indexOf(a) !== i);
  check(repeated.length === 0, `targetAccounts lists ${repeated.join(', ')} more than once`);
  check(props.targetRegion === undefined || REGION_PATTERN.test(props.targetRegion),
    `targetRegion "${props.targetRegion}" is not a Region code (eu-west-1)`);
  check(props.replicatedImages === undefined || ['Ignore', 'Redeploy'].includes(props.replicatedImages),
    'replicatedImages must be one of Ignore, Redeploy');
  const problem = repositoryFilterProblem(props.repositories ?? [], props.replicatedImages === 'Redeploy');
  check(problem === undefined, problem ?? '');
}
