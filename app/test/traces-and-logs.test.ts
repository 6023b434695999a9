// The service as the image runs it, against a real OTLP/gRPC receiver: spans, their parents and attributes, the
// resource, propagation in both header forms, and the correlation of every log line with its trace.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OtlpReceiver, SPAN_KIND, STATUS_CODE, type ReceivedSpan } from './support/otlp-receiver';
import {
  closeAgent,
  freePort,
  fromXray,
  isProcessLine,
  postOrder,
  request,
  startService,
  XRAY_ID,
  type LogLine,
  type Service,
} from './support/service';

jest.setTimeout(30_000);

let receiver: OtlpReceiver;
let service: Service;

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  service = await startService({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });
});

afterAll(async () => {
  await service.stop();
  await receiver.stop();
  closeAgent();
});

const serverSpan = (spans: ReceivedSpan[]) => spans.find((s) => s.kind === SPAN_KIND.SERVER && s.parentSpanId === '');

function expectCorrelated(line: LogLine, traceId: string): void {
  expect(line.trace_id).toBe(traceId);
  expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
  expect(line.trace_flags).toBe('01');
  expect(line.xray_trace_id).toBe(`1-${traceId.slice(0, 8)}-${traceId.slice(8)}`);
  expect(line['AWS-XRAY-TRACE-ID']).toBe(`${line.xray_trace_id as string}@${line.span_id as string}`);
}

describe('GET /, the original home page', () => {
  it('when called, then it answers the welcome text with a server span and its child span "about"', async () => {
    const reply = await request(service.url('/'));
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('Welcome to the Home Page!');

    const access = await service.waitForLine((l) => l.msg === 'request completed' && l.path === '/');
    const traceId = access.trace_id as string;
    await receiver.waitFor(() => receiver.trace(traceId).length >= 2);
    const root = serverSpan(receiver.trace(traceId))!;
    const about = receiver.trace(traceId).find((s) => s.name === 'about')!;
    expect(root.name).toBe('GET /');
    expect(root.attributes['http.route']).toBe('/');
    expect(about.parentSpanId).toBe(root.spanId);

    const aboutLine = service.lines.find((l) => l.msg === 'about us page' && l.trace_id === traceId)!;
    expectCorrelated(aboutLine, traceId);
    expect(aboutLine.span_id).toBe(about.spanId);
    expectCorrelated(access, traceId);
    expect(access.span_id).toBe(root.spanId);
  });

  it('when traced, then the trace ID starts with the current Unix time, as X-Ray requires', async () => {
    const before = Math.floor(Date.now() / 1000);
    const mark = service.lines.length;
    await request(service.url('/'));
    const access = (await service.linesFrom(mark, (l) => l.msg === 'request completed')).at(-1)!;
    const seconds = parseInt((access.trace_id as string).slice(0, 8), 16);
    expect(seconds).toBeGreaterThanOrEqual(before - 1);
    expect(seconds).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 1);
  });
});

