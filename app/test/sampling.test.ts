// Sampling by X-Ray rules, against a fake X-Ray sampling API (a real HTTP server, as the collector's awsproxy serves
// it) and a real OTLP receiver: what the rules say is what gets recorded, the rules fetched last keep deciding when
// the proxy fails, X-Ray's default rule stands in until the first rules arrive, and a caller on the public listener
// cannot decide. The sampler's timing (the hour the rules last, the reports) is in xray-sampling.test.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OtlpReceiver, SPAN_KIND } from './support/otlp-receiver';
import {
  closeAgent,
  freePort,
  postOrder,
  request,
  startService,
  traceResponse,
  type LogLine,
  type Reply,
  type Service,
} from './support/service';
import { DEFAULT_RULE, FakeXRayProxy, samplingRule, THROTTLED, type SamplingRule } from './support/xray-proxy';

jest.setTimeout(60_000);

let receiver: OtlpReceiver;

/** A service whose only rule records nothing, and the 30 requests it was sent. */
interface UnrecordedRun {
  readonly service: Service;
  readonly proxy: FakeXRayProxy;
  readonly replies: Reply[];
  /** Where the service's lines for those requests start. */
  readonly mark: number;
}

/**
 * Started before the first test and read by two: the one on its lines, and the last one on its counts, which reach
 * X-Ray only with the first SamplingTargets report, 10 s after the rules arrived (the timing itself is tested on manual
 * time in xray-sampling.test.ts). The tests in between run meanwhile instead of waiting for that report.
 */
let unrecorded: Promise<UnrecordedRun>;

async function startUnrecordedRun(): Promise<UnrecordedRun> {
  const proxy = await FakeXRayProxy.start({
    rules: [samplingRule({ RuleName: 'nothing', ServiceName: 'otel-fargate-service' }), DEFAULT_RULE],
    targetsIntervalS: 1,
  });
  const service = await startSampled(proxy);
  await service.waitForLine((l) => l.msg === 'sampling rules loaded');
  const mark = service.lines.length;
  const replies = await sequentially(30, () => request(service.url('/')));
  return { service, proxy, replies, mark };
}

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  unrecorded = startUnrecordedRun();
  unrecorded.catch(() => undefined); // a failed start fails the tests that await it
});

afterAll(async () => {
  const run = await unrecorded.catch(() => undefined);
  await run?.service.stop();
  await run?.proxy.stop();
  await receiver.stop();
  closeAgent();
});

/** A Default rule that records nothing, so that only the rule under test can record. */
const RECORD_NOTHING_BY_DEFAULT = samplingRule({
  RuleName: 'Default',
  Priority: 10000,
  FixedRate: 0,
  ReservoirSize: 0,
});

async function startSampled(proxy: FakeXRayProxy | string, extra: Record<string, string> = {}): Promise<Service> {
  const endpoint = typeof proxy === 'string' ? proxy : proxy.endpoint;
  return startService({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_TRACES_SAMPLER: 'xray',
    OTEL_TRACES_SAMPLER_ARG: `endpoint=${endpoint},polling_interval=1`,
    ...extra,
  });
}

async function withProxy(
  rules: SamplingRule[],
  test: (service: Service, proxy: FakeXRayProxy) => Promise<void>,
  extra: Record<string, string> = {},
): Promise<void> {
  const proxy = await FakeXRayProxy.start({ rules, targetsIntervalS: 1 });
  const service = await startSampled(proxy, extra);
  try {
    await service.waitForLine((l) => l.msg === 'sampling rules loaded');
    await test(service, proxy);
  } finally {
    await service.stop();
    await proxy.stop();
  }
}

async function sequentially(count: number, send: (i: number) => Promise<Reply>): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < count; i++) replies.push(await send(i));
  return replies;
}

const sampled = (replies: Reply[]) => replies.filter((reply) => traceResponse(reply).sampled).length;

