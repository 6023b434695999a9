// Traces through the real translator (issue 20, item 2): the built service (app/dist/main.js) with the task
// definition's environment, keeping orders in a DynamoDB table (dynalite), exports OTLP to the real collector with the
// task's configuration (lib/config/collector.yaml); its awsxray exporter sends PutTraceSegments to the X-Ray stand-in,
// which keeps each segment document as the exporter wrote it. As in a Fargate task, the service finds its task through
// ECS_CONTAINER_METADATA_URI_V4 (a local stand-in here) with FireLens logging. The tests read those documents, then hand them to
// `npm run verify`'s own run as BatchGetTraces answers. What the exporter does is in
// opentelemetry-collector-contrib v0.143.0, exporter/awsxrayexporter/internal/translator/: segment.go (MakeSegment:
// names, parent_id, type, annotations from indexed_attributes, the allowDot feature gate), aws.go (makeAws:
// cloudwatch_logs from aws.log.group.*, operation and table_name), cause.go (fault and error from the status code).
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { Dynalite, TEST_REGION } from '../../../app/test/support/dynalite';
import {
  closeAgent,
  postOrder,
  request,
  traceResponse,
  type LogLine,
  type Reply,
} from '../../../app/test/support/service';
import { samplingRule } from '../../../app/test/support/xray-proxy';
import { DEFAULTS } from '../../../lib/settings';
import { container, environmentOf, sharedTemplate } from '../../../test/helpers';
import { toXRayTraceId } from '../../verify/ids';
import type { GapKind } from '../../verify/report';
import { ordersTableRoutes } from '../../verify/traffic';
import { verify, type VerifyOutcome } from '../../verify/verify';
import { FakeAws, FakeClock, SAMPLING_RULE_NAME, type ReceivedRequest } from '../../verify/test/fakes';
import { TASK_CONFIG_PATH, TASK_PORTS } from '../collector';
import { LocalTask, logGroupArn, serviceTaskEnvironment, type TaskLogGroup } from '../local-task';

jest.setTimeout(60_000);

type Document = Record<string, unknown> & { id: string; trace_id: string; name: string; parent_id?: string };

/** The table the stack would name; the service writes to it through AWS_ENDPOINT_URL_DYNAMODB (dynalite). */
const TABLE = 'OtelFargateStack-OrdersTable-TRANSLATOR1';
/** The task's log group, named as ObservedTaskDefinition names it to the service (its logGroupArn). */
const LOG_GROUP: TaskLogGroup = { name: DEFAULTS.logGroupName, arn: logGroupArn(DEFAULTS.logGroupName, TEST_REGION) };
/** The client's address as the load balancer saw it: the last X-Forwarded-For entry. */
const ALB_SEEN_ADDRESS = '203.0.113.7';
/** The user agent the stand-in's rule at rate 0 matches: its requests are not recorded. */
const UNRECORDED_AGENT = 'translator-test/unrecorded';
/** The key docs/architecture.md tells users to search for an access log line's trace (`annotation[<key>] = "1-…"`). */
const SEARCHED_KEY = /^annotation\[([^\]]+)\] = "1-…"$/m.exec(
  fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'architecture.md'), 'utf8'),
)?.[1];

let dynalite: Dynalite;
let dynaliteStopped = false;
let taskMetadata: http.Server;

/** The task as ECS's task metadata endpoint v4 describes it, for the service's ECS resource detector. */
const TASK_ARN = `arn:aws:ecs:${TEST_REGION}:123456789012:task/otel/0123456789abcdef0123456789abcdef`;
const CONTAINER_ARN = `arn:aws:ecs:${TEST_REGION}:123456789012:container/otel/0123456789abcdef0123456789abcdef/app`;

/**
 * A stand-in for the task metadata endpoint v4 of a Fargate task whose service container logs through FireLens: the
 * container at `/`, the task at `/task` (the fields @opentelemetry/resource-detector-aws's AwsEcsDetector reads).
 */