describe('POST /orders, one span per operation', () => {
  it('when an order is placed, then cache.read, pricing.call and store.write are children of the request span', async () => {
    const mark = service.lines.length;
    const reply = await postOrder(service, { sku: 'WIDGET-7', quantity: 3 });
    expect(reply.status).toBe(201);
    const body = reply.json() as { order: Record<string, unknown>; xrayTraceId: string };
    expect(body.order).toMatchObject({ sku: 'WIDGET-7', quantity: 3, currency: 'USD' });
    expect(body.xrayTraceId).toMatch(XRAY_ID);
    const traceId = fromXray(body.xrayTraceId);

    await receiver.waitFor(() => receiver.trace(traceId).length >= 5);
    const spans = receiver.trace(traceId);
    const root = serverSpan(spans)!;
    expect(root.name).toBe('POST /orders');
    expect(root.attributes['http.response.status_code']).toBe(201);
    const byName = (name: string) => spans.find((s) => s.name === name)!;
    for (const name of ['cache.read', 'pricing.call', 'store.write']) {
      expect(byName(name).parentSpanId).toBe(root.spanId);
    }
    expect(byName('cache.read').attributes).toMatchObject({ 'cache.key': 'WIDGET-7', 'cache.hit': false });
    expect(byName('store.write').attributes).toMatchObject({
      'db.collection.name': 'orders',
      'order.id': body.order.id,
    });
    const call = byName('pricing.call');
    expect(call.kind).toBe(SPAN_KIND.CLIENT);
    expect(call.attributes['http.response.status_code']).toBe(200);
    // The downstream hop continues the trace: its server span is a child of the client span.
    const downstream = spans.find((s) => s.name === 'GET /prices/:sku')!;
    expect(downstream.kind).toBe(SPAN_KIND.SERVER);
    expect(downstream.parentSpanId).toBe(call.spanId);

    // Every line of the request (selected by position, so a line without IDs would be caught) carries both ID
    // forms, each step's line its own span ID.
    const lines = await service.linesFrom(mark, (l) => l.msg === 'request completed' && l.path === '/orders');
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'product read from cache',
        'price quoted',
        'price received from pricing',
        'order stored',
        'request completed',
      ]),
    );
    for (const line of lines) expectCorrelated(line, traceId);
    expect(lines.find((l) => l.msg === 'order stored')!.span_id).toBe(byName('store.write').spanId);
    expect(lines.find((l) => l.msg === 'product read from cache')!.span_id).toBe(byName('cache.read').spanId);
  });

  it('when the same SKU is ordered again, then the cache read is a hit', async () => {
    await postOrder(service, { sku: 'REPEAT-1', quantity: 1 });
    const reply = await postOrder(service, { sku: 'REPEAT-1', quantity: 1 });
    const traceId = fromXray((reply.json() as { xrayTraceId: string }).xrayTraceId);
    await receiver.waitFor(() => receiver.trace(traceId).some((s) => s.name === 'cache.read'));
    expect(receiver.trace(traceId).find((s) => s.name === 'cache.read')!.attributes['cache.hit']).toBe(true);
  });
});