function expectCorrelated(line: LogLine, traceId: string, flags: '00' | '01'): void {
  expect(line).toMatchObject({
    trace_id: traceId,
    trace_flags: flags,
    xray_trace_id: `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`,
    'AWS-XRAY-TRACE-ID': `1-${traceId.slice(0, 8)}-${traceId.slice(8)}@${line.span_id as string}`,
  });
  expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('rules from the X-Ray sampling API', () => {
  it('when the rule records nothing (rate 0, reservoir 0), then no request is recorded and every line still carries its trace IDs', async () => {
    const { service, replies, mark } = await unrecorded;
    expect(sampled(replies)).toBe(0);
    await until(
      () => service.lines.slice(mark).filter((l) => l.msg === 'request completed').length === 30,
      'access lines written',
    );
    const lines = service.lines.slice(mark);
    // Both lines of each request (the page's and the access line) carry that request's trace in both forms.
    const requestLines = lines.filter((l) => l.msg === 'about us page' || l.msg === 'request completed');
    expect(requestLines).toHaveLength(60);
    const traceIds = new Set(replies.map((reply) => traceResponse(reply).traceId));
    for (const line of requestLines) {
      expect(traceIds.has(line.trace_id as string)).toBe(true);
      expectCorrelated(line, line.trace_id as string, '00');
    }
  });

  it('when the rule records everything (rate 1), then every request is recorded and exported', async () => {
    await withProxy([samplingRule({ RuleName: 'everything', FixedRate: 1 }), DEFAULT_RULE], async (service) => {
      const replies = await sequentially(20, () => request(service.url('/')));
      expect(sampled(replies)).toBe(20);
      const traceIds = replies.map((reply) => traceResponse(reply).traceId);
      await receiver.waitFor((spans) =>
        traceIds.every((id) => spans.some((s) => s.traceId === id && s.kind === SPAN_KIND.SERVER)),
      );
    });
  });

  it('when a rule of another service, or of ECS off ECS, would record everything, then it is not applied', async () => {
    await withProxy(
      [
        samplingRule({ RuleName: 'other-service', Priority: 1, FixedRate: 1, ServiceName: 'someone-else' }),
        samplingRule({ RuleName: 'on-ecs', Priority: 2, FixedRate: 1, ServiceType: 'AWS::ECS::Container' }),
        RECORD_NOTHING_BY_DEFAULT,
      ],
      async (service) => {
        expect(sampled(await sequentially(10, () => request(service.url('/'))))).toBe(0);
        const loaded = service.lines.find((l) => l.msg === 'sampling rules loaded')!;
        expect(loaded).toMatchObject({ ignored: 2, rules: ['Default (priority 10000, 0/s + 0%)'] });
      },
    );
  });

  it.each([
    ['user_agent.original', { Attributes: { 'user_agent.original': 'otel-fargate-verify/*' } }],
    ['server.address (Host)', { Host: 'sampled.example' }],
    ['http.request.method and url.path', { HTTPMethod: 'POST', URLPath: '/orders' }],
  ])(
    'when a rule matches on %s, then the rule sees it when the span starts',
    async (_attribute, fields: Partial<SamplingRule>) => {
      await withProxy(
        [samplingRule({ RuleName: 'matching', FixedRate: 1, ...fields }), RECORD_NOTHING_BY_DEFAULT],
        async (service) => {
          const matching =
            'Attributes' in fields
              ? await request(service.url('/'), { headers: { 'user-agent': 'otel-fargate-verify/run-1' } })
              : 'Host' in fields
                ? await request(service.url('/'), { headers: { host: 'sampled.example' } })
                : await postOrder(service, { sku: 'RULE-1', quantity: 1 });
          const others = [
            await request(service.url('/'), { headers: { 'user-agent': 'curl/8.0' } }),
            await request(service.url('/'), { headers: { host: 'other.example' } }),
            await request(service.url('/orders')),
          ];
          expect(traceResponse(matching).sampled).toBe(true);
          expect(others.map((reply) => traceResponse(reply).sampled)).toEqual([false, false, false]);
        },
      );
    },
  );

  it('when a rule changes, then the next SamplingTargets answer has the service fetch the rules again', async () => {
    await withProxy([samplingRule({ RuleName: 'changing', FixedRate: 0 }), DEFAULT_RULE], async (service, proxy) => {
      expect(traceResponse(await request(service.url('/'))).sampled).toBe(false);
      proxy.rules = [samplingRule({ RuleName: 'changing', FixedRate: 1 }), DEFAULT_RULE];
      proxy.modifiedAt = Math.floor(Date.now() / 1000) + 1;
      await service.waitForLine(
        (l) => l.msg === 'sampling rules loaded' && (l.rules as string[])[0] === 'changing (priority 1, 0/s + 100%)',
      );
      expect(traceResponse(await request(service.url('/'))).sampled).toBe(true);
    });
  });
});

describe('without the sampling proxy', () => {
  it('when the proxy cannot be reached from the start, then X-Ray default rule records about 1/s + 5%, with one warning, and one line when it answers', async () => {
    const proxy = await FakeXRayProxy.start({
      rules: [samplingRule({ RuleName: 'everything', FixedRate: 1 }), DEFAULT_RULE],
      targetsIntervalS: 1,
    });
    await proxy.down();
    const service = await startSampled(proxy);
    try {
      // A burst well inside one second: the default rule's reservoir gives one, its 5% a few more.
      const replies = await Promise.all(Array.from({ length: 40 }, () => request(service.url('/'))));
      const recorded = sampled(replies);
      expect(recorded).toBeGreaterThanOrEqual(1);
      expect(recorded).toBeLessThan(20);
      // Polls keep failing (once a second here): still one warning.
      await new Promise((resolve) => setTimeout(resolve, 3500));
      const warnings = service.lines.filter((l) => l.msg.startsWith('sampling rules unavailable'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 'warn', component: 'sampling', endpoint: proxy.endpoint });
      expect(warnings[0].detail).toMatch(/ECONNREFUSED/);

      await proxy.up();
      const back = await service.waitForLine((l) => l.msg === 'sampling rules available again');
      expect(back.failed_polls).toBeGreaterThanOrEqual(3);
      await service.waitForLine((l) => l.msg === 'sampling rules loaded');
      expect(sampled(await sequentially(5, () => request(service.url('/'))))).toBe(5);
    } finally {
      await service.stop();
      await proxy.stop();
    }
  });

  it('when the proxy goes away after the rules arrived, then the rules keep deciding, with one warning, and one line when it is back', async () => {
    await withProxy([samplingRule({ RuleName: 'nothing' }), DEFAULT_RULE], async (service, proxy) => {
      expect(sampled(await sequentially(5, () => request(service.url('/'))))).toBe(0);
      await proxy.down();
      const warning = await service.waitForLine((l) => l.msg.startsWith('sampling rules unavailable'));
      // X-Ray's default rule would record the first request of a second here.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(sampled(await Promise.all(Array.from({ length: 20 }, () => request(service.url('/')))))).toBe(0);
      expect(warning).toMatchObject({ level: 'warn', component: 'sampling', endpoint: proxy.endpoint });
      expect(warning.msg).toMatch(/the rules fetched last keep deciding for up to an hour/);
      await proxy.up();
      await service.waitForLine((l) => l.msg === 'sampling rules available again');
      expect(sampled(await sequentially(10, () => request(service.url('/'))))).toBe(0);
      expect(service.lines.filter((l) => l.msg.startsWith('sampling rules unavailable'))).toHaveLength(1);
    });
  });

  // Every other failure, of either call, and the hour the rules last: xray-sampling.test.ts.
  it('when GetSamplingRules is throttled (429 ThrottledException) after the rules arrived, then a 0% rule still records none of 50', async () => {
    await withProxy([samplingRule({ RuleName: 'nothing' }), DEFAULT_RULE], async (service, proxy) => {
      proxy.fail('/GetSamplingRules', THROTTLED);
      const warning = await service.waitForLine((l) => l.msg.startsWith('sampling rules unavailable'));
      expect(sampled(await Promise.all(Array.from({ length: 50 }, () => request(service.url('/')))))).toBe(0);
      expect(warning.detail).toMatch(/answered 429 ThrottledException/);
    });
  });
});

describe('trace context from callers', () => {
  const callerTraceId = '0af7651916cd43dd8448eb211c80319c';
  const callerSpanId = 'b7ad6b7169203331';

  it.each([
    ['traceparent', { traceparent: `00-${callerTraceId}-${callerSpanId}-01` }],
    [
      'X-Amzn-Trace-Id',
      { 'x-amzn-trace-id': `Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=${callerSpanId};Sampled=1` },
    ],
  ])(
    'when a caller on the public listener sends a sampled %s under a rule that records nothing, then it is not recorded but keeps its trace ID',
    async (_header, headers) => {
      await withProxy([samplingRule({ RuleName: 'nothing' }), RECORD_NOTHING_BY_DEFAULT], async (service) => {
        const mark = service.lines.length;
        const reply = await request(service.url('/'), { headers });
        expect(traceResponse(reply)).toMatchObject({ traceId: callerTraceId, sampled: false });
        const lines = await service.linesFrom(mark, (l) => l.msg === 'request completed');
        for (const line of lines) expectCorrelated(line, callerTraceId, '00');
      });
    },
  );

  it('when a caller sends "not sampled" under a rule that records everything, then it is recorded under the caller\'s parent', async () => {
    await withProxy([samplingRule({ RuleName: 'everything', FixedRate: 1 })], async (service) => {
      const traceId = '0af7651916cd43dd8448eb211c8031ab';
      const reply = await request(service.url('/'), { headers: { traceparent: `00-${traceId}-${callerSpanId}-00` } });
      expect(traceResponse(reply)).toMatchObject({ traceId, sampled: true });
      const spans = await receiver.waitFor((all) =>
        all.some((s) => s.traceId === traceId && s.kind === SPAN_KIND.SERVER),
      );
      expect(spans.find((s) => s.traceId === traceId && s.kind === SPAN_KIND.SERVER)!.parentSpanId).toBe(callerSpanId);
    });
  });

  it('when the public request is recorded but the rules would not record the pricing hop, then the hop follows its parent', async () => {
    await withProxy(
      [samplingRule({ RuleName: 'orders', URLPath: '/orders', FixedRate: 1 }), RECORD_NOTHING_BY_DEFAULT],
      async (service) => {
        const reply = await postOrder(service, { sku: 'HOP-1', quantity: 1 });
        const { traceId, sampled: recorded } = traceResponse(reply);
        expect(recorded).toBe(true);
        // Both spans: the hop ends before the call that made it, so it can be exported in an earlier batch.
        const spans = await receiver.waitFor((all) =>
          ['GET /prices/:sku', 'pricing.call'].every((name) =>
            all.some((s) => s.traceId === traceId && s.name === name),
          ),
        );
        const hop = spans.find((s) => s.traceId === traceId && s.name === 'GET /prices/:sku')!;
        expect(hop.parentSpanId).toBe(spans.find((s) => s.traceId === traceId && s.name === 'pricing.call')!.spanId);
      },
    );
  });

  it('when the public request is not recorded but the rules would record the pricing hop, then the hop is not recorded either', async () => {
    await withProxy(
      [samplingRule({ RuleName: 'prices', URLPath: '/prices/*', FixedRate: 1 }), RECORD_NOTHING_BY_DEFAULT],
      async (service) => {
        // The rule does apply to a request from outside to that path.
        expect(traceResponse(await request(service.url('/prices/A-1'))).sampled).toBe(true);
        const reply = await postOrder(service, { sku: 'HOP-2', quantity: 1 });
        const { traceId, sampled: recorded } = traceResponse(reply);
        expect(recorded).toBe(false);
        // The hop continues the order's trace, unrecorded.
        const hopLine = await service.waitForLine(
          (l) => l.msg === 'request completed' && l.route === '/prices/:sku' && l.trace_id === traceId,
        );
        expectCorrelated(hopLine, traceId, '00');
      },
    );
  });

  it('when a caller sends baggage and tracestate, then neither is passed on to the pricing service', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const pricing = http.createServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sku: 'BAG-1', unitPriceCents: 100, currency: 'USD' }));
    });
    await new Promise<void>((resolve) => pricing.listen(0, '127.0.0.1', resolve));
    try {
      await withProxy(
        [samplingRule({ RuleName: 'everything', FixedRate: 1 })],
        async (service) => {
          const traceId = '0af7651916cd43dd8448eb211c8031cd';
          const reply = await postOrder(
            service,
            { sku: 'BAG-1', quantity: 1 },
            {
              traceparent: `00-${traceId}-${callerSpanId}-01`,
              tracestate: 'vendor=opaque-value',
              baggage: `user=${'x'.repeat(4000)}`,
            },
          );
          expect(reply.status).toBe(201);
          expect(seen).toHaveLength(1);
          expect(seen[0].traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
          expect(seen[0]['x-amzn-trace-id']).toMatch(/^Root=1-0af76519-16cd43dd8448eb211c8031cd;Parent=/);
          expect(seen[0]).not.toHaveProperty('baggage');
          expect(seen[0]).not.toHaveProperty('tracestate');
        },
        { PRICING_URL: `http://127.0.0.1:${(pricing.address() as AddressInfo).port}` },
      );
    } finally {
      pricing.close();
    }
  });
});

