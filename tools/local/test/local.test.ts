// `npm run local`, the real command: npm, the tool, the built service, the real collector (built by jest's global
// setup) and the X-Ray stand-in, as real processes on real sockets. Each trace it prints must be what the collector
// sent to X-Ray, with the service's log lines of that trace; Ctrl-C (SIGINT to the whole process group, as a terminal
// sends it) must stop all three and leave nothing running.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DEFAULT_IDLE_MS, parseOptions } from '../cli';

const ROOT = path.join(__dirname, '..', '..', '..');

jest.setTimeout(90_000);

/** npm and everything it started, in a process group of its own, as a terminal starts a command. */
class Run {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static start(...args: string[]): Run {
    return new Run(
      spawn('npm', ['run', 'local', '--', ...args], {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          ...(process.env.XDG_CACHE_HOME ? { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME } : {}),
        },
      }),
    );
  }

  async waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > until || this.proc.exitCode !== null) {
        throw new Error(`${what} not seen; stdout: ${this.stdout}\nstderr: ${this.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The printed block of one trace, once it is whole (a blank line ends it). */
  block(xrayTraceId: string): Promise<string[]> {
    return this.waitFor(() => {
      const start = this.stdout.indexOf(`trace ${xrayTraceId}`);
      const end = this.stdout.indexOf('\n\n', start);
      return start >= 0 && end > start ? this.stdout.slice(start, end).split('\n') : undefined;
    }, `the trace ${xrayTraceId}`);
  }

  /** Whether any process of the group (npm, the tool, the service, the collector) is still there. */
  get groupAlive(): boolean {
    return alive(-this.proc.pid!);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

const documentsOf = (block: string[]) =>
  block
    .slice(block.indexOf('  segment documents, as PutTraceSegments sent them:') + 1)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const logLinesOf = (block: string[]) => {
  const start = block.findIndex((line) => line.startsWith('  log lines with'));
  const end = block.indexOf('  segment documents, as PutTraceSegments sent them:');
  return block.slice(start + 1, end).map((line) => JSON.parse(line) as Record<string, unknown>);
};

describe('npm run local, from start to Ctrl-C', () => {
  const ALB_ROOT = '1-6b0d2038-0123456789abcdef01234567';
  let run: Run;
  let servicePid: number;
  let collectorPid: number;
  let servicePort: number;
  let healthPort: number;
  let homeId: string;
  let orderId: string;
  let stopped: { code: number | null; signal: NodeJS.Signals | null };

  beforeAll(async () => {
    run = Run.start('--free-ports', '--port', '0');
    try {
      const service = await run.waitFor(
        () => /service \(pid (\d+)\) on http:\/\/localhost:(\d+)/.exec(run.stderr) ?? undefined,
        'the service started',
        60_000,
      );
      [servicePid, servicePort] = [Number(service[1]), Number(service[2])];
      const collector = /collector \(pid (\d+),.* health 127\.0\.0\.1:(\d+)/.exec(run.stderr)!;
      [collectorPid, healthPort] = [Number(collector[1]), Number(collector[2])];

      const home = await fetch(`http://localhost:${servicePort}/`, {
        headers: { 'x-amzn-trace-id': `Root=${ALB_ROOT}` },
      });
      expect(home.status).toBe(200);
      const [, traceId] = /^00-([0-9a-f]{32})-/.exec(home.headers.get('traceresponse')!)!;
      homeId = `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
      const order = await fetch(`http://localhost:${servicePort}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sku: 'WIDGET-7', quantity: 3 }),
      });
      expect(order.status).toBe(201);
      orderId = ((await order.json()) as { xrayTraceId: string }).xrayTraceId;
      await run.block(homeId);
      await run.block(orderId);
    } finally {
      // Ctrl-C in a terminal: SIGINT to every process of the foreground group.
      process.kill(-run.proc.pid!, 'SIGINT');
      stopped = await run.exited;
    }
  });

  afterAll(() => {
    if (run.groupAlive) process.kill(-run.proc.pid!, 'SIGKILL');
  });

  test('its first line says the stand-in records every request, and where it is', () => {
    expect(run.stderr.split('\n')[0]).toMatch(
      /^X-Ray stand-in on http:\/\/127\.0\.0\.1:\d+: it answers the sampling API with a rule that records every request \(in AWS the account's rules decide\)/,
    );
  });

  test('the service fetched that rule through the collector’s awsproxy', () => {
    // The service names the proxy as the task does (localhost), on the collector's port.
    const samplingPort = /sampling proxy 127\.0\.0\.1:(\d+)/.exec(run.stderr)![1];
    expect(run.stderr).toMatch(
      new RegExp(
        `"endpoint":"http://localhost:${samplingPort}","rules":\\["local-record-all \\(priority 1, 0/s \\+ 100%\\)"`,
      ),
    );
  });

  test('a trace is shown under both forms of its ID, as the tree of the documents X-Ray received', async () => {
    const block = await run.block(orderId);
    const w3c = orderId.slice(2, 10) + orderId.slice(11);
    expect(block[0]).toBe(`trace ${orderId}  (W3C ${w3c})  5 segment documents`);
    expect(block.slice(1, 6).map((line) => /^ {2}([│├└─ ]*)(\S+) {2}(\S+)/.exec(line)!.slice(1, 4))).toEqual([
      ['', 'otel-fargate-service', 'segment'],
      ['├─ ', 'cache.read', 'subsegment'],
      ['├─ ', 'pricing', 'subsegment'],
      ['│  └─ ', 'otel-fargate-service', 'segment'],
      ['└─ ', 'store.write', 'subsegment'],
    ]);
    expect(block[1]).toMatch(/http POST 201 .*log groups: otel-test/);
  });

  test('the documents are the exporter’s own, of this trace only, as many as the header says', async () => {
    const documents = documentsOf(await run.block(orderId));
    expect(documents).toHaveLength(5);
    for (const document of documents) {
      expect(document).toMatchObject({ trace_id: orderId, aws: { cloudwatch_logs: [{ log_group: 'otel-test' }] } });
    }
  });

  test('beside them, the service’s log lines of that trace, the access line among them', async () => {
    const lines = logLinesOf(await run.block(orderId));
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['order stored', 'request completed']));
    for (const line of lines) expect(line.xray_trace_id).toBe(orderId);
  });

  test('the load balancer’s Root shows as the annotation the README tells users to search', async () => {
    expect((await run.block(homeId))[1]).toContain(`annotations: aws.alb.trace_id=${ALB_ROOT}`);
  });

  test('Ctrl-C stops the service, then the collector, each cleanly, and npm exits 0', () => {
    expect(stopped).toEqual({ code: 0, signal: null });
    expect(run.stderr).toMatch(/stopped: service exit 0, collector exit 0/);
  });

  test('nothing is left running: no process of the group, the service and the collector gone, their ports free', async () => {
    expect(run.groupAlive).toBe(false);
    expect(alive(servicePid)).toBe(false);
    expect(alive(collectorPid)).toBe(false);
    expect(await refused(servicePort)).toBe(true);
    expect(await refused(healthPort)).toBe(true);
  });
});

