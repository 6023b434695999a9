// `npm run preflight`: what `cdk deploy` will need, checked before it runs. Synthesizes the app (or reads a given
// cdk.out), then checks the images, Docker and, with credentials, the account. One line per check.
// Exit codes: 0 nothing failed (skipped checks say why); 1 a check failed; 2 could not run (bad option, synth failed).
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import { STSClient } from '@aws-sdk/client-sts';
import { XRayClient } from '@aws-sdk/client-xray';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { AccountClients } from './account';
import { AssemblyError, readAssembly, synthesize } from './assembly';
import { dockerRunner } from './docker';
import { runPreflight } from './preflight';
import { DEFAULT_REGISTRY_URL } from './registry';

export const USAGE = `Usage: npm run preflight -- [options]

Checks what \`npx cdk deploy\` will need, before it runs: every container image the synthesized stack names
exists in Amazon ECR Public with a manifest for the tasks' CPU architecture (and its digest); Docker can build
the service image for that architecture; and, with AWS credentials (skipped without), the CDK bootstrap stack,
that the service log group does not exist yet (or exists, when the stack adopts it), that X-Ray keeps trace
segments where the stack expects them, and whether the stack's cost-allocation tag is active (a budget sees nothing
until it is).

Options:
  -c, --context <key=value>  context for the synth, as for cdk deploy (repeatable): -c cpuArchitecture=X86_64
  --cdk-out <dir>            check this synthesized assembly instead of running cdk synth
  -h, --help                 show this help

Exit codes: 0 nothing failed (a skipped check says why), 1 a check failed, 2 could not run.`;

export interface CliOptions {
  readonly context: readonly string[];
  readonly cdkOut?: string;
  readonly help: boolean;
}

export class UsageError extends Error {}

export function parseCli(argv: readonly string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        context: { type: 'string', short: 'c', multiple: true, default: [] },
        'cdk-out': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. See --help.`);
  }
  for (const pair of values.context) {
    if (!/^[^=\s]+=/.test(pair)) throw new UsageError(`-c takes key=value, not "${pair}". See --help.`);
  }
  if (values['cdk-out'] !== undefined && values.context.length > 0) {
    throw new UsageError('Give either --cdk-out or -c, not both: -c applies to a synth that --cdk-out skips.');
  }
  return {
    context: values.context,
    ...(values['cdk-out'] !== undefined ? { cdkOut: values['cdk-out'] } : {}),
    help: values.help,
  };
}

/** Clients for the account checks: the SDK's default credential chain, the stack's region. */
export function defaultAwsClients(region: string | undefined): AccountClients {
  const config = { ...(region ? { region } : {}), maxAttempts: 3 };
  return {
    sts: new STSClient(config),
    cfn: new CloudFormationClient(config),
    logs: new CloudWatchLogsClient(config),
    xray: new XRayClient(config),
    ce: new CostExplorerClient(config),
  };
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  awsClients: (region: string | undefined) => AccountClients = defaultAwsClients,
): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(argv);
  } catch (err) {
    print((err as Error).message);
    return 2;
  }
  if (options.help) {
    print(USAGE);
    return 0;
  }
  const outdir = options.cdkOut ?? fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-synth-'));
  try {
    if (options.cdkOut === undefined) {
      print(`Synthesizing the app (npx cdk synth${options.context.map((c) => ` -c ${c}`).join('')}) …`);
      synthesize(outdir, options.context, env);
    }
    const facts = readAssembly(outdir);
    const dockerCommand = env.CDK_DOCKER ?? 'docker';
    const { exitCode } = await runPreflight(facts, {
      registry: { baseUrl: env.PREFLIGHT_REGISTRY_URL ?? DEFAULT_REGISTRY_URL },
      runDocker: dockerRunner(dockerCommand, env),
      dockerCommand,
      env,
      awsClients,
      print,
    });
    return exitCode;
  } catch (err) {
    if (!(err instanceof AssemblyError)) throw err;
    print(err.message);
    return 2;
  } finally {
    if (options.cdkOut === undefined) fs.rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`preflight could not run: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
