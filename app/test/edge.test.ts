// The public edge of the real service (node dist/main.js): slow headers and bodies are cut at the configured limits,
// connections past the cap are refused without harming those being served, running out of file descriptors is
// logged, a 400 never echoes its input, and a price from the pricing service is checked before an order stores it.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { CLIENT_ERROR_MESSAGES } from '../src/client-errors';
import { RateLimitedReport } from '../src/http-limits';
import {
  APP_DIR,
  baseEnv,
  closeAgent,
  postOrder,
  request,
  Service,
  startService,
  type LogLine,
} from './support/service';

jest.setTimeout(60_000);

afterAll(() => closeAgent());

/** A raw TCP connection to the service: what it received, and when it closed (ms after `connect` was called). */
class RawClient {
  readonly socket: net.Socket;
  received = '';
  closedAfterMs: number | undefined;
  readonly closed: Promise<void>;
  readonly connected: Promise<void>;
  private readonly started = Date.now();
  private ticker: NodeJS.Timeout | undefined;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => (this.received += chunk));
    this.socket.on('error', () => {});
    this.connected = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.closedAfterMs = Date.now() - this.started;
        clearInterval(this.ticker);
        resolve();
      }),
    );
  }

  send(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text, 'latin1');
  }

  /** Sends `text` one character every `everyMs`, as a slow client does, until the connection closes. */
  trickle(text: string, everyMs: number): void {
    let i = 0;
    this.ticker = setInterval(() => this.send(text[i++ % text.length]), everyMs);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('slow clients', () => {
  let service: Service;

  beforeAll(async () => {
    service = await startService({
      OTEL_SDK_DISABLED: 'true',
      HTTP_HEADERS_TIMEOUT_MS: '1000',
      HTTP_REQUEST_TIMEOUT_MS: '4000',
    });
  });
  afterAll(async () => service?.stop());

  it('when a request’s headers trickle in, then it is answered 408 and closed at the header limit', async () => {
    const client = new RawClient(service.port);
    await client.connected;
    client.send('GET / HTTP/1.1\r\nHost: service\r\nX-Slow: ');
    client.trickle('abcdefgh', 100);
    await client.closed;
    expect(client.received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    // Node checks the limits every 250 ms here (a quarter of the header limit): cut at 1.0-1.25 s, long before the
    // request limit (4 s), let alone Node's defaults (60 s for headers, 300 s for the request).
    expect(client.closedAfterMs).toBeGreaterThanOrEqual(1000);
    expect(client.closedAfterMs).toBeLessThan(3500);
  });

  it('when a body trickles in, then it is answered 408 at the request limit, and others are served meanwhile', async () => {
    const client = new RawClient(service.port);
    await client.connected;
    client.send(
      'POST /orders HTTP/1.1\r\nHost: service\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    client.trickle(' ', 100);
    await sleep(500);
    const other = await request(service.url('/'));
    expect(other.status).toBe(200);
    await client.closed;
    expect(client.received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(client.closedAfterMs).toBeGreaterThanOrEqual(4000);
    expect(client.closedAfterMs).toBeLessThan(7000);
  });

  it('when a body arrives slowly but within the limit, then the order is taken', async () => {
    const body = JSON.stringify({ sku: 'SLOW-1', quantity: 1 });
    const client = new RawClient(service.port);
    await client.connected;
    client.send(
      `POST /orders HTTP/1.1\r\nHost: service\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    for (const character of body) {
      client.send(character);
      await sleep(40);
    }
    await client.closed;
    expect(client.received).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
  });
});

describe('the connection cap', () => {
  let service: Service;

  beforeAll(async () => {
    service = await startService({ OTEL_SDK_DISABLED: 'true', MAX_CONNECTIONS: '4' });
  });
  afterAll(async () => service?.stop());

  it('when more connections arrive than the cap, then the extra ones are closed at once and the others answered', async () => {
    const held = Array.from({ length: 4 }, () => new RawClient(service.port));
    await Promise.all(held.map((client) => client.connected));
    for (const client of held) client.send('GET / HTTP/1.1\r\nHost: service\r\n');
    await sleep(300);

    const extra = Array.from({ length: 3 }, () => new RawClient(service.port));
    await Promise.all(extra.map((client) => client.closed));
    for (const client of extra) {
      expect(client.received).toBe('');
      expect(client.closedAfterMs).toBeLessThan(2000);
    }

    for (const client of held) client.send('Connection: close\r\n\r\n');
    await Promise.all(held.map((client) => client.closed));
    for (const client of held) expect(client.received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);

    // Room again once those are gone.
    expect((await request(service.url('/healthz'), { agent: new http.Agent() })).status).toBe(200);

    const reports = service.lines.filter((line) => line.msg === 'connection cap reached: new connections closed');
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ level: 'warn', connections_refused: 1, max_connections: 4, interval_s: 60 });
  });
});

describe('running out of file descriptors', () => {
  it('when the process is at its descriptor limit, then it says so once, with counts, and serves again after', async () => {
    // `ulimit -n 64`: Node itself holds about 25; 200 connections exhaust the rest.
    const proc = spawn('sh', ['-c', `ulimit -n 64 && exec "${process.execPath}" dist/main.js`], {
      cwd: APP_DIR,
      env: baseEnv({ OTEL_SDK_DISABLED: 'true' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new Service(proc);
    try {
      const listening = await service.waitForLine((line) => line.msg === 'listening');
      service.port = listening.port as number;
      expect(listening.fd_limit).toBe(64);
      // Written right after `listening`, but it may reach this process in the next chunk of output.
      expect(
        await service.waitForLine((line) =>
          line.msg.startsWith('the file descriptor limit is below the connection cap'),
        ),
      ).toMatchObject({ level: 'warn', fd_limit: 64, max_connections: 1024 });

      const clients = Array.from({ length: 200 }, () => new RawClient(service.port));
      for (const client of clients) client.socket.once('connect', () => client.send('GET / HTTP/1.1\r\nHost: s\r\n'));
      // At least three probe periods at the limit, still one line.
      const report = await service.waitForLine((line) => line.msg.startsWith('out of file descriptors'), 10_000);
      await sleep(3500);
      const reset = clients.filter((client) => client.closedAfterMs !== undefined).length;
      expect(reset).toBeGreaterThan(0);
      expect(report).toMatchObject({ level: 'error', fd_limit: 64, interval_s: 60 });
      expect((report.accept_errors as number) + (report.failed_probes as number)).toBeGreaterThanOrEqual(1);
      expect(service.lines.filter((line: LogLine) => line.msg.startsWith('out of file descriptors'))).toHaveLength(1);

      for (const client of clients) client.socket.destroy();
      await sleep(300);
      expect((await request(service.url('/healthz'), { agent: new http.Agent() })).status).toBe(200);
      expect(service.proc.exitCode).toBeNull();
      expect(service.stderr).toBe('');
    } finally {
      await service.stop('SIGKILL');
    }
  });
});

describe('a report limited to one line a minute', () => {
  // Modern fake timers move Date.now with the timers, so the report's clock and its timer agree.
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('when events keep coming, then the first is written at once and the rest once a minute, counted', () => {
    const lines: Record<string, number>[] = [];
    const report = new RateLimitedReport((counts) => lines.push(counts), ['a', 'b'] as const, 60_000);

    report.record('a');
    expect(lines).toEqual([{ a: 1, b: 0 }]);
    for (let i = 0; i < 50; i++) {
      jest.advanceTimersByTime(1000);
      report.record(i % 2 === 0 ? 'a' : 'b');
    }
    expect(lines).toHaveLength(1);
    jest.advanceTimersByTime(10_000);
    expect(lines).toEqual([
      { a: 1, b: 0 },
      { a: 25, b: 25 },
    ]);
  });

  it('when a minute passes without events, then nothing is written, and the next event is written at once', () => {
    const lines: Record<string, number>[] = [];
    const report = new RateLimitedReport((counts) => lines.push(counts), ['a'] as const, 60_000);
    report.record('a');
    jest.advanceTimersByTime(120_000);
    expect(lines).toEqual([{ a: 1 }]);
    report.record('a');
    expect(lines).toEqual([{ a: 1 }, { a: 1 }]);
    report.stop();
  });
});

describe('a 400 never echoes its input', () => {
  const MARKER = 'Zq9ECHO';
  let service: Service;

  beforeAll(async () => {
    service = await startService({ OTEL_SDK_DISABLED: 'true' });
  });
  afterAll(async () => service?.stop());

  /** Sends raw bytes (latin1), so header values can hold what Node's client refuses to send: DEL and 0x80-0xFF. */
  async function raw(head: string, body: Buffer | string = ''): Promise<{ status: number; body: string }> {
    const client = new RawClient(service.port);
    await client.connected;
    const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
    client.socket.write(
      Buffer.concat([
        Buffer.from(
          `${head}\r\nHost: service\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`,
          'latin1',
        ),
        bytes,
      ]),
    );
    await client.closed;
    const [statusLine] = client.received.split('\r\n');
    return { status: Number(statusLine.split(' ')[1]), body: client.received.split('\r\n\r\n').slice(1).join('') };
  }

  function expectFixedAnswer(answer: { status: number; body: string }, status: number): void {
    expect(answer.status).toBe(status);
    expect(answer.body.toUpperCase()).not.toContain(MARKER.toUpperCase());
    expect(answer.body).toMatch(/^[\x20-\x7e]*$/);
    expect(CLIENT_ERROR_MESSAGES).toContain((JSON.parse(answer.body) as { message: string }).message);
  }

  it.each([
    ['8-bit bytes (which Node’s parser lets through)', `Content-Type: application/json; charset=${MARKER}\xfe\xff`],
    ['one JSON does not take', 'Content-Type: application/json; charset=latin1'],
  ])('when the charset has %s, then the 415 says what is accepted, not what was sent', async (_name, header) => {
    expectFixedAnswer(await raw(`POST /orders HTTP/1.1\r\n${header}`, '{}'), 415);
  });

  it('when a header holds a control character, then Node’s parser answers a bare 400 with no body', async () => {
    const answer = await raw(`POST /orders HTTP/1.1\r\nContent-Type: application/json; charset=${MARKER}\x01\x7f`);
    expect(answer).toEqual({ status: 400, body: '' });
  });

  it('when the Content-Encoding is unknown, then the 415 does not repeat it', async () => {
    expectFixedAnswer(
      await raw(`POST /orders HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: x-${MARKER}\xfe`, '{}'),
      415,
    );
  });

  it('when a gzip body is not gzip, then the 400 does not carry zlib’s message', async () => {
    expectFixedAnswer(
      await raw('POST /orders HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: gzip', MARKER),
      400,
    );
  });

  it('when the body is not JSON, then the 400 does not quote it', async () => {
    expectFixedAnswer(await raw('POST /orders HTTP/1.1\r\nContent-Type: application/json', `{"sku": ${MARKER}`), 400);
  });

  it('when the body is over the limit, even once inflated, then the 413 does not quote it', async () => {
    expectFixedAnswer(
      await raw('POST /orders HTTP/1.1\r\nContent-Type: application/json', `"${MARKER.repeat(3000)}"`),
      413,
    );
    const bomb = zlib.gzipSync(Buffer.from(`"${MARKER.repeat(5000)}"`));
    expectFixedAnswer(
      await raw('POST /orders HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: gzip', bomb),
      413,
    );
  });

  it('when a path segment is not valid percent-encoding, then the 400 does not repeat the path', async () => {
    const reply = await request(service.url(`/prices/%ZZ${MARKER}%E0%A4`));
    expectFixedAnswer({ status: reply.status, body: reply.body }, 400);
  });

  it('when charsets and encodings are generated at random, then no answer repeats them', async () => {
    const token = fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.'.split('')),
      maxLength: 20,
    });
    await fc.assert(
      fc.asyncProperty(token, token, fc.boolean(), async (a, b, asEncoding) => {
        const value = `${a}${MARKER}${b}`;
        const reply = await request(service.url('/orders'), {
          method: 'POST',
          headers: asEncoding
            ? { 'content-type': 'application/json', 'content-encoding': value }
            : { 'content-type': `application/json; charset=${value}` },
          body: '{"sku":"A","quantity":1}',
        });
        expect(reply.status).toBeGreaterThanOrEqual(400);
        expect(reply.status).toBeLessThan(500);
        expect(reply.body.toUpperCase()).not.toContain(MARKER.toUpperCase());
      }),
      { numRuns: 150 },
    );
  });

  it('when a request was rejected, then the line keeps the error’s own words for whoever debugs it', () => {
    const rejected = service.lines.find(
      (line) => line.msg === 'request rejected' && String(line.detail).includes('unsupported charset'),
    );
    expect(rejected).toMatchObject({ reason: 'the body must be JSON in UTF-8 (charset utf-8, or none)' });
  });
});

describe('prices from the pricing service', () => {
  let pricingAnswer: unknown;
  let pricing: http.Server;
  let service: Service;

  beforeAll(async () => {
    pricing = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(typeof pricingAnswer === 'string' ? pricingAnswer : JSON.stringify(pricingAnswer));
    });
    await new Promise<void>((resolve) => pricing.listen(0, '127.0.0.1', resolve));
    const { port } = pricing.address() as net.AddressInfo;
    service = await startService({ OTEL_SDK_DISABLED: 'true', PRICING_URL: `http://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await service?.stop();
    await new Promise((resolve) => pricing?.close(resolve));
  });

  it.each([
    ['negative', { sku: 'A', unitPriceCents: -500, currency: 'USD' }],
    ['zero', { sku: 'A', unitPriceCents: 0, currency: 'USD' }],
    ['fractional', { sku: 'A', unitPriceCents: 12.5, currency: 'USD' }],
    ['past 2^53', { sku: 'A', unitPriceCents: 2 ** 60, currency: 'USD' }],
    ['a string', { sku: 'A', unitPriceCents: '100', currency: 'USD' }],
    ['missing', { sku: 'A', currency: 'USD' }],
    ['in lower case', { sku: 'A', unitPriceCents: 100, currency: 'usd' }],
    ['two letters', { sku: 'A', unitPriceCents: 100, currency: 'US' }],
    ['with a digit', { sku: 'A', unitPriceCents: 100, currency: 'US1' }],
    ['10 KB long', { sku: 'A', unitPriceCents: 100, currency: 'X'.repeat(10_240) }],
    ['not a string', { sku: 'A', unitPriceCents: 100, currency: ['USD'] }],
    ['not an object', [100, 'USD']],
  ])('when the price or currency is %s, then the order is answered 502 and stores nothing', async (_name, answer) => {
    pricingAnswer = answer;
    const stored = () => service.lines.filter((line) => line.msg === 'order stored').length;
    const before = stored();
    const reply = await postOrder(service, { sku: 'A', quantity: 1 });
    expect(reply.status).toBe(502);
    await service.linesFrom(0, (line) => line.msg === 'request completed' && line.status === 502);
    expect(stored()).toBe(before);
    expect(reply.json()).toMatchObject({ error: 'pricing_failed' });
    expect(reply.body).not.toContain('XXXXXXXX');
  });

  it('when the unit price is valid but the total passes 2^53 cents, then the order is answered 502', async () => {
    pricingAnswer = { sku: 'A', unitPriceCents: Number.MAX_SAFE_INTEGER, currency: 'USD' };
    const reply = await postOrder(service, { sku: 'A', quantity: 2 });
    expect(reply.status).toBe(502);
    expect(reply.json()).toMatchObject({ error: 'pricing_failed' });
  });

  it('when the price is a positive whole number of cents in an ISO 4217 code, then the order is stored with it', async () => {
    pricingAnswer = { sku: 'A', unitPriceCents: 1999, currency: 'EUR' };
    const reply = await postOrder(service, { sku: 'A', quantity: 3 });
    expect(reply.status).toBe(201);
    expect(reply.json()).toMatchObject({ order: { unitPriceCents: 1999, totalCents: 5997, currency: 'EUR' } });
  });
});
