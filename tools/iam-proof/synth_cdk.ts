// The CDK construct synthesized for the IAM proof: run with the construct's own toolchain
// (`cdk/node_modules/.bin/tsx tools/iam-proof/synth_cdk.ts OUT.json`); render.py resolves the templates.
// aws-cdk-lib and the construct come from cdk/, so this folder needs no CDK dependency of its own.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const fromCdk = createRequire(fileURLToPath(new URL("../../cdk/package.json", import.meta.url)));
const cdk = fromCdk('aws-cdk-lib');
const events = fromCdk('aws-cdk-lib/aws-events');
const { EcsRedeploy } = fromCdk('./lib/ecs-redeploy');

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const CUSTOM_BUS = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/deployments`;

type Case = { name: string; props: (stack: unknown) => Record<string, unknown>; describe: Record<string, unknown> };
const cases: Case[] = [
  { name: 'cdk-defaults', props: () => ({}), describe: {} },
  {
    name: 'cdk-custom-bus',
    props: (stack) => ({ notifications: events.EventBus.fromEventBusArn(stack, 'Bus', CUSTOM_BUS) }),
    describe: { notifications: CUSTOM_BUS },
  },
  { name: 'cdk-no-functions', props: () => ({ lambdaFunctions: 'Disabled' }), describe: { lambdaFunctions: 'Disabled' } },
];

const out = cases.map(({ name, props, describe }) => {
  // Bundling skipped: the proof reads the policies, not the bootstrap (as cdk/test does).
  const app = new cdk.App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new cdk.Stack(app, 'Proof', { env: { account: ACCOUNT, region: REGION } });
  new EcsRedeploy(stack, 'EcsRedeploy', props(stack));
  const template = app.synth().getStackByName(stack.stackName).template;
  return { name, props: describe, template };
});
writeFileSync(process.argv[2], JSON.stringify(out));
console.log(`iam-proof: synthesized ${out.map((c) => c.name).join(', ')}`);
