// One X-Ray sampling rule, compiled once when the rules arrive and then asked on every request: whether it matches
// (X-Ray's wildcards), and whether this request is recorded (the reservoir X-Ray assigned, or one request a second
// borrowed until it has, then the fixed rate), with the counts reported back to X-Ray. The decision follows
// aws-xray-sdk-node (packages/core/lib/middleware/sampling: sampling_rule.js, reservoir.js, default_sampler.js) and
// @opentelemetry/sampler-aws-xray 0.3.0 (open-telemetry/opentelemetry-js-contrib: packages/sampler-aws-xray/src:
// sampling-rule-applier.ts, rate-limiter.ts, utils.ts).
import { randomFillSync } from 'node:crypto';
import type { Attributes } from '@opentelemetry/api';
import type { SamplingRequest } from './root-decision';

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

/** One rule's counts since the last report (GetSamplingTargets' SamplingStatisticsDocument). */
export interface StatisticsDocument {
  readonly RuleName: string;
  readonly ClientID: string;
  /** Epoch seconds. */
  readonly Timestamp: number;
  readonly RequestCount: number;
  readonly SampledCount: number;
  readonly BorrowCount: number;
}

/** X-Ray's answer for one rule (GetSamplingTargets' SamplingTargetDocument); every field may be missing. */
export interface TargetDocument {
  readonly FixedRate?: unknown;
  readonly ReservoirQuota?: unknown;
  /** Epoch seconds. */
  readonly ReservoirQuotaTTL?: unknown;
}

/** The rule X-Ray keeps for every account, whose name is reserved and which matches every request. */
export const DEFAULT_RULE_NAME = 'Default';

