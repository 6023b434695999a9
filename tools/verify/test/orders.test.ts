// Verify and the orders table (issue 12): with the stack's OrdersTableName, POST /orders' trace must hold the
// DynamoDB subsegment on that table, and each order must read back from separate requests, whichever task serves
// them. The stand-in service keeps orders in one shared store (the table) or one per task (memory), and the mocked
// X-Ray documents follow the awsxray exporter's translation of an AWS SDK span: subsegment named from rpc.service,
// namespace aws, aws.operation from rpc.method, aws.table_name from aws.dynamodb.table_names
// (opentelemetry-collector-contrib v0.156.0, exporter/awsxrayexporter/internal/translator/segment.go, MakeSegment and
// isAwsSdkSpan; aws.go, makeAws; internal/aws/xray/tracesegment.go for the JSON field names).
import { parseCli } from '../cli';
import { ORDER_READ_ROUTE_NAME } from '../traffic';
import { verify, type VerifyOptions } from '../verify';
import {
  FakeAws,
  FakeClock,
  LOG_GROUP,
  LOG_GROUP_ARN,
  ORDERS_TABLE,
  SAMPLING_RULE_NAME,
  StandInService,
  TRACES_CONSOLE_URL,
  dynamoDbSpan,
  segmentDocuments,
  type Scenario,
} from './fakes';

let service: StandInService;
let url: string;

beforeEach(async () => {
  service = new StandInService();
  url = await service.start();
});

afterEach(async () => {
  await service.stop();
});

const OPTIONS: VerifyOptions = { stackName: 'OtelFargateStack', requestsPerRoute: 2, timeoutMs: 120_000 };

/** A deployed stack with the orders table; its service keeps orders in `serviceTable` unless the scenario says not. */
async function runVerify(scenario: Scenario = {}, outputs: Record<string, string> = {}, options = {}) {
  const fake = new FakeAws(service, { serviceTable: ORDERS_TABLE, ...scenario }, new FakeClock()).withStack({
    ServiceUrl: url,
    LogGroupName: LOG_GROUP,
    LogGroupArn: LOG_GROUP_ARN,
    XRayTracesConsoleUrl: TRACES_CONSOLE_URL,
    SamplingRuleName: SAMPLING_RULE_NAME,
    OrdersTableName: ORDERS_TABLE,
    ...outputs,
  });
  const progress: string[] = [];
  const outcome = await verify(
    { ...OPTIONS, ...options },
    {
      cfn: fake.cfn,
      xray: fake.xray,
      logs: fake.logs,
      clock: fake.clock as FakeClock,
      progress: (text) => progress.push(text),
    },
  );
  return { outcome, fake, progress };
}

const routesOf = (rows: readonly { route: string }[]) => rows.map((r) => r.route);
const ordersReceived = () => service.received.filter((r) => r.path.startsWith('/orders'));

describe('the X-Ray documents the mocked exporter writes for an AWS SDK span', () => {
  it('name the subsegment DynamoDB, in namespace aws, with the operation and the table', () => {
    const req = { method: 'POST', path: '/orders', headers: {}, body: '', traceId: 'a'.repeat(32), sampled: true };
    const docs = segmentDocuments(req, [dynamoDbSpan('PutItem', ORDERS_TABLE)], [{ log_group: LOG_GROUP }]);
    expect(docs[0].subsegments).toEqual([
      expect.objectContaining({
        name: 'DynamoDB',
        namespace: 'aws',
        aws: { cloudwatch_logs: [{ log_group: LOG_GROUP }], operation: 'PutItem', table_name: ORDERS_TABLE },
      }),
    ]);
  });
});

describe('when the stack has an orders table and the service keeps orders in it', () => {
  it('checks the PutItem subsegment on that table, reads each order back 3 times, and exits OK', async () => {
    const { outcome, progress } = await runVerify();
    expect(progress[0]).toMatch(`orders table ${ORDERS_TABLE}, region us-east-1`);
    expect(routesOf(outcome.rows)).toEqual([
      'GET /',
      'POST /orders',
      ...Array(3).fill(ORDER_READ_ROUTE_NAME),
      'GET /',
      'POST /orders',
      ...Array(3).fill(ORDER_READ_ROUTE_NAME),
    ]);
    const post = outcome.rows.find((r) => r.route === 'POST /orders')!;
    expect([post.spansFound, post.spansExpected]).toEqual([4, 4]);
    const reads = outcome.rows.filter((r) => r.route === ORDER_READ_ROUTE_NAME);
    expect(reads.every((r) => r.http === '200' && r.readBack?.sameOrder && r.gaps.length === 0)).toBe(true);
    expect(reads.map((r) => [r.spansFound, r.spansExpected])).toEqual(Array(6).fill([2, 2]));
    expect(outcome.ok).toBe(true);
    expect(outcome.report).toMatch(
      new RegExp(
        `^Every order read back: 2 created, each read 3 times from separate requests, in the DynamoDB table ${ORDERS_TABLE}\\.$`,
        'm',
      ),
    );
  });

  it('reads the order the POST created, by its ID, each read a request and a trace of its own', async () => {
    const { outcome } = await runVerify();
    const received = ordersReceived();
    const created = received.filter((r) => r.method === 'POST');
    expect(created).toHaveLength(2);
    const reads = received.filter((r) => r.method === 'GET');
    expect(reads.map((r) => r.path)).toEqual(
      outcome.rows.filter((r) => r.readBack).map((r) => `/orders/${r.readBack!.orderId}`),
    );
    expect(new Set(reads.map((r) => r.traceId)).size).toBe(6);
    // The run's User-Agent, so the temporary sampling rule records the reads too.
    expect(reads.every((r) => String(r.headers['user-agent']).startsWith('otel-fargate-verify/'))).toBe(true);
  });
});

