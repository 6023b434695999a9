// Orders in DynamoDB, against the real DynamoDB API (dynalite) and the built bundle (dist/main.js, as the image runs
// it): the store writes, reads back and never overwrites; GET /orders/:id answers 200/404/400; and the AWS SDK's calls
// are CLIENT spans from @opentelemetry/instrumentation-aws-sdk, applied to the bundled SDK modules by the build
// (scripts/build.mjs, src/telemetry/aws-sdk.ts), exported over OTLP under the store step of the order's trace.
//
// The attributes checked are those the collector's awsxray exporter reads to make the `DynamoDB` subsegment in
// namespace `aws` (opentelemetry-collector-contrib, exporter/awsxrayexporter/internal/translator/, read at a commit of
// the repository's default branch, not at the v0.156.0 tag): segment.go's MakeSegment puts a span whose `rpc.system` is
// `aws-api` in namespace `aws` and names a CLIENT span, in order, from `aws.remote.service`, `peer.service`,
// `aws.service`, `db.name`, then `rpc.service`, so none of the first four may be set; aws.go's makeAws takes
// `rpc.method` as `aws.operation` and the one entry of `aws.dynamodb.table_names` as `aws.table_name`.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { DynamoOrderStore } from '../src/dynamo-store';
import { StoreUnavailableError } from '../src/store';
import { Dynalite, TEST_REGION } from './support/dynalite';
import { OtlpReceiver, SPAN_KIND, type ReceivedSpan } from './support/otlp-receiver';
import { closeAgent, fromXray, postOrder, request, startService, traceResponse, type Service } from './support/service';

jest.setTimeout(60_000);

const TABLE = 'otel-fargate-orders';
let dynamo: Dynalite;

beforeAll(async () => {
  dynamo = await Dynalite.start();
  await dynamo.createOrdersTable(TABLE);
});

afterAll(async () => {
  closeAgent();
  await dynamo.stop();
});

const NEW_ORDER = { sku: 'WIDGET-7', quantity: 3, unitPriceCents: 250, totalCents: 750, currency: 'EUR' };

describe('DynamoOrderStore against the DynamoDB API', () => {
  function store(props: Partial<ConstructorParameters<typeof DynamoOrderStore>[0]> = {}): DynamoOrderStore {
    return new DynamoOrderStore({ tableName: TABLE, region: TEST_REGION, client: dynamo.client(), ...props });
  }

  it('when an order is put, then a read by its ID gives the same order back', async () => {
    const orders = store();
    try {
      const put = await orders.put(NEW_ORDER);
      expect(put).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        ...NEW_ORDER,
        createdAt: expect.any(String),
      });
      expect(new Date(put.createdAt).toISOString()).toBe(put.createdAt);
      const read = await orders.get(put.id);
      expect(read).toEqual(put);
      // The same JSON as the POST's answer, field order included.
      expect(JSON.stringify(read)).toBe(JSON.stringify(put));
    } finally {
      orders.close();
    }
  });

  it('when an ID is unknown, then the read finds nothing', async () => {
    const orders = store();
    try {
      expect(await orders.get(randomUUID())).toBeUndefined();
    } finally {
      orders.close();
    }
  });

  it('when two orders get the same ID, then the second put is refused and the first order is kept', async () => {
    const id = randomUUID();
    const orders = store({ newId: () => id });
    try {
      const first = await orders.put(NEW_ORDER);
      await expect(orders.put({ ...NEW_ORDER, sku: 'OTHER-1', quantity: 9 })).rejects.toBeInstanceOf(
        ConditionalCheckFailedException,
      );
      expect(await orders.get(id)).toEqual(first);
    } finally {
      orders.close();
    }
  });

  it('when the table does not exist, then the store is unavailable, named by the SDK error', async () => {
    const orders = store({ tableName: 'no-such-table' });
    try {
      const error = (await orders.get(randomUUID()).catch((e: unknown) => e)) as StoreUnavailableError;
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ reason: 'unavailable', errorName: 'ResourceNotFoundException' });
    } finally {
      orders.close();
    }
  });
});

/** The spans of one trace, once the one named `last` has arrived. */
async function traceOf(receiver: OtlpReceiver, traceId: string, last: string): Promise<ReceivedSpan[]> {
  const spans = await receiver.waitFor((all) => all.some((s) => s.traceId === traceId && s.name === last));
  return spans.filter((s) => s.traceId === traceId);
}