describe('the traceresponse header', () => {
  it('when a request is recorded, then the header names its trace, its server span and flag 01', async () => {
    await withProxy([samplingRule({ RuleName: 'everything', FixedRate: 1 })], async (service) => {
      const reply = await request(service.url('/no/such/route'));
      const { traceId, spanId, sampled: recorded } = traceResponse(reply);
      expect(recorded).toBe(true);
      expect(reply.json().xrayTraceId).toBe(`1-${traceId.slice(0, 8)}-${traceId.slice(8)}`);
      const spans = await receiver.waitFor((all) => all.some((s) => s.traceId === traceId));
      expect(spans.find((s) => s.traceId === traceId)).toMatchObject({ spanId, kind: SPAN_KIND.SERVER });
    });
  });

  it('when a request is not recorded, then the header names its trace and server span with flag 00, as its lines do', async () => {
    await withProxy([RECORD_NOTHING_BY_DEFAULT], async (service) => {
      const mark = service.lines.length;
      const reply = await request(service.url('/'));
      const { traceId, spanId, sampled: recorded } = traceResponse(reply);
      expect(recorded).toBe(false);
      const lines = await service.linesFrom(mark, (l) => l.msg === 'request completed');
      // The step `about` opens no span of its own here: its line carries the server span's ID, as the docs say
      // (docs/local-development.md, tools/traces/README.md).
      const step = lines.find((l) => l.msg === 'about us page');
      for (const line of [step, lines.at(-1)]) {
        expect(line).toMatchObject({ trace_id: traceId, span_id: spanId, trace_flags: '00' });
      }
    });
  });

  it('when the health check is called, then it has no span and no header', async () => {
    await withProxy([samplingRule({ RuleName: 'everything', FixedRate: 1 })], async (service) => {
      const reply = await request(service.url('/healthz'));
      expect(reply.status).toBe(200);
      expect(reply.headers).not.toHaveProperty('traceresponse');
    });
  });
});

