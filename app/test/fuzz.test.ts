// Property-based: generated bad headers, paths and bodies never cause a 5xx or a crash, and every stdout line
// stays one JSON object.
import fc from 'fast-check';
import { OtlpReceiver } from './support/otlp-receiver';
import { closeAgent, isProcessLine, request, startService, type Service } from './support/service';

jest.setTimeout(120_000);

let receiver: OtlpReceiver;
let service: Service;

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  service = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
});

afterAll(async () => {
  await service?.stop();
  await receiver?.stop();
  closeAgent();
});

// Header values Node's client will send: visible ASCII, space and tab.
const hex = (maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), maxLength });

const headerValue = fc.oneof(
  // Known-bad forms: a Root the propagator ignores (Sampled=?, no Parent), a duplicated header joined by Node.
  fc.constantFrom(
    'Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=?',
    'Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8',
    'Root=1-67891233-abcdef012345678912345678, Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
  ),
  fc.string({ unit: 'grapheme-ascii', maxLength: 300 }),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF-;=,: \t'.split('')), maxLength: 120 }),
  fc.tuple(hex(40), hex(20), hex(3)).map(([t, s, f]) => `00-${t}-${s}-${f}`),
  fc
    .tuple(hex(10), hex(30), fc.string({ maxLength: 20 }))
    .map(([a, b, rest]) => `Root=1-${a}-${b};Parent=${rest};Sampled=${rest}`),
);
const validHeader = (value: string) => /^[\t\x20-\x7e]*$/.test(value);

const headers = fc.record(
  {
    traceparent: headerValue,
    tracestate: headerValue,
    baggage: headerValue,
    'x-amzn-trace-id': headerValue,
    'content-type': headerValue,
    'user-agent': headerValue,
  },
  { requiredKeys: [] },
);

const path = fc.oneof(
  fc.constantFrom('/', '/orders', '/prices/A', '/healthz', '/prices/%E0%A4%A', '/prices/%00', '/..%2f'),
  fc.webPath(),
  fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).map((s) => `/${encodeURIComponent(s)}`),
  // Order IDs: malformed (400), unknown (404), or bad percent-encoding in the parameter.
  fc.constantFrom('/orders/%E0%A4%A', '/orders/%00', '/orders/..%2f', '/orders/00000000-0000-0000-0000-00000000000G'),
  fc.uuid().map((id) => `/orders/${id}`),
  fc.string({ unit: 'grapheme-ascii', maxLength: 80 }).map((s) => `/orders/${encodeURIComponent(s)}`),
);

// SKUs that are path segments once in a URL: `.`/`..` are dot segments that URL parsers remove.
const pathSku = fc
  .constantFrom('.', '..', 'a/..', '../..', '%2e', '%2E%2E', './a', 'a/./b', '/', '?', '#', '%', '\\..')
  .map((sku) => JSON.stringify({ sku, quantity: 1 }));

const body = fc.oneof(
  pathSku,
  fc.json(),
  fc.string({ maxLength: 500 }),
  fc.record({ sku: fc.anything(), quantity: fc.anything() }).map((o) => {
    try {
      return JSON.stringify(o);
    } catch {
      return '{}';
    }
  }),
  fc
    .record({ sku: fc.string({ maxLength: 80 }), quantity: fc.oneof(fc.integer(), fc.double()) })
    .map((o) => JSON.stringify(o)),
);

function clean(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([, v]) => validHeader(v)));
}

describe('bad input', () => {
  it('when headers are generated at random, then no request gets a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(headers, path, async (h, p) => {
        const reply = await request(service.url(p), { headers: clean(h) });
        expect(reply.status).toBeLessThan(500);
      }),
      { numRuns: 600 },
    );
  });

  it.each(['.', '..', 'a/..', '%2e', '../prices/x', '\\..'])(
    'when the SKU is the path segment %p, then the order is priced, not a 5xx',
    async (sku) => {
      const reply = await request(service.url('/orders'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sku, quantity: 1 }),
      });
      expect(reply.status).toBe(201);
      expect(reply.json()).toMatchObject({ order: { sku } });
    },
  );

  it('when order bodies are generated at random, then no request gets a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(body, headers, async (b, h) => {
        const reply = await request(service.url('/orders'), {
          method: 'POST',
          headers: { ...clean(h), 'content-type': 'application/json' },
          body: b,
        });
        expect(reply.status).toBeLessThan(500);
        if (reply.status !== 201) expect(reply.json()).toHaveProperty('error');
      }),
      { numRuns: 600 },
    );
  });

  it('when the storm is over, then the service is alive, healthy and wrote only JSON lines', async () => {
    expect((await request(service.url('/healthz'))).status).toBe(200);
    expect(service.proc.exitCode).toBeNull();
    expect(service.nonJson).toEqual([]);
    expect(service.stderr).toBe('');
  });

  it('when the storm is over, then every line written for a request carried both ID forms', () => {
    const requestLines = service.lines.filter((l) => !isProcessLine(l));
    expect(requestLines.length).toBeGreaterThan(1000);
    const uncorrelated = requestLines.filter(
      (l) =>
        typeof l.trace_id !== 'string' ||
        typeof l.span_id !== 'string' ||
        l.xray_trace_id !== `1-${l.trace_id.slice(0, 8)}-${l.trace_id.slice(8)}`,
    );
    expect(uncorrelated).toEqual([]);
  });
});