function childOf(spans: ReceivedSpan[], parent: ReceivedSpan, name: string): ReceivedSpan {
  const child = spans.find((s) => s.parentSpanId === parent.spanId && s.name === name);
  if (!child) throw new Error(`no ${name} under ${parent.name}: ${spans.map((s) => s.name).join(', ')}`);
  return child;
}

describe('the built service with ORDERS_TABLE_NAME', () => {
  let receiver: OtlpReceiver;
  let service: Service;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    service = await startService({
      ...dynamo.serviceEnv(TABLE),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
  });

  afterAll(async () => {
    await service.stop();
    await receiver.stop();
  });

  it('says in its first line that orders are in the table', () => {
    expect(service.lines[0]).toMatchObject({
      msg: 'listening',
      store: 'dynamodb',
      orders_table: TABLE,
      aws_region: TEST_REGION,
      dynamodb_endpoint: dynamo.endpoint,
    });
  });

  it('when an order is posted, then GET /orders/:id answers it from the table in a separate request', async () => {
    const posted = await postOrder(service, { sku: 'WIDGET-7', quantity: 3 });
    expect(posted.status).toBe(201);
    const { order } = posted.json() as { order: { id: string } };

    const read = await request(service.url(`/orders/${order.id}`));
    expect(read.status).toBe(200);
    expect(read.json()).toEqual({ order, xrayTraceId: expect.stringMatching(/^1-/) });
    // An upper-case ID is the same UUID.
    expect((await request(service.url(`/orders/${order.id.toUpperCase()}`))).json().order).toEqual(order);

    // In the table itself, as the stack's item layout says.
    const other = new DynamoOrderStore({ tableName: TABLE, region: TEST_REGION, client: dynamo.client() });
    try {
      expect(await other.get(order.id)).toEqual(order);
    } finally {
      other.close();
    }
  });

  it('when an ID is unknown, then 404 not_found; when it is not a UUID, then 400 bad_request', async () => {
    const unknown = await request(service.url(`/orders/${randomUUID()}`));
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toEqual({
      error: 'not_found',
      message: expect.any(String),
      xrayTraceId: expect.any(String),
    });
    for (const bad of ['42', 'not-a-uuid', `${randomUUID()}x`, '%00']) {
      const reply = await request(service.url(`/orders/${bad}`));
      expect(reply.status).toBe(400);
      expect(reply.json()).toMatchObject({ error: 'bad_request' });
    }
  });

  it('when an order is recorded, then its trace holds POST /orders → store.write → DynamoDB.PutItem', async () => {
    const posted = await postOrder(service, { sku: 'TRACED-1', quantity: 2 });
    const { order, xrayTraceId } = posted.json() as { order: { id: string }; xrayTraceId: string };
    const spans = await traceOf(receiver, fromXray(xrayTraceId), 'POST /orders');

    const server = spans.find((s) => s.name === 'POST /orders')!;
    expect(server.kind).toBe(SPAN_KIND.SERVER);
    const write = childOf(spans, server, 'store.write');
    expect(write.kind).toBe(SPAN_KIND.INTERNAL);
    expect(write.attributes).toMatchObject({ 'db.system.name': 'aws.dynamodb', 'order.id': order.id });
    const put = childOf(spans, write, 'DynamoDB.PutItem');
    expect(put.kind).toBe(SPAN_KIND.CLIENT);
    expect(put.attributes).toMatchObject({
      'rpc.system': 'aws-api',
      'rpc.service': 'DynamoDB',
      'rpc.method': 'PutItem',
      'aws.dynamodb.table_names': [TABLE],
      'cloud.region': TEST_REGION,
      'aws.request.id': expect.stringMatching(/^[0-9A-Z]{20,}$/),
    });
    // Any of these would name the subsegment instead of `rpc.service` (segment.go).
    for (const key of ['aws.remote.service', 'peer.service', 'aws.service', 'db.name']) {
      expect(put.attributes).not.toHaveProperty([key]);
    }
    expect(put.status.code).not.toBe(2);
    // One SDK span per call: the document client's command and the client's own are not both traced.
    expect(spans.filter((s) => s.kind === SPAN_KIND.CLIENT && s.attributes['rpc.system'] === 'aws-api')).toHaveLength(
      1,
    );
  });

  it('when a read is recorded, then its trace holds GET /orders/:id → store.read → DynamoDB.GetItem', async () => {
    const { order } = (await postOrder(service, { sku: 'TRACED-2', quantity: 1 })).json() as { order: { id: string } };
    const read = await request(service.url(`/orders/${order.id}`));
    const spans = await traceOf(receiver, traceResponse(read).traceId, 'GET /orders/:id');

    const server = spans.find((s) => s.name === 'GET /orders/:id')!;
    expect(server).toMatchObject({
      kind: SPAN_KIND.SERVER,
      attributes: expect.objectContaining({ 'http.route': '/orders/:id' }),
    });
    const storeRead = childOf(spans, server, 'store.read');
    expect(storeRead.attributes).toMatchObject({ 'order.id': order.id, 'order.found': true });
    const get = childOf(spans, storeRead, 'DynamoDB.GetItem');
    expect(get.kind).toBe(SPAN_KIND.CLIENT);
    expect(get.attributes).toMatchObject({
      'rpc.system': 'aws-api',
      'rpc.service': 'DynamoDB',
      'rpc.method': 'GetItem',
      'aws.dynamodb.table_names': [TABLE],
      'aws.dynamodb.consistent_read': true,
      'cloud.region': TEST_REGION,
      'aws.request.id': expect.any(String),
    });
  });
});

