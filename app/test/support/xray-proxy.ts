// A stand-in for X-Ray's API: a real HTTP server answering `POST /GetSamplingRules` with the rules set on it and
// `POST /SamplingTargets` with each rule's reservoir as its quota, keeping every statistics document it is sent, and
// `POST /TraceSegments` (PutTraceSegments), keeping every segment document. The service's tests talk to it as the
// collector's awsproxy extension serves the sampling API on 127.0.0.1:2000; the real collector's tests
// (tools/collector) point the awsxray exporter and awsproxy at it, as they would point at xray.<region>.amazonaws.com. The shapes follow the X-Ray API
// (GetSamplingRules, GetSamplingTargets) as @opentelemetry/sampler-aws-xray 0.3.0 reads them (src/types.ts), and so
// do its refusals: more than 25 statistics documents is an InvalidRequestException ("Array Members: Maximum number of
// 25 items", X-Ray API reference, GetSamplingTargets). It can also fail as X-Ray and the proxy do (`fail`): a 429
// ThrottledException, any other status, a body that is not JSON, or no answer at all until `release`. Used by the
// service's tests and by the benchmark (bench/lib/variants.mjs), so it depends on nothing but Node.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SamplingRule {
  RuleName: string;
  Priority: number;
  FixedRate: number;
  ReservoirSize: number;
  ServiceName: string;
  ServiceType: string;
  Host: string;
  HTTPMethod: string;
  URLPath: string;
  ResourceARN: string;
  Version: number;
  Attributes?: Record<string, string>;
}

export interface StatisticsDocument {
  RuleName: string;
  ClientID: string;
  Timestamp: number;
  RequestCount: number;
  SampledCount: number;
  BorrowCount: number;
}

/** A rule matching everything, with the fields given overriding. */
export function samplingRule(fields: Partial<SamplingRule> & Pick<SamplingRule, 'RuleName'>): SamplingRule {
  return {
    Priority: 1,
    FixedRate: 0,
    ReservoirSize: 0,
    ServiceName: '*',
    ServiceType: '*',
    Host: '*',
    HTTPMethod: '*',
    URLPath: '*',
    ResourceARN: '*',
    Version: 1,
    ...fields,
  };
}

/** X-Ray's own default rule: one request a second and 5% of the rest. */
export const DEFAULT_RULE = samplingRule({ RuleName: 'Default', Priority: 10000, ReservoirSize: 1, FixedRate: 0.05 });

/**
 * What a run on a laptop answers (`npm run traces`, `npm run local`): one rule that records every request, before
 * X-Ray's Default rule, which an account always has. In AWS the account's own rules decide.
 */
export const RECORD_ALL_LOCALLY: SamplingRule[] = [
  samplingRule({ RuleName: 'local-record-all', Priority: 1, FixedRate: 1 }),
  DEFAULT_RULE,
];

/** The sampling API's two calls, by path. */
export type SamplingPath = '/GetSamplingRules' | '/SamplingTargets';
/** Every call the stand-in answers: the sampling API's and PutTraceSegments (REST path /TraceSegments). */
export type XRayPath = SamplingPath | '/TraceSegments';

/** One PutTraceSegments call as received: its segment documents (parsed) and whether SigV4 signed it. */
export interface PutTraceSegmentsCall {
  readonly documents: Record<string, unknown>[];
  readonly authorization: string | undefined;
}

/**
 * How a call fails: an HTTP error as X-Ray sends it through the proxy (status, `x-amzn-ErrorType`, JSON message), a
 * 200 whose body is not JSON, or no answer until `release()` (a slow or hung proxy; the sampler's deadline decides).
 */
export type Fault = { status: number; errorType?: string; message?: string } | 'malformed' | 'hold';

/** X-Ray's throttling error (HTTP 429), as GetSamplingRules and GetSamplingTargets document it. */
export const THROTTLED: Fault = { status: 429, errorType: 'ThrottledException', message: 'Rate exceeded' };

/** A 400 as X-Ray answers a request it refuses. */
export const INVALID_REQUEST: Fault = { status: 400, errorType: 'InvalidRequestException', message: 'Invalid request' };

/** Most statistics documents one SamplingTargets call may carry (X-Ray API reference, GetSamplingTargets). */
export const MAX_STATISTICS_DOCUMENTS = 25;