describe('a local run', () => {
  it('when nothing answers on the default proxy address, then the service serves and records by the default rule', async () => {
    const port = await freePort();
    const service = await startSampled(`http://127.0.0.1:${port}`);
    try {
      const replies = await Promise.all(Array.from({ length: 10 }, () => request(service.url('/'))));
      expect(replies.every((reply) => reply.status === 200)).toBe(true);
      expect(sampled(replies)).toBeGreaterThanOrEqual(1);
      await service.waitForLine((l) => l.msg.startsWith('sampling rules unavailable'));
    } finally {
      await service.stop();
    }
  });
});

// Last in the file: the run started before the first test has had its 10 s by now.
describe('statistics from the service', () => {
  it('when a rule that records nothing decided 30 requests, then the first SamplingTargets report counts them for that rule only, and none is exported', async () => {
    const { service, proxy, replies } = await unrecorded;
    // The counts reach X-Ray with the first SamplingTargets report, 10 s after the rules arrived, and only for the
    // rule that saw requests.
    await until(() => proxy.requestCount('nothing') >= 30, 'statistics reported');
    expect(proxy.sampledCount('nothing')).toBe(0);
    expect(proxy.statistics.map((document) => document.RuleName)).not.toContain('Default');

    await service.stop();
    const traceIds = new Set(replies.map((reply) => traceResponse(reply).traceId));
    expect(receiver.spans.filter((s) => traceIds.has(s.traceId))).toEqual([]);
  });
});
