// Every AWS call the function may make, mapped to what IAM authorizes for it: one table, keyed by the signing
// name and operation of the request (`ecs:DescribeServices`). A recorded request whose key is not here fails the
// proof ("unmapped"): to add a call, add its entry.
//
// An entry maps one request to the authorizations AWS makes for it (Service Authorization Reference: the action,
// each resource type the action lists for it, the condition keys), each with `needed(mode)`: whether the function
// configured like the stack under test makes that request. The proof demands, for each rendered stack: allowed
// when needed, denied otherwise. `mode` is the stack's function environment (see modeOf in prove.mjs).
//
// Context keys the request context carries and the proof supplies: aws:RequestedRegion (the Region of the request's
// signature), aws:ResourceAccount (the resource's account, when the action acts on an ARN), and the service keys
// below. Not supplied, because no statement of the stack conditions on them: aws:ResourceTag/*, aws:Principal*.

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

const arnParts = (arn) => {
  const [, partition, service, region, account, ...rest] = arn.split(':');
  return { partition, service, region, account, resource: rest.join(':') };
};
const name = (nameOrArn) => nameOrArn.split('/').pop();

export function clusterArn(req, nameOrArn = 'default') {
  return nameOrArn.startsWith('arn:') ? nameOrArn : `arn:aws:ecs:${req.region}:${ACCOUNT}:cluster/${nameOrArn}`;
}

/** A service as DescribeServices and UpdateService name it: an ARN (long or old format), or a name in `cluster`. */
export function serviceArn(req, cluster, nameOrArn) {
  if (nameOrArn.startsWith('arn:')) return nameOrArn;
  return `arn:aws:ecs:${req.region}:${ACCOUNT}:service/${name(cluster ?? 'default')}/${nameOrArn}`;
}

/** The cluster a long service, revision or deployment ARN names (`service/CLUSTER/NAME`); undefined for the old format. */
export function clusterOf(arn) {
  const parts = arnParts(arn).resource.split('/');
  return parts.length >= 3 ? parts[1] : undefined;
}

const inClusters = (mode, cluster) =>
  cluster !== undefined && (mode.clusters.length === 0 || mode.clusters.includes(cluster));
const wildcard = (pattern) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
const inRepositories = (mode, repository) =>
  mode.repositories.length === 0 || mode.repositories.some((p) => wildcard(p).test(repository));
const writes = (mode) => !mode.dryRun;

/** One authorization: `action` on `resource` with the context keys; aws:* keys are added by `authorization`. */
function authorization(req, action, resource, context, needed) {
  const keys = { 'aws:RequestedRegion': req.region, ...context };
  const own = req.region === REGION && (resource === '*' || ownArn(resource));
  if (resource !== '*') keys['aws:ResourceAccount'] = arnParts(resource).account;
  // The function works in its own account and Region: nothing else is ever needed.
  return { action, resource, context: keys, needed: (mode) => own && needed(mode) };
}

function ownArn(arn) {
  const { account, region } = arnParts(arn);
  return account === ACCOUNT && (region === '' || region === REGION);
}

/** A service ARN and what the ECS service actions on it carry. */
function onService(req, action, arn, needed, extra = {}) {
  const cluster = clusterOf(arn);
  const context = cluster === undefined ? extra : { 'ecs:cluster': clusterArn(req, cluster), ...extra };
  return authorization(req, action, arn, context, needed);
}

/** DescribeServiceRevisions / DescribeServiceDeployments: the service and the revision or deployment, both required. */
function serviceHistory(req, action, arns) {
  return arns.flatMap((arn) => {
    const [kind, cluster, service] = arnParts(arn).resource.split('/');
    const { region, account } = arnParts(arn);
    const owner = `arn:aws:ecs:${region}:${account}:service/${cluster}/${service}`;
    const needed = (mode) => inClusters(mode, cluster);
    return [onService(req, action, owner, needed), authorization(req, action, arn, {}, needed)].map((a) => ({ ...a, kind }));
  });
}