describe('when the orders path is broken', () => {
  it('a service with no DynamoDB subsegment (in-memory store, or its SDK not instrumented): MISSING SPANS', async () => {
    const { outcome } = await runVerify({ serviceTable: undefined });
    const posts = outcome.rows.filter((r) => r.route === 'POST /orders');
    expect(posts.map((r) => r.missingSpans)).toEqual([['DynamoDB.PutItem'], ['DynamoDB.PutItem']]);
    expect(posts.every((r) => r.gaps.includes('spans-missing'))).toBe(true);
    expect(outcome.ok).toBe(false);
    expect(outcome.report).toContain(
      `DynamoDB.* is an AWS SDK call, which X-Ray shows as a subsegment named DynamoDB in namespace aws with aws.table_name ${ORDERS_TABLE}.`,
    );
    expect(outcome.report).toContain('instrumentation-aws-sdk must patch the SDK modules the shipped bundle loads');
  });

  it('DynamoDB calls on another table than the stack’s: MISSING SPANS, naming the table they used', async () => {
    const { outcome } = await runVerify({ serviceTable: 'some-other-table' });
    expect(outcome.rows.filter((r) => r.route === 'POST /orders').every((r) => r.gaps.includes('spans-missing'))).toBe(
      true,
    );
    expect(outcome.report).toContain(
      "The traces show DynamoDB calls on some-other-table instead: the task's ORDERS_TABLE_NAME names another table.",
    );
  });

  it('two tasks each keeping orders in memory: a read served by the other task is NOT READ BACK', async () => {
    service.orderStores = 2;
    const { outcome } = await runVerify();
    const reads = outcome.rows.filter((r) => r.route === ORDER_READ_ROUTE_NAME);
    // The POST goes to one task, the three reads alternate: the other, the same, the other.
    expect(reads.map((r) => r.http)).toEqual(['404', '200', '404', '404', '200', '404']);
    expect(reads.filter((r) => r.gaps.includes('not-read-back'))).toHaveLength(4);
    expect(reads.every((r) => !r.gaps.includes('request-failed'))).toBe(true);
    expect(outcome.ok).toBe(false);
    expect(outcome.report).toMatch(
      /^- NOT READ BACK \(4\): GET \/orders\/:id, from a separate request, did not answer 200/m,
    );
    expect(outcome.report).toContain('(HTTP 404 x4)');
    expect(outcome.report).toContain('the tasks keep orders apart, each in its own memory');
  });

  it('a read that answers 200 with another order is NOT READ BACK', async () => {
    service.readAnswer = (order) => ({ ...order, quantity: 99 });
    const { outcome } = await runVerify();
    const reads = outcome.rows.filter((r) => r.route === ORDER_READ_ROUTE_NAME);
    expect(reads.every((r) => r.http === '200' && r.gaps.includes('not-read-back'))).toBe(true);
    expect(outcome.report).toContain('(200 with another order x6)');
  });

  it('a read answered 503 (the store unavailable) names DynamoDB throttling, timeouts and a missing table', async () => {
    service.statusFor = (method, path) => (method === 'GET' && path.startsWith('/orders/') ? 503 : undefined);
    const { outcome } = await runVerify();
    expect(outcome.rows.filter((r) => r.gaps.includes('not-read-back'))).toHaveLength(6);
    expect(outcome.report).toContain("503 is the service's store_unavailable: DynamoDB throttled, timed out");
    expect(outcome.report).not.toContain('A 500 is');
  });

  it('a read answered 500 names access: the task role and the gateway endpoint’s policy', async () => {
    service.statusFor = (method, path) => (method === 'GET' && path.startsWith('/orders/') ? 500 : undefined);
    const { outcome } = await runVerify();
    expect(outcome.report).toContain('(HTTP 500 x6)');
    expect(outcome.report).toContain("the task role's dynamodb:GetItem on the table, or the gateway endpoint's policy");
  });
});

describe('without an orders table', () => {
  it('a stack with no OrdersTableName output: no DynamoDB check and no read back, as before the table', async () => {
    const { outcome } = await runVerify({ serviceTable: undefined }, { OrdersTableName: '' });
    expect(routesOf(outcome.rows)).toEqual(['GET /', 'POST /orders', 'GET /', 'POST /orders']);
    expect(outcome.ok).toBe(true);
    expect(outcome.report).not.toContain('read back');
  });

  it('--orders-table names the table for a run with --url, or overrides the stack’s', async () => {
    expect(parseCli(['--url', 'http://localhost:8080', '--orders-table', ORDERS_TABLE]).ordersTable).toBe(ORDERS_TABLE);
    expect(() => parseCli(['--orders-table', 'a b'])).toThrow(/--orders-table takes a DynamoDB table name/);
    const { outcome } = await runVerify({ serviceTable: 'given-table' }, {}, { ordersTable: 'given-table' });
    expect(outcome.ok).toBe(true);
    expect(outcome.target.ordersTableName).toBe('given-table');
  });
});
