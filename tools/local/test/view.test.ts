// How `npm run local` shows a trace as X-Ray receives it. The documents here have the shape the real awsxray exporter
// writes (tools/collector/test and the local run's own test check them against the real one): a segment per server
// span, a subsegment per other span with `parent_id`, and occasionally subsegments embedded in `subsegments`.
import { renderTrace, SegmentGroups, segmentTree, w3cTraceId, type SegmentDocument, type XRayTrace } from '../view';

const XRAY_ID = '1-6b160b29-a338e0a87054d9e878a0f157';
const W3C_ID = '6b160b29a338e0a87054d9e878a0f157';

function document(fields: Partial<SegmentDocument> & Pick<SegmentDocument, 'id' | 'name'>): SegmentDocument {
  return { trace_id: XRAY_ID, start_time: 1796606761.6, end_time: 1796606761.6137, ...fields };
}

const server = document({
  id: 'd022a070273afb01',
  name: 'otel-fargate-service',
  http: { request: { method: 'POST' }, response: { status: 201 } },
  aws: {
    cloudwatch_logs: [{ log_group: 'otel-test', arn: 'arn:aws:logs:us-east-1:123456789012:log-group:otel-test' }],
  },
  annotations: { 'aws.alb.trace_id': '1-6b0d2038-aaaaaaaaaaaaaaaaaaaaaaaa' },
});
const cacheRead = document({
  id: 'fb8565e6bda3167d',
  name: 'cache.read',
  type: 'subsegment',
  parent_id: server.id,
  start_time: 1796606761.605,
  end_time: 1796606761.6053,
});
const pricing = document({
  id: 'a91b91de41f188aa',
  name: 'pricing',
  type: 'subsegment',
  namespace: 'remote',
  parent_id: server.id,
  start_time: 1796606761.606,
  end_time: 1796606761.6114,
  http: { request: { method: 'GET' }, response: { status: 200 } },
});
const pricingServer = document({
  id: 'dde69c6aad500262',
  name: 'otel-fargate-service',
  parent_id: pricing.id,
  start_time: 1796606761.608,
  end_time: 1796606761.6095,
});
const storeWrite = document({
  id: '8a6e11f5f046a7ae',
  name: 'store.write',
  type: 'subsegment',
  parent_id: server.id,
  start_time: 1796606761.611,
  end_time: 1796606761.6119,
});

describe('the tree of a trace’s documents', () => {
  // In the order the exporter sent them (children before their parent, as their spans ended first).
  const lines = segmentTree([cacheRead, pricingServer, pricing, storeWrite, server]);

  test('puts each document under the one its parent_id names, children by start time', () => {
    expect(lines.map((line) => /^([│├└─ ]*)(\S+)/.exec(line)!.slice(1, 3))).toEqual([
      ['', 'otel-fargate-service'],
      ['├─ ', 'cache.read'],
      ['├─ ', 'pricing'],
      ['│  └─ ', 'otel-fargate-service'],
      ['└─ ', 'store.write'],
    ]);
  });

  test('names segments and subsegments as X-Ray does: a server span under a call is a segment', () => {
    expect(lines.map((line) => line.replace(/^[│├└─ ]*/, '').split('  ')[1])).toEqual([
      'segment',
      'subsegment',
      'subsegment',
      'segment',
      'subsegment',
    ]);
  });

  test('shows the HTTP method and status, the duration, the ID, the log group and the annotations', () => {
    expect(lines[0].split('  ')).toEqual([
      'otel-fargate-service',
      'segment',
      'http POST 201',
      '13.7 ms',
      'id=d022a070273afb01',
      'log groups: otel-test',
      'annotations: aws.alb.trace_id=1-6b0d2038-aaaaaaaaaaaaaaaaaaaaaaaa',
    ]);
    expect(lines[2]).toContain('namespace=remote');
  });

  test('flags fault, error and throttle only when set', () => {
    const failed = segmentTree([{ ...server, fault: true, error: false, throttle: false }])[0];
    expect(failed.split('  ')).toContain('fault');
    expect(failed.split('  ')).not.toContain('error');
  });

  test('shows subsegments embedded in a document under it, and a DynamoDB call’s table', () => {
    const dynamo = { ...document({ id: '1111111111111111', name: 'DynamoDB' }), aws: { table_name: 'orders' } };
    const withEmbedded = segmentTree([{ ...server, subsegments: [dynamo] }]);
    expect(withEmbedded[1]).toMatch(/^└─ DynamoDB {2}subsegment {2}.*table=orders/);
  });

  test('a document whose parent is not in the trace (the caller’s span) is a root, and says so', () => {
    const continued = segmentTree([{ ...server, parent_id: '53995c3f42cd8ad8' }]);
    expect(continued[0]).toMatch(/parent 53995c3f42cd8ad8 not in this trace$/);
  });
});

