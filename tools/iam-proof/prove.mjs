// The IAM proof: every AWS request the tests recorded (testkit/src/request_log.rs), mapped by calls.mjs to what
// IAM authorizes, evaluated offline by @cloud-copilot/iam-simulate against the role policies of each rendered stack
// (render.py). Fails on a request the mapping does not know, a needed authorization the stack denies, an
// authorization the stack allows that the function configured like it never needs (the negative set), and an
// action a statement grants that no needed authorization uses.
//
//   node prove.mjs REQUESTS_DIR SETS.json...      (make iam-proof)
//   IAM_PROOF_DROP=Sid node prove.mjs ...         the same with every statement of that Sid removed: shows red
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { ACCOUNT, REGION, CALLS, SYNTHETIC, NEVER, LOCK_TABLE_PLACEHOLDER, NOTIFY_BUS_PLACEHOLDER, WAVE_QUEUE_PLACEHOLDER, lambdaOperation } from './calls.mjs';

const FUNCTION_ACCESS_KEY = 'AKIAECSREDEPLOYFUNCTION';
const FRONT_HEADER = 'x-testkit-front';
const PRINCIPAL = `arn:aws:sts::${ACCOUNT}:assumed-role/ecs-redeploy-function/ecs-redeploy`;
// Statements whose every action Lambda itself uses with the function's role (the event source mapping polls the
// queue; the runtime writes the logs), not the function's code: nothing the tests record exercises them.
const LAMBDA_SERVICE_ACTIONS = /^(logs:(CreateLogStream|PutLogEvents)|sqs:(ReceiveMessage|DeleteMessage|GetQueueAttributes|ChangeMessageVisibility|GetQueueUrl))$/;

const [requestsDir, ...setFiles] = process.argv.slice(2);
const failures = [];
const fail = (message) => failures.push(message);

// --- The recorded requests -------------------------------------------------------------------------------------
function recordedRequests(dir) {
  const requests = [];
  let files = 0;
  // PREFIX-BINARY-PID-N.jsonl (testkit/src/request_log.rs): the testkit's own tests of the front (binary `front`)
  // send the front its test cases, not the function's requests.
  const logs = readdirSync(dir).filter((f) => f.endsWith('.jsonl') && !/^(front|moto)-front-/.test(f));
  for (const file of logs) {
    files += 1;
    const viaFront = file.startsWith('front-');
    for (const line of readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const entry = JSON.parse(line);
      const headers = Object.fromEntries(Object.entries(entry.headers).map(([k, v]) => [k.toLowerCase(), v]));
      const credential = /Credential=([^/]+)\/[^/]+\/([^/]+)\/([^/]+)\//.exec(headers.authorization ?? '');
      if (!credential || credential[1] !== FUNCTION_ACCESS_KEY) continue; // the tests' own seeding and checks
      if (!viaFront && headers[FRONT_HEADER]) continue; // counted in the front's log, or the front's own read
      const [, , region, service] = credential;
      const target = headers['x-amz-target'];
      const body = entry.body_encoded ? Buffer.from(entry.body, 'base64').toString('utf8') : entry.body;
      const lambda = service === 'lambda' ? lambdaOperation(entry.method, entry.url) : undefined;
      requests.push({
        service,
        region,
        operation: lambda?.operation ?? (target ? target.split('.').pop() : `${entry.method} ${entry.url}`),
        body: body ? JSON.parse(body) : {},
        lambda,
        file,
      });
    }
  }
  return { requests, files };
}

const { requests, files } = recordedRequests(requestsDir);
if (requests.length === 0) {
  console.error(`iam-proof: no request of the function in ${requestsDir} (${files} files): run the tests with ECS_REDEPLOY_REQUEST_LOG`);
  process.exit(1);
}
const synthetic = SYNTHETIC.map(([why, service, operation, body, lambda]) => ({ service, region: REGION, operation, body, lambda, why }));

/** Every authorization of every request, deduplicated; the unmapped requests fail the proof. */
function authorizationsOf(list, origin) {
  const unique = new Map();
  const perCall = new Map();
  for (const req of list) {
    const key = `${req.service}:${req.operation}`;
    const map = CALLS[key];
    if (!map) {
      fail(`unmapped request ${key} (${req.file ?? req.why}): add it to tools/iam-proof/calls.mjs`);
      continue;
    }
    perCall.set(key, (perCall.get(key) ?? 0) + 1);
    for (const a of map(req, req.body)) {
      const id = JSON.stringify([a.action, a.resource, a.context]);
      if (!unique.has(id)) unique.set(id, { ...a, origin: req.why ? `synthetic: ${req.why}` : origin, call: key });
    }
  }
  return { authorizations: [...unique.values()], perCall };
}

const recorded = authorizationsOf(requests, 'recorded');
const made = authorizationsOf(synthetic, 'synthetic');
const never = NEVER(REGION).map(([why, action, resource, context]) => ({
  action, resource, context: { 'aws:RequestedRegion': REGION, 'aws:ResourceAccount': resource.split(':')[4], ...context },
  needed: () => false, origin: `negative: ${why}`, call: action,
}));
const all = [...recorded.authorizations, ...made.authorizations, ...never];