describe('propagation', () => {
  it('when a W3C traceparent comes in, then the request continues that trace under that parent', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    await request(service.url('/'), { headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` } });
    await receiver.waitFor(() => receiver.trace(traceId).length >= 2);
    const root = receiver.trace(traceId).find((s) => s.kind === SPAN_KIND.SERVER)!;
    expect(root.parentSpanId).toBe('b7ad6b7169203331');
  });

  it('when an X-Ray header with Parent and Sampled comes in, then the request continues that trace', async () => {
    const header = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
    await request(service.url('/'), { headers: { 'x-amzn-trace-id': header } });
    const traceId = '5759e988bd862e3fe1be46a994272793';
    await receiver.waitFor(() => receiver.trace(traceId).length >= 2);
    const root = receiver.trace(traceId).find((s) => s.kind === SPAN_KIND.SERVER)!;
    expect(root.parentSpanId).toBe('53995c3f42cd8ad8');
    // A traced caller's header is not an ALB Root: nothing extra is recorded.
    expect(root.attributes['aws.alb.trace_id']).toBeUndefined();
  });

  it("when the load balancer's Root-only header comes in, then the Root is on the server span and in the access line", async () => {
    const albRoot = '1-67891233-abcdef012345678912345678';
    const reply = await postOrder(
      service,
      { sku: 'ALB-1', quantity: 1 },
      { 'x-amzn-trace-id': `Self=1-67891233-12456789abcdef012345678;Root=${albRoot}` },
    );
    const traceId = fromXray((reply.json() as { xrayTraceId: string }).xrayTraceId);
    // The propagator ignores a Root without Parent: a new trace starts.
    expect(traceId).not.toBe(fromXray(albRoot));
    await receiver.waitFor(() => serverSpan(receiver.trace(traceId)) !== undefined);
    expect(serverSpan(receiver.trace(traceId))!.attributes['aws.alb.trace_id']).toBe(albRoot);
    const access = service.linesOf(traceId).find((l) => l.msg === 'request completed' && l.path === '/orders')!;
    expect(access).toMatchObject({ method: 'POST', route: '/orders', status: 201, alb_trace_id: albRoot });
    expect(typeof access.duration_ms).toBe('number');
  });
});

describe('propagation edge cases', () => {
  it.each([
    ['a Parent but no Sampled', 'Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8'],
    [
      'Sampled=?',
      'Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=?',
    ],
  ])(
    'when an X-Ray header with %s is not continued, then its Root is still recorded on the span and the access line',
    async (_name, header) => {
      const albRoot = '1-67891233-abcdef012345678912345678';
      const reply = await postOrder(service, { sku: 'ALB-2', quantity: 1 }, { 'x-amzn-trace-id': header });
      const traceId = fromXray((reply.json() as { xrayTraceId: string }).xrayTraceId);
      expect(traceId).not.toBe(fromXray(albRoot));
      await receiver.waitFor(() => serverSpan(receiver.trace(traceId)) !== undefined);
      expect(serverSpan(receiver.trace(traceId))!.attributes['aws.alb.trace_id']).toBe(albRoot);
      const access = service.linesOf(traceId).find((l) => l.msg === 'request completed' && l.path === '/orders')!;
      expect(access.alb_trace_id).toBe(albRoot);
    },
  );

  it.each([
    [
      'traceparent',
      { traceparent: '00-0af7651916cd43dd8448eb211c8031aa-53995c3f42cd8ad8-00' },
      '0af7651916cd43dd8448eb211c8031aa',
    ],
    [
      'X-Amzn-Trace-Id',
      { 'x-amzn-trace-id': 'Root=1-5759e988-bd862e3fe1be46a9942727aa;Parent=53995c3f42cd8ad8;Sampled=0' },
      '5759e988bd862e3fe1be46a9942727aa',
    ],
  ])(
    'when the %s says "not sampled", then the request is still traced in that trace',
    async (_name, headers, traceId) => {
      const reply = await request(service.url('/no/such/route'), { headers });
      expect((reply.json() as { xrayTraceId: string }).xrayTraceId).toBe(
        `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`,
      );
      await receiver.waitFor(() => receiver.trace(traceId).some((s) => s.kind === SPAN_KIND.SERVER));
      expect(receiver.trace(traceId).find((s) => s.kind === SPAN_KIND.SERVER)!.parentSpanId).toBe('53995c3f42cd8ad8');
      const access = service.linesOf(traceId).find((l) => l.msg === 'request completed')!;
      expectCorrelated(access, traceId);
    },
  );
});

describe('resource', () => {
  it('when spans arrive, then they carry the service name and version and the default log group', async () => {
    await request(service.url('/'));
    const spans = await receiver.waitFor((s) => s.length > 0);
    expect(spans[0].resource).toMatchObject({
      'service.name': 'otel-fargate-service',
      'service.version': '0.1.0',
      'aws.log.group.names': ['otel-test'],
      'telemetry.sdk.language': 'nodejs',
    });
  });
});

describe('health checks', () => {
  it('when /healthz is called, then it answers 200 and leaves no span and no access line', async () => {
    const reply = await request(service.url('/healthz'), {
      headers: { traceparent: '00-11111111111111111111111111111111-2222222222222222-01' },
    });
    expect(reply.status).toBe(200);
    // A traced request after it, once exported, proves the health check had its chance to be exported too.
    const mark = service.lines.length;
    const marker = await request(service.url('/'));
    expect(marker.status).toBe(200);
    const last = (await service.linesFrom(mark, (l) => l.msg === 'request completed')).at(-1)!;
    await receiver.waitFor(() => receiver.trace(last.trace_id as string).length >= 2);
    expect(receiver.spans.filter((s) => s.attributes['url.path'] === '/healthz')).toEqual([]);
    expect(receiver.trace('11111111111111111111111111111111')).toEqual([]);
    expect(service.lines.filter((l) => l.path === '/healthz')).toEqual([]);
  });
});

describe('errors', () => {
  it('when a route does not exist, then it answers 404 JSON with the X-Ray trace ID, and its line is correlated', async () => {
    const mark = service.lines.length;
    const reply = await request(service.url('/no/such/route'));
    expect(reply.status).toBe(404);
    expect(reply.json()).toMatchObject({ error: 'not_found', xrayTraceId: expect.stringMatching(XRAY_ID) });
    const lines = await service.linesFrom(mark, (l) => l.msg === 'request completed');
    for (const line of lines) expectCorrelated(line, fromXray((reply.json() as { xrayTraceId: string }).xrayTraceId));
  });

  it.each([
    ['malformed JSON', '{"sku": "A", '],
    ['a JSON array', '[1,2]'],
    ['a missing sku', '{"quantity": 1}'],
    ['a zero quantity', '{"sku": "A", "quantity": 0}'],
    ['a fractional quantity', '{"sku": "A", "quantity": 1.5}'],
    ['a quantity as a string', '{"sku": "A", "quantity": "1"}'],
  ])(
    'when the body has %s, then it answers 400 JSON with the X-Ray trace ID, and every line is correlated',
    async (_name, body) => {
      const mark = service.lines.length;
      const reply = await postOrder(service, body);
      expect(reply.status).toBe(400);
      expect(reply.json()).toMatchObject({ error: 'bad_request', xrayTraceId: expect.stringMatching(XRAY_ID) });
      const lines = await service.linesFrom(mark, (l) => l.msg === 'request completed');
      // The rejection itself ("order rejected" or "request rejected") and the access line.
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (const line of lines) expectCorrelated(line, fromXray((reply.json() as { xrayTraceId: string }).xrayTraceId));
    },
  );

  it('when the body is not JSON at all, then it answers 400', async () => {
    const reply = await request(service.url('/orders'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'sku=A',
    });
    expect(reply.status).toBe(400);
  });
});

describe('log lines', () => {
  it('when a line is written outside a request, then it carries no trace fields', () => {
    const startup = service.lines.find((l) => l.msg === 'listening')!;
    for (const key of ['trace_id', 'span_id', 'trace_flags', 'xray_trace_id', 'AWS-XRAY-TRACE-ID']) {
      expect(startup).not.toHaveProperty(key);
    }
  });

  it('when a request carries hostile values, then each stays inside its field and overlong ones are cut', async () => {
    const path = `/x%0A%7B%22level%22%3A%22fatal%22%7D${'a'.repeat(5000)}`;
    await request(service.url(path), {
      headers: { 'x-amzn-trace-id': `Root=1-00000000-000000000000000000000000;${'x'.repeat(2000)}` },
    });
    const line = await service.waitForLine((l) => typeof l.path === 'string' && l.path.startsWith('/x'));
    expect(line.level).toBe('info');
    expect((line.path as string).length).toBeLessThanOrEqual(257);
    expect(line.alb_trace_id).toBeUndefined();
    expect(service.nonJson).toEqual([]);
  });

  it('when the service has run, then stdout held only JSON lines and stderr nothing', () => {
    expect(service.nonJson).toEqual([]);
    expect(service.stderr).toBe('');
  });

  it('when the service has run, then every line but the process and SDK lines carries both ID forms', () => {
    const requestLines = service.lines.filter((l) => !isProcessLine(l));
    expect(requestLines.length).toBeGreaterThan(20);
    for (const line of requestLines) expectCorrelated(line, line.trace_id as string);
  });
});

describe('a failing step', () => {
  it('when the pricing service is unreachable, then pricing.call records the error and the client gets 502 JSON with the trace ID', async () => {
    const failing = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      PRICING_URL: 'http://127.0.0.1:1',
    });
    try {
      const reply = await postOrder(failing, { sku: 'A-1', quantity: 1 });
      expect(reply.status).toBe(502);
      const body = reply.json() as { error: string; xrayTraceId: string };
      expect(body.error).toBe('pricing_unavailable');
      expect(body.xrayTraceId).toMatch(XRAY_ID);
      const traceId = fromXray(body.xrayTraceId);
      await receiver.waitFor(() => receiver.trace(traceId).some((s) => s.name === 'pricing.call'));
      const call = receiver.trace(traceId).find((s) => s.name === 'pricing.call')!;
      expect(call.status.code).toBe(STATUS_CODE.ERROR);
      expect(call.events.find((e) => e.name === 'exception')!.attributes['exception.message']).toMatch(/ECONNREFUSED/);
      expect(receiver.trace(traceId).some((s) => s.name === 'store.write')).toBe(false);
      const errorLine = failing.linesOf(traceId).find((l) => l.level === 'error')!;
      expect(errorLine.msg).toBe('pricing.call failed');
      expectCorrelated(errorLine, traceId);
      expect(errorLine.span_id).toBe(call.spanId);
    } finally {
      await failing.stop();
    }
  });
});

describe('the standard variables, on exported spans', () => {
  it('when OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_* and the traces endpoint are set, then the exports show them', async () => {
    const own = await OtlpReceiver.start();
    const dead = await freePort();
    const configured = await startService({
      // The signal-specific endpoint wins over the generic one, which points nowhere.
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}`,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: own.endpoint,
      OTEL_SERVICE_NAME: 'checkout',
      OTEL_RESOURCE_ATTRIBUTES:
        'service.name=ignored,deployment.environment.name=staging,aws.log.group.names=a&b,aws.log.group.arns=arn:aws:logs:eu-west-1:123456789012:log-group:a',
      // A batch of 2 with a long delay: `GET /` (2 spans) is exported at once, as one batch of 2.
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2',
      OTEL_BSP_SCHEDULE_DELAY: '30000',
    });
    try {
      for (let i = 0; i < 3; i++) expect((await request(configured.url('/'))).status).toBe(200);
      const spans = await own.waitFor((all) => all.length >= 6);
      expect(own.batchSizes.slice(0, 3)).toEqual([2, 2, 2]);
      expect(spans[0].resource).toMatchObject({
        'service.name': 'checkout',
        'deployment.environment.name': 'staging',
        'aws.log.group.names': ['a', 'b'],
        'aws.log.group.arns': ['arn:aws:logs:eu-west-1:123456789012:log-group:a'],
      });
      expect(configured.lines.find((l) => l.msg === 'listening')!.otlp_endpoint).toBe(own.endpoint);
    } finally {
      await configured.stop();
      await own.stop();
    }
  });
});