export class FakeXRayProxy {
  /** What GetSamplingRules answers; change it and set `modifiedAt` to have a sampler fetch the rules again. */
  rules: SamplingRule[];
  /** Epoch seconds of the last rule change, answered as LastRuleModification. */
  modifiedAt = Math.floor(Date.now() / 1000);
  /** The `Interval` (seconds) answered with each target: when the sampler is to report again; undefined: none. */
  targetsIntervalS: number | undefined;
  /** Every statistics document received, in order. */
  readonly statistics: StatisticsDocument[] = [];
  /** The documents of each SamplingTargets call, one array per call, refused ones included. */
  readonly targetCalls: StatisticsDocument[][] = [];
  /** Every PutTraceSegments call, in order. */
  readonly segmentCalls: PutTraceSegmentsCall[] = [];
  /** The Authorization header of the last sampling call: the collector's awsproxy signs what it forwards. */
  lastSamplingAuthorization: string | undefined;
  ruleRequests = 0;
  targetRequests = 0;
  /** X-Ray's clock, for the quotas' TTL. */
  epochMs: () => number = () => Date.now();
  private readonly faults = new Map<XRayPath, Fault>();
  private held: (() => void)[] = [];
  private waiters: { path: XRayPath; count: number; resolve: () => void }[] = [];
  private server: http.Server;

