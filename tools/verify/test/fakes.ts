// Test doubles: a virtual clock, a stand-in for the service, and AWS clients whose mocked answers follow a
// scenario (what the collector exported, what the log router delivered) for the requests the stand-in received.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CloudWatchLogsClient,
  GetQueryResultsCommand,
  LimitExceededException,
  StartQueryCommand,
  StopQueryCommand,
  type ResultField,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  BatchGetTracesCommand,
  CancelTraceRetrievalCommand,
  CreateSamplingRuleCommand,
  DeleteSamplingRuleCommand,
  GetSamplingRulesCommand,
  GetTraceSegmentDestinationCommand,
  ListRetrievedTracesCommand,
  RuleLimitExceededException,
  StartTraceRetrievalCommand,
  ThrottledException,
  XRayClient,
  type SamplingRule,
  type Trace,
} from '@aws-sdk/client-xray';
import { randomBytes, randomUUID } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock';
import { toXRayTraceId } from '../ids';
import type { Io } from '../cli';

export const REGION = 'us-east-1';
export const LOG_GROUP = 'otel-test';
/** The stack's LogGroupArn output, as the spans carry it: without the `:*` of CloudFormation's `Arn` attribute. */
export const LOG_GROUP_ARN = `arn:aws:logs:${REGION}:123456789012:log-group:${LOG_GROUP}`;
/** The stack's SamplingRuleName output. */
export const SAMPLING_RULE_NAME = 'otel-fargate-service-1a2b3c4d';
/** The stack's OrdersTableName output: the table CloudFormation named. */
export const ORDERS_TABLE = 'OtelFargateStack-OrdersTable-1A2B3C4D5E6F';
/** The stack's XRayTracesConsoleUrl output. */
export const TRACES_CONSOLE_URL = `https://${REGION}.console.aws.amazon.com/cloudwatch/home?region=${REGION}#xray:traces/query`;

export const START_MS = Date.UTC(2026, 10, 25, 12, 0, 0);

/**
 * Time that passes only when the code under test sleeps: minutes of polling run instantly. Loops that sleep side by
 * side (X-Ray and Logs) share one timeline: once every caller is asleep, time jumps to the earliest wake-up.
 */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  private timers: { at: number; wake: () => void }[] = [];
  private scheduled = false;
  constructor(private t = START_MS) {}
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((wake) => {
      this.timers.push({ at: this.t + Math.max(0, ms), wake });
      this.advanceSoon();
    });
  }
  private advanceSoon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // After every pending promise continuation has run, i.e. once the other loops are asleep (or awaiting I/O).
    setImmediate(() => {
      this.scheduled = false;
      if (this.timers.length === 0) return;
      const at = Math.min(...this.timers.map((t) => t.at));
      this.t = Math.max(this.t, at);
      const due = this.timers.filter((t) => t.at <= this.t);
      this.timers = this.timers.filter((t) => t.at > this.t);
      for (const t of due) t.wake();
      if (this.timers.length > 0) this.advanceSoon();
    });
  }
}

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The trace ID the service recorded the request under: the caller's, from the W3C header, unless it starts its own. */
  readonly traceId?: string;
  /** Whether the service sampled (recorded) it: only then does its trace reach X-Ray. */
  readonly sampled: boolean;
}

/**
 * Answers like the service's contract: continues the caller's trace ID, ignores its sampled flag (the `sample`
 * decision stands in for the X-Ray rules), and says both in `traceresponse`. `statusFor` makes a route misbehave.
 */