// --- The stacks ----------------------------------------------------------------------------------------------
const busArn = (bus) => (bus.startsWith('arn:') ? bus : `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${bus}`);
function modeOf(set) {
  const env = set.environment;
  return {
    select: env.SELECT,
    clusters: env.CLUSTERS ? String(env.CLUSTERS).split(',') : [],
    dryRun: env.DRY_RUN === 'true',
    newRevisions: env.NEW_REVISIONS === 'enabled',
    lambdaFunctions: env.LAMBDA_FUNCTIONS === 'enabled',
    lockTable: set.lockTableArn ?? undefined,
    waveQueue: set.waveQueueArn ?? undefined,
    bus: env.NOTIFY_BUS ? busArn(env.NOTIFY_BUS) : undefined,
    repositories: set.repositories,
  };
}

/** The authorization as this stack's function makes it: on its own lock table and bus. */
function forStack(a, mode) {
  if (a.lockTable) return { ...a, resource: a.resource.replace(LOCK_TABLE_PLACEHOLDER, mode.lockTable ?? LOCK_TABLE_PLACEHOLDER) };
  if (a.notifyBus) return { ...a, resource: mode.bus ?? NOTIFY_BUS_PLACEHOLDER };
  if (a.waveQueue) return { ...a, resource: mode.waveQueue ?? WAVE_QUEUE_PLACEHOLDER };
  return a;
}

async function allowed(policies, a) {
  const response = await runSimulation({
    identityPolicies: policies.map((p) => ({ name: p.name, policy: p.policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    request: {
      action: a.action,
      principal: PRINCIPAL,
      resource: { accountId: a.context['aws:ResourceAccount'] ?? ACCOUNT, resource: a.resource },
      contextVariables: a.context,
    },
  }, {});
  if (response.resultType === 'error') return { allowed: false, why: `not authorizable: ${response.errors.message}` };
  return { allowed: response.overallResult === 'Allowed', why: response.overallResult };
}

const show = (a) => `${a.action} on ${a.resource} ${JSON.stringify(a.context)} [${a.origin}]`;
/** The policies with `action` taken out of statement `statementIndex` of policy `policyIndex`. */
const withoutAction = (policies, policyIndex, statementIndex, action) => policies.map((p, pi) => ({
  ...p,
  policy: {
    ...p.policy,
    Statement: p.policy.Statement.map((s, si) => {
      if (pi !== policyIndex || si !== statementIndex) return s;
      const actions = [s.Action].flat().filter((x) => x !== action);
      return actions.length ? { ...s, Action: actions } : { ...s, Effect: 'Deny', Action: 'none:None' };
    }),
  },
}));

const drop = process.env.IAM_PROOF_DROP;
let evaluated = 0;
for (const file of setFiles) {
  for (const set of JSON.parse(readFileSync(file, 'utf8'))) {
    const mode = modeOf(set);
    let policies = set.policies;
    if (drop) {
      policies = policies.map((p) => ({ ...p, policy: { ...p.policy, Statement: p.policy.Statement.filter((s) => s.Sid !== drop) } }));
    }
    const cases = all.map((a) => forStack(a, mode));
    let allowedCount = 0;
    let deniedCount = 0;
    const neededByAction = new Map();
    for (const a of cases) {
      const needed = a.needed(mode);
      const result = await allowed(policies, a);
      evaluated += 1;
      if (needed && !result.allowed) fail(`${set.name}: denied (${result.why}), needed: ${show(a)}`);
      if (!needed && result.allowed) fail(`${set.name}: allowed, never needed in this mode: ${show(a)}`);
      if (result.allowed) allowedCount += 1; else deniedCount += 1;
      if (needed) neededByAction.set(a.action, [...(neededByAction.get(a.action) ?? []), a]);
    }
    // Least privilege: each action of each Allow statement is what some needed authorization is allowed by.
    // (Not with a statement dropped: that run is only to show the proof turn red.)
    for (const [pi, p] of drop ? [] : policies.entries()) {
      for (const [si, s] of p.policy.Statement.entries()) {
        if (s.Effect !== 'Allow') continue;
        const actions = [s.Action].flat();
        if (actions.every((x) => LAMBDA_SERVICE_ACTIONS.test(x))) continue;
        for (const action of actions) {
          const users = neededByAction.get(action) ?? [];
          const reduced = withoutAction(policies, pi, si, action);
          let used = false;
          for (const a of users) {
            if (!(await allowed(reduced, a)).allowed) { used = true; break; }
          }
          evaluated += users.length;
          if (!used) fail(`${set.name}: ${p.name}/${s.Sid ?? si} grants ${action}, which no needed request uses`);
        }
      }
    }
    console.log(`iam-proof: ${set.name.padEnd(30)} ${String(allowedCount).padStart(4)} allowed, ${String(deniedCount).padStart(4)} denied, as the mode needs (${set.source} ${JSON.stringify(set.parameters)})`);
  }
}

const calls = [...recorded.perCall.entries()].map(([k, n]) => `${k} ×${n}`).join(', ');
console.log(`iam-proof: ${requests.length} recorded requests of the function (${files} logs): ${calls}`);
console.log(`iam-proof: ${all.length} distinct authorizations (${recorded.authorizations.length} recorded, ${made.authorizations.length + never.length} synthetic); ${evaluated} evaluations`);
if (failures.length) {
  for (const f of failures) console.error(`iam-proof: FAIL ${f}`);
  console.error(`iam-proof: ${failures.length} failures${drop ? ` (with ${drop} dropped)` : ''}`);
  process.exit(1);
}
console.log('iam-proof: every request the function made is allowed, and nothing its mode never needs');
