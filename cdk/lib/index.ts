export * from './ecr-push-forwarder';
export * from './ecr-push-pattern';
export * from './ecs-redeploy';