async function startTaskMetadata(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify(
        req.url?.endsWith('/task')
          ? { Cluster: 'otel', TaskARN: TASK_ARN, Family: 'otel-service', Revision: '7', LaunchType: 'FARGATE' }
          : { ContainerARN: CONTAINER_ARN, LogDriver: 'awsfirelens', LogOptions: {} },
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

let task: LocalTask;

/** What one request got: the answer, and the trace it was recorded under in both forms. */
interface Sent {
  readonly reply: Reply;
  readonly traceId: string;
  readonly xrayTraceId: string;
  readonly sampled: boolean;
}

async function send(reply: Promise<Reply>): Promise<Sent> {
  const answer = await reply;
  const { traceId, sampled } = traceResponse(answer);
  return { reply: answer, traceId, xrayTraceId: toXRayTraceId(traceId), sampled };
}

/** The documents the stand-in received for a trace. */
const documentsOf = (sent: Sent) => task.xray.segments.filter((d) => d.trace_id === sent.xrayTraceId) as Document[];
/** The service's segment: the document of the trace without a parent (the request came from outside). */
const serviceSegment = (sent: Sent) => documentsOf(sent).find((d) => d.parent_id === undefined)!;
const named = (sent: Sent, name: string) => documentsOf(sent).filter((d) => d.name === name);
const one = (sent: Sent, name: string) => {
  const found = named(sent, name);
  if (found.length !== 1)
    throw new Error(`${found.length} documents named ${name}: ${JSON.stringify(documentsOf(sent))}`);
  return found[0];
};

/** A load balancer's `X-Amzn-Trace-Id`: a Root of its own and no Parent. */
function albRoot(): string {
  return `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
}

let alb: { sent: Sent; root: string };
let order: Sent;
let orderId: string;
let read: Sent;
let rejected: Sent;
let unrecorded: Sent;
/** A caller's W3C trace, its ID not time-prefixed, and the caller's span. */
let w3c: { sent: Sent; traceId: string; parentId: string };
/** A caller's full X-Amzn-Trace-Id (Root, Parent, Sampled). */
let amzn: { sent: Sent; root: string; parentId: string };

beforeAll(async () => {
  taskMetadata = await startTaskMetadata();
  dynalite = await Dynalite.start();
  await dynalite.createOrdersTable(TABLE);
  task = await LocalTask.start({
    region: TEST_REGION,
    logGroup: LOG_GROUP,
    rules: [
      samplingRule({
        RuleName: 'unrecorded',
        Priority: 1,
        FixedRate: 0,
        ReservoirSize: 0,
        Attributes: { 'user_agent.original': UNRECORDED_AGENT },
      }),
      samplingRule({ RuleName: 'everything', Priority: 2, FixedRate: 1 }),
    ],
    serviceEnvironment: {
      ...dynalite.serviceEnv(TABLE),
      ECS_CONTAINER_METADATA_URI_V4: `http://127.0.0.1:${(taskMetadata.address() as AddressInfo).port}/v4/app`,
    },
  });
  await task.service.waitForLine((line) => line.msg === 'sampling rules loaded');

  unrecorded = await send(request(task.service.url('/'), { headers: { 'user-agent': UNRECORDED_AGENT } }));
  const root = albRoot();
  // As the load balancer forwards it: its Root, and the address it saw appended to X-Forwarded-For.
  const albHeaders = { 'x-amzn-trace-id': `Root=${root}`, 'x-forwarded-for': `198.51.100.1, ${ALB_SEEN_ADDRESS}` };
  alb = { sent: await send(request(task.service.url('/'), { headers: albHeaders })), root };
  order = await send(postOrder(task.service, { sku: 'translator-1', quantity: 2 }));
  orderId = (order.reply.json().order as { id: string }).id;
  read = await send(request(task.service.url(`/orders/${orderId}`)));
  rejected = await send(postOrder(task.service, { quantity: 2 }));
  // 0x0a1b2c3d seconds is 1975: the exporter's timestamp validation would drop this ID (segment.go,
  // convertToAmazonTraceID) unless its feature gate exporter.awsxray.skiptimestampvalidation is on.
  const w3cTrace = { traceId: `0a1b2c3d${randomBytes(12).toString('hex')}`, parentId: randomBytes(8).toString('hex') };
  w3c = {
    sent: await send(
      request(task.service.url('/'), { headers: { traceparent: `00-${w3cTrace.traceId}-${w3cTrace.parentId}-00` } }),
    ),
    ...w3cTrace,
  };
  const amznTrace = { root: albRoot(), parentId: randomBytes(8).toString('hex') };
  amzn = {
    sent: await send(
      request(task.service.url('/'), {
        headers: { 'x-amzn-trace-id': `Root=${amznTrace.root};Parent=${amznTrace.parentId};Sampled=1` },
      }),
    ),
    ...amznTrace,
  };

  // Every document each trace is to have (docs/service.md, "The spans of one order"): the service segment and its
  // steps; for the order also the pricing call, the pricing side's own segment and the DynamoDB call.
  await Promise.all([
    task.xray.segmentsOf(alb.sent.xrayTraceId, 2),
    task.xray.segmentsOf(order.xrayTraceId, 6),
    task.xray.segmentsOf(read.xrayTraceId, 3),
    task.xray.segmentsOf(rejected.xrayTraceId, 1),
    task.xray.segmentsOf(w3c.sent.xrayTraceId, 2),
    task.xray.segmentsOf(amzn.sent.xrayTraceId, 2),
  ]);
});