describe('the built service when the table cannot answer', () => {
  it('when the table does not exist, then 503 store_unavailable with Retry-After and one warn line naming the SDK error', async () => {
    const receiver = await OtlpReceiver.start();
    const service = await startService({
      ...dynamo.serviceEnv('missing-orders'),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    try {
      const mark = service.lines.length;
      const reply = await postOrder(service, { sku: 'LOST-1', quantity: 1 });
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBe('1');
      const body = reply.json();
      expect(body).toEqual({
        error: 'store_unavailable',
        message: expect.any(String),
        xrayTraceId: expect.any(String),
      });
      const lines = await service.linesFrom(mark, (l) => l.msg === 'request completed' && l.path === '/orders');
      const warnings = lines.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal');
      expect(warnings).toEqual([
        expect.objectContaining({
          level: 'warn',
          msg: 'order store unavailable',
          reason: 'unavailable',
          error_name: 'ResourceNotFoundException',
          http_status: 400,
          xray_trace_id: body.xrayTraceId,
        }),
      ]);
      expect(JSON.stringify(lines)).not.toMatch(/stack|\bat .*\(/);

      // The failed call is an error on its CLIENT span, under the store step.
      const spans = await traceOf(receiver, fromXray(body.xrayTraceId as string), 'POST /orders');
      const put = spans.find((s) => s.name === 'DynamoDB.PutItem')!;
      expect(put.status.code).toBe(2);
      expect(spans.find((s) => s.spanId === put.parentSpanId)!.name).toBe('store.write');
    } finally {
      await service.stop();
      await receiver.stop();
    }
    expect(service.stderr).toBe('');
  });
});

describe('the built service without ORDERS_TABLE_NAME', () => {
  it('says in its first line that orders are in memory, and reads them back from there', async () => {
    const service = await startService({ OTEL_SDK_DISABLED: 'true' });
    try {
      expect(service.lines[0]).toMatchObject({ msg: 'listening', store: 'memory' });
      expect(service.lines[0]).not.toHaveProperty('orders_table');
      const { order } = (await postOrder(service, { sku: 'LOCAL-1', quantity: 4 })).json() as { order: { id: string } };
      const read = await request(service.url(`/orders/${order.id}`));
      expect(read.status).toBe(200);
      expect(read.json()).toEqual({ order });
      expect((await request(service.url(`/orders/${randomUUID()}`))).status).toBe(404);
    } finally {
      await service.stop();
    }
  });
});

describe('an order that is not recorded', () => {
  it('when the sampler records nothing, then no SDK span is exported and its lines still carry the trace ID', async () => {
    const receiver = await OtlpReceiver.start();
    const service = await startService({
      ...dynamo.serviceEnv(TABLE),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_TRACES_SAMPLER: 'always_off',
    });
    try {
      const posted = await postOrder(service, { sku: 'QUIET-1', quantity: 1 });
      expect(posted.status).toBe(201);
      const trace = traceResponse(posted);
      expect(trace.sampled).toBe(false);
      const { order } = posted.json() as { order: { id: string } };
      expect((await request(service.url(`/orders/${order.id}`))).status).toBe(200);
      const stored = await service.waitForLine((l) => l.msg === 'order stored');
      expect(stored).toMatchObject({ trace_id: trace.traceId, trace_flags: '00' });
      // The shutdown flushes every queued span, so an unrecorded request's span would be there by now.
      await service.stop();
      expect(receiver.spans).toEqual([]);
    } finally {
      await service.stop();
      await receiver.stop();
    }
  });
});
