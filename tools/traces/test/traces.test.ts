// `npm run traces`, the local trace view: the real command, the real built service (app/dist/main.js) sending to it
// over OTLP/gRPC, real requests; the printed tree and JSON must carry the IDs that the service's log lines carry.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { SAMPLING_RULES_POLL_SECONDS } from '../../../lib/observed-task-definition';
import type { ReceivedSpan } from '../receiver';
import { TraceCollector, renderTree, toJson, xrayTraceId, type Trace } from '../view';

const ROOT = path.join(__dirname, '..', '..', '..');
const APP_DIR = path.join(ROOT, 'app');

jest.setTimeout(60_000);

type LogLine = Record<string, unknown> & { msg: string };

/** A child process whose stdout and stderr are collected as text. */
class Child {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly proc: ChildProcess,
    readonly group = false,
  ) {
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  async waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > until || this.proc.exitCode !== null) {
        throw new Error(`${what} not seen; stdout: ${this.stdout}\nstderr: ${this.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  get lines(): LogLine[] {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  }
}

/** The viewer's ports: OTLP, and the sampling API's (undefined when it could not answer it). */
interface ViewerPorts {
  viewer: Child;
  port: number;
  samplingPort: number | undefined;
}

/** `npm run traces -- <args>` as tools/traces/README.md runs it, on free ports; resolves once it listens. */
async function startViewer(...args: string[]): Promise<ViewerPorts> {
  const viewer = new Child(
    spawn('npm', ['run', 'traces', '--', '--port', '0', '--sampling-port', '0', '--idle', '300', ...args], {
      cwd: ROOT,
      // A group of its own, so that the cleanup kills npm and the viewer it started (a SIGKILL to npm alone would
      // orphan the viewer, whose open pipes keep Jest from exiting).
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    }),
    true,
  );
  const port = await viewer.waitFor(
    () => /Listening for OTLP\/gRPC traces on localhost:(\d+)/.exec(viewer.stderr)?.[1],
    'the viewer listening',
  );
  const samplingPort = /sampling API on localhost:(\d+) answers/.exec(viewer.stderr)?.[1];
  return { viewer, port: Number(port), samplingPort: samplingPort === undefined ? undefined : Number(samplingPort) };
}

/**
 * The built service as `npm run start:app` runs it, with only the ports moved to the viewer's (the defaults are
 * 4317 and 2000): its sampler is its default, `xray`, which asks the viewer for the rules.
 */
async function startService({ port, samplingPort }: ViewerPorts): Promise<{ service: Child; url: string }> {
  const service = new Child(
    spawn(process.execPath, ['dist/main.js'], {
      cwd: APP_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        PORT: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://localhost:${port}`,
        OTEL_TRACES_SAMPLER_ARG: `endpoint=http://localhost:${samplingPort}`,
      },
    }),
  );
  const listening = await service.waitFor(() => service.lines.find((l) => l.msg === 'listening'), 'listening');
  // The rules arrive a few milliseconds after the service listens, long before anyone at a terminal sends a request.
  await service.waitFor(() => service.lines.find((l) => l.msg === 'sampling rules loaded'), 'the rules');
  return { service, url: `http://127.0.0.1:${String(listening.port)}` };
}