  private constructor(
    rules: SamplingRule[],
    targetsIntervalS: number | undefined,
    readonly port: number,
    server: http.Server,
  ) {
    this.rules = rules;
    this.targetsIntervalS = targetsIntervalS;
    this.server = server;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(
    options: { rules?: SamplingRule[]; targetsIntervalS?: number; port?: number } = {},
  ): Promise<FakeXRayProxy> {
    const holder: { proxy?: FakeXRayProxy } = {};
    const server = http.createServer((req, res) => holder.proxy!.answer(req, res));
    const port = await listen(server, options.port ?? 0);
    const interval = 'targetsIntervalS' in options ? options.targetsIntervalS : 10;
    holder.proxy = new FakeXRayProxy(options.rules ?? [DEFAULT_RULE], interval, port, server);
    return holder.proxy;
  }

  /** Makes every call to `path` fail as `fault` says, until `heal`. */
  fail(path: XRayPath, fault: Fault): void {
    this.faults.set(path, fault);
  }

  /** Answers normally again (calls held so far stay held until `release`). */
  heal(path?: XRayPath): void {
    if (path === undefined) this.faults.clear();
    else this.faults.delete(path);
  }

  /** Sends the held calls the answers they would have had when they arrived. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const send of held) send();
  }

  /** Resolves once `path` has been called `count` times in all. */
  called(path: XRayPath, count: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ path, count, resolve });
      this.wake();
    });
  }

  /** Every segment document received, in the order received. */
  get segments(): Record<string, unknown>[] {
    return this.segmentCalls.flatMap((call) => call.documents);
  }

  /** Resolves once at least `count` segment documents with this X-Ray trace ID have arrived; their documents. */
  async segmentsOf(traceId: string, count = 1, timeoutMs = 15_000): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.segments.filter((segment) => segment.trace_id === traceId);
      if (found.length >= count) return found;
      if (Date.now() > deadline) {
        throw new Error(`${found.length} of ${count} segments of ${traceId} arrived within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Sampled requests the service reported, per rule name. */
  sampledCount(ruleName?: string): number {
    return this.statistics
      .filter((s) => ruleName === undefined || s.RuleName === ruleName)
      .reduce((sum, s) => sum + s.SampledCount, 0);
  }

  requestCount(ruleName?: string): number {
    return this.statistics
      .filter((s) => ruleName === undefined || s.RuleName === ruleName)
      .reduce((sum, s) => sum + s.RequestCount, 0);
  }

  /** Stops answering: connections to the port are refused until `up()`. */
  async down(): Promise<void> {
    this.held = [];
    await close(this.server);
  }

  /** Answers again, on the same port. */
  async up(): Promise<void> {
    this.server = http.createServer((req, res) => this.answer(req, res));
    await listen(this.server, this.port);
  }

  stop(): Promise<void> {
    this.held = [];
    return close(this.server);
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url as XRayPath;
      if (req.method !== 'POST' || !['/GetSamplingRules', '/SamplingTargets', '/TraceSegments'].includes(path)) {
        send(res, 404, { message: `no such path ${req.url}` });
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        send(res, 400, { message: 'the body is not JSON' }, 'SerializationException');
        return;
      }
      if (path === '/GetSamplingRules') this.ruleRequests += 1;
      else if (path === '/SamplingTargets') this.targetRequests += 1;
      if (path !== '/TraceSegments') this.lastSamplingAuthorization = req.headers.authorization;
      // What the call is answered, computed now: a held call gets the answer it would have had when it arrived.
      const fault = this.faults.get(path);
      const reply =
        fault !== undefined && fault !== 'hold'
          ? () => this.sendFault(res, fault)
          : path === '/GetSamplingRules'
            ? this.rulesAnswer(res)
            : path === '/SamplingTargets'
              ? this.targetsAnswer(res, body)
              : this.segmentsAnswer(res, body, req.headers.authorization);
      if (fault === 'hold') this.held.push(reply);
      else reply();
      this.wake();
    });
  }

  private rulesAnswer(res: http.ServerResponse): () => void {
    const answer = {
      SamplingRuleRecords: this.rules.map((rule) => ({
        CreatedAt: this.modifiedAt,
        ModifiedAt: this.modifiedAt,
        SamplingRule: rule,
      })),
    };
    return () => send(res, 200, answer);
  }

  private targetsAnswer(res: http.ServerResponse, body: unknown): () => void {
    const documents = (body as { SamplingStatisticsDocuments?: StatisticsDocument[] }).SamplingStatisticsDocuments;
    if (!Array.isArray(documents)) {
      return () => send(res, 400, { message: 'SamplingStatisticsDocuments is required' }, 'InvalidRequestException');
    }
    this.targetCalls.push(documents);
    if (documents.length > MAX_STATISTICS_DOCUMENTS) {
      const message = `1 validation error detected: Value at 'samplingStatisticsDocuments' failed to satisfy constraint: Member must have length less than or equal to ${MAX_STATISTICS_DOCUMENTS}`;
      return () => send(res, 400, { message }, 'InvalidRequestException');
    }
    this.statistics.push(...documents);
    const now = Math.floor(this.epochMs() / 1000);
    const answer = {
      LastRuleModification: this.modifiedAt,
      SamplingTargetDocuments: documents
        .map((d) => this.rules.find((rule) => rule.RuleName === d.RuleName))
        .filter((rule): rule is SamplingRule => rule !== undefined)
        .map((rule) => ({
          RuleName: rule.RuleName,
          FixedRate: rule.FixedRate,
          ReservoirQuota: rule.ReservoirSize,
          ReservoirQuotaTTL: now + 60,
          ...(this.targetsIntervalS === undefined ? {} : { Interval: this.targetsIntervalS }),
        })),
      UnprocessedStatistics: [],
    };
    return () => send(res, 200, answer);
  }

  /** PutTraceSegments: each document is a JSON string (X-Ray API reference, PutTraceSegments). */
  private segmentsAnswer(res: http.ServerResponse, body: unknown, authorization: string | undefined): () => void {
    const documents = (body as { TraceSegmentDocuments?: unknown }).TraceSegmentDocuments;
    if (!Array.isArray(documents) || documents.some((d) => typeof d !== 'string')) {
      return () => send(res, 400, { message: 'TraceSegmentDocuments is required' }, 'InvalidRequestException');
    }
    this.segmentCalls.push({
      documents: documents.map((d: string) => JSON.parse(d) as Record<string, unknown>),
      authorization,
    });
    return () => send(res, 200, { UnprocessedTraceSegments: [] });
  }

  private sendFault(res: http.ServerResponse, fault: Exclude<Fault, 'hold'>): void {
    if (fault === 'malformed') {
      res.setHeader('content-type', 'application/json');
      res.end('{"SamplingRuleRecords": [');
      return;
    }
    send(res, fault.status, { message: fault.message ?? http.STATUS_CODES[fault.status] }, fault.errorType);
  }

  private wake(): void {
    const calls = (path: XRayPath) =>
      path === '/GetSamplingRules'
        ? this.ruleRequests
        : path === '/SamplingTargets'
          ? this.targetRequests
          : this.segmentCalls.length;
    const ready = this.waiters.filter((w) => calls(w.path) >= w.count);
    this.waiters = this.waiters.filter((w) => calls(w.path) < w.count);
    for (const waiter of ready) waiter.resolve();
  }
}

/** An answer as X-Ray's REST-JSON protocol sends it: an error names its type in `x-amzn-ErrorType`. */
function send(res: http.ServerResponse, status: number, body: unknown, errorType?: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  if (errorType !== undefined) res.setHeader('x-amzn-errortype', errorType);
  res.end(JSON.stringify(body));
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
