// A fake X-Ray sampling API, as the collector's awsproxy extension serves it to the task on 127.0.0.1:2000: a real
// HTTP server answering `POST /GetSamplingRules` with the rules set on it and `POST /SamplingTargets` with each
// rule's reservoir as its quota, keeping every statistics document it is sent. The shapes follow the X-Ray API
// (GetSamplingRules, GetSamplingTargets) as @opentelemetry/sampler-aws-xray 0.3.0 reads them (src/types.ts). Used by
// the service's tests and by the benchmark (bench/lib/variants.mjs), so it depends on nothing but Node.
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

export class FakeXRayProxy {
  /** What GetSamplingRules answers; change it and set `modifiedAt` to have a sampler fetch the rules again. */
  rules: SamplingRule[];
  /** Epoch seconds of the last rule change, answered as LastRuleModification. */
  modifiedAt = Math.floor(Date.now() / 1000);
  /** The `Interval` (seconds) answered with each target: when the sampler is to report again. */
  targetsIntervalS: number;
  readonly statistics: StatisticsDocument[] = [];
  ruleRequests = 0;
  targetRequests = 0;
  private server: http.Server;

  private constructor(
    rules: SamplingRule[],
    targetsIntervalS: number,
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
    holder.proxy = new FakeXRayProxy(options.rules ?? [DEFAULT_RULE], options.targetsIntervalS ?? 10, port, server);
    return holder.proxy;
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
    await close(this.server);
  }

  /** Answers again, on the same port. */
  async up(): Promise<void> {
    this.server = http.createServer((req, res) => this.answer(req, res));
    await listen(this.server, this.port);
  }

  stop(): Promise<void> {
    return close(this.server);
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST' && req.url === '/GetSamplingRules') {
        this.ruleRequests += 1;
        res.end(
          JSON.stringify({
            SamplingRuleRecords: this.rules.map((rule) => ({
              CreatedAt: this.modifiedAt,
              ModifiedAt: this.modifiedAt,
              SamplingRule: rule,
            })),
          }),
        );
        return;
      }
      if (req.method === 'POST' && req.url === '/SamplingTargets') {
        this.targetRequests += 1;
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
          SamplingStatisticsDocuments?: StatisticsDocument[];
        };
        const documents = body.SamplingStatisticsDocuments ?? [];
        this.statistics.push(...documents);
        const now = Math.floor(Date.now() / 1000);
        res.end(
          JSON.stringify({
            LastRuleModification: this.modifiedAt,
            SamplingTargetDocuments: documents
              .map((d) => this.rules.find((rule) => rule.RuleName === d.RuleName))
              .filter((rule): rule is SamplingRule => rule !== undefined)
              .map((rule) => ({
                RuleName: rule.RuleName,
                FixedRate: rule.FixedRate,
                ReservoirQuota: rule.ReservoirSize,
                ReservoirQuotaTTL: now + 60,
                Interval: this.targetsIntervalS,
              })),
            UnprocessedStatistics: [],
          }),
        );
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ message: `no such path ${req.url}` }));
    });
  }
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