/** A function as a Lambda request path names it (a name, or an ARN, URL-encoded): its unqualified ARN. */
function functionArn(req, nameOrArn) {
  const decoded = decodeURIComponent(nameOrArn);
  if (decoded.startsWith('arn:')) return decoded.split(':').slice(0, 7).join(':');
  return `arn:aws:lambda:${req.region}:${ACCOUNT}:function:${decoded}`;
}
const followsFunctions = (mode) => mode.lambdaFunctions;

/**
 * Lambda's REST-JSON requests carry no X-Amz-Target: the operation is in the method and path
 * (botocore lambda/2015-03-31 `requestUri`). `{ operation, name, alias }`, or undefined for a path not listed.
 */
export function lambdaOperation(method, url) {
  // moto's recorder writes the absolute URL (`http://HOST:PORT/2015-03-31/…`); the front, the path.
  const path = url.replace(/^[a-z]+:\/\/[^/]+/, '').split('?')[0].replace(/\/+$/, '');
  const routes = [
    ['GET', /^\/2015-03-31\/functions$/, 'ListFunctions'],
    ['GET', /^\/2015-03-31\/functions\/([^/]+)$/, 'GetFunction'],
    ['PUT', /^\/2015-03-31\/functions\/([^/]+)\/code$/, 'UpdateFunctionCode'],
    ['POST', /^\/2015-03-31\/functions\/([^/]+)\/versions$/, 'PublishVersion'],
    ['PUT', /^\/2015-03-31\/functions\/([^/]+)\/aliases\/([^/]+)$/, 'UpdateAlias'],
  ];
  // GetFunction of an alias (the alias check of a function already on the pushed digest) names it in `Qualifier`.
  const qualifier = new URLSearchParams(url.split('?')[1] ?? '').get('Qualifier') ?? undefined;
  for (const [verb, pattern, operation] of routes) {
    const match = method === verb && pattern.exec(path);
    if (match) return { operation, name: match[1], alias: match[2] ?? qualifier };
  }
  return undefined;
}

/** The repository an image URI names in this account's registry (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG`). */
function imageRepository(imageUri) {
  const [host, ...path] = imageUri.split('/');
  const repository = path.join('/').split('@')[0].replace(/:[^:/]*$/, '');
  return { registry: host.split('.')[0], region: host.split('.')[3], repository };
}