afterAll(async () => {
  await task?.stop();
  if (!dynaliteStopped) await dynalite?.stop();
  taskMetadata?.close();
  closeAgent();
});

describe('the service', () => {
  test('runs with the environment the task definition gives its container, on this collector’s ports', () => {
    const template = sharedTemplate();
    const environment = environmentOf(container(template, 'app'));
    const resolve = resolver(template.toJSON().Resources as Record<string, { Properties?: Record<string, unknown> }>);
    const expected = serviceTaskEnvironment(TASK_PORTS, DEFAULTS.serviceName, LOG_GROUP);
    const resolved = Object.fromEntries(Object.keys(expected).map((key) => [key, resolve(environment[key])]));
    expect(resolved).toEqual(expected);
    // The service here got the same values but for the collector's ports.
    const { otlpGrpc, samplingProxy } = task.collector.ports;
    const onTaskPorts = (value: string) =>
      value
        .replace(`:${otlpGrpc}`, `:${TASK_PORTS.otlpGrpc}`)
        .replace(`:${samplingProxy}`, `:${TASK_PORTS.samplingProxy}`);
    const given = Object.fromEntries(
      Object.keys(expected).map((key) => [key, onTaskPorts(task.serviceEnvironment[key])]),
    );
    expect(given).toEqual(resolved);
  }, 30_000); // the first synthesis loads aws-cdk-lib

  test('answered each request as its contract says', () => {
    expect({
      alb: alb.sent.reply.status,
      order: order.reply.status,
      read: read.reply.status,
      rejected: rejected.reply.status,
      unrecorded: unrecorded.reply.status,
      w3c: w3c.sent.reply.status,
      amzn: amzn.sent.reply.status,
    }).toEqual({ alb: 200, order: 201, read: 200, rejected: 400, unrecorded: 200, w3c: 200, amzn: 200 });
  });
});

describe('a request from the load balancer (GET / with its Root-only X-Amzn-Trace-Id)', () => {
  test('is a service segment named after the service, with no parent, the method, the URL and the 200', () => {
    const segment = serviceSegment(alb.sent);
    expect(segment).toMatchObject({
      name: DEFAULTS.serviceName,
      http: { request: { method: 'GET', url: task.service.url('/') }, response: { status: 200 } },
      fault: false,
      error: false,
    });
    expect(segment).not.toHaveProperty('type');
  });

  test('has the origin of a Fargate task, under which the docs’ service map draws the service', () => {
    const architecture = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'architecture.md'), 'utf8');
    const node = /service\["([^<"]+)<br\/>([^"]+)"\]/.exec(architecture);
    expect(node?.slice(1)).toEqual([DEFAULTS.serviceName, 'AWS::ECS::Fargate']);
    expect(serviceSegment(alb.sent)).toMatchObject({ name: node![1], origin: node![2] });
  });

  test('names the task in aws.ecs, from the task metadata endpoint', () => {
    expect((serviceSegment(alb.sent).aws as { ecs?: unknown }).ecs).toMatchObject({
      task_arn: TASK_ARN,
      container_arn: CONTAINER_ARN,
      launch_type: 'fargate',
    });
  });

  test('has the X-Ray trace ID that every line the service wrote for it carries as xray_trace_id', () => {
    const lines = task.service.linesOf(alb.sent.traceId);
    expect(lines.map((l) => l.msg)).toContain('request completed');
    expect(new Set(lines.map((l) => l.xray_trace_id))).toEqual(new Set([serviceSegment(alb.sent).trace_id]));
  });

  test('is not the load balancer’s trace: the Root starts none, the service records it', () => {
    expect(alb.sent.xrayTraceId).not.toBe(alb.root);
  });

  test('carries the load balancer’s Root as an annotation under the key the docs tell users to search', () => {
    expect(SEARCHED_KEY).toBe('aws.alb.trace_id');
    expect(serviceSegment(alb.sent).annotations).toEqual({ [SEARCHED_KEY!]: alb.root });
  });

  test('the annotation is there because the task’s collector indexes the attribute', () => {
    const config = parse(fs.readFileSync(TASK_CONFIG_PATH, 'utf8')) as {
      exporters: { awsxray: { indexed_attributes: string[] } };
    };
    expect(config.exporters.awsxray.indexed_attributes).toContain(SEARCHED_KEY);
  });

  test('its line holds the same Root as alb_trace_id, to search the logs by', () => {
    const completed = task.service.linesOf(alb.sent.traceId).find((l) => l.msg === 'request completed');
    expect(completed?.alb_trace_id).toBe(alb.root);
  });

  test('shows as its client IP the address the load balancer saw, the last X-Forwarded-For entry', () => {
    // http.go: client.address, which the service sets from X-Forwarded-For (docs/service.md), wins over the peer.
    expect(serviceSegment(alb.sent).http).toMatchObject({ request: { client_ip: ALB_SEEN_ADDRESS } });
  });

  test('has the step “about” as a subsegment of the service segment', () => {
    expect(one(alb.sent, 'about')).toMatchObject({ type: 'subsegment', parent_id: serviceSegment(alb.sent).id });
  });
});