describe('a trace’s block', () => {
  const trace: XRayTrace = { xrayTraceId: XRAY_ID, documents: [cacheRead, server] };
  const logLines = [
    { level: 'info', msg: 'listening', port: 8080 },
    { level: 'info', msg: 'product read from cache', trace_id: W3C_ID, xray_trace_id: XRAY_ID },
    { level: 'info', msg: 'request completed', trace_id: 'ffffffffffffffffffffffffffffffff' },
    { level: 'info', msg: 'request completed', trace_id: W3C_ID, xray_trace_id: XRAY_ID },
  ];
  const block = renderTrace(trace, logLines).split('\n');

  test('starts with both forms of the trace ID', () => {
    expect(block[0]).toBe(`trace ${XRAY_ID}  (W3C ${W3C_ID})  2 segment documents`);
  });

  test('holds the service’s log lines of that trace only, verbatim', () => {
    const start = block.findIndex((line) => line.startsWith('  log lines with'));
    expect(block[start]).toBe(`  log lines with trace_id=${W3C_ID} xray_trace_id=${XRAY_ID}: 2`);
    expect(block.slice(start + 1, start + 3).map((line) => JSON.parse(line))).toEqual([logLines[1], logLines[3]]);
  });

  test('ends with each document as PutTraceSegments sent it, one JSON object a line', () => {
    const start = block.indexOf('  segment documents, as PutTraceSegments sent them:');
    expect(block.slice(start + 1, start + 3).map((line) => JSON.parse(line))).toEqual([cacheRead, server]);
    expect(block.slice(start + 3)).toEqual(['']);
  });
});

describe('grouping documents into traces', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('a trace whose documents come in two calls is handed over once, after it has been quiet for the idle time', () => {
    const traces: XRayTrace[] = [];
    const groups = new SegmentGroups(1000, (trace) => traces.push(trace));
    groups.add([cacheRead]);
    jest.advanceTimersByTime(900);
    groups.add([server]);
    jest.advanceTimersByTime(900);
    expect(traces).toEqual([]);
    jest.advanceTimersByTime(100);
    expect(traces).toEqual([{ xrayTraceId: XRAY_ID, documents: [cacheRead, server] }]);
  });

  test('at exit every waiting trace is handed over', () => {
    const traces: XRayTrace[] = [];
    const groups = new SegmentGroups(1000, (trace) => traces.push(trace));
    groups.add([server, { ...server, trace_id: '1-6b160b29-000000000000000000000001' }]);
    groups.flush();
    expect(traces.map((trace) => trace.xrayTraceId)).toEqual([XRAY_ID, '1-6b160b29-000000000000000000000001']);
  });

  test('something that is not a segment document is a clear error', () => {
    const groups = new SegmentGroups(1000, () => undefined);
    expect(() => groups.add([{ name: 'no id' }])).toThrow(/^not a segment document: \{"name":"no id"\}/);
  });
});

test('the W3C form of an X-Ray trace ID drops the version and the dash; anything else is refused', () => {
  expect(w3cTraceId(XRAY_ID)).toBe(W3C_ID);
  expect(() => w3cTraceId(W3C_ID)).toThrow(`not an X-Ray trace ID: ${W3C_ID}`);
});
