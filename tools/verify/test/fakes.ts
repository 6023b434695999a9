// Test doubles: a virtual clock, a stand-in for the service, and AWS clients whose mocked answers follow a
// scenario (what the collector exported, what the log router delivered) for the requests the stand-in received.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CloudWatchLogsClient,
  GetQueryResultsCommand,
  LimitExceededException,
  StartQueryCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { BatchGetTracesCommand, ThrottledException, XRayClient, type Trace } from '@aws-sdk/client-xray';
import { mockClient } from 'aws-sdk-client-mock';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock';
import { toXRayTraceId } from '../ids';
import type { Io } from '../cli';

export const REGION = 'us-east-1';
export const LOG_GROUP = 'otel-test';
export const LOG_GROUP_ARN = `arn:aws:logs:${REGION}:123456789012:log-group:${LOG_GROUP}`;

export const START_MS = Date.UTC(2026, 10, 25, 12, 0, 0);

/** Time that passes only when the code under test sleeps: minutes of polling run instantly. */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private t = START_MS) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    await Promise.resolve();
  }
}

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The trace ID the service continued, from the W3C header. */
  readonly traceId?: string;
}

/** Answers like the service's contract; `statusFor` makes a route misbehave. */
export class StandInService {
  readonly received: ReceivedRequest[] = [];
  private server?: Server;
  statusFor: (method: string, path: string) => number | undefined = () => undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const path = req.url ?? '/';
        const traceparent = req.headers.traceparent;
        const traceId = typeof traceparent === 'string' ? traceparent.split('-')[1] : undefined;
        if (path !== '/healthz') {
          this.received.push({ method: req.method ?? 'GET', path, headers: req.headers, body, traceId });
        }
        const forced = this.statusFor(req.method ?? 'GET', path);
        if (forced) res.writeHead(forced).end('broken');
        else if (path === '/healthz') res.writeHead(200).end('ok');
        else if (req.method === 'GET' && path === '/') res.writeHead(200).end('Welcome to the Home Page!');
        else if (req.method === 'POST' && path === '/orders') {
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'o-1' }));
        } else res.writeHead(404).end();
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

export const ROUTE_SPANS: Record<string, string[]> = {
  'GET /': ['about'],
  'POST /orders': ['cache.read', 'store.write', 'pricing.call'],
};

export interface Scenario {
  /** Whether the collector exported this request's trace. @default always */
  exported?: (req: ReceivedRequest) => boolean;
  /** Child span names exported. @default the route's contract */
  spans?: (req: ReceivedRequest) => string[];
  /** The segments' `aws.cloudwatch_logs`; null leaves the field out. @default otel-test by name and ARN */
  links?: { log_group?: string; arn?: string }[] | null;
  /** BatchGetTraces calls that find nothing before traces appear. @default 0 */
  emptyPolls?: number;
  /** BatchGetTraces calls rejected with ThrottledException first. @default 0 */
  xrayThrottles?: number;
  /** StartQuery calls rejected with LimitExceededException first. @default 0 */
  logsThrottles?: number;
  /** Lines that Logs Insights finds for the X-Ray form and for the 32-hex form. @default 3 and 3 */
  lines?: (req: ReceivedRequest) => { xray: number; hex: number };
  /** StartQuery fails: the log group does not exist. */
  logGroupMissing?: boolean;
}

export function segmentDocuments(req: ReceivedRequest, spans: string[], links: Scenario['links']) {
  const xrayId = toXRayTraceId(req.traceId ?? '');
  const aws = links === null ? {} : { aws: { cloudwatch_logs: links } };
  // Server span as the segment; the first child nested, the rest as independent subsegments, as X-Ray may return.
  const [first, ...rest] = spans;
  const segment = {
    id: 'a1b2c3d4e5f60718',
    trace_id: xrayId,
    name: 'otel-fargate-service',
    ...aws,
    subsegments: first ? [{ id: '1111111111111111', name: first }] : [],
  };
  const independent = rest.map((name, i) => ({
    type: 'subsegment',
    id: `22222222222222${String(i).padStart(2, '0')}`,
    parent_id: segment.id,
    trace_id: xrayId,
    name,
    ...aws,
  }));
  return [segment, ...independent];
}

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
  readonly queries: string[] = [];

  constructor(
    private readonly service: { readonly received: readonly ReceivedRequest[] },
    private readonly scenario: Scenario = {},
  ) {
    let batchCalls = 0;
    this.xrayMock.on(BatchGetTracesCommand).callsFake((input: { TraceIds: string[] }) => {
      batchCalls++;
      if (batchCalls <= (scenario.xrayThrottles ?? 0)) {
        throw new ThrottledException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 429 } });
      }
      if (batchCalls <= (scenario.xrayThrottles ?? 0) + (scenario.emptyPolls ?? 0)) return { Traces: [] };
      return { Traces: input.TraceIds.map((id) => this.trace(id)).filter((t): t is Trace => t !== undefined) };
    });

    let startCalls = 0;
    const results = new Map<string, number>();
    this.logsMock.on(StartQueryCommand).callsFake((input: { queryString: string }) => {
      startCalls++;
      if (scenario.logGroupMissing) {
        throw Object.assign(new Error('The specified log group does not exist.'), {
          name: 'ResourceNotFoundException',
        });
      }
      if (startCalls <= (scenario.logsThrottles ?? 0)) {
        throw new LimitExceededException({
          message: 'Account maximum query concurrency limit of [30] reached.',
          $metadata: {},
        });
      }
      this.queries.push(input.queryString);
      const queryId = `q-${startCalls}`;
      results.set(queryId, this.linesFor(input.queryString));
      return { queryId };
    });
    const polled = new Set<string>();
    this.logsMock.on(GetQueryResultsCommand).callsFake((input: { queryId: string }) => {
      if (!polled.has(input.queryId)) {
        polled.add(input.queryId);
        return { status: 'Running', results: [] };
      }
      const n = results.get(input.queryId) ?? 0;
      return {
        status: 'Complete',
        results: Array.from({ length: n }, (_, i) => [{ field: '@message', value: `line ${i}` }]),
      };
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

  private requestFor(xrayId: string) {
    return this.service.received.find((r) => r.traceId && toXRayTraceId(r.traceId) === xrayId);
  }

  private trace(xrayId: string): Trace | undefined {
    const req = this.requestFor(xrayId);
    if (!req || !(this.scenario.exported?.(req) ?? true)) return undefined;
    const spans = this.scenario.spans?.(req) ?? ROUTE_SPANS[`${req.method} ${req.path}`] ?? [];
    const links =
      this.scenario.links === undefined ? [{ log_group: LOG_GROUP, arn: LOG_GROUP_ARN }] : this.scenario.links;
    return {
      Id: xrayId,
      Duration: 0.01,
      Segments: segmentDocuments(req, spans, links).map((doc) => ({ Id: doc.id, Document: JSON.stringify(doc) })),
    };
  }

  private linesFor(queryString: string): number {
    const xray = /like "(1-[0-9a-f]{8}-[0-9a-f]{24})"/.exec(queryString)?.[1];
    const hex = /like "([0-9a-f]{32})"/.exec(queryString)?.[1];
    const req = xray ? this.requestFor(xray) : this.service.received.find((r) => r.traceId === hex);
    if (!req) return 0;
    const lines = this.scenario.lines?.(req) ?? { xray: 3, hex: 3 };
    return xray ? lines.xray : lines.hex;
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