describe('a request in a caller’s trace', () => {
  test('a W3C traceparent whose ID is not a recent time: X-Ray gets the caller’s trace ID, the segment its parent', () => {
    expect(w3c.sent.traceId).toBe(w3c.traceId);
    const segment = documentsOf(w3c.sent).find((d) => d.name === DEFAULTS.serviceName);
    expect(segment).toMatchObject({ trace_id: toXRayTraceId(w3c.traceId), parent_id: w3c.parentId });
    expect(segment).not.toHaveProperty('type');
  });

  test('a W3C traceparent flagged not sampled is recorded all the same when the rule records it (docs/security.md)', () => {
    expect(w3c.sent.sampled).toBe(true);
    expect(documentsOf(w3c.sent)).not.toEqual([]);
  });

  test('a W3C traceparent: the lines carry the same X-Ray trace ID', () => {
    const lines = task.service.linesOf(w3c.traceId);
    expect(lines.map((l) => l.msg)).toContain('request completed');
    expect(new Set(lines.map((l) => l.xray_trace_id))).toEqual(new Set([toXRayTraceId(w3c.traceId)]));
  });

  test('a full X-Amzn-Trace-Id: the Root is the trace, Parent the segment’s parent, and no annotation repeats it', () => {
    expect(amzn.sent.xrayTraceId).toBe(amzn.root);
    const segment = documentsOf(amzn.sent).find((d) => d.name === DEFAULTS.serviceName);
    expect(segment).toMatchObject({ trace_id: amzn.root, parent_id: amzn.parentId });
    expect(segment).not.toHaveProperty('annotations');
  });
});