describe('span size', () => {
  it('when many requests carry overlong client values, then every batch stays under gRPC 4 MiB and no span is lost', async () => {
    // The receiver, like the collector, refuses messages over 4 MiB. A long delay lets full batches form.
    const own = await OtlpReceiver.start();
    const big = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: own.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '30000',
      LOG_LEVEL: 'warn',
      PORT: String(await freePort()),
    });
    try {
      const long = 'a'.repeat(1000);
      const count = 1100;
      let sent = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (sent < count) {
            sent += 1;
            const reply = await request(big.url(`/${long}?${long}`), {
              headers: { 'user-agent': long, host: `${long}.example`, 'x-amzn-trace-id': long },
            });
            expect(reply.status).toBe(404);
          }
        }),
      );
      big.proc.kill('SIGTERM');
      expect((await big.exited).code).toBe(0);
      const servers = own.spans.filter((s) => s.kind === SPAN_KIND.SERVER);
      expect(servers).toHaveLength(count);
      expect(Math.max(...own.batchSizes)).toBe(512);
      for (const value of Object.values(servers[0].attributes)) {
        if (typeof value === 'string') expect(value.length).toBeLessThanOrEqual(512);
      }
      expect(big.lines.filter((l) => l.component === 'opentelemetry')).toEqual([]);
    } finally {
      await big.stop();
      await own.stop();
    }
  });
});

