// `npm run verify`: argument parsing, AWS clients from the default provider chain, output and exit codes.
// Exit codes: 0 every trace verified; 1 some trace has a gap (the report names the likely cause); 2 could not run.
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { XRayClient } from '@aws-sdk/client-xray';
import { parseArgs } from 'node:util';
import { systemClock } from './clock';
import { VerifyError, oneLine } from './errors';
import { awsClientConfig } from './retry';
import { Cleanup } from './sampling';
import { DEFAULT_LOG_GROUP, DEFAULT_SERVICE_NAME, DEFAULT_STACK_NAME } from './stack';
import { verify, type VerifyClients, type VerifyDeps, type VerifyOptions } from './verify';

export const USAGE = `Usage: npm run verify -- [options]

Sends traced requests to the deployed service, then checks that X-Ray has each trace with its spans,
that the trace links to the log group, and that Logs Insights finds the trace's log lines there;
with the orders table, that POST /orders' trace shows its DynamoDB call and that each order reads back.
Its requests are recorded through a temporary X-Ray sampling rule of its own, deleted when it ends.

Options:
  --stack <name>         read ServiceUrl, LogGroupName, LogGroupArn, SamplingRuleName and
                         OrdersTableName from this stack's outputs (default ${DEFAULT_STACK_NAME})
  --url <url>            the service's URL instead of a stack (no CloudFormation call)
  --log-group <name>     the log group to check (default: the stack's output, or ${DEFAULT_LOG_GROUP} with --url)
  --service-name <name>  the service the temporary sampling rule matches (default: the stack's
                         sampling rule's, else ${DEFAULT_SERVICE_NAME})
  --orders-table <name>  the DynamoDB table the service keeps orders in (default: the stack's
                         OrdersTableName output; with --url, none). With a table, POST /orders' trace must
                         show its PutItem, and each order must read back (GET /orders/:id, 3 times)
  --requests <n>         requests per route, GET / and POST /orders (default 2)
  --timeout <seconds>    how long to wait for traces and log lines, from the first request (default 180)
  --region <region>      AWS region (default: AWS_REGION or your profile's)
  -h, --help             show this help

Exit codes: 0 all verified, 1 gaps found, 2 could not run, 130 interrupted (Ctrl-C).`;

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

/** DynamoDB's rule for a table name: 3 to 255 of letters, digits, '_', '-' and '.'. */
function ordersTable(raw: string): string {
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(raw)) {
    throw new VerifyError(
      `--orders-table takes a DynamoDB table name (3 to 255 letters, digits, '_', '-', '.'), not "${raw}"`,
    );
  }
  return raw;
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
        'service-name': { type: 'string' },
        'orders-table': { type: 'string' },
        requests: { type: 'string', default: '2' },
        timeout: { type: 'string', default: '180' },
        region: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    // node:util's messages end without a full stop ("Unknown option '--bogus'"); the sentence gets one.
    throw new VerifyError(`${(err as Error).message.trim().replace(/[.\s]*$/, '.')} See --help.`);
  }
  if (values.stack !== undefined && values.url !== undefined) {
    throw new VerifyError('Give either --stack or --url, not both.');
  }
  return {
    stackName: values.stack ?? DEFAULT_STACK_NAME,
    ...(values.url !== undefined ? { url: values.url } : {}),
    ...(values['log-group'] !== undefined ? { logGroup: values['log-group'] } : {}),
    ...(values['service-name'] !== undefined ? { serviceName: values['service-name'] } : {}),
    ...(values['orders-table'] !== undefined ? { ordersTable: ordersTable(values['orders-table']) } : {}),
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

/** What the CLI listens to for Ctrl-C: the process, or a stand-in in tests. */
export interface Signals {
  once(event: 'SIGINT', listener: () => void): unknown;
  removeListener(event: 'SIGINT', listener: () => void): unknown;
}

/** Exit code after Ctrl-C, as a shell reports a process ended by SIGINT. */
export const INTERRUPTED = 130;

/** Runs the command and returns its exit code; never throws. */
export async function main(
  argv: readonly string[],
  io: Io = processIo,
  makeDeps: (region?: string) => Omit<VerifyDeps, 'progress'> = (region) => ({
    ...defaultClients(region),
    clock: systemClock,
  }),
  signals: Signals = process,
): Promise<number> {
  const progress = progressWriter(io);
  const cleanup = new Cleanup();
  let onInterrupt: (() => void) | undefined;
  // Ctrl-C: undo what the run set up (its sampling rule), then end with 130; the run itself is abandoned.
  const interrupted = new Promise<number>((resolve) => {
    onInterrupt = () => {
      progress.end();
      io.stderr('verify: interrupted.\n');
      void cleanup.run().then((lines) => {
        for (const line of lines) io.stderr(`${line}\n`);
        resolve(INTERRUPTED);
      });
    };
  });
  try {
    const opts = parseCli(argv);
    if (opts.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    signals.once('SIGINT', onInterrupt as () => void);
    const outcome = verify(opts, { ...makeDeps(opts.region), progress: progress.update, cleanup }).then(
      (result) => {
        progress.end();
        io.stdout(`\n${result.report}\n`);
        return result.ok ? 0 : 1;
      },
      (err: unknown) => {
        progress.end();
        io.stderr(`verify: ${err instanceof VerifyError ? err.message : oneLine(err)}\n`);
        return 2;
      },
    );
    return await Promise.race([outcome, interrupted]);
  } catch (err) {
    progress.end();
    io.stderr(`verify: ${err instanceof VerifyError ? err.message : oneLine(err)}\n`);
    return 2;
  } finally {
    signals.removeListener('SIGINT', onInterrupt as () => void);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    // After Ctrl-C the abandoned run may still hold timers and sockets: end now.
    if (code === INTERRUPTED) process.exit(code);
    process.exitCode = code;
  });
}