describe('an order (POST /orders, kept in the DynamoDB table)', () => {
  test('is a service segment with the 201, neither fault nor error', () => {
    expect(serviceSegment(order)).toMatchObject({
      name: DEFAULTS.serviceName,
      http: { request: { method: 'POST' }, response: { status: 201 } },
      fault: false,
      error: false,
    });
  });

  test('has the trace ID of the xrayTraceId in its answer and of every line written for it', () => {
    const id = serviceSegment(order).trace_id;
    expect(order.reply.json().xrayTraceId).toBe(id);
    const lines = task.service.linesOf(order.traceId);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(new Set(lines.map((l) => l.xray_trace_id))).toEqual(new Set([id]));
  });

  test.each(['cache.read', 'store.write'])('has the step %s as a subsegment of the service segment', (step) => {
    expect(one(order, step)).toMatchObject({ type: 'subsegment', parent_id: serviceSegment(order).id });
    expect(one(order, step)).not.toHaveProperty('namespace');
  });

  test('has the pricing call as a remote subsegment named after its peer.service, with the URL it called', () => {
    const pricing = one(order, 'pricing');
    expect(pricing).toMatchObject({
      type: 'subsegment',
      namespace: 'remote',
      parent_id: serviceSegment(order).id,
      http: { request: { method: 'GET' }, response: { status: 200 } },
    });
    expect((pricing.http as { request: { url: string } }).request.url).toMatch(/\/prices\/translator-1$/);
  });

  test('has the pricing side as a segment of its own, a child of the pricing call, in the same trace', () => {
    const pricing = one(order, 'pricing');
    const downstream = documentsOf(order).filter((d) => d.parent_id === pricing.id);
    expect(downstream).toHaveLength(1);
    expect(downstream[0]).toMatchObject({ name: DEFAULTS.serviceName, http: { response: { status: 200 } } });
    expect(downstream[0]).not.toHaveProperty('type');
  });

  test('has the DynamoDB call as a subsegment of store.write in namespace aws, with PutItem and the table', () => {
    expect(one(order, 'DynamoDB')).toMatchObject({
      type: 'subsegment',
      namespace: 'aws',
      parent_id: one(order, 'store.write').id,
      aws: { operation: 'PutItem', table_name: TABLE },
      fault: false,
      error: false,
    });
  });

  test('is read back in a trace of its own whose store.read holds the GetItem on the same table', () => {
    expect(read.xrayTraceId).not.toBe(order.xrayTraceId);
    expect(serviceSegment(read)).toMatchObject({ http: { response: { status: 200 } } });
    const storeRead = one(read, 'store.read');
    expect(storeRead.parent_id).toBe(serviceSegment(read).id);
    expect(one(read, 'DynamoDB')).toMatchObject({
      namespace: 'aws',
      parent_id: storeRead.id,
      aws: { operation: 'GetItem', table_name: TABLE },
    });
  });
});