describe('ECS resource detection', () => {
  it('when ECS_CONTAINER_METADATA_URI_V4 answers (FireLens logging), then spans carry the task attributes and the log group from the environment', async () => {
    const taskArn = 'arn:aws:ecs:eu-west-1:123456789012:task/otel/0123456789abcdef0123456789abcdef';
    const containerArn = 'arn:aws:ecs:eu-west-1:123456789012:container/otel/0123/abcd';
    const metadata = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify(
          req.url?.endsWith('/task')
            ? { Cluster: 'otel', TaskARN: taskArn, Family: 'otel-service', Revision: '7', LaunchType: 'FARGATE' }
            : { ContainerARN: containerArn, LogDriver: 'awsfirelens', LogOptions: {} },
        ),
      );
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    const own = await OtlpReceiver.start();
    const onEcs = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: own.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      ECS_CONTAINER_METADATA_URI_V4: `http://127.0.0.1:${(metadata.address() as AddressInfo).port}/v4/abc`,
    });
    try {
      expect((await request(onEcs.url('/'))).status).toBe(200);
      const spans = await own.waitFor((all) => all.length >= 2);
      expect(spans[0].resource).toMatchObject({
        'cloud.provider': 'aws',
        'cloud.platform': 'aws_ecs',
        'cloud.region': 'eu-west-1',
        'cloud.account.id': '123456789012',
        'aws.ecs.task.arn': taskArn,
        'aws.ecs.task.family': 'otel-service',
        'aws.ecs.launchtype': 'fargate',
        'aws.ecs.container.arn': containerArn,
        'aws.log.group.names': ['otel-test'],
      });
    } finally {
      await onEcs.stop();
      await own.stop();
      metadata.close();
    }
  });
});