export class StandInService {
  readonly received: ReceivedRequest[] = [];
  private server?: Server;
  statusFor: (method: string, path: string) => number | undefined = () => undefined;
  /** The sampling decision for a request (the X-Ray rules in force). @default every request */
  sample: (headers: ReceivedRequest['headers']) => boolean = () => true;
  /** The service's clock, for its `Date` header. @default the real one */
  now: () => number = () => Date.now();
  /** Whether it sends `traceresponse` (a service from before that contract does not). */
  sendsTraceResponse = true;
  /** Whether it keeps a caller's trace ID; false starts a trace of its own (a propagation gap). */
  continuesContext = true;
  /** Whether its answers carry a `Date` header (a load balancer's always do). */
  sendsDate = true;
  /**
   * Separate order stores that the order requests go to in turn: 1 is one table every task shares; 2 is two tasks
   * behind the load balancer, each keeping orders in its own memory. @default 1
   */
  orderStores = 1;
  /** What GET /orders/:id answers with for a stored order. @default the order */
  readAnswer: (order: Record<string, unknown>) => Record<string, unknown> = (order) => order;
  private readonly stores: Map<string, Record<string, unknown>>[] = [];
  private orderRequests = 0;

  /** The answer to an order request, from the store whose turn it is. */
  private orders(method: string, path: string, body: string, xrayTraceId: string): [number, unknown] {
    while (this.stores.length < this.orderStores) this.stores.push(new Map());
    const store = this.stores[this.orderRequests++ % this.orderStores];
    if (method === 'POST') {
      const { sku, quantity } = JSON.parse(body) as { sku: string; quantity: number };
      const order = {
        id: randomUUID(),
        sku,
        quantity,
        unitPriceCents: 1999,
        totalCents: 1999 * quantity,
        currency: 'USD',
        createdAt: new Date(this.now()).toISOString(),
      };
      store.set(order.id, order);
      return [201, { order, xrayTraceId }];
    }
    const order = store.get(decodeURIComponent(path.slice('/orders/'.length)));
    return order
      ? [200, { order: this.readAnswer(order), xrayTraceId }]
      : [404, { error: 'not_found', message: 'No order with that ID', xrayTraceId }];
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const path = req.url ?? '/';
        res.sendDate = false;
        const date: Record<string, string> = this.sendsDate ? { date: new Date(this.now()).toUTCString() } : {};
        if (path === '/healthz') {
          res.writeHead(this.statusFor(req.method ?? 'GET', path) ?? 200, date).end('ok');
          return;
        }
        const traceparent = req.headers.traceparent;
        const sent = typeof traceparent === 'string' ? traceparent.split('-')[1] : undefined;
        const own = `${Math.floor(this.now() / 1000).toString(16)}${randomBytes(12).toString('hex')}`;
        const traceId = this.continuesContext && sent ? sent : own;
        const sampled = this.sample(req.headers);
        this.received.push({ method: req.method ?? 'GET', path, headers: req.headers, body, traceId, sampled });
        const headers: Record<string, string> = { ...date };
        if (this.sendsTraceResponse) {
          headers.traceresponse = `00-${traceId}-${randomBytes(8).toString('hex')}-${sampled ? '01' : '00'}`;
        }
        const forced = this.statusFor(req.method ?? 'GET', path);
        if (forced) res.writeHead(forced, headers).end('broken');
        else if (req.method === 'GET' && path === '/') res.writeHead(200, headers).end('Welcome to the Home Page!');
        else if ((req.method === 'POST' && path === '/orders') || (req.method === 'GET' && isOrderPath(path))) {
          const [status, answer] = this.orders(req.method, path, body, toXRayTraceId(traceId));
          res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(answer));
        } else res.writeHead(404, headers).end();
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.close();
    await once(this.server, 'close');
  }
}

/** A read of one order: GET /orders/:id. */
const isOrderPath = (path: string) => /^\/orders\/[^/]+$/.test(path);

/** The route a received request belongs to, as SERVICE_SPANS names it. */
export function routeOf(req: Pick<ReceivedRequest, 'method' | 'path'>): string {
  return req.method === 'GET' && isOrderPath(req.path) ? 'GET /orders/:id' : `${req.method} ${req.path}`;
}

/** OTEL_SERVICE_NAME in the stack (lib/settings.ts): the name X-Ray gives the service's own segments. */
export const SERVICE_NAME = 'otel-fargate-service';

export type SpanKindName = 'SERVER' | 'INTERNAL' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';