describe('every document', () => {
  const recorded = () => [alb.sent, order, read, rejected, w3c.sent, amzn.sent].flatMap(documentsOf);

  test('links the log group by the name and the ARN the task gives the service, though FireLens logging gives none', () => {
    const links = recorded().map((d) => (d.aws as { cloudwatch_logs?: unknown }).cloudwatch_logs);
    expect(links.length).toBeGreaterThanOrEqual(12);
    for (const link of links) expect(link).toEqual([{ log_group: LOG_GROUP.name, arn: LOG_GROUP.arn }]);
  });

  test('has a trace ID in X-Ray’s form and an ID of 16 hex digits', () => {
    for (const d of recorded()) {
      expect(d.trace_id).toMatch(/^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
      expect(d.id).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  test('was exported without a warning or an error in the collector’s log', () => {
    const levels = task.collector.logs.map((line) => (JSON.parse(line) as { level: string }).level);
    expect(levels.length).toBeGreaterThan(0);
    expect(task.collector.logs.filter((_, i) => !['debug', 'info'].includes(levels[i]))).toEqual([]);
  });

  test('was sent signed, as PutTraceSegments to X-Ray is', () => {
    for (const call of task.xray.segmentCalls) expect(call.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=/);
  });
});

describe('a request the service refuses (4xx)', () => {
  test('marks the service segment error, not fault', () => {
    expect(serviceSegment(rejected)).toMatchObject({
      http: { response: { status: 400 } },
      error: true,
      fault: false,
    });
  });
});

describe('a request no rule records (a rule at rate 0)', () => {
  test('is answered “not sampled” in traceresponse', () => {
    expect(unrecorded.sampled).toBe(false);
  });

  test('sends nothing to X-Ray, although requests after it arrived', () => {
    expect(task.xray.segments.length).toBeGreaterThan(0);
    expect(documentsOf(unrecorded)).toEqual([]);
  });

  test('still has its lines, with its trace ID, for the logs', () => {
    const lines = task.service.linesOf(unrecorded.traceId);
    expect(lines.map((l) => [l.msg, l.xray_trace_id])).toContainEqual(['request completed', unrecorded.xrayTraceId]);
  });
});

/**
 * Virtual time for the run's schedule (its minutes of polling pass at once), but each pause also lets up to 250 ms
 * of real time pass: the service's batch span processor and the collector's 1 s batch must export meanwhile.
 */
class RealPausesClock extends FakeClock {
  override async sleep(ms: number): Promise<void> {
    await super.sleep(ms);
    await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 250)));
  }
}

/** The requests the service logged as completed, as the mocked AWS reads them to answer Logs Insights. */
const served = {
  get received(): ReceivedRequest[] {
    return task.service.lines
      .filter((l) => l.msg === 'request completed' && typeof l.trace_id === 'string')
      .map((l) => ({
        method: String(l.method),
        path: String(l.path),
        headers: {},
        body: '',
        traceId: l.trace_id as string,
        sampled: l.trace_flags === '01',
      }));
  },
};

/**
 * One `npm run verify` run against the service, X-Ray answering with the exporter's documents after `tamper`. A run
 * whose traces stay incomplete polls until `timeoutMs` of virtual time: 40 s is 40 polls, 10 s of real time, ample
 * for the service's and the collector's batches (about 1.5 s) on a loaded machine.
 */
async function runVerify(
  form: (documents: Document[]) => Record<string, unknown>[],
  tamper: (documents: Document[]) => Document[] = (d) => d,
  timeoutMs = 60_000,
): Promise<VerifyOutcome> {
  const fake = new FakeAws(served, {
    documents: (xrayTraceId) =>
      form(tamper(structuredClone(task.xray.segments.filter((d) => d.trace_id === xrayTraceId)) as Document[])),
    lines: (req) => ({
      xray: task.service
        .linesOf(req.traceId ?? '')
        .filter((l: LogLine) => l.xray_trace_id === toXRayTraceId(req.traceId ?? '')).length,
      hexOnly: 0,
    }),
  }).withStack({
    ServiceUrl: task.service.url(''),
    LogGroupName: LOG_GROUP.name,
    LogGroupArn: LOG_GROUP.arn,
    SamplingRuleName: SAMPLING_RULE_NAME,
    OrdersTableName: TABLE,
  });
  return verify(
    { stackName: 'OtelFargateStack', requestsPerRoute: 1, timeoutMs },
    {
      cfn: fake.cfn,
      xray: fake.xray,
      logs: fake.logs,
      clock: new RealPausesClock(),
      progress: () => undefined,
      xrayIntervalMs: 1000,
      logsIntervalMs: 1000,
    },
  );
}

/** The documents as the exporter sent them: each span its own document. */
const asSent = (documents: Document[]) => documents;

/**
 * The documents as X-Ray compiles them into the trace BatchGetTraces returns ("X-Ray compiles and processes segment
 * documents to generate … full traces", X-Ray Developer Guide, AWS X-Ray segment documents): each subsegment sent on
 * its own is nested in its parent's `subsegments`, without its own trace_id, parent_id and type. The inferred
 * segments X-Ray adds for downstream calls are left out: the verifier reads the service's own documents.
 */
function asCompiled(documents: Document[]): Record<string, unknown>[] {
  const all: Record<string, unknown>[] = documents;
  const byId = new Map(all.map((d) => [d.id, d]));
  const placed = all.map((d) => {
    const parent = d.type === 'subsegment' && typeof d.parent_id === 'string' ? byId.get(d.parent_id) : undefined;
    return { document: d, parent };
  });
  for (const { document, parent } of placed) {
    if (parent === undefined) continue;
    delete document.trace_id;
    delete document.parent_id;
    delete document.type;
    parent.subsegments = [...((parent.subsegments as unknown[] | undefined) ?? []), document];
  }
  return placed.filter(({ parent }) => parent === undefined).map(({ document }) => document);
}

describe('npm run verify, reading these documents as X-Ray’s BatchGetTraces answers', () => {
  const forms = { 'as the exporter sent them': asSent, 'as X-Ray compiles them': asCompiled };

  /** A field changed in the documents X-Ray returns, the verdict it must give, and the routes it must give it for. */
  const tamperings: [string, GapKind, string[], (documents: Document[]) => Document[]][] = [
    [
      'the log group ARN names another account',
      'link-missing',
      ['GET /', 'POST /orders', 'GET /orders/:id'],
      (documents) =>
        documents.map((d) => {
          const aws = d.aws as { cloudwatch_logs?: { arn?: string }[] };
          for (const link of aws.cloudwatch_logs ?? []) link.arn = link.arn?.replace('123456789012', '210987654321');
          return d;
        }),
    ],
    [
      'the DynamoDB subsegment names another table',
      'spans-missing',
      ['POST /orders', 'GET /orders/:id'],
      (documents) =>
        documents.map((d) => {
          if (d.name === 'DynamoDB') (d.aws as { table_name?: string }).table_name = 'another-table';
          return d;
        }),
    ],
  ];

  const outcomes = new Map<string, VerifyOutcome>();

  // The runs side by side (each its own traffic and mocked clients): a tampered run waits out its deadline.
  beforeAll(async () => {
    const runs = [
      ...Object.entries(forms).map(([name, form]) => [name, runVerify(form)] as const),
      ...tamperings.map(([name, , , tamper]) => [name, runVerify(asCompiled, tamper, 40_000)] as const),
    ];
    for (const [name, run] of runs) outcomes.set(name, await run);
  });

  test.each(Object.keys(forms))('judges every trace OK, the documents %s', (form) => {
    const outcome = outcomes.get(form)!;
    expect(outcome.rows.map((r) => [r.route, r.gaps])).toEqual(outcome.rows.map((r) => [r.route, []]));
    expect(outcome.ok).toBe(true);
  });

  test('checked the order’s DynamoDB subsegment and its reads back, not only the steps', () => {
    const outcome = outcomes.get('as X-Ray compiles them')!;
    const { routes, read } = ordersTableRoutes(TABLE);
    const expected = [...routes, read].map((route) => [route.name, route.expectedSpans.length]);
    expect(expected).toContainEqual(['POST /orders', 4]); // cache.read, pricing, store.write and the PutItem
    const checked = outcome.rows.map((r) => [r.route, r.spansFound]);
    for (const route of expected) expect(checked).toContainEqual(route);
    expect(outcome.rows.filter((r) => r.route === read.name && r.readBack?.sameOrder)).not.toHaveLength(0);
  });

  test.each(tamperings)('judges them not OK when %s: %s for %j, and nothing else', (name, gap, routes) => {
    const tampered = outcomes.get(name)!;
    expect(tampered.ok).toBe(false);
    expect(tampered.rows.map((r) => [r.route, r.gaps])).toEqual(
      tampered.rows.map((r) => [r.route, routes.includes(r.route) ? [gap] : []]),
    );
  });
});

describe('a request the store cannot serve (5xx: the table unreachable)', () => {
  let failed: Sent;

  beforeAll(async () => {
    await dynalite.stop();
    dynaliteStopped = true;
    failed = await send(postOrder(task.service, { sku: 'translator-2', quantity: 1 }));
    await task.xray.segmentsOf(failed.xrayTraceId, 6);
  });

  test('is answered 503', () => {
    expect(failed.reply.status).toBe(503);
  });

  test('marks the service segment fault, not error', () => {
    expect(serviceSegment(failed)).toMatchObject({ http: { response: { status: 503 } }, fault: true, error: false });
  });

  test('is in the stack’s faults group: its filter names the service as the segment does, and asks fault = true', () => {
    const groups = Object.values(sharedTemplate().findResources('AWS::XRay::Group')).map(
      (group) => (group as { Properties: { FilterExpression: string } }).Properties.FilterExpression,
    );
    const faults = groups.find((expression) => expression.endsWith('{ fault = true }'));
    expect(faults).toBe(`service(${JSON.stringify(serviceSegment(failed).name)}) { fault = true }`);
    expect(serviceSegment(failed).fault).toBe(true);
  }, 30_000);

  test('marks the DynamoDB subsegment fault, with the connection error as its cause', () => {
    const call = one(failed, 'DynamoDB');
    expect(call).toMatchObject({ namespace: 'aws', fault: true, aws: { operation: 'PutItem', table_name: TABLE } });
    expect((call.cause as { exceptions: { message: string }[] }).exceptions[0].message).toMatch(/ECONNREFUSED/);
  });
});

/**
 * Resolves a template value as CloudFormation would in account 123456789012: a log group's Ref is its name (the
 * stack names it), the pseudo parameters the partition, account and region.
 */
function resolver(resources: Record<string, { Properties?: Record<string, unknown> }>): (value: unknown) => unknown {
  const resolve = (value: unknown): unknown => {
    if (typeof value === 'string') return value;
    const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    if (join) return join[1].map(resolve).join(join[0]);
    const ref = (value as { Ref?: string }).Ref;
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::AccountId': '123456789012',
      'AWS::Region': TEST_REGION,
    };
    if (ref !== undefined && pseudo[ref] !== undefined) return pseudo[ref];
    const logGroupName = ref === undefined ? undefined : resources[ref]?.Properties?.LogGroupName;
    if (typeof logGroupName === 'string') return logGroupName;
    throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  };
  return resolve;
}
