// X-Ray central sampling: the rules an operator edits in the X-Ray console, fetched through the collector's awsproxy
// extension (POST /GetSamplingRules every polling interval, POST /SamplingTargets every 10 s with this process's
// counts, which X-Ray answers with its share of each rule's reservoir). The protocol and the decision follow
// @opentelemetry/sampler-aws-xray 0.3.0 (open-telemetry/opentelemetry-js-contrib: packages/sampler-aws-xray/src) and
// the X-Ray SDKs: the first matching rule by priority; its reservoir quota first (borrowing one request a second
// while X-Ray has not assigned a quota), then its fixed rate. Written here rather than taken from that package
// because the service needs what the package does not do (docs/architecture.md, "Sampling"): X-Ray's default rule whenever
// the proxy cannot be reached, not only before the first answer; one warning per outage and one line when it ends;
// a deadline on each poll; and a decision cheap enough for the request path (patterns compiled once per rule, no
// diagnostics built per request), on the SDK line the service uses (the package needs sdk-trace and core 2.x).
import http from 'node:http';
import type { Attributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { Logger } from 'pino';
import { clip } from '../logger';
import type { RootDecision } from './sampler';

/** X-Ray's own default rule: one request a second, then 5% of the rest. Used until rules arrive and in outages. */
export const FALLBACK_RESERVOIR_PER_SECOND = 1;
export const FALLBACK_FIXED_RATE = 0.05;
/** How often X-Ray wants the counts when its answer does not say otherwise. */
const DEFAULT_TARGETS_INTERVAL_MS = 10_000;
const FIRST_TARGETS_DELAY_MS = 1_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const MAX_ANSWER_BYTES = 1024 * 1024;
const MAX_RULE_PAGES = 10;

/** `cloud.platform` values and the X-Ray service type a rule names them by (the package's CLOUD_PLATFORM_MAPPING). */
const SERVICE_TYPES: Readonly<Record<string, string>> = {
  aws_lambda: 'AWS::Lambda::Function',
  aws_elastic_beanstalk: 'AWS::ElasticBeanstalk::Environment',
  aws_ec2: 'AWS::EC2::Instance',
  aws_ecs: 'AWS::ECS::Container',
  aws_eks: 'AWS::EKS::Container',
};

/**
 * At most `perSecond` takes in any second, with no more than one second's worth saved up (the package's RateLimiter).
 * The balance is kept as time: `floor` moves forward by 1/perSecond s with each take. It starts with a full second
 * saved, so that the first request of a new process can be recorded.
 */
export class RateLimiter {
  private floor: number;

  constructor(
    private perSecond: number,
    now: number,
  ) {
    this.floor = now - 1000;
  }

  setRate(perSecond: number): void {
    this.perSecond = perSecond;
  }

  take(now: number): boolean {
    if (this.perSecond <= 0) return false;
    const cost = 1000 / this.perSecond;
    const balance = Math.min(now - this.floor, 1000);
    if (balance < cost) return false;
    this.floor = now - (balance - cost);
    return true;
  }
}

type Matcher = (value: unknown) => boolean;

const always: Matcher = () => true;

/** X-Ray's wildcards, compiled once: `*` any run of characters, `?` one character, case-insensitive. */
export function wildcard(pattern: string | undefined): Matcher {
  if (pattern === undefined) return () => false;
  if (pattern === '*') return always;
  if (!/[*?]/.test(pattern)) {
    const lower = pattern.toLowerCase();
    return (value) => typeof value === 'string' && value.length === lower.length && value.toLowerCase() === lower;
  }
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const regexp = new RegExp(`^${source}$`, 'is');
  return (value) => typeof value === 'string' && regexp.test(value);
}

/** A rule as GetSamplingRules returns it (SamplingRuleRecords[].SamplingRule). */
export interface SamplingRuleDocument {
  readonly RuleName: string;
  readonly Priority: number;
  readonly FixedRate: number;
  readonly ReservoirSize: number;
  readonly ServiceName: string;
  readonly ServiceType: string;
  readonly Host: string;
  readonly HTTPMethod: string;
  readonly URLPath: string;
  readonly ResourceARN: string;
  readonly Version: number;
  readonly Attributes?: Readonly<Record<string, string>>;
}

function isRuleDocument(value: unknown): value is SamplingRuleDocument {
  const rule = value as Partial<SamplingRuleDocument> | null;
  return (
    typeof rule === 'object' &&
    rule !== null &&
    typeof rule.RuleName === 'string' &&
    typeof rule.Priority === 'number' &&
    typeof rule.FixedRate === 'number' &&
    rule.FixedRate >= 0 &&
    rule.FixedRate <= 1 &&
    typeof rule.ReservoirSize === 'number' &&
    rule.ReservoirSize >= 0 &&
    rule.Version === 1 &&
    ['ServiceName', 'ServiceType', 'Host', 'HTTPMethod', 'URLPath', 'ResourceARN'].every(
      (key) => typeof rule[key as keyof SamplingRuleDocument] === 'string',
    ) &&
    (rule.Attributes === undefined ||
      (typeof rule.Attributes === 'object' &&
        rule.Attributes !== null &&
        Object.values(rule.Attributes).every((v) => typeof v === 'string')))
  );
}

/** Whether a rule is about this service at all (name, platform, ARN): decided once, when the rules arrive. */
export function ruleAppliesTo(rule: SamplingRuleDocument, resource: Attributes): boolean {
  if (rule.RuleName === 'Default') return true;
  const platform = resource['cloud.platform'];
  const serviceType = typeof platform === 'string' ? SERVICE_TYPES[platform] : undefined;
  const arn = resource['aws.ecs.container.arn'] ?? resource['aws.ecs.cluster.arn'] ?? resource['aws.eks.cluster.arn'];
  return (
    wildcard(rule.ServiceName)(resource['service.name'] ?? '') &&
    wildcard(rule.ServiceType)(serviceType) &&
    wildcard(rule.ResourceARN)(arn)
  );
}

/** One rule's decision and its counts since the last SamplingTargets report. */
export class Rule {
  readonly name: string;
  readonly definition: string;
  private readonly method: Matcher;
  private readonly path: Matcher;
  private readonly host: Matcher;
  private readonly attributes: readonly (readonly [string, Matcher])[];
  /** X-Ray's share of the reservoir for this process, until `quotaExpiresAt`; before that, borrow 1/s. */
  private readonly quota: RateLimiter;
  private quotaExpiresAt = 0;
  private readonly borrowing: RateLimiter;
  private rate: number;
  requests = 0;
  sampled = 0;
  borrowed = 0;

  constructor(
    readonly document: SamplingRuleDocument,
    now: number,
  ) {
    this.name = document.RuleName;
    this.definition = JSON.stringify(document);
    // X-Ray's Default rule matches every request of every service whatever its fields say.
    const isDefault = document.RuleName === 'Default';
    this.method = isDefault ? always : wildcard(document.HTTPMethod);
    this.path = isDefault ? always : wildcard(document.URLPath);
    this.host = isDefault ? always : wildcard(document.Host);
    this.attributes = isDefault
      ? []
      : Object.entries(document.Attributes ?? {}).map(([key, pattern]) => [key, wildcard(pattern)] as const);
    this.rate = document.FixedRate;
    this.quota = new RateLimiter(0, now);
    this.borrowing = new RateLimiter(document.ReservoirSize > 0 ? 1 : 0, now);
  }

  matches(attributes: Attributes): boolean {
    if (!this.method(attributes['http.request.method'])) return false;
    // A span without a path is taken as `/`, as the package and the X-Ray SDKs do.
    if (!this.path(attributes['url.path'] ?? '/')) return false;
    if (!this.host(attributes['server.address'])) return false;
    for (const [key, match] of this.attributes) if (!match(attributes[key])) return false;
    return true;
  }

  sample(now: number): boolean {
    this.requests += 1;
    let sampled: boolean;
    if (now < this.quotaExpiresAt) {
      sampled = this.quota.take(now);
    } else {
      sampled = this.borrowing.take(now);
      if (sampled) this.borrowed += 1;
    }
    if (!sampled) sampled = Math.random() < this.rate;
    if (sampled) this.sampled += 1;
    return sampled;
  }

  /** Applies X-Ray's answer for this rule (a SamplingTargetDocument). */
  target(document: { FixedRate?: unknown; ReservoirQuota?: unknown; ReservoirQuotaTTL?: unknown }, now: number): void {
    if (typeof document.FixedRate === 'number' && document.FixedRate >= 0 && document.FixedRate <= 1) {
      this.rate = document.FixedRate;
    }
    if (typeof document.ReservoirQuota === 'number' && document.ReservoirQuota >= 0) {
      this.quota.setRate(document.ReservoirQuota);
      this.quotaExpiresAt = typeof document.ReservoirQuotaTTL === 'number' ? document.ReservoirQuotaTTL * 1000 : now;
    }
  }

  /** The counts since the last report, reset. */
  statistics(clientId: string, now: number): Record<string, string | number> {
    const document = {
      RuleName: this.name,
      ClientID: clientId,
      Timestamp: Math.floor(now / 1000),
      RequestCount: this.requests,
      SampledCount: this.sampled,
      BorrowCount: this.borrowed,
    };
    this.requests = 0;
    this.sampled = 0;
    this.borrowed = 0;
    return document;
  }

  describe(): string {
    const d = this.document;
    return `${d.RuleName} (priority ${d.Priority}, ${d.ReservoirSize}/s + ${d.FixedRate * 100}%)`;
  }
}

export interface XRaySamplingOptions {
  /** The proxy's base URL (the collector's awsproxy, http://localhost:2000 in the task). */
  readonly endpoint: string;
  readonly rulesIntervalMs: number;
  readonly resource: Resource;
  readonly logger: Logger;
  /** Until X-Ray's answer names another interval. @default 10 s */
  readonly targetsIntervalMs?: number;
  /** Deadline of each poll. @default 5 s */
  readonly requestTimeoutMs?: number;
}

interface Outage {
  readonly since: number;
  failedPolls: number;
}

export class XRaySampling implements RootDecision {
  /** The rules that apply to this service, by priority; undefined until the first answer. */
  private rules: Rule[] | undefined;
  private outage: Outage | undefined;
  private readonly fallback: Rule;
  private readonly clientId = randomHex(24);
  private rulesFetchedAt = 0;
  private targetsIntervalMs: number;
  private rulesTimer: NodeJS.Timeout | undefined;
  private targetsTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<http.ClientRequest>();
  private stopped = false;

  constructor(private readonly options: XRaySamplingOptions) {
    this.targetsIntervalMs = options.targetsIntervalMs ?? DEFAULT_TARGETS_INTERVAL_MS;
    this.fallback = new Rule(
      {
        RuleName: 'Default',
        Priority: 10000,
        FixedRate: FALLBACK_FIXED_RATE,
        ReservoirSize: FALLBACK_RESERVOIR_PER_SECOND,
        ServiceName: '*',
        ServiceType: '*',
        Host: '*',
        HTTPMethod: '*',
        URLPath: '*',
        ResourceARN: '*',
        Version: 1,
      },
      Date.now(),
    );
  }

  /** Whether the rules from X-Ray decide now (false before the first answer and during an outage). */
  get usingRules(): boolean {
    return this.rules !== undefined && this.outage === undefined;
  }

  sample(attributes: Attributes): boolean {
    const now = Date.now();
    if (this.outage === undefined && this.rules !== undefined) {
      for (const rule of this.rules) if (rule.matches(attributes)) return rule.sample(now);
    }
    return this.fallback.sample(now);
  }

  start(): void {
    this.schedule('rules', 0);
  }

  shutdown(): void {
    this.stopped = true;
    clearTimeout(this.rulesTimer);
    clearTimeout(this.targetsTimer);
    for (const request of this.inFlight) request.destroy();
  }

  toString(): string {
    return `XRaySampling{endpoint=${this.options.endpoint}}`;
  }

  private schedule(poll: 'rules' | 'targets', delayMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => void (poll === 'rules' ? this.pollRules() : this.pollTargets()), delayMs);
    timer.unref();
    if (poll === 'rules') {
      clearTimeout(this.rulesTimer);
      this.rulesTimer = timer;
    } else {
      clearTimeout(this.targetsTimer);
      this.targetsTimer = timer;
    }
  }

  private async pollRules(): Promise<void> {
    try {
      const documents = await this.fetchRules();
      await this.options.resource.waitForAsyncAttributes?.();
      this.answered();
      this.setRules(documents);
      this.rulesFetchedAt = Date.now();
      // X-Ray's share of each reservoir is asked for soon after the rules arrive (until then a rule borrows one
      // request a second), and then every targets interval.
      if (this.targetsTimer === undefined)
        this.schedule('targets', Math.min(FIRST_TARGETS_DELAY_MS, this.targetsIntervalMs));
    } catch (error) {
      this.failed(error);
    }
    // Until a first answer, ask as often as for the counts: the collector usually starts a moment after the service.
    const interval =
      this.rules === undefined
        ? Math.min(this.options.rulesIntervalMs, this.targetsIntervalMs)
        : this.options.rulesIntervalMs;
    this.schedule('rules', interval + Math.random() * Math.min(5000, interval / 10));
  }

  private async fetchRules(): Promise<SamplingRuleDocument[]> {
    const documents: SamplingRuleDocument[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_RULE_PAGES; page++) {
      const answer = (await this.post('/GetSamplingRules', nextToken ? { NextToken: nextToken } : {})) as {
        SamplingRuleRecords?: { SamplingRule?: unknown }[];
        NextToken?: unknown;
      };
      if (!Array.isArray(answer?.SamplingRuleRecords))
        throw new Error('GetSamplingRules answered no SamplingRuleRecords');
      for (const record of answer.SamplingRuleRecords) {
        if (isRuleDocument(record?.SamplingRule)) documents.push(record.SamplingRule);
      }
      nextToken = typeof answer.NextToken === 'string' && answer.NextToken !== '' ? answer.NextToken : undefined;
      if (nextToken === undefined) break;
    }
    return documents;
  }

  private setRules(documents: SamplingRuleDocument[]): void {
    const resource = this.options.resource.attributes;
    const previous = new Map((this.rules ?? []).map((rule) => [rule.name, rule]));
    const now = Date.now();
    const rules = documents
      .filter((document) => ruleAppliesTo(document, resource))
      .sort((a, b) => a.Priority - b.Priority || (a.RuleName < b.RuleName ? -1 : 1))
      .map((document) => {
        // An unchanged rule keeps its quota and its counts.
        const kept = previous.get(document.RuleName);
        return kept?.definition === JSON.stringify(document) ? kept : new Rule(document, now);
      });
    const changed =
      this.rules === undefined ||
      rules.length !== this.rules.length ||
      rules.some((rule, i) => rule !== this.rules![i]);
    this.rules = rules;
    if (changed) {
      this.options.logger.info(
        {
          component: 'sampling',
          endpoint: this.options.endpoint,
          rules: rules.map((rule) => rule.describe()),
          ignored: documents.length - rules.length,
        },
        'sampling rules loaded',
      );
    }
  }

  private async pollTargets(): Promise<void> {
    let nextMs = this.targetsIntervalMs;
    if (this.rules !== undefined && this.rules.length > 0) {
      try {
        const now = Date.now();
        const answer = (await this.post('/SamplingTargets', {
          SamplingStatisticsDocuments: this.rules.map((rule) => rule.statistics(this.clientId, now)),
        })) as { SamplingTargetDocuments?: unknown; LastRuleModification?: unknown };
        if (!Array.isArray(answer?.SamplingTargetDocuments)) {
          throw new Error('SamplingTargets answered no SamplingTargetDocuments');
        }
        this.answered();
        const byName = new Map(this.rules.map((rule) => [rule.name, rule]));
        const intervals: number[] = [];
        for (const document of answer.SamplingTargetDocuments as Record<string, unknown>[]) {
          const rule = typeof document?.RuleName === 'string' ? byName.get(document.RuleName) : undefined;
          if (rule === undefined) continue;
          rule.target(document, Date.now());
          if (typeof document.Interval === 'number' && document.Interval > 0) intervals.push(document.Interval * 1000);
        }
        if (intervals.length > 0) nextMs = Math.min(...intervals);
        this.targetsIntervalMs = nextMs;
        // A rule changed in the console since the rules were fetched: fetch them now, not at the next interval.
        if (
          typeof answer.LastRuleModification === 'number' &&
          answer.LastRuleModification * 1000 > this.rulesFetchedAt
        ) {
          this.schedule('rules', 0);
        }
      } catch (error) {
        this.failed(error);
      }
    }
    this.schedule('targets', nextMs + Math.random() * 100);
  }

  private answered(): void {
    if (this.outage === undefined) return;
    this.options.logger.warn(
      {
        component: 'sampling',
        endpoint: this.options.endpoint,
        failed_polls: this.outage.failedPolls,
        outage_s: Math.round((Date.now() - this.outage.since) / 1000),
      },
      'sampling rules available again',
    );
    this.outage = undefined;
  }

  private failed(error: unknown): void {
    if (this.stopped) return;
    if (this.outage !== undefined) {
      this.outage.failedPolls += 1;
      return;
    }
    this.outage = { since: Date.now(), failedPolls: 1 };
    this.options.logger.warn(
      {
        component: 'sampling',
        endpoint: this.options.endpoint,
        detail: clip(error instanceof Error ? error.message : String(error), 512),
      },
      "sampling rules unavailable: recording by X-Ray's default rule (1 request a second plus 5%) until the proxy answers; reporting once until it does",
    );
  }

  /** POSTs a JSON body to the proxy and resolves with the parsed JSON answer; rejects on anything but a 200. */
  private post(path: string, body: unknown): Promise<unknown> {
    const url = new URL(`${this.options.endpoint}${path}`);
    const payload = JSON.stringify(body);
    const timeoutMs = this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      // https (and TLS with it) is loaded only for an https endpoint: the task's proxy is plain HTTP on localhost.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const client: typeof http = url.protocol === 'https:' ? (require('node:https') as typeof http) : http;
      const request = client.request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        agent: false,
      });
      this.inFlight.add(request);
      const deadline = setTimeout(() => {
        request.destroy(new Error(`${url.origin}${path} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (error: Error | undefined, value?: unknown) => {
        clearTimeout(deadline);
        this.inFlight.delete(request);
        if (error) reject(error);
        else resolve(value);
      };
      request.on('error', (error) => settle(error));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES)
            request.destroy(new Error(`${path} answered more than ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(chunk);
        });
        response.on('error', (error) => settle(error));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200) {
            settle(new Error(`${path} answered ${response.statusCode}: ${clip(text, 200)}`));
            return;
          }
          try {
            settle(undefined, JSON.parse(text));
          } catch {
            settle(new Error(`${path} answered with a body that is not JSON`));
          }
        });
      });
      request.end(payload);
    });
  }
}

function randomHex(length: number): string {
  let out = '';
  while (out.length < length)
    out += Math.floor(Math.random() * 2 ** 32)
      .toString(16)
      .padStart(8, '0');
  return out.slice(0, length);
}
