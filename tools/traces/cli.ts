// `npm run traces`: a local OTLP/gRPC trace receiver on localhost:4317 that prints each trace as an indented tree
// (or, with --json, one JSON object per line) with the IDs its log lines carry. With `npm run start:app` in another
// terminal it shows the whole correlation story on a laptop, with no collector and no Docker. It also answers X-Ray's
// sampling API where the collector's awsproxy would (localhost:2000) with a rule that records every request, so that
// the service, started with no variable at all (its sampler is `xray`, as in the task), records every request here.
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { FakeXRayProxy, RECORD_ALL_LOCALLY } from '../../app/test/support/xray-proxy';
import { OtlpReceiver } from './receiver';
import { TraceCollector, renderTree, toJson } from './view';
import { UsageError, wholeOption } from '../cli-options';

const USAGE = `Usage: npm run traces [-- <options>]

Receives OTLP/gRPC traces (what the service sends to OTEL_EXPORTER_OTLP_ENDPOINT, http://localhost:4317 by default)
and prints each trace once no span of it has arrived for --idle milliseconds: an indented tree of its spans (name,
kind, duration, status, span_id, key attributes) under its trace_id and xray_trace_id, the IDs in its log lines.

  --json              One JSON object per trace per line (every attribute, the X-Ray IDs), for jq and scripts
  --port <n>          The port to listen on (default 4317)
  --sampling-port <n> Where to answer X-Ray's sampling API with a rule that records every request, as the
                      collector's awsproxy does in the task (default 2000, the service's default; 0 picks a free one)
  --host <address>    The address to listen on (default localhost)
  --idle <ms>         Quiet time after which a trace is printed (default 1000)
  --all-attributes    Show connection attributes too (client.address, network.*, user_agent.original, ...)
  --help              Print this and exit
`;

interface Options {
  json: boolean;
  port: number;
  samplingPort: number;
  host: string;
  idleMs: number;
  allAttributes: boolean;
  help: boolean;
}

export function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        json: { type: 'boolean' },
        port: { type: 'string' },
        'sampling-port': { type: 'string' },
        host: { type: 'string' },
        idle: { type: 'string' },
        'all-attributes': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('.')[0]);
  }
  return {
    json: values.json ?? false,
    port: wholeOption('port', values.port, 4317, 0, 65535),
    samplingPort: wholeOption('sampling-port', values['sampling-port'], 2000, 0, 65535),
    host: values.host ?? 'localhost',
    idleMs: wholeOption('idle', values.idle, 1000, 10, 600_000),
    allAttributes: values['all-attributes'] ?? false,
    help: values.help ?? false,
  };
}

async function main(argv: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`npm run traces: ${error.message} (npm run traces -- --help)\n`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }

  const print = options.json
    ? (trace: Parameters<typeof toJson>[0]) => process.stdout.write(`${JSON.stringify(toJson(trace))}\n`)
    : (trace: Parameters<typeof renderTree>[0]) =>
        process.stdout.write(`${renderTree(trace, { allAttributes: options.allAttributes })}\n`);
  const collector = new TraceCollector(options.idleMs, print);
  // gRPC's own log lines (a failed bind, a client gone) would interleave with the traces; errors are reported here.
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  let receiver: OtlpReceiver;
  try {
    receiver = await OtlpReceiver.start(options.port, 'accept', {
      host: options.host,
      keep: false,
      onSpans: (spans) => collector.add(spans),
    });
  } catch (error) {
    const detail = (error as Error).message.split('\n')[0];
    process.stderr.write(
      `npm run traces: cannot listen on ${options.host}:${options.port} (${detail}); ` +
        'is a collector already running there? Stop it, or pick another --port and point ' +
        'OTEL_EXPORTER_OTLP_ENDPOINT at it\n',
    );
    process.exitCode = 1;
    return;
  }
  let sampling: FakeXRayProxy | undefined;
  let samplingNote: string;
  try {
    sampling = await FakeXRayProxy.start({ rules: RECORD_ALL_LOCALLY, port: options.samplingPort });
    samplingNote =
      `; X-Ray's sampling API on localhost:${sampling.port} answers a rule that records every request ` +
      "(in AWS the account's rules decide)";
  } catch (error) {
    samplingNote =
      `; X-Ray's sampling API not answered (localhost:${options.samplingPort}: ${(error as Error).message}), ` +
      "so the service records by X-Ray's default rule, 1 request a second plus 5%";
  }
  process.stderr.write(
    `Listening for OTLP/gRPC traces on ${options.host}:${receiver.port}${samplingNote}; ` +
      `start the service with \`npm run start:app\` and send it requests (Ctrl-C to stop)\n`,
  );
  // Ctrl-C under `npm run` may deliver the signal twice (the terminal's and npm's own copy): stop once.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    collector.flush();
    void receiver.stop();
    void sampling?.stop();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
