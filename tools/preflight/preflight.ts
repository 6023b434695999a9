// The checks in order (images, Docker, the account) over what a synthesized stack needs, and the report.
import { checkAccount, type AccountClients } from './account';
import type { StackFacts } from './assembly';
import { checkDocker, type RunDocker } from './docker';
import { checkImages, platformName, type RegistryOptions } from './registry';
import { exitCodeOf, formatResult, summary, type CheckResult } from './report';

/** The context key that adopts an existing log group (bin/context.ts; a test keeps the two in step). */
export const ADOPT_LOG_GROUP_KEY = 'adoptLogGroup';

/** The bootstrap stack `cdk bootstrap` creates unless told another name. */
export const TOOLKIT_STACK_NAME = 'CDKToolkit';

export interface PreflightDeps {
  readonly registry: RegistryOptions;
  readonly runDocker: RunDocker;
  /** The Docker CLI's name, for messages. */
  readonly dockerCommand: string;
  readonly env: NodeJS.ProcessEnv;
  /** AWS clients for the stack's region. */
  readonly awsClients: (region: string | undefined) => AccountClients;
  readonly print: (line: string) => void;
}

export interface PreflightOutcome {
  readonly results: readonly CheckResult[];
  readonly exitCode: 0 | 1;
}

export async function runPreflight(facts: StackFacts, deps: PreflightDeps): Promise<PreflightOutcome> {
  const { print } = deps;
  print(
    `Preflight for ${facts.stackName} in ${facts.region ?? 'the default region'}, tasks on ${platformName(facts.platform)}`,
  );
  print('');
  const results: CheckResult[] = [];
  const report = (found: readonly CheckResult[]) => {
    for (const result of found) print(formatResult(result));
    results.push(...found);
  };

  const images = await checkImages(facts.images, facts.platform, deps.registry);
  report(images.map((i) => i.result));
  report(await checkDocker(facts.build, deps.runDocker, deps.env, deps.dockerCommand));
  report(
    await checkAccount(
      {
        region: facts.region ?? 'the default region',
        bootstrap: { stackName: TOOLKIT_STACK_NAME, minVersion: facts.bootstrapMinVersion },
        ...(facts.logGroup ? { logGroup: facts.logGroup } : {}),
        adoptSwitch: ADOPT_LOG_GROUP_KEY,
        ...(facts.costAllocation ? { costAllocation: facts.costAllocation } : {}),
      },
      deps.awsClients(facts.region),
    ),
  );

  const pinned = images.map((i) => i.pinned).filter((p): p is string => p !== undefined);
  if (pinned.length > 0) {
    print('');
    print('Digests, to pin the images by digest (a tag can be moved to another image; a digest cannot):');
    for (const ref of pinned) print(`  ${ref}`);
  }
  print('');
  const exitCode = exitCodeOf(results);
  print(
    `${summary(results)}. ${exitCode === 0 ? 'Ready for `npx cdk deploy`.' : 'Fix the failures above before `npx cdk deploy`.'}`,
  );
  return { results, exitCode };
}
