// `npm run local`: the task on this machine, before a first `cdk deploy` and without Docker or an AWS account. The
// built service with the task definition's environment, the real collector with the task's configuration and a local
// stand-in for X-Ray's API (tools/collector/local-task.ts); each trace is printed as X-Ray receives it, beside the
// service's log lines of that trace (view.ts). Ctrl-C stops all three and leaves nothing running.
import * as net from 'node:net';
import { parseArgs } from 'node:util';
import { collectorBinary, readManifest } from '../collector/build';
import { TASK_PORTS } from '../collector/collector';
import { LocalTask } from '../collector/local-task';
import { RECORD_ALL_LOCALLY } from '../../app/test/support/xray-proxy';
import { renderTrace, SegmentGroups } from './view';
import { UsageError, wholeOption } from '../cli-options';

const USAGE = `Usage: npm run local [-- <options>]

Runs the task on this machine: the built service (app/dist/main.js) with the task definition's environment, the real
OpenTelemetry Collector (built from tools/collector/manifest.yaml) with the task's configuration
(lib/config/collector.yaml), and a local stand-in for X-Ray's API in place of AWS. The stand-in answers the sampling
API with a rule that records every request, and keeps what the collector's awsxray exporter sends it. Each trace is
printed as X-Ray receives it (its segment documents, as a tree and verbatim, under both trace ID forms) with the
service's log lines of that trace. Ctrl-C stops all three.

  --port <n>      The service's port (default 8080, the task's container port; 0 picks a free one)
  --free-ports    The collector on free ports rather than the task's 4317, 2000 and 13133
  --idle <ms>     Quiet time after which a trace is printed (default 2500: a trace's spans reach X-Ray in the
                  batches of the service (every 0.2 s) and of the collector (every 1 s), so one can come later)
  --help          Print this and exit
`;

/**
 * How long a trace waits for more documents before it is printed: its spans leave the service in batches every 0.2 s
 * (OTEL_BSP_SCHEDULE_DELAY's default here) and the collector's every 1 s (batch/traces in lib/config/collector.yaml),
 * so a trace's last documents can come more than a second after its first; and more under load.
 */
export const DEFAULT_IDLE_MS = 2500;

export interface Options {
  readonly port: number;
  readonly freePorts: boolean;
  readonly idleMs: number;
  readonly help: boolean;
}

export function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        'free-ports': { type: 'boolean' },
        idle: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('.')[0]);
  }
  return {
    port: wholeOption('port', values.port, 8080, 0, 65535),
    freePorts: values['free-ports'] ?? false,
    idleMs: wholeOption('idle', values.idle, DEFAULT_IDLE_MS, 10, 600_000),
    help: values.help ?? false,
  };
}

const status = (line: string) => process.stderr.write(`${line}\n`);

/** The error a listener on `port` would get now (EADDRINUSE: something else has it), or undefined if it is free. */
function listenError(port: number, host?: string): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', resolve);
    server.listen(port, host, () => server.close(() => resolve(undefined)));
  });
}

/** Each port the run needs that something else holds, in a sentence that says what to do about it. */
async function takenPorts(options: Options): Promise<string[]> {
  const wanted: [number, string | undefined, string][] = [];
  if (options.port !== 0) wanted.push([options.port, undefined, 'the service']);
  if (!options.freePorts) {
    wanted.push(
      [TASK_PORTS.otlpGrpc, '127.0.0.1', "the collector's OTLP receiver"],
      [TASK_PORTS.samplingProxy, '127.0.0.1', "the collector's sampling proxy"],
      [TASK_PORTS.healthCheck, '127.0.0.1', "the collector's health check"],
    );
  }
  const problems: string[] = [];
  for (const [port, host, what] of wanted) {
    const error = await listenError(port, host);
    if (error) problems.push(`port ${port}, for ${what}, is taken (${error.message})`);
  }
  return problems;
}

async function main(argv: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    status(`npm run local: ${error.message} (npm run local -- --help)`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }

  const taken = await takenPorts(options);
  if (taken.length > 0) {
    status(
      `npm run local: ${taken.join('; ')}. Stop what listens there (\`npm run traces\`, \`npm run start:app\` or ` +
        'another collector?), or use --port for the service and --free-ports for the collector.',
    );
    process.exitCode = 1;
    return;
  }
  let task: LocalTask;
  try {
    const binary = await collectorBinary({ onBuildStart: status });
    task = await LocalTask.start({
      binary,
      ports: options.freePorts ? 'free' : 'task',
      rules: RECORD_ALL_LOCALLY,
      serviceEnvironment: { PORT: String(options.port) },
      // The collector's own warnings and errors (an export X-Ray refused, data refused for memory); not its chatter.
      onCollectorLog: (line) => {
        if (/"level":"(warn|error|dpanic|panic|fatal)"/.test(line)) status(`collector | ${line}`);
      },
    });
  } catch (error) {
    status(`npm run local: could not start the task: ${(error as Error).message}`);
    process.exitCode = 1;
    return;
  }
  const { xray, collector, service } = task;
  const servicePort = service.port;
  const ports = collector.ports;
  status(
    `X-Ray stand-in on ${xray.endpoint}: it answers the sampling API with a rule that records every request (in AWS ` +
      "the account's rules decide), and shows each trace the collector sends it below",
  );
  status(
    `collector (pid ${collector.pid}, otelcol-task ${readManifest().dist.version}) with lib/config/collector.yaml: ` +
      `OTLP 127.0.0.1:${ports.otlpGrpc}, sampling proxy 127.0.0.1:${ports.samplingProxy}, health 127.0.0.1:${ports.healthCheck}`,
  );
  status(
    `service (pid ${service.proc.pid}) on http://localhost:${servicePort}: try curl localhost:${servicePort}/ ` +
      '(Ctrl-C stops all three)',
  );

  const groups = new SegmentGroups(options.idleMs, (trace) =>
    process.stdout.write(`${renderTrace(trace, service.lines)}\n`),
  );
  // The stand-in and the service keep what they received; new arrivals are picked up from where the last look ended.
  let segmentCalls = 0;
  let serviceLines = 0;
  const pickUp = () => {
    for (; segmentCalls < xray.segmentCalls.length; segmentCalls++)
      groups.add(xray.segmentCalls[segmentCalls].documents);
    for (; serviceLines < service.lines.length; serviceLines++) {
      const line = service.lines[serviceLines];
      // A request's lines are printed with its trace; the process's own (listening, warnings) as they come.
      if (line.trace_id === undefined) status(`service   | ${JSON.stringify(line)}`);
    }
  };
  const poll = setInterval(pickUp, 100);

  let stopping = false;
  const stop = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(poll);
    status(`stopping (${reason}): the service, then the collector, then the X-Ray stand-in`);
    await task.stop();
    // What the service flushed and the collector exported as they stopped.
    pickUp();
    groups.flush();
    status(
      `stopped: service exit ${String(service.proc.exitCode ?? service.proc.signalCode)}, ` +
        `collector exit ${String(await collector.stop())}`,
    );
    process.exitCode = exitCode;
  };
  // Ctrl-C under `npm run` may deliver the signal twice (the terminal's and npm's own copy): stop once.
  process.on('SIGINT', () => void stop('SIGINT', 0));
  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  // Either process ending on its own ends the run: what is left would be a task without its sidecar or its service.
  void service.exited.then(() => void stop('the service exited', 1));
  void collector.exited.then(() => void stop('the collector exited', 1));
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