/** A span as the service creates it: what the awsxray exporter turns into a segment or subsegment. */
export interface ServiceSpan {
  readonly name: string;
  readonly kind: SpanKindName;
  readonly attributes?: Readonly<Record<string, unknown>>;
}

/** The child spans of each route, with the kind and attributes app/src gives them. */
export const SERVICE_SPANS: Record<string, readonly ServiceSpan[]> = {
  'GET /': [{ name: 'about', kind: 'INTERNAL' }],
  'POST /orders': [
    { name: 'cache.read', kind: 'INTERNAL', attributes: { 'cache.name': 'products', 'cache.key': 'verify-1' } },
    {
      name: 'pricing.call',
      kind: 'CLIENT',
      attributes: {
        'http.request.method': 'GET',
        'url.full': 'http://127.0.0.1:8080/prices/verify-1',
        'server.address': '127.0.0.1',
        'server.port': 8080,
        'peer.service': 'pricing',
      },
    },
    {
      name: 'store.write',
      kind: 'INTERNAL',
      attributes: { 'db.system.name': 'memory', 'db.collection.name': 'orders', 'db.operation.name': 'put' },
    },
  ],
  'GET /orders/:id': [{ name: 'store.read', kind: 'INTERNAL' }],
};

/**
 * The CLIENT span instrumentation-aws-sdk (0.79, src/utils.ts and services/dynamodb.ts) makes for a DynamoDB call:
 * `<service>.<command>`, rpc.system aws-api, rpc.service, rpc.method, aws.dynamodb.table_names, cloud.region,
 * aws.request.id, and db.namespace (not db.name, which would name the subsegment after the table instead).
 */
export function dynamoDbSpan(operation: 'PutItem' | 'GetItem', table: string): ServiceSpan {
  return {
    name: `DynamoDB.${operation}`,
    kind: 'CLIENT',
    attributes: {
      'rpc.system': 'aws-api',
      'rpc.service': 'DynamoDB',
      'rpc.method': operation,
      'aws.dynamodb.table_names': [table],
      'cloud.region': REGION,
      'aws.request.id': 'EXAMPLE0REQUEST0ID0000000000000000000000000000000000',
      'db.system.name': 'aws.dynamodb',
      'db.namespace': table,
      'db.operation.name': operation,
    },
  };
}

/** The child spans of a route, with the DynamoDB call when the service keeps orders in `table`. */
export function serviceSpansOf(route: string, table?: string): readonly ServiceSpan[] {
  const spans = SERVICE_SPANS[route] ?? [];
  if (table === undefined) return spans;
  if (route === 'POST /orders') return [...spans, dynamoDbSpan('PutItem', table)];
  if (route === 'GET /orders/:id') return [...spans, dynamoDbSpan('GetItem', table)];
  return spans;
}