export const CALLS = {
  // Discovery. None of these acts on a resource: "*" is the only resource IAM accepts.
  'ecs:ListClusters': (req) => [
    authorization(req, 'ecs:ListClusters', '*', {}, (mode) => mode.select === 'matching' && mode.clusters.length === 0),
  ],
  'ecs:ListServices': (req, body) => {
    const cluster = clusterArn(req, body.cluster);
    return [
      authorization(req, 'ecs:ListServices', '*', { 'ecs:cluster': cluster },
        (mode) => mode.select === 'matching' && inClusters(mode, name(cluster))),
    ];
  },
  'tagging:GetResources': (req) => [
    authorization(req, 'tag:GetResources', '*', {}, (mode) => mode.select === 'opted-in'),
  ],
  'ecs:DescribeTaskDefinition': (req) => [authorization(req, 'ecs:DescribeTaskDefinition', '*', {}, () => true)],
  // IAM authorizes each service a DescribeServices call names.
  'ecs:DescribeServices': (req, body) =>
    (body.services ?? []).map((s) => {
      const arn = serviceArn(req, body.cluster, s);
      return onService(req, 'ecs:DescribeServices', arn, (mode) => inClusters(mode, clusterOf(arn)));
    }),
  'ecs:DescribeServiceRevisions': (req, body) =>
    serviceHistory(req, 'ecs:DescribeServiceRevisions', body.serviceRevisionArns ?? []),
  'ecs:DescribeServiceDeployments': (req, body) =>
    serviceHistory(req, 'ecs:DescribeServiceDeployments', body.serviceDeploymentArns ?? []),
  'ecs:ListServiceDeployments': (req, body) => {
    const arn = serviceArn(req, body.cluster, body.service);
    return [onService(req, 'ecs:ListServiceDeployments', arn, (mode) => inClusters(mode, clusterOf(arn)))];
  },

  // Redeploys.
  'ecs:UpdateService': (req, body) => {
    const arn = serviceArn(req, body.cluster, body.service);
    const taskDefinition = body.taskDefinition && (body.taskDefinition.startsWith('arn:')
      ? body.taskDefinition
      : `arn:aws:ecs:${req.region}:${ACCOUNT}:task-definition/${body.taskDefinition}`);
    return [onService(req, 'ecs:UpdateService', arn, (mode) => writes(mode) && inClusters(mode, clusterOf(arn)),
      taskDefinition ? { 'ecs:task-definition': taskDefinition } : {})];
  },
  // The new revision's number is not known before it is registered: revision 1 stands for it. Tags on create are
  // authorized as ecs:TagResource with ecs:CreateAction; the task and execution roles as iam:PassRole.
  'ecs:RegisterTaskDefinition': (req, body) => {
    const needed = (mode) => writes(mode) && mode.newRevisions;
    const revision = `arn:aws:ecs:${req.region}:${ACCOUNT}:task-definition/${body.family}:1`;
    const tags = body.tags ?? [];
    return [
      authorization(req, 'ecs:RegisterTaskDefinition', revision, {}, needed),
      ...(tags.length === 0 ? [] : [authorization(req, 'ecs:TagResource', revision, {
        'ecs:CreateAction': 'RegisterTaskDefinition',
        'aws:TagKeys': tags.map((t) => t.key),
      }, needed)]),
      ...[body.taskRoleArn, body.executionRoleArn].filter(Boolean).map((role) =>
        authorization(req, 'iam:PassRole', role, { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' }, needed)),
    ];
  },

  // The platform check and the sweep read images (manifests) of the repositories in scope.
  'ecr:BatchGetImage': (req, body) => {
    const registry = body.registryId ?? ACCOUNT;
    const arn = `arn:aws:ecr:${req.region}:${registry}:repository/${body.repositoryName}`;
    return [authorization(req, 'ecr:BatchGetImage', arn, {}, (mode) => inRepositories(mode, body.repositoryName))];
  },

  // The deploy lock. The function writes only the table LOCK_TABLE names, which the stack sets to its own table:
  // the request is evaluated on that table's ARN (the tests' tables have other names).
  ...Object.fromEntries(['PutItem', 'UpdateItem', 'DeleteItem'].map((op) => [`dynamodb:${op}`, (req) => [
    { ...authorization(req, `dynamodb:${op}`, LOCK_TABLE_PLACEHOLDER, {}, (mode) => writes(mode) && mode.lockTable !== undefined),
      lockTable: true },
  ]])),
  ...Object.fromEntries(['GetItem', 'BatchGetItem', 'Query'].map((op) => [`dynamodb:${op}`, (req, body) => [
    { ...authorization(req, `dynamodb:${op}`, LOCK_TABLE_PLACEHOLDER + (body.IndexName ? `/index/${body.IndexName}` : ''), {},
      (mode) => mode.lockTable !== undefined), lockTable: true },
  ]])),

  // Container-image Lambda functions (LAMBDA_FUNCTIONS=enabled). ListFunctions acts on no resource; the others on
  // the function (UpdateAlias on the alias ARN, function:NAME:ALIAS). GetFunction returns tags only with
  // lambda:ListTags allowed: authorized with it. UpdateFunctionCode with an ECR image also needs the caller to read
  // the image (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer on its repository).
  'lambda:ListFunctions': (req) => [
    authorization(req, 'lambda:ListFunctions', '*', {}, (mode) => followsFunctions(mode) && mode.select === 'matching'),
  ],
  'lambda:GetFunction': (req) => {
    // With a Qualifier (an alias) the resource is the alias ARN, function:NAME:ALIAS.
    const qualified = req.lambda.alias === undefined ? '' : `:${decodeURIComponent(req.lambda.alias)}`;
    const arn = functionArn(req, req.lambda.name) + qualified;
    return ['lambda:GetFunction', 'lambda:ListTags'].map((action) => authorization(req, action, arn, {}, followsFunctions));
  },
  'lambda:UpdateFunctionCode': (req, body) => {
    const needed = (mode) => followsFunctions(mode) && writes(mode);
    const image = imageRepository(body.ImageUri ?? '');
    const repositoryArn = `arn:aws:ecr:${image.region ?? req.region}:${image.registry}:repository/${image.repository}`;
    return [
      authorization(req, 'lambda:UpdateFunctionCode', functionArn(req, req.lambda.name), {}, needed),
      // BatchGetImage on the repositories in scope is granted in every mode already (the platform check's).
      authorization(req, 'ecr:BatchGetImage', repositoryArn, {}, (mode) => inRepositories(mode, image.repository)),
      authorization(req, 'ecr:GetDownloadUrlForLayer', repositoryArn, {},
        (mode) => needed(mode) && inRepositories(mode, image.repository)),
    ];
  },
  'lambda:PublishVersion': (req) => [
    authorization(req, 'lambda:PublishVersion', functionArn(req, req.lambda.name), {},
      (mode) => followsFunctions(mode) && writes(mode)),
  ],
  'lambda:UpdateAlias': (req) => [
    authorization(req, 'lambda:UpdateAlias', `${functionArn(req, req.lambda.name)}:${decodeURIComponent(req.lambda.alias)}`, {},
      (mode) => followsFunctions(mode) && writes(mode)),
  ],

  // Notifications. The function puts them only on the bus NOTIFY_BUS names, which the stack sets: evaluated on it.
  'events:PutEvents': (req) => [
    { ...authorization(req, 'events:PutEvents', NOTIFY_BUS_PLACEHOLDER, {}, (mode) => writes(mode) && mode.bus !== undefined),
      notifyBus: true },
  ],

  // A staged rollout's bake ends with a delayed message on the queue WAVE_QUEUE names: the stack's own event queue.
  'sqs:SendMessage': (req) => [
    { ...authorization(req, 'sqs:SendMessage', WAVE_QUEUE_PLACEHOLDER, {}, (mode) => writes(mode) && mode.waveQueue !== undefined),
      waveQueue: true },
  ],
};

/** Stand-ins, replaced per stack by its lock table and its bus (or, without them, by what LOCK_TABLE/NOTIFY_BUS would name). */
export const LOCK_TABLE_PLACEHOLDER = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/LOCK_TABLE`;
export const NOTIFY_BUS_PLACEHOLDER = `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/NOTIFY_BUS`;
export const WAVE_QUEUE_PLACEHOLDER = `arn:aws:sqs:us-east-1:${ACCOUNT}:WAVE_QUEUE`;

/** Requests the tests do not make, or must never make, evaluated like recorded ones: the negative set, and the
 * mode-dependent ones whether or not a test happened to make them. */
export const SYNTHETIC = [
  ['a listing of the clusters', 'ecs', 'ListClusters', {}],
  ['a listing of a cluster outside Clusters', 'ecs', 'ListServices', { cluster: 'elsewhere' }],
  ['a description in a cluster outside Clusters', 'ecs', 'DescribeServices', { cluster: 'elsewhere', services: ['web'] }],
  ['an update in a cluster outside Clusters', 'ecs', 'UpdateService', { cluster: 'elsewhere', service: 'web', forceNewDeployment: true }],
  ['an update in a cluster in scope', 'ecs', 'UpdateService', { cluster: 'shop', service: 'web', forceNewDeployment: true }],
  ['an update of another account\'s service', 'ecs', 'UpdateService', { cluster: 'arn:aws:ecs:us-east-1:210987654321:cluster/shop', service: 'arn:aws:ecs:us-east-1:210987654321:service/shop/web' }],
  ['an old-format service ARN (never described: skipped old-arn-format)', 'ecs', 'DescribeServices', { cluster: 'shop', services: [`arn:aws:ecs:us-east-1:${ACCOUNT}:service/web`] }],
  ['a new revision with tags and roles', 'ecs', 'RegisterTaskDefinition', {
    family: 'web', taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/web-task`, executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/web-exec`,
    tags: [{ key: 'team', value: 'a' }],
  }],
  ['a lock claim', 'dynamodb', 'PutItem', { TableName: 'locks' }],
  ['a notification', 'events', 'PutEvents', { Entries: [{ EventBusName: 'default' }] }],
  ['a wave bake\'s wake', 'sqs', 'SendMessage', { QueueUrl: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/WAVE_QUEUE`, DelaySeconds: 600 }],
  ['a read of a repository outside RepositoryFilter', 'ecr', 'BatchGetImage', { repositoryName: 'other/thing' }],
  ['a listing of the functions', 'lambda', 'ListFunctions', {}],
  ['an image function\'s update', 'lambda', 'UpdateFunctionCode',
    { ImageUri: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:latest` }, { name: 'worker' }],
  ['an image function\'s update from a repository outside RepositoryFilter', 'lambda', 'UpdateFunctionCode',
    { ImageUri: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/other/thing:latest` }, { name: 'worker' }],
  ['a version of an image function', 'lambda', 'PublishVersion', {}, { name: 'worker' }],
  ['an alias of an image function moved', 'lambda', 'UpdateAlias', { FunctionVersion: '2' }, { name: 'worker', alias: 'live' }],
];