export function isRuleDocument(value: unknown): value is SamplingRuleDocument {
  const rule = value as Partial<SamplingRuleDocument> | null;
  return (
    typeof rule === 'object' &&
    rule !== null &&
    typeof rule.RuleName === 'string' &&
    rule.RuleName !== '' &&
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

/**
 * At most `perSecond` takes in any second, with no more than one second's worth saved up (the js-contrib package's
 * RateLimiter). The balance is kept as time: `floor` moves forward by 1/perSecond s with each take. It starts with a
 * full second saved, so that the first request of a new process can be recorded. `now` is monotonic milliseconds
 * (performance.now()): a wall clock stepped back by NTP would stop every reservoir for as long as the step.
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
    if (!(this.perSecond > 0)) return false;
    const cost = 1000 / this.perSecond;
    const balance = Math.min(now - this.floor, 1000);
    // A nanosecond of slack: 1000 / 3 three times over is a hair more than 1000 in floating point, which would give
    // a rate of 3 only 2 takes out of a full second.
    if (balance < cost - 1e-6) return false;
    this.floor = now - (balance - cost);
    return true;
  }
}

/** The fixed rate is drawn as a 30-bit integer: V8 keeps integers below 2^30 unboxed (Smi), so a draw allocates nothing. */
export const RATE_SCALE = 2 ** 30;

/** The fixed rate's draws. */
export interface RateDraw {
  /** True with probability `threshold` / RATE_SCALE; `threshold` is an integer from 0 to RATE_SCALE - 1. */
  below(threshold: number): boolean;
}

/**
 * Draws from a pool of random words refilled by crypto.randomFillSync, 1,024 draws at a time: nothing a caller can
 * predict, and no allocation per draw (Math.random() returns a freshly allocated number on every call from
 * optimized code: 20 M calls caused 152 scavenges here, against none for this pool).
 */
export class RandomPool implements RateDraw {
  private readonly words = new Uint32Array(1024);
  private next = this.words.length;

  below(threshold: number): boolean {
    if (this.next === this.words.length) {
      randomFillSync(this.words);
      this.next = 0;
    }
    return this.words[this.next++] >>> 2 < threshold;
  }
}

/** Draws from a function giving numbers in [0, 1), such as Math.random (tests, where the draws are chosen). */
export class DrawFrom implements RateDraw {
  constructor(private readonly random: () => number) {}

  below(threshold: number): boolean {
    return Math.floor(this.random() * RATE_SCALE) < threshold;
  }
}

/** The integer a draw must fall below for `rate`; -1 for a rate of 1 or more, which needs no draw. */
function rateThreshold(rate: number): number {
  return rate >= 1 ? -1 : Math.floor(rate * RATE_SCALE);
}

/** Folds one UTF-16 code unit for a case-insensitive comparison: ASCII at once, anything else as toLowerCase does. */
function fold(code: number): number {
  if (code >= 65 && code <= 90) return code + 32;
  if (code < 128) return code;
  return String.fromCharCode(code).toLowerCase().charCodeAt(0);
}

const STAR = 42;
const QUESTION = 63;

/**
 * X-Ray's wildcards: `*` any run of characters (none included), `?` exactly one, case-insensitive, the whole value.
 * Matched by the classic greedy scan with one backtrack point instead of a regular expression (what the reference
 * samplers compile), so that a request's path cannot make a pattern with several `*` backtrack for long
 * (O(pattern × value) at worst), and nothing is allocated per match.
 */
export function wildcard(pattern: string): (value: string) => boolean {
  const codes = Array.from({ length: pattern.length }, (_, i) => fold(pattern.charCodeAt(i)));
  return (value) => {
    let p = 0;
    let v = 0;
    let star = -1;
    let resumeAt = 0;
    while (v < value.length) {
      const code = p < codes.length ? codes[p] : -1;
      if (code === STAR) {
        star = p++;
        resumeAt = v;
      } else if (code === QUESTION || (code >= 0 && code === fold(value.charCodeAt(v)))) {
        p++;
        v++;
      } else if (star >= 0) {
        p = star + 1;
        v = ++resumeAt;
      } else {
        return false;
      }
    }
    while (p < codes.length && codes[p] === STAR) p++;
    return p === codes.length;
  };
}

/** `cloud.platform` values and the X-Ray service type a rule names them by (the package's CLOUD_PLATFORM_MAPPING). */
const SERVICE_TYPES: Readonly<Record<string, string>> = {
  aws_lambda: 'AWS::Lambda::Function',
  aws_elastic_beanstalk: 'AWS::ElasticBeanstalk::Environment',
  aws_ec2: 'AWS::EC2::Instance',
  aws_ecs: 'AWS::ECS::Container',
  aws_eks: 'AWS::EKS::Container',
};

function matchesService(pattern: string, value: unknown): boolean {
  return pattern === '*' || (typeof value === 'string' && wildcard(pattern)(value));
}

/** Whether a rule is about this service at all (name, platform, ARN): decided once, when the rules arrive. */
export function ruleAppliesTo(rule: SamplingRuleDocument, resource: Attributes): boolean {
  if (rule.RuleName === DEFAULT_RULE_NAME) return true;
  const platform = resource['cloud.platform'];
  const serviceType = typeof platform === 'string' ? SERVICE_TYPES[platform] : undefined;
  const arn = resource['aws.ecs.container.arn'] ?? resource['aws.ecs.cluster.arn'] ?? resource['aws.eks.cluster.arn'];
  return (
    matchesService(rule.ServiceName, resource['service.name'] ?? '') &&
    matchesService(rule.ServiceType, serviceType) &&
    matchesService(rule.ResourceARN, arn)
  );
}

type Matcher = (value: string) => boolean;

/** A field's matcher, or undefined for `*`, which matches anything, a missing value included. */
function fieldMatcher(pattern: string): Matcher | undefined {
  return pattern === '*' ? undefined : wildcard(pattern);
}

/** One rule's decision and its counts since the last SamplingTargets report. */
export class Rule {
  readonly name: string;
  /** The document as fetched, to tell a changed rule from the same one fetched again. */
  readonly definition: string;
  /** True when the rule matches every request without reading it (X-Ray's Default rule, or all fields `*`). */
  readonly matchesEverything: boolean;
  private readonly method: Matcher | undefined;
  private readonly path: Matcher | undefined;
  private readonly host: Matcher | undefined;
  private readonly attributeKeys: readonly string[];
  private readonly attributeMatchers: readonly Matcher[];
  /** X-Ray's share of the reservoir for this process, until `quotaExpiresAt` (monotonic ms); before that, borrow. */
  private quota: RateLimiter;
  private quotaExpiresAt = -Infinity;
  /** One request a second while no quota applies, if the rule has a reservoir at all. */
  private borrowing: RateLimiter;
  /** The fixed rate as rateThreshold gives it. */
  private threshold: number;
  requests = 0;
  sampled = 0;
  borrowed = 0;

  constructor(
    readonly document: SamplingRuleDocument,
    now: number,
  ) {
    this.name = document.RuleName;
    this.definition = JSON.stringify(document);
    // X-Ray's Default rule matches every request of every service whatever its fields say (its matching fields
    // cannot be changed in the console or the API).
    const isDefault = document.RuleName === DEFAULT_RULE_NAME;
    this.method = isDefault ? undefined : fieldMatcher(document.HTTPMethod);
    this.path = isDefault ? undefined : fieldMatcher(document.URLPath);
    this.host = isDefault ? undefined : fieldMatcher(document.Host);
    const attributes = isDefault ? [] : Object.entries(document.Attributes ?? {});
    this.attributeKeys = attributes.map(([key]) => key);
    this.attributeMatchers = attributes.map(([, pattern]) => wildcard(pattern));
    this.matchesEverything =
      this.method === undefined && this.path === undefined && this.host === undefined && attributes.length === 0;
    this.threshold = rateThreshold(document.FixedRate);
    this.quota = new RateLimiter(0, now);
    this.borrowing = new RateLimiter(document.ReservoirSize > 0 ? 1 : 0, now);
  }

  matches(request: SamplingRequest): boolean {
    if (this.matchesEverything) return true;
    if (this.method !== undefined) {
      const method = request.method();
      if (method === undefined || !this.method(method)) return false;
    }
    // A span without a path is taken as `/`, as the references do.
    if (this.path !== undefined && !this.path(request.path() ?? '/')) return false;
    if (this.host !== undefined) {
      const host = request.host();
      if (host === undefined || !this.host(host)) return false;
    }
    // Every attribute the rule names must be on the span and match (js-contrib's attributeMatch, Java's
    // SamplingRuleApplier.matches).
    for (let i = 0; i < this.attributeKeys.length; i++) {
      const value = request.attribute(this.attributeKeys[i]);
      if (typeof value !== 'string' || !this.attributeMatchers[i](value)) return false;
    }
    return true;
  }

  /** Whether this request is recorded; `now` is monotonic ms. */
  sample(now: number, draw: RateDraw): boolean {
    this.requests += 1;
    let sampled: boolean;
    if (now < this.quotaExpiresAt) {
      sampled = this.quota.take(now);
    } else {
      sampled = this.borrowing.take(now);
      if (sampled) this.borrowed += 1;
    }
    if (!sampled) sampled = this.threshold < 0 || draw.below(this.threshold);
    if (sampled) this.sampled += 1;
    return sampled;
  }

  /**
   * Applies X-Ray's answer for this rule. `ReservoirQuotaTTL` is a wall-clock time; it becomes a monotonic deadline
   * from the two clocks read together (as opentelemetry-java-contrib's SamplingRuleApplier.withTarget does).
   */
  target(document: TargetDocument, now: number, epochMs: number): void {
    if (typeof document.FixedRate === 'number' && document.FixedRate >= 0 && document.FixedRate <= 1) {
      this.threshold = rateThreshold(document.FixedRate);
    }
    if (typeof document.ReservoirQuota === 'number' && document.ReservoirQuota >= 0) {
      this.quota.setRate(document.ReservoirQuota);
      this.quotaExpiresAt =
        typeof document.ReservoirQuotaTTL === 'number' ? now + (document.ReservoirQuotaTTL * 1000 - epochMs) : now;
    }
  }

  /**
   * Takes over what a rule of the same name had before a refresh changed it: its counts since the last report and
   * the quota X-Ray assigned (aws-xray-sdk-node's SamplingRule.merge). The rate is the new document's until X-Ray's
   * next answer.
   */
  carryOver(previous: Rule): void {
    this.requests = previous.requests;
    this.sampled = previous.sampled;
    this.borrowed = previous.borrowed;
    this.quota = previous.quota;
    this.quotaExpiresAt = previous.quotaExpiresAt;
    previous.borrowing.setRate(this.document.ReservoirSize > 0 ? 1 : 0);
    this.borrowing = previous.borrowing;
  }

  /** The counts since the last report, reset. */
  statistics(clientId: string, epochMs: number): StatisticsDocument {
    const document: StatisticsDocument = {
      RuleName: this.name,
      ClientID: clientId,
      Timestamp: Math.floor(epochMs / 1000),
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
