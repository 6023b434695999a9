// The service opens its SERVER span itself (src/telemetry/http-server.ts), not through
// @opentelemetry/instrumentation-http. The same requests go to the service and to a server traced by
// instrumentation-http 0.301 (test/support/instrumentation-http-server.cjs), and the two spans must agree on name,
// kind, status and attributes; the two deliberate differences, the client's and the server's address under forged
// forwarding headers, are tested on their own below.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { OtlpReceiver, SPAN_KIND, type ReceivedSpan } from './support/otlp-receiver';
import { APP_DIR, baseEnv, closeAgent, request, startService, type Service } from './support/service';

jest.setTimeout(60_000);

interface Case {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly route?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

const CASES: Case[] = [
  { id: 'home', method: 'GET', path: '/', status: 200, route: '/' },
  { id: 'head', method: 'HEAD', path: '/', status: 200, route: '/' },
  {
    id: 'query',
    method: 'GET',
    path: '/prices/A-1?x=1&sig=secret&AWSAccessKeyId=AKIAEXAMPLE&q=a%20b',
    status: 200,
    route: '/prices/:sku',
  },
  {
    id: 'bad-body',
    method: 'POST',
    path: '/orders',
    status: 400,
    route: '/orders',
    headers: { 'content-type': 'application/json' },
    body: '{"sku": ',
  },
  {
    id: 'downstream-down',
    method: 'POST',
    path: '/orders',
    status: 502,
    route: '/orders',
    headers: { 'content-type': 'application/json' },
    body: '{"sku": "A-1", "quantity": 1}',
  },
  { id: 'not-found', method: 'GET', path: '/no/such/route', status: 404 },
  { id: 'dot-segments', method: 'GET', path: '/a/../prices/B-2', status: 404 },
  { id: 'unknown-method', method: 'PURGE', path: '/', status: 404 },
  { id: 'host-port', method: 'GET', path: '/', status: 200, route: '/', headers: { host: 'compare.example:8443' } },
  { id: 'encoded-path', method: 'GET', path: '/prices/%7Eodd', status: 200, route: '/prices/:sku' },
];

let ours: { receiver: OtlpReceiver; service: Service };
let theirs: { receiver: OtlpReceiver; proc: ChildProcess; port: number };

async function startReference(endpoint: string): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [path.join('test', 'support', 'instrumentation-http-server.cjs')], {
    cwd: APP_DIR,
    env: baseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`reference server exited ${code}`)));
    proc.stdout.once('data', (chunk: Buffer) => resolve((JSON.parse(chunk.toString('utf8')) as { port: number }).port));
  });
  return { proc, port };
}

beforeAll(async () => {
  const receiver = await OtlpReceiver.start();
  ours = {
    receiver,
    service: await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      // The order route's downstream is down, for the 5xx case.
      PRICING_URL: 'http://127.0.0.1:1',
    }),
  };
  const reference = await OtlpReceiver.start();
  theirs = { receiver: reference, ...(await startReference(reference.endpoint)) };
});

afterAll(async () => {
  await ours.service.stop();
  theirs.proc.kill('SIGTERM');
  await ours.receiver.stop();
  await theirs.receiver.stop();
  closeAgent();
});

/** Sends the request target exactly as written (a URL would have its dot segments removed by the client). */
function send(port: number, c: Case, extra: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: c.path,
      method: c.method,
      agent: false,
      headers: {
        host: 'compare.example',
        'user-agent': `compare/${c.id}`,
        'x-expect-status': String(c.status),
        ...(c.route ? { 'x-expect-route': c.route } : {}),
        ...c.headers,
        ...extra,
      },
    });
    req.on('response', (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0)));
    req.on('error', reject);
    req.end(c.body);
  });
}

async function serverSpan(receiver: OtlpReceiver, userAgent: string): Promise<ReceivedSpan> {
  const find = (spans: ReceivedSpan[]) =>
    spans.find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['user_agent.original'] === userAgent);
  return find(await receiver.waitFor((spans) => find(spans) !== undefined))!;
}

/** The peer's port differs by connection; everything else must be equal. */
function comparable(span: ReceivedSpan) {
  const { 'network.peer.port': peerPort, ...attributes } = span.attributes;
  expect(typeof peerPort).toBe('number');
  return { name: span.name, kind: span.kind, status: span.status.code, attributes };
}

describe('the service server span against instrumentation-http', () => {
  it.each(CASES.map((c) => [c.id, c] as const))(
    'when the request is "%s", then both spans have the same name, kind, status and attributes',
    async (_id, c) => {
      const [mine, reference] = await Promise.all([send(ours.service.port, c), send(theirs.port, c)]);
      expect(mine).toBe(c.status);
      expect(reference).toBe(c.status);
      const userAgent = `compare/${c.id}`;
      const [a, b] = await Promise.all([serverSpan(ours.receiver, userAgent), serverSpan(theirs.receiver, userAgent)]);
      expect(comparable(a)).toEqual(comparable(b));
    },
  );
});

describe('forged forwarding headers', () => {
  const forged = {
    // What a client may send; the load balancer then appends the address it saw (here the last entry).
    'x-forwarded-for': '203.0.113.9, 198.51.100.7',
    forwarded: 'for=192.0.2.1;host=forged.example',
    'x-forwarded-host': 'forged.example',
  };

  it("when a client forges Forwarded and X-Forwarded-*, then client.address is the load balancer's last X-Forwarded-For entry and server.address the Host", async () => {
    const c: Case = { id: 'forged', method: 'GET', path: '/', status: 200, route: '/' };
    const mark = ours.service.lines.length;
    await Promise.all([send(ours.service.port, c, forged), send(theirs.port, c, forged)]);
    const [mine, reference] = await Promise.all([
      serverSpan(ours.receiver, 'compare/forged'),
      serverSpan(theirs.receiver, 'compare/forged'),
    ]);
    // instrumentation-http believes the client's headers; the service does not.
    expect(reference.attributes).toMatchObject({ 'client.address': '192.0.2.1', 'server.address': 'forged.example' });
    expect(mine.attributes).toMatchObject({ 'client.address': '198.51.100.7', 'server.address': 'compare.example' });
    const access = (await ours.service.linesFrom(mark, (l) => l.msg === 'request completed')).at(-1)!;
    expect(access.client_address).toBe('198.51.100.7');
  });

  it.each([
    ['no X-Forwarded-For', {}],
    ['a last entry that is not an address', { 'x-forwarded-for': '198.51.100.7, <script>' }],
  ])('when there is %s, then the client address is the peer', async (_name, headers: Record<string, string>) => {
    const mark = ours.service.lines.length;
    const reply = await request(ours.service.url('/'), { headers });
    expect(reply.status).toBe(200);
    const access = (await ours.service.linesFrom(mark, (l) => l.msg === 'request completed')).at(-1)!;
    expect(access.client_address).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });
});