/** Authorizations nothing the function does needs, in any mode. */
export const NEVER = (region) => [
  ['DeleteService', 'ecs:DeleteService', `arn:aws:ecs:${region}:${ACCOUNT}:service/shop/web`, { 'ecs:cluster': `arn:aws:ecs:${region}:${ACCOUNT}:cluster/shop` }],
  ['CreateService', 'ecs:CreateService', `arn:aws:ecs:${region}:${ACCOUNT}:service/shop/web`, { 'ecs:cluster': `arn:aws:ecs:${region}:${ACCOUNT}:cluster/shop` }],
  ['tagging a service', 'ecs:TagResource', `arn:aws:ecs:${region}:${ACCOUNT}:service/shop/web`, {}],
  ['tagging a task definition after the fact', 'ecs:TagResource', `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/web:1`, {}],
  ['iam:PassRole to Lambda', 'iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/web-task`, { 'iam:PassedToService': 'lambda.amazonaws.com' }],
  ['iam:PassRole to EC2', 'iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/web-task`, { 'iam:PassedToService': 'ec2.amazonaws.com' }],
  ['PutEvents to another bus', 'events:PutEvents', `arn:aws:events:${region}:${ACCOUNT}:event-bus/other`, {}],
  ['PutEvents to another account\'s default bus', 'events:PutEvents', `arn:aws:events:${region}:210987654321:event-bus/default`, {}],
  ['ECR push', 'ecr:PutImage', `arn:aws:ecr:${region}:${ACCOUNT}:repository/app`, {}],
  ['ECR delete', 'ecr:BatchDeleteImage', `arn:aws:ecr:${region}:${ACCOUNT}:repository/app`, {}],
  ['another table', 'dynamodb:PutItem', `arn:aws:dynamodb:${region}:${ACCOUNT}:table/other`, {}],
  ['deleting the lock table', 'dynamodb:DeleteTable', LOCK_TABLE_PLACEHOLDER, {}],
  ['a scan of the lock table', 'dynamodb:Scan', LOCK_TABLE_PLACEHOLDER, {}],
  ['a message to another queue', 'sqs:SendMessage', `arn:aws:sqs:${region}:${ACCOUNT}:other`, {}],
  ['a rule', 'events:PutRule', `arn:aws:events:${region}:${ACCOUNT}:rule/anything`, {}],
  ['an update in another Region', 'ecs:UpdateService', `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/shop/web`, { 'ecs:cluster': `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/shop`, 'aws:RequestedRegion': 'eu-west-1' }],
  ['a function\'s deletion', 'lambda:DeleteFunction', `arn:aws:lambda:${region}:${ACCOUNT}:function:worker`, {}],
  ['a function\'s configuration', 'lambda:UpdateFunctionConfiguration', `arn:aws:lambda:${region}:${ACCOUNT}:function:worker`, {}],
  ['another account\'s function', 'lambda:UpdateFunctionCode', `arn:aws:lambda:${region}:210987654321:function:worker`, {}],
  ['another Region\'s registry', 'ecr:BatchGetImage', `arn:aws:ecr:eu-west-1:${ACCOUNT}:repository/app`, { 'aws:RequestedRegion': 'eu-west-1' }],
];