describe('npm run local when it cannot start', () => {
  test('a service port already taken: one line that names it and what to do, exit code 1, nothing left running', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const run = Run.start('--free-ports', '--port', String(port));
      expect(await run.exited).toEqual({ code: 1, signal: null });
      expect(run.stderr.trimEnd().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(
            `^npm run local: port ${port}, for the service, is taken \\(.*EADDRINUSE.*\\)\\. Stop what listens there .*--port for the service and --free-ports for the collector\\.$`,
          ),
        ),
      ]);
      expect(run.groupAlive).toBe(false);
    } finally {
      taken.close();
    }
  });

  test('a bad option is one line naming it, and exit code 2', async () => {
    const run = Run.start('--port', 'eighty');
    expect(await run.exited).toEqual({ code: 2, signal: null });
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      "npm run local: --port is 'eighty'; it takes a whole number from 0 to 65535 (npm run local -- --help)",
    ]);
  });
});

describe('the options', () => {
  test('by default: the task’s container port 8080, the task’s collector ports, traces printed after a quiet time longer than the batches’ delays', () => {
    expect(parseOptions([])).toEqual({ port: 8080, freePorts: false, idleMs: DEFAULT_IDLE_MS, help: false });
  });

  test('--free-ports, --port and --idle', () => {
    expect(parseOptions(['--free-ports', '--port', '0', '--idle', '250'])).toEqual({
      port: 0,
      freePorts: true,
      idleMs: 250,
      help: false,
    });
  });

  test('an unknown option is refused', () => {
    expect(() => parseOptions(['--verbose'])).toThrow(/Unknown option '--verbose'/);
  });
});

test('the package has the script, run through exec so that Ctrl-C reaches the tool', () => {
  const scripts = (
    JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  expect(scripts.local).toBe('exec node --import tsx tools/local/cli.ts');
});
