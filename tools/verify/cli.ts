// `npm run verify`: argument parsing, AWS clients from the default provider chain, output and exit codes.
// Exit codes: 0 every trace verified; 1 some trace has a gap (the report names the likely cause); 2 could not run.
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { XRayClient } from '@aws-sdk/client-xray';
import { parseArgs } from 'node:util';
import { systemClock } from './clock';
import { VerifyError, oneLine } from './errors';
import { awsClientConfig } from './retry';
import { DEFAULT_LOG_GROUP, DEFAULT_STACK_NAME } from './stack';
import { verify, type VerifyClients, type VerifyDeps, type VerifyOptions } from './verify';

export const USAGE = `Usage: npm run verify -- [options]

Sends traced requests to the deployed service, then checks that X-Ray has each trace with its spans,
that the trace links to the log group, and that Logs Insights finds the trace's log lines there.

Options:
  --stack <name>       read ServiceUrl, LogGroupName and LogGroupArn from this stack's outputs
                       (default ${DEFAULT_STACK_NAME})
  --url <url>          the service's URL instead of a stack (no CloudFormation call)
  --log-group <name>   the log group to check (default: the stack's output, or ${DEFAULT_LOG_GROUP} with --url)
  --requests <n>       requests per route, GET / and POST /orders (default 2)
  --timeout <seconds>  how long to wait for traces and log lines, from the first request (default 180)
  --region <region>    AWS region (default: AWS_REGION or your profile's)
  -h, --help           show this help

Exit codes: 0 all verified, 1 gaps found, 2 could not run.`;

export interface CliOptions extends VerifyOptions {
  readonly region?: string;
  readonly help: boolean;
}

function positiveInt(raw: string, flag: string, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max)
    throw new VerifyError(`${flag} takes a whole number from 1 to ${max}, not "${raw}"`);
  return n;
}

export function parseCli(argv: readonly string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        stack: { type: 'string' },
        url: { type: 'string' },
        'log-group': { type: 'string' },
        requests: { type: 'string', default: '2' },
        timeout: { type: 'string', default: '180' },
        region: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new VerifyError(`${(err as Error).message} See --help.`);
  }
  if (values.stack !== undefined && values.url !== undefined) {
    throw new VerifyError('Give either --stack or --url, not both.');
  }
  return {
    stackName: values.stack ?? DEFAULT_STACK_NAME,
    ...(values.url !== undefined ? { url: values.url } : {}),
    ...(values['log-group'] !== undefined ? { logGroup: values['log-group'] } : {}),
    ...(values.region !== undefined ? { region: values.region } : {}),
    requestsPerRoute: positiveInt(values.requests, '--requests', 50),
    timeoutMs: positiveInt(values.timeout, '--timeout', 3600) * 1000,
    help: values.help,
  };
}

export function defaultClients(region?: string): VerifyClients {
  const config = awsClientConfig(region);
  return {
    cfn: new CloudFormationClient(config),
    xray: new XRayClient(config),
    logs: new CloudWatchLogsClient(config),
  };
}

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** A terminal gets one status line rewritten in place; a log gets a line per change. */
  readonly isTTY: boolean;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: Boolean(process.stderr.isTTY),
};

function progressWriter(io: Io): { update: VerifyDeps['progress']; end: () => void } {
  let lastKey: string | undefined;
  let open = false;
  return {
    update: (text, key) => {
      if (io.isTTY) {
        // A new phase keeps the last line of the one before on screen.
        const samePhase = lastKey !== undefined && lastKey.split(' ')[0] === key.split(' ')[0];
        io.stderr(open && !samePhase ? `\n${text}` : `\r\x1b[K${text}`);
        open = true;
      } else if (key !== lastKey) {
        io.stderr(`${text}\n`);
      }
      lastKey = key;
    },
    end: () => {
      if (open) io.stderr('\n');
      open = false;
    },
  };
}

/** Runs the command and returns its exit code; never throws. */
export async function main(
  argv: readonly string[],
  io: Io = processIo,
  makeDeps: (region?: string) => Omit<VerifyDeps, 'progress'> = (region) => ({
    ...defaultClients(region),
    clock: systemClock,
  }),
): Promise<number> {
  const progress = progressWriter(io);
  try {
    const opts = parseCli(argv);
    if (opts.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    const outcome = await verify(opts, { ...makeDeps(opts.region), progress: progress.update });
    progress.end();
    io.stdout(`\n${outcome.report}\n`);
    return outcome.ok ? 0 : 1;
  } catch (err) {
    progress.end();
    io.stderr(`verify: ${err instanceof VerifyError ? err.message : oneLine(err)}\n`);
    return 2;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