/** Characters X-Ray allows in a segment name (segment.go, reInvalidSpanCharacters). */
const INVALID_NAME_CHARS = /[^ 0-9\p{L}N_.:/%&#=+\-@]/gu;

/**
 * The segment or subsegment name the ADOT awsxray exporter gives a span: the order of opentelemetry-collector-contrib
 * exporter/awsxrayexporter/internal/translator/segment.go, MakeSegment (aws.local.service for a server span,
 * aws.remote.service for a client span, then peer.service, aws.service, db.name, the service name for a server span,
 * rpc.service, http.host, net.peer.name, and only then the span name, cleaned).
 */
export function xrayName(span: ServiceSpan, serviceName = SERVICE_NAME): string {
  const attr = (key: string) => {
    const v = span.attributes?.[key];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  let name: string | undefined;
  if (span.kind === 'SERVER') name = attr('aws.local.service');
  if (span.kind === 'CLIENT' || span.kind === 'PRODUCER' || span.kind === 'CONSUMER') name = attr('aws.remote.service');
  name ??= attr('peer.service') ?? attr('aws.service') ?? attr('db.name');
  if (name === undefined && span.kind === 'SERVER') name = serviceName;
  name ??= attr('rpc.service') ?? attr('http.host') ?? attr('net.peer.name');
  if (name !== undefined) return name;
  const cleaned = span.name.replace(INVALID_NAME_CHARS, '').slice(0, 200);
  return cleaned === '' ? 'span' : cleaned;
}

/** What `aws.log.group.arns` gives each document (aws.go, getLogGroupMetadata): the name parsed from the ARN. */
export const STACK_LINKS = [{ log_group: LOG_GROUP, arn: LOG_GROUP_ARN }];

export interface Scenario {
  /** Whether the collector exported this request's trace. @default always */
  exported?: (req: ReceivedRequest) => boolean;
  /** The names of the service's child spans that were exported. @default the route's SERVICE_SPANS */
  spans?: (req: ReceivedRequest) => string[];
  /**
   * The segment documents X-Ray holds for a trace, instead of documents made here by the exporter's rules: e.g. those
   * the real collector's awsxray exporter sent (tools/collector/test/translator.test.ts). None or empty: no trace.
   * @default made from the scenario's spans and links
   */
  documents?: (xrayTraceId: string) => readonly Record<string, unknown>[] | undefined;
  /** The documents' `aws.cloudwatch_logs`; null leaves the field out. @default STACK_LINKS */
  links?: { log_group?: string; arn?: string }[] | null;
  /** BatchGetTraces calls (after the preflight probe) that find nothing before traces appear. @default 0 */
  emptyPolls?: number;
  /** BatchGetTraces calls (after the probe) that list every asked ID in UnprocessedTraceIds. @default 0 */
  unprocessedPolls?: number;
  /** BatchGetTraces calls (after the probe) rejected with ThrottledException first. @default 0 */
  xrayThrottles?: number;
  /** BatchGetTraces is denied: in the preflight probe, or from its n-th call after it. */
  xrayDenied?: 'probe' | number;
  /** GetTraceSegmentDestination's answer: a destination, PENDING (a change in progress), or an error. @default XRay */
  segmentDestination?: 'XRay' | 'CloudWatchLogs' | 'pending' | 'denied' | 'failing';
  /** Each trace's segments come in two BatchGetTraces pages (NextToken). */
  splitPages?: boolean;
  /** ListRetrievedTraces calls per retrieval that say RUNNING before COMPLETE. @default 1 */
  retrievalRunning?: number;
  /** What a retrieval ends in, instead of COMPLETE. */
  retrievalStatus?: 'FAILED' | 'TIMEOUT';
  /** The stack's sampling rule as GetSamplingRules lists it; null: no such rule. @default the stack's default rule */
  stackRule?: SamplingRule | null;
  /** How long after its creation the run's rule is in force on the service (the task's rule poll). @default 0 */
  rulePropagationMs?: number;
  /** The service never samples the run's requests, whatever the rules. */
  neverSampled?: boolean;
  /** Requests alternate between two tasks; the second fetches the run's rule this much later. @default 0 */
  secondTaskLagMs?: number;
  /** CreateSamplingRule fails: denied, or the account's rule quota is reached. */
  createRule?: 'denied' | 'limit';
  /** DeleteSamplingRule fails. */
  deleteRuleFails?: boolean;
  /** Round queries (not the probe) rejected with LimitExceededException first. @default 0 */
  logsThrottles?: number;
  /** Lines Logs Insights holds per request: with the X-Ray form, and with only the 32-hex form. @default 3 and 0 */
  lines?: (req: ReceivedRequest) => { xray: number; hexOnly: number };
  /** StartQuery fails: the log group does not exist. */
  logGroupMissing?: boolean;
  /** StartQuery is denied: from the probe on, or from the n-th round query. */
  logsDenied?: 'probe' | number;
  /** The table the service's DynamoDB calls name (its ORDERS_TABLE_NAME). @default - none: it keeps orders in memory */
  serviceTable?: string;
  /** The spans exported for a request, instead of SERVICE_SPANS (e.g. those a real service emitted). */
  serviceSpans?: (req: ReceivedRequest) => readonly ServiceSpan[] | undefined;
  /** What GetQueryResults says after the first poll. @default Complete */
  queryStatus?: 'Complete' | 'Running' | 'Failed' | 'Timeout';
}

interface SegmentDoc {
  id: string;
  trace_id: string;
  name: string;
  type?: 'subsegment';
  parent_id?: string;
  namespace?: 'remote' | 'aws';
  aws?: { cloudwatch_logs?: NonNullable<Scenario['links']>; operation?: string; table_name?: string };
  subsegments?: SegmentDoc[];
}

/**
 * An AWS SDK span's namespace and `aws` fields (segment.go: isAwsSdkSpan gives namespace aws; aws.go: makeAws takes
 * aws.operation from rpc.method and aws.table_name from a single-entry aws.dynamodb.table_names).
 */
function awsSdkFields(span: ServiceSpan): Pick<SegmentDoc, 'namespace' | 'aws'> | undefined {
  if (span.attributes?.['rpc.system'] !== 'aws-api') return undefined;
  const tables = span.attributes['aws.dynamodb.table_names'];
  const method = span.attributes['rpc.method'];
  return {
    namespace: 'aws',
    aws: {
      ...(typeof method === 'string' ? { operation: method } : {}),
      ...(Array.isArray(tables) && tables.length === 1 ? { table_name: String(tables[0]) } : {}),
    },
  };
}

/**
 * The documents BatchGetTraces returns for one request, named by the exporter's rules: the server span as a segment
 * named after the service; the first child nested in it, the others as independent subsegments (as X-Ray may
 * return them); a CLIENT child in namespace "remote"; for pricing.call, the /prices request it makes to the service
 * itself as a second segment. Every document carries the resource's log link.
 */
export function segmentDocuments(req: ReceivedRequest, spans: readonly ServiceSpan[], links: Scenario['links']) {
  const xrayId = toXRayTraceId(req.traceId ?? '');
  const aws = links === null || links === undefined ? {} : { aws: { cloudwatch_logs: links } };
  const segment: SegmentDoc = {
    id: 'a1b2c3d4e5f60718',
    trace_id: xrayId,
    name: xrayName({ name: `${req.method} ${req.path}`, kind: 'SERVER' }),
    ...aws,
  };
  const docs: SegmentDoc[] = [segment];
  spans.forEach((span, i) => {
    const id = `22222222222222${String(i).padStart(2, '0')}`;
    const sdk = awsSdkFields(span);
    const sub: SegmentDoc = {
      id,
      trace_id: xrayId,
      name: xrayName(span),
      ...(span.kind === 'CLIENT' ? { namespace: 'remote' as const } : {}),
      ...aws,
      ...(sdk ? { namespace: sdk.namespace, aws: { ...aws.aws, ...sdk.aws } } : {}),
    };
    if (i === 0) segment.subsegments = [sub];
    else docs.push({ ...sub, type: 'subsegment', parent_id: segment.id });
    if (span.name === 'pricing.call') {
      docs.push({
        id: `33333333333333${String(i).padStart(2, '0')}`,
        trace_id: xrayId,
        parent_id: id,
        name: xrayName({ name: 'GET /prices/:sku', kind: 'SERVER' }),
        ...aws,
      });
    }
  });
  return docs;
}

const named = (name: string, message: string, extra: object = {}) =>
  Object.assign(new Error(message), { name, $metadata: {}, ...extra });

/** The stack's rule, as CloudFormation creates it from lib/sampling-rule.ts with the default context. */
export const STACK_RULE: SamplingRule = {
  RuleName: SAMPLING_RULE_NAME,
  RuleARN: `arn:aws:xray:${REGION}:123456789012:sampling-rule/${SAMPLING_RULE_NAME}`,
  Priority: 9000,
  FixedRate: 0.05,
  ReservoirSize: 1,
  ServiceName: SERVICE_NAME,
  ServiceType: 'AWS::ECS::Container',
  Host: '*',
  HTTPMethod: '*',
  URLPath: '*',
  ResourceARN: '*',
  Version: 1,
};

/** Virtual time for the mocked AWS's own bookkeeping (when a rule was created). */
type Now = { now(): number };

export class FakeAws {
  readonly cfn = new CloudFormationClient({
    region: REGION,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 's' },
  });
  readonly xray = new XRayClient({ region: REGION, credentials: { accessKeyId: 'AKID', secretAccessKey: 's' } });
  readonly logs = new CloudWatchLogsClient({
    region: REGION,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 's' },
  });
  readonly cfnMock = mockClient(this.cfn);
  readonly xrayMock = mockClient(this.xray);
  readonly logsMock = mockClient(this.logs);
  /** The round queries' strings (the preflight probe's aside). */
  readonly queries: string[] = [];
  /** The query IDs StopQuery was sent for. */
  readonly stopped: string[] = [];
  /** The trace IDs BatchGetTraces (or a Transaction Search retrieval) was asked for, the preflight probe's aside. */
  readonly askedTraceIds: string[] = [];
  /** The sampling rules created, with when; deleted ones are removed. */
  readonly rules = new Map<string, { rule: SamplingRule; createdAt: number }>();
  /** Every rule ever created, and every rule deleted. */
  readonly created: SamplingRule[] = [];
  readonly deleted: string[] = [];

  constructor(
    private readonly service: { readonly received: readonly ReceivedRequest[] },
    private readonly scenario: Scenario = {},
    readonly clock: Now = new FakeClock(),
  ) {
    if (service instanceof StandInService) {
      service.now = () => clock.now();
      service.sample = (headers) => this.sampledByRules(headers);
    }
    this.xrayMock.on(GetTraceSegmentDestinationCommand).callsFake(() => {
      switch (scenario.segmentDestination) {
        case 'denied':
          throw named('AccessDeniedException', 'not authorized');
        case 'failing':
          throw named('InternalFailure', 'We encountered an internal error. Please try again.');
        case 'pending':
          return { Destination: 'CloudWatchLogs', Status: 'PENDING' };
        default:
          return { Destination: scenario.segmentDestination ?? 'XRay', Status: 'ACTIVE' };
      }
    });

    this.xrayMock.on(GetSamplingRulesCommand).callsFake(() => {
      const stack = scenario.stackRule === undefined ? STACK_RULE : scenario.stackRule;
      const records = [...(stack ? [stack] : []), ...[...this.rules.values()].map((r) => r.rule)];
      return { SamplingRuleRecords: records.map((SamplingRule) => ({ SamplingRule })) };
    });
    this.xrayMock.on(CreateSamplingRuleCommand).callsFake((input: { SamplingRule: SamplingRule }) => {
      if (scenario.createRule === 'denied')
        throw named('AccessDeniedException', 'not authorized to CreateSamplingRule');
      if (scenario.createRule === 'limit') {
        throw new RuleLimitExceededException({
          message: 'You have reached the maximum number of sampling rules.',
          $metadata: {},
        });
      }
      this.created.push(input.SamplingRule);
      this.rules.set(input.SamplingRule.RuleName as string, { rule: input.SamplingRule, createdAt: clock.now() });
      return { SamplingRuleRecord: { SamplingRule: input.SamplingRule } };
    });
    this.xrayMock.on(DeleteSamplingRuleCommand).callsFake((input: { RuleName: string }) => {
      if (scenario.deleteRuleFails) throw named('InternalFailure', 'try again later');
      this.deleted.push(input.RuleName);
      this.rules.delete(input.RuleName);
      return {};
    });

    let retrievals = 0;
    const retrievalPolls = new Map<string, number>();
    const retrievalIds = new Map<string, string[]>();
    this.xrayMock.on(StartTraceRetrievalCommand).callsFake((input: { TraceIds: string[] }) => {
      const token = `r-${++retrievals}`;
      this.askedTraceIds.push(...input.TraceIds);
      retrievalIds.set(token, input.TraceIds);
      return { RetrievalToken: token };
    });
    this.xrayMock
      .on(ListRetrievedTracesCommand)
      .callsFake((input: { RetrievalToken: string; TraceFormat?: string }) => {
        const polls = (retrievalPolls.get(input.RetrievalToken) ?? 0) + 1;
        retrievalPolls.set(input.RetrievalToken, polls);
        if (polls <= (scenario.retrievalRunning ?? 1)) return { RetrievalStatus: 'RUNNING', Traces: [] };
        if (scenario.retrievalStatus) return { RetrievalStatus: scenario.retrievalStatus, Traces: [] };
        if (input.TraceFormat !== 'XRAY') return { RetrievalStatus: 'COMPLETE', TraceFormat: 'OTEL', Traces: [] };
        const traces = (retrievalIds.get(input.RetrievalToken) ?? [])
          .map((id) => this.trace(id))
          .filter((t): t is Trace => t !== undefined);
        return {
          RetrievalStatus: 'COMPLETE',
          TraceFormat: 'XRAY',
          Traces: traces.map((t) => ({ Id: t.Id, Duration: t.Duration, Spans: t.Segments })),
        };
      });
    this.xrayMock.on(CancelTraceRetrievalCommand).resolves({});

    let batchCalls = 0;
    this.xrayMock.on(BatchGetTracesCommand).callsFake((input: { TraceIds: string[]; NextToken?: string }) => {
      const probe = input.TraceIds.length === 1 && input.TraceIds[0].endsWith('0'.repeat(24));
      if (probe) {
        if (scenario.xrayDenied === 'probe') throw named('AccessDeniedException', 'not authorized to BatchGetTraces');
        return { Traces: [] };
      }
      if (input.NextToken) return this.secondPage(input.TraceIds);
      batchCalls++;
      this.askedTraceIds.push(...input.TraceIds);
      if (typeof scenario.xrayDenied === 'number' && batchCalls >= scenario.xrayDenied) {
        throw named('AccessDeniedException', 'not authorized to BatchGetTraces');
      }
      const throttles = scenario.xrayThrottles ?? 0;
      if (batchCalls <= throttles) {
        throw new ThrottledException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 429 } });
      }
      if (batchCalls <= throttles + (scenario.emptyPolls ?? 0)) return { Traces: [] };
      if (batchCalls <= throttles + (scenario.emptyPolls ?? 0) + (scenario.unprocessedPolls ?? 0)) {
        return { Traces: [], UnprocessedTraceIds: input.TraceIds };
      }
      const traces = input.TraceIds.map((id) => this.trace(id)).filter((t): t is Trace => t !== undefined);
      if (!scenario.splitPages) return { Traces: traces };
      // Each trace's segments over two pages, as X-Ray may return a large trace: the first half here, the rest
      // for the NextToken (secondPage).
      return {
        Traces: traces.map((t) => ({
          ...t,
          Segments: (t.Segments ?? []).slice(0, Math.ceil((t.Segments ?? []).length / 2)),
        })),
        NextToken: 'page-2',
      };
    });

    let roundQueries = 0;
    const results = new Map<string, ResultField[][]>();
    this.logsMock.on(StartQueryCommand).callsFake((input: { queryString: string }) => {
      const probe = input.queryString === 'fields @timestamp';
      if (scenario.logGroupMissing) throw named('ResourceNotFoundException', 'The specified log group does not exist.');
      if (scenario.logsDenied === 'probe') throw named('AccessDeniedException', 'not authorized to StartQuery');
      if (probe) return { queryId: 'q-probe' };
      roundQueries++;
      if (typeof scenario.logsDenied === 'number' && roundQueries >= scenario.logsDenied) {
        throw named('AccessDeniedException', 'not authorized to StartQuery');
      }
      if (roundQueries <= (scenario.logsThrottles ?? 0)) {
        throw new LimitExceededException({
          message: 'Account maximum query concurrency limit of [30] reached.',
          $metadata: {},
        });
      }
      this.queries.push(input.queryString);
      const queryId = `q-${roundQueries}`;
      results.set(queryId, this.rowsFor(input.queryString));
      return { queryId };
    });
    const polled = new Set<string>();
    this.logsMock.on(GetQueryResultsCommand).callsFake((input: { queryId: string }) => {
      if (!polled.has(input.queryId)) {
        polled.add(input.queryId);
        return { status: 'Running', results: [] };
      }
      const status = scenario.queryStatus ?? 'Complete';
      return { status, results: status === 'Complete' ? (results.get(input.queryId) ?? []) : [] };
    });
    this.logsMock.on(StopQueryCommand).callsFake((input: { queryId: string }) => {
      this.stopped.push(input.queryId);
      return { success: true };
    });
  }

  withStack(outputs: Record<string, string>): this {
    this.cfnMock.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'OtelFargateStack',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    });
    return this;
  }

  /** Whether the rules in force sample a request: the run's rule, once the task has fetched it, matches its UA. */
  private sampledByRules(headers: ReceivedRequest['headers']): boolean {
    if (this.scenario.neverSampled) return false;
    const ua = headers['user-agent'];
    const lag = this.requestsSeen++ % 2 === 1 ? (this.scenario.secondTaskLagMs ?? 0) : 0;
    return [...this.rules.values()].some(
      ({ rule, createdAt }) =>
        rule.Attributes?.['user_agent.original'] === ua &&
        this.clock.now() - createdAt >= (this.scenario.rulePropagationMs ?? 0) + lag,
    );
  }
  private requestsSeen = 0;

  private secondPage(ids: string[]) {
    const traces = ids.map((id) => this.trace(id)).filter((t): t is Trace => t !== undefined);
    return {
      Traces: traces.map((t) => ({
        ...t,
        Segments: (t.Segments ?? []).slice(Math.ceil((t.Segments ?? []).length / 2)),
      })),
    };
  }

  private requestFor(xrayId: string) {
    return this.service.received.find((r) => r.traceId && toXRayTraceId(r.traceId) === xrayId);
  }

  private trace(xrayId: string): Trace | undefined {
    if (this.scenario.documents) {
      const documents = this.scenario.documents(xrayId) ?? [];
      if (documents.length === 0) return undefined;
      return {
        Id: xrayId,
        Duration: 0.01,
        Segments: documents.map((doc) => ({ Id: String(doc.id), Document: JSON.stringify(doc) })),
      };
    }
    const req = this.requestFor(xrayId);
    if (!req || !req.sampled || !(this.scenario.exported?.(req) ?? true)) return undefined;
    const contract = serviceSpansOf(routeOf(req), this.scenario.serviceTable);
    const names = this.scenario.spans?.(req) ?? contract.map((s) => s.name);
    const spans =
      this.scenario.serviceSpans?.(req) ??
      names.map((n) => contract.find((s) => s.name === n) ?? { name: n, kind: 'INTERNAL' as const });
    const links = this.scenario.links === undefined ? STACK_LINKS : this.scenario.links;
    return {
      Id: xrayId,
      Duration: 0.01,
      Segments: segmentDocuments(req, spans, links).map((doc) => ({ Id: doc.id, Document: JSON.stringify(doc) })),
    };
  }

  /** The rows Logs Insights returns for a round query: one per line holding an asked ID, with xid and/or hex. */
  private rowsFor(queryString: string): ResultField[][] {
    const asked = (group: string) => new RegExp(`\\(\\?<${group}>([^)]*)\\)`).exec(queryString)?.[1].split('|') ?? [];
    const xids = new Set(asked('xid'));
    const rows: ResultField[][] = [];
    for (const req of this.service.received) {
      if (!req.traceId) continue;
      const xid = toXRayTraceId(req.traceId);
      if (!xids.has(xid)) continue;
      const { xray, hexOnly } = this.scenario.lines?.(req) ?? { xray: 3, hexOnly: 0 };
      for (let i = 0; i < xray; i++)
        rows.push([
          { field: 'xid', value: xid },
          { field: 'hex', value: req.traceId },
        ]);
      for (let i = 0; i < hexOnly; i++) rows.push([{ field: 'hex', value: req.traceId }]);
    }
    return rows;
  }
}

/** Captures what the CLI writes. */
export function captureIo(): Io & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    isTTY: false,
    stdout: (text: string) => {
      io.out += text;
    },
    stderr: (text: string) => {
      io.err += text;
    },
  };
  return io;
}
