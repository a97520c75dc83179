// Example app: `npx cdk synth` uses the packaged arm64 bootstrap (cdk/assets, `make cdk-assets`) and checks the
// stack with cdk-nag.
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EcsRedeploy } from '../lib';

const app = new App();
const stack = new Stack(app, 'EcsRedeployExample');
new EcsRedeploy(stack, 'EcsRedeploy', {
  repositories: ['team-a/*', 'web'],
  clusters: ['production'],
  serviceSelection: 'opted-in',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
