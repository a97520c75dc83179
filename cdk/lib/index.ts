export * from './ecs-redeploy';
