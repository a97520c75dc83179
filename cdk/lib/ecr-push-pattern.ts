import * as events from 'aws-cdk-lib/aws-events';

/**
 * Maximum size of an EventBridge event pattern, in characters: the default of the adjustable "Event pattern size"
 * quota (EventBridge quotas; the PutRule API allows up to 4,096 once raised). The SAM template's RepositoryFilter
 * MaxLength keeps its pattern within the same number.
 */
export const EVENT_PATTERN_SIZE_QUOTA = 2048;

/** Name characters with single `*` between or around them, or a lone `*`: EventBridge refuses `**`. */
const REPOSITORY_PATTERN = /^(\*?[a-z0-9._/-]+(\*[a-z0-9._/-]+)*\*?|\*)$/;

/**
 * The pattern of successful ECR pushes (and, with `replicated`, replications) of `repositories` (every repository
 * when empty): the workload stack's rule (EcsRedeploy) and each forwarding rule of the registry account
 * (EcrPushForwarder) match with this one, so that the two cannot drift apart.
 */
export function ecrPushEventPattern(repositories: string[], replicated: boolean): events.EventPattern {
  return {
    source: ['aws.ecr'],
    detailType: replicated ? ['ECR Image Action', 'ECR Replication Action'] : ['ECR Image Action'],
    detail: {
      'action-type': replicated ? ['PUSH', 'REPLICATE'] : ['PUSH'],
      result: ['SUCCESS'],
      // Drops untagged pushes (multi-arch child manifests, attestations, pushes by digest) at the source:
      // anything-but matches only a present field, so pushes without the field are dropped too. The function
      // ignores such events anyway.
      'image-tag': events.Match.anythingBut(''),
      // Same form as the SAM template: a wildcard without * matches the exact name. Replication events
      // carry the same repository-name and image-tag fields.
      ...(repositories.length > 0 && {
        'repository-name': events.Match.anyOf(...repositories.map((r) => events.Match.wildcard(r))),
      }),
    },
  };
}

/**
 * Why `repositories` cannot be a rule's filter, or undefined when it can: a malformed entry, consecutive `*`
 * (EventBridge refuses `**`), or a pattern longer than `EVENT_PATTERN_SIZE_QUOTA`.
 */
export function repositoryFilterProblem(repositories: string[], replicated: boolean): string | undefined {
  for (const r of repositories) {
    if (r.includes('**')) {
      return `repository pattern "${r}" has consecutive * (EventBridge refuses **; one * already matches anything)`;
    }
    if (!REPOSITORY_PATTERN.test(r)) return `invalid repository pattern "${r}"`;
  }
  const size = eventPatternText(repositories, replicated).length;
  if (size > EVENT_PATTERN_SIZE_QUOTA) {
    return `the rule's event pattern would be ${size} characters, above EventBridge's default quota of ` +
      `${EVENT_PATTERN_SIZE_QUOTA}: list fewer repositories or broader patterns (team-a/*)`;
  }
  return undefined;
}

/**
 * The rule's event pattern as CloudFormation receives it, written the way the SAM template writes it (`", "` and
 * `": "` separators: longer than compact JSON, so the size check errs on the safe side).
 */
function eventPatternText(repositories: string[], replicated: boolean): string {
  const text = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(text).join(', ')}]`;
    if (value !== null && typeof value === 'object') {
      return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${text(v)}`).join(', ')}}`;
    }
    return JSON.stringify(value);
  };
  return text({
    source: ['aws.ecr'],
    'detail-type': replicated ? ['ECR Image Action', 'ECR Replication Action'] : ['ECR Image Action'],
    detail: {
      'action-type': replicated ? ['PUSH', 'REPLICATE'] : ['PUSH'],
      result: ['SUCCESS'],
      'image-tag': [{ 'anything-but': [''] }],
      ...(repositories.length > 0 && { 'repository-name': repositories.map((r) => ({ wildcard: r })) }),
    },
  });
}
