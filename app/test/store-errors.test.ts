// When DynamoDB cannot answer (throttling, a missing table, a server fault, an unreachable endpoint, a timeout), an order
// or a read answers 503 `store_unavailable` with `Retry-After: 1` and one warn line naming the SDK's error, never a
// 500 or a stack. The errors come from the SDK's own mocking library (aws-sdk-client-mock) in front of the real
// DynamoOrderStore and the real app, served over HTTP in this process; the last test runs the built service against an
// endpoint that accepts connections and never answers, so the SDK's own timeouts end the call.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  DynamoDBClient,
  InternalServerError,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createApp } from '../src/app';
import { ATTEMPT_TIMEOUT_MS, CALL_TIMEOUT_MS, DynamoOrderStore } from '../src/dynamo-store';
import { createLogger } from '../src/logger';
import { priceFor } from '../src/pricing';
import { InMemoryProductCache } from '../src/store';
import { TEST_CREDENTIALS, TEST_REGION } from './support/dynalite';
import { closeAgent, postOrder, request, startService, type Reply } from './support/service';

jest.setTimeout(60_000);

const documents = mockClient(DynamoDBDocumentClient);
const lines: Record<string, unknown>[] = [];
let server: http.Server;
let base: string;

beforeAll(async () => {
  const logger = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line) as never) }, false);
  const client = new DynamoDBClient({
    region: TEST_REGION,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
  });
  const app = createApp({
    logger,
    store: new DynamoOrderStore({ tableName: 'orders', region: TEST_REGION, client }),
    cache: new InMemoryProductCache(),
    pricing: { quote: (sku) => Promise.resolve(priceFor(sku)) },
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  documents.restore();
  closeAgent();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  documents.reset();
  lines.length = 0;
});

const metadata = { httpStatusCode: 400, requestId: 'REQUEST0000000000000000000000001', attempts: 3 };
function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code, $metadata: { attempts: 3 } });
}

const CASES: [string, () => Error, string, string][] = [
  [
    'throttled (provisioned throughput)',
    () => new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: metadata }),
    'throttled',
    'ProvisionedThroughputExceededException',
  ],
  [
    'throttled (on-demand)',
    () => new ThrottlingException({ message: 'slow down', $metadata: metadata }),
    'throttled',
    'ThrottlingException',
  ],
  [
    'missing table',
    () => new ResourceNotFoundException({ message: 'no table', $metadata: metadata }),
    'unavailable',
    'ResourceNotFoundException',
  ],
  [
    'server fault',
    () => new InternalServerError({ message: 'oops', $metadata: { ...metadata, httpStatusCode: 500 } }),
    'unavailable',
    'InternalServerError',
  ],
  ['unreachable', () => networkError('ECONNREFUSED'), 'unavailable', 'Error'],
  [
    'timeout',
    () => Object.assign(new Error('socket timed out'), { name: 'TimeoutError', $metadata: { attempts: 3 } }),
    'timeout',
    'TimeoutError',
  ],
];

function expectStoreUnavailable(reply: Reply, reason: string, errorName: string): void {
  expect(reply.status).toBe(503);
  expect(reply.headers['retry-after']).toBe('1');
  expect(reply.json()).toEqual({ error: 'store_unavailable', message: expect.any(String) });
  expect(reply.body).not.toMatch(/Exception|Error|stack/);
  const loud = lines.filter((l) => ['warn', 'error', 'fatal'].includes(l.level as string));
  expect(loud).toEqual([
    expect.objectContaining({ level: 'warn', msg: 'order store unavailable', reason, error_name: errorName }),
  ]);
  expect(JSON.stringify(lines)).not.toMatch(/"stack"|"err"/);
}

describe('an order when the table cannot take it', () => {
  it.each(CASES)('when %s, then 503 with Retry-After and one warn line', async (_case, error, reason, errorName) => {
    documents.on(PutCommand).rejects(error());
    const reply = await request(`${base}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'WIDGET-7', quantity: 1 }),
    });
    expectStoreUnavailable(reply, reason, errorName);
    expect(documents.commandCalls(PutCommand)).toHaveLength(1);
  });

  it('when the error is the network, then the line gives its code', async () => {
    documents.on(PutCommand).rejects(networkError('ECONNREFUSED'));
    await request(`${base}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'WIDGET-7', quantity: 1 }),
    });
    expect(lines.find((l) => l.msg === 'order store unavailable')).toMatchObject({
      error_code: 'ECONNREFUSED',
      attempts: 3,
    });
  });

  it('when throttled, then the line gives the HTTP status, the request ID and the attempts', async () => {
    documents.on(PutCommand).rejects(new ThrottlingException({ message: 'slow down', $metadata: metadata }));
    await request(`${base}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'WIDGET-7', quantity: 1 }),
    });
    expect(lines.find((l) => l.msg === 'order store unavailable')).toMatchObject({
      http_status: 400,
      aws_request_id: metadata.requestId,
      attempts: 3,
    });
  });
});

describe('a read when the table cannot answer', () => {
  it.each(CASES)('when %s, then 503 with Retry-After and one warn line', async (_case, error, reason, errorName) => {
    documents.on(GetCommand).rejects(error());
    const reply = await request(`${base}/orders/${randomUUID()}`);
    expectStoreUnavailable(reply, reason, errorName);
  });
});

describe('a store that does not answer at all', () => {
  it('when the endpoint accepts connections and never answers, then the SDK gives up inside its budget: 503', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const service = await startService({
      ORDERS_TABLE_NAME: 'orders',
      AWS_REGION: TEST_REGION,
      AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      ...TEST_CREDENTIALS,
      OTEL_SDK_DISABLED: 'true',
    });
    try {
      const started = Date.now();
      const reply = await postOrder(service, { sku: 'HUNG-1', quantity: 1 });
      const elapsed = Date.now() - started;
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBe('1');
      // At least one whole attempt, and cut by the call's deadline (a loose upper bound: a loaded machine is slow).
      expect(elapsed).toBeGreaterThanOrEqual(ATTEMPT_TIMEOUT_MS);
      expect(elapsed).toBeLessThan(CALL_TIMEOUT_MS + 5_000);
      const warn = await service.waitForLine((l) => l.msg === 'order store unavailable');
      expect(warn).toMatchObject({ level: 'warn', reason: 'timeout' });
      expect(['TimeoutError', 'AbortError']).toContain(warn.error_name);
    } finally {
      await service.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
    expect(service.stderr).toBe('');
  });
});