async function postOrder(url: string): Promise<string> {
  const reply = await fetch(`${url}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sku: 'WIDGET-7', quantity: 3 }),
  });
  expect(reply.status).toBe(201);
  return ((await reply.json()) as { xrayTraceId: string }).xrayTraceId;
}

/** The log lines of one trace, found by the X-Ray form the response gave. */
function linesOf(service: Child, xrayId: string): LogLine[] {
  return service.lines.filter((l) => l.xray_trace_id === xrayId);
}

beforeAll(() => {
  // `npm test` builds app/dist first (the app project's global setup); alone, this test builds it if it is missing.
  if (!fs.existsSync(path.join(APP_DIR, 'dist', 'main.js'))) {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: APP_DIR, stdio: 'inherit' });
  }
});

describe('npm run traces with the service sending to it', () => {
  const children: Child[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      try {
        // The viewer's group (npm and the viewer), or the service alone.
        process.kill(child.group ? -child.proc.pid! : child.proc.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await child.exited;
    }
  });

  test('prints a POST /orders as a tree of its spans, under the IDs its log lines carry', async () => {
    const ports = await startViewer();
    const { viewer } = ports;
    children.push(viewer);
    const { service, url } = await startService(ports);
    children.push(service);

    const xrayId = await postOrder(url);
    const lines = await service.waitFor(() => {
      const found = linesOf(service, xrayId);
      return found.some((l) => l.msg === 'request completed' && l.route === '/orders') ? found : undefined;
    }, 'the order request completed line');
    const traceId = String(lines[0].trace_id);
    const block = await viewer.waitFor(() => {
      const start = viewer.stdout.indexOf(`trace ${traceId}`);
      const end = viewer.stdout.indexOf('\n\n', start);
      return start >= 0 && end > start ? viewer.stdout.slice(start, end).split('\n') : undefined;
    }, `the tree of trace ${traceId}`);

    // The header: both forms of the trace ID, as the log lines hold them, and the log group the spans link to.
    expect(block[0]).toMatch(
      new RegExp(`^trace ${traceId} {2}X-Ray ${xrayId} {2}otel-fargate-service {2}5 spans {2}\\d+\\.\\d ms$`),
    );
    expect(block[1]).toBe(`  log lines: trace_id=${traceId} xray_trace_id=${xrayId} (log group otel-test)`);
    // The tree: the server span, its three children in start order, the pricing hop's server span under its call.
    const shape = block.slice(2).map((line) => /^ {2}([│├└─ ]*)(\S.*?) {2}([A-Z]+) {2}\d+\.\d ms {2}(\S+)/.exec(line));
    expect(shape.map((m) => m && [m[1], m[2], m[3], m[4]])).toEqual([
      ['', 'POST /orders', 'SERVER', 'UNSET'],
      ['├─ ', 'cache.read', 'INTERNAL', 'UNSET'],
      ['├─ ', 'pricing.call', 'CLIENT', 'UNSET'],
      ['│  └─ ', 'GET /prices/:sku', 'SERVER', 'UNSET'],
      ['└─ ', 'store.write', 'INTERNAL', 'UNSET'],
    ]);
    // Key attributes, and not the routine connection ones.
    const serverAttributes = block[2].split('  ');
    expect(serverAttributes).toEqual(
      expect.arrayContaining([
        'http.request.method=POST',
        expect.stringMatching(/^server\.address=\S+$/),
        'http.response.status_code=201',
        'http.route=/orders',
      ]),
    );
    expect(block[2]).not.toContain('network.peer.port');
    expect(block[3]).toContain('cache.key=WIDGET-7');
    expect(block[4]).toContain('peer.service=pricing');
    // Each log line's span_id names a span in the tree: the access line the server span, "order stored" the write.
    const spanLine = (spanId: unknown) => block.find((line) => line.includes(`span_id=${String(spanId)}`));
    expect(spanLine(lines.find((l) => l.msg === 'request completed' && l.route === '/orders')!.span_id)).toBe(block[2]);
    expect(spanLine(lines.find((l) => l.msg === 'order stored')!.span_id)).toBe(block[6]);
    for (const line of lines) expect(spanLine(line.span_id)).toBeDefined();

    // Ctrl-C: npm passes it on, the viewer stops and exits 0.
    viewer.proc.kill('SIGINT');
    expect(await viewer.exited).toEqual({ code: 0, signal: null });
  });

  test('--json prints one JSON object per trace per line, with both ID forms on every span', async () => {
    const ports = await startViewer('--json');
    const { viewer } = ports;
    children.push(viewer);
    const { service, url } = await startService(ports);
    children.push(service);

    const home = await fetch(`${url}/`);
    expect(home.status).toBe(200);
    const xrayId = await postOrder(url);

    const traces = await viewer.waitFor(() => {
      const objects = viewer.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as ReturnType<typeof toJson> & { spans: Record<string, unknown>[] });
      return objects.length >= 2 ? objects : undefined;
    }, 'two JSON traces');
    // Every line of stdout that is not npm's own banner is one whole trace.
    expect(viewer.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('>'))).toHaveLength(2);

    const order = traces.find((t) => t.xray_trace_id === xrayId)!;
    const lines = linesOf(service, xrayId);
    expect(order).toMatchObject({
      trace_id: lines[0].trace_id,
      service: 'otel-fargate-service',
      log_groups: ['otel-test'],
      span_count: 5,
    });
    expect(order.spans.map((s) => [s.depth, s.name, s.kind])).toEqual([
      [0, 'POST /orders', 'SERVER'],
      [1, 'cache.read', 'INTERNAL'],
      [1, 'pricing.call', 'CLIENT'],
      [2, 'GET /prices/:sku', 'SERVER'],
      [1, 'store.write', 'INTERNAL'],
    ]);
    expect(order.spans[0]).toMatchObject({
      status: { code: 'UNSET' },
      attributes: { 'http.request.method': 'POST', 'http.route': '/orders', 'http.response.status_code': 201 },
    });
    // The AWS-XRAY-TRACE-ID of each log line is the one of a span in the trace.
    const spanIds = order.spans.map((s) => s['AWS-XRAY-TRACE-ID']);
    for (const line of lines) expect(spanIds).toContain(line['AWS-XRAY-TRACE-ID']);

    const homeTrace = traces.find((t) => t !== order)!;
    expect(homeTrace.spans.map((s) => s.name)).toEqual(['GET /', 'about']);
  });

  test('answers the sampling API with a rule that records every request, and says so on its first line', async () => {
    const ports = await startViewer();
    children.push(ports.viewer);
    expect(ports.viewer.stderr.split('\n')[0]).toMatch(
      /^Listening for OTLP\/gRPC traces on localhost:\d+; X-Ray's sampling API on localhost:\d+ answers a rule that records every request \(in AWS the account's rules decide\); start the service/,
    );
    const { service, url } = await startService(ports);
    children.push(service);

    // Back to back, faster than the one a second X-Ray's default rule would record: each one is recorded and printed.
    const traceIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      for (const reply of [await fetch(`${url}/`), await fetch(`${url}/orders/no-such-order`)]) {
        const [, traceId, flags] = /^00-([0-9a-f]{32})-[0-9a-f]{16}-(0[01])$/.exec(
          reply.headers.get('traceresponse')!,
        )!;
        expect(flags).toBe('01');
        traceIds.push(traceId);
      }
    }
    await ports.viewer.waitFor(
      () => (traceIds.every((id) => ports.viewer.stdout.includes(`trace ${id}`)) ? true : undefined),
      'every request printed',
    );
  });

  test('the service started with no variable says it fetches the rules at the interval the README diagram shows', async () => {
    const ports = await startViewer();
    children.push(ports.viewer);
    const { service } = await startService(ports);
    children.push(service);
    expect(service.lines.find((l) => l.msg === 'listening')?.sampler).toBe(
      `xray http://localhost:${ports.samplingPort}, rules every ${SAMPLING_RULES_POLL_SECONDS} s`,
    );
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`sampling rules, every ${SAMPLING_RULES_POLL_SECONDS} s`);
    expect(readme.match(/sampling rules, every \d+ s/g)).toEqual([
      `sampling rules, every ${SAMPLING_RULES_POLL_SECONDS} s`,
    ]);
  });

  test('a sampling port already taken: it still receives traces, and its first line says the rules are not answered', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const samplingPort = (taken.address() as net.AddressInfo).port;
      const { viewer } = await startViewer('--sampling-port', String(samplingPort));
      children.push(viewer);
      expect(viewer.stderr.split('\n')[0]).toMatch(
        new RegExp(
          `X-Ray's sampling API not answered \\(localhost:${samplingPort}: .*EADDRINUSE.*\\), so the service records by X-Ray's default rule, 1 request a second plus 5%`,
        ),
      );
    } finally {
      taken.close();
    }
  });

  test('a port already taken is one line and exit code 1', async () => {
    const { viewer, port } = await startViewer();
    children.push(viewer);
    const second = new Child(
      spawn(process.execPath, ['--import', 'tsx', 'tools/traces/cli.ts', '--port', String(port)], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^npm run traces: cannot listen on localhost:${port} .*another --port`)),
    ]);
  });
});

function span(overrides: Partial<ReceivedSpan>): ReceivedSpan {
  return {
    traceId: '6b0d188f9edf27e63dd7d6b9e21a8282',
    spanId: '1111111111111111',
    parentSpanId: '',
    name: 'span',
    kind: 1,
    startTimeUnixNano: 1_000_000_000n,
    endTimeUnixNano: 1_002_500_000n,
    attributes: {},
    status: { code: 0, message: '' },
    events: [],
    resource: { 'service.name': 'svc' },
    ...overrides,
  };
}

describe('grouping spans into traces', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('a trace whose spans come in two exports is printed once, after it has been quiet for the idle time', () => {
    const printed: Trace[] = [];
    const collector = new TraceCollector(1000, (trace) => printed.push(trace));
    collector.add([span({ spanId: 'aaaaaaaaaaaaaaaa', parentSpanId: 'bbbbbbbbbbbbbbbb' })]);
    jest.advanceTimersByTime(800);
    collector.add([span({ spanId: 'bbbbbbbbbbbbbbbb' }), span({ traceId: 'f'.repeat(32) })]);
    jest.advanceTimersByTime(999);
    expect(printed).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(printed.map((t) => [t.traceId, t.spans.length])).toEqual([
      ['6b0d188f9edf27e63dd7d6b9e21a8282', 2],
      ['f'.repeat(32), 1],
    ]);
  });

  test('at exit every waiting trace is printed', () => {
    const printed: Trace[] = [];
    const collector = new TraceCollector(1000, (trace) => printed.push(trace));
    collector.add([span({})]);
    collector.flush();
    expect(printed).toHaveLength(1);
    jest.advanceTimersByTime(5000);
    expect(printed).toHaveLength(1);
  });
});

describe('rendering a trace', () => {
  const trace: Trace = {
    traceId: '6b0d188f9edf27e63dd7d6b9e21a8282',
    spans: [
      span({
        spanId: '2222222222222222',
        parentSpanId: '1111111111111111',
        name: 'child',
        startTimeUnixNano: 1_001_000_000n,
        status: { code: 2, message: 'boom' },
        events: [{ name: 'exception', attributes: { 'exception.message': 'no stock' } }],
      }),
      span({ parentSpanId: '0000000000000009', name: 'GET /x', kind: 2, attributes: { 'network.peer.port': 1 } }),
    ],
  };

  test('an error shows its status message and exception; a parent not received is named', () => {
    expect(renderTree(trace).split('\n')).toEqual([
      `trace ${trace.traceId}  X-Ray 1-6b0d188f-9edf27e63dd7d6b9e21a8282  svc  2 spans  2.5 ms`,
      `  log lines: trace_id=${trace.traceId} xray_trace_id=1-6b0d188f-9edf27e63dd7d6b9e21a8282`,
      '  GET /x  SERVER  2.5 ms  UNSET  span_id=1111111111111111  parent=0000000000000009 (not received)',
      '  └─ child  INTERNAL  1.5 ms  ERROR "boom"  span_id=2222222222222222  exception="no stock"',
      '',
    ]);
    expect(renderTree(trace, { allAttributes: true })).toContain('network.peer.port=1');
  });

  test('the X-Ray form splits the first 8 hex digits off', () => {
    expect(xrayTraceId('6b0d188f9edf27e63dd7d6b9e21a8282')).toBe('1-6b0d188f-9edf27e63dd7d6b9e21a8282');
    expect(toJson(trace).spans).toEqual([
      expect.objectContaining({
        depth: 0,
        'AWS-XRAY-TRACE-ID': '1-6b0d188f-9edf27e63dd7d6b9e21a8282@1111111111111111',
      }),
      expect.objectContaining({ depth: 1, status: { code: 'ERROR', message: 'boom' } }),
    ]);
  });
});
