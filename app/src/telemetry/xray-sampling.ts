// X-Ray central sampling: the rules an operator edits in the X-Ray console, fetched through the collector's awsproxy
// extension (POST /GetSamplingRules every polling interval, POST /SamplingTargets every 10 s with this process's
// counts, which X-Ray answers with its share of each rule's reservoir). What happens when X-Ray does not answer
// follows the reference samplers (read at: @opentelemetry/sampler-aws-xray 0.3.0 in opentelemetry-js-contrib
// packages/sampler-aws-xray/src; aws-xray-sdk-node 3.12.0 packages/core/lib/middleware/sampling;
// opentelemetry-java-contrib aws-xray/src/main/java/io/opentelemetry/contrib/awsxray; aws-otel-python-instrumentation
// aws-opentelemetry-distro/src/amazon/opentelemetry/distro/sampler), and X-Ray's API reference where they disagree:
// - The rules fetched last, and the quotas X-Ray assigned, keep deciding through any failed poll (throttling, an
//   error, a bad answer, a timeout, a refused connection) for up to an hour after they were fetched
//   (RULE_CACHE_TTL_MILLIS in js-contrib's rule-cache.ts, TTL in aws-xray-sdk-node's rule_cache.js,
//   RULE_CACHE_TTL_SECONDS in the Python distro's _rule_cache.py; Java's AwsXrayRemoteSampler keeps them without
//   limit). After that, the Default rule fetched last decides, as a rule does before X-Ray assigns it a quota, so
//   that an operator's edit of the Default rule (0/s + 1% in X-Ray's own examples) holds; X-Ray's default (1 request
//   a second plus 5%, the references' fallback) only before the first answer. The API documents no fallback.
// - The age of the rules is measured from the moment their fetch started (aws-xray-sdk-node's rule_poller.js;
//   js-contrib and Python take it after, Java never reads LastRuleModification), so a console change made during a
//   fetch is newer than the rules it returned: the API compares LastRuleModification with when "the service last
//   retrieved" the rules.
// - SamplingTargets gets the counts of the rules that saw requests only (the API: "each in-use rule"; as
//   aws-xray-sdk-node's target_poller.js and the Python distro do, where js-contrib and Java send every rule), at
//   most 25 a call: SamplingStatisticsDocuments takes "Maximum number of 25 items" (API reference,
//   GetSamplingTargets). No reference splits them; each is refused with more than 25 rules in use.
// - The first report goes 10 s after the rules arrive (the documents are "for the last 10 seconds": API reference,
//   SamplingStatisticsDocument), then at the Interval X-Ray answers, 10 s again when an answer names none (js-contrib,
//   Java and Python; aws-xray-sdk-node keeps the last one).
// - A rule changed in the console keeps its counts and quota under its name (aws-xray-sdk-node's SamplingRule.merge;
//   the others start a changed rule afresh and lose counts X-Ray is owed).
// - Every time the decision reads is monotonic (performance.now()); X-Ray's timestamps are converted once, when they
//   arrive (Java's SamplingRuleApplier does the same with its clock's nanoTime; the others read the wall clock).
// Written here rather than taken from @opentelemetry/sampler-aws-xray because the service needs what that package does
// not do (docs/architecture.md, "Sampling"): one warning per outage and one line when it ends, a deadline on each
// poll, a decision that parses nothing for the Default rule (root-decision.ts), and the SDK line the service uses.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Resource } from '@opentelemetry/resources';
import type { Logger } from 'pino';
import { clip } from '../logger';
import type { RootDecision, SamplingRequest } from './root-decision';
import {
  DEFAULT_RULE_NAME,
  DrawFrom,
  isRuleDocument,
  RandomPool,
  Rule,
  ruleAppliesTo,
  type SamplingRuleDocument,
  type StatisticsDocument,
  type RateDraw,
  type TargetDocument,
} from './xray-rule';

/** X-Ray's own default rule: one request a second, then 5% of the rest. Used until the first rules arrive. */
export const FALLBACK_RESERVOIR_PER_SECOND = 1;
export const FALLBACK_FIXED_RATE = 0.05;
/** How long fetched rules keep deciding without a fresh answer: the references' one hour. */
export const RULE_CACHE_TTL_MS = 60 * 60 * 1000;
/** How often X-Ray wants the counts when its answer does not say otherwise. */
export const DEFAULT_TARGETS_INTERVAL_MS = 10_000;
/** SamplingStatisticsDocuments: "Array Members: Maximum number of 25 items" (X-Ray API, GetSamplingTargets). */
export const MAX_STATISTICS_PER_CALL = 25;
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const MAX_ANSWER_BYTES = 1024 * 1024;
const MAX_RULE_PAGES = 10;

/** The sampler's clocks and timers, replaceable in tests. */
export interface SamplingTime {
  /** Monotonic milliseconds: rate limiters, the rules' age, quota deadlines. */
  monotonicMs(): number;
  /** Wall-clock epoch milliseconds: what X-Ray's timestamps are in. */
  epochMs(): number;
  /** Calls `callback` once after `delayMs`, without keeping the process alive; the function returned cancels it. */
  after(delayMs: number, callback: () => void): () => void;
}

export const REAL_TIME: SamplingTime = {
  monotonicMs: () => performance.now(),
  epochMs: () => Date.now(),
  after(delayMs, callback) {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

const X_RAY_DEFAULT: SamplingRuleDocument = {
  RuleName: DEFAULT_RULE_NAME,
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
};

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
  /** @default REAL_TIME */
  readonly time?: SamplingTime;
  /** Draws the fixed rate and the polls' jitter, in [0, 1). @default a pool of crypto.randomFillSync words */
  readonly random?: () => number;
}

type Poll = 'rules' | 'targets';

interface Outage {
  readonly since: number;
  failedPolls: number;
  /** The polls that failed and have not answered since; the outage ends when none is left. */
  readonly failing: Set<Poll>;
}

export class XRaySampling implements RootDecision {
  /** The rules that apply to this service, by priority; undefined until the first answer. */
  private rules: Rule[] | undefined;
  /** Monotonic and epoch ms at which the fetch of the current rules started. */
  private rulesFetchedAt = -Infinity;
  private rulesFetchedAtEpochMs = -Infinity;
  /** X-Ray's default until the first answer, then the Default rule fetched last. */
  private fallback: Rule;
  private outage: Outage | undefined;
  private expiryReported = false;
  private readonly clientId = randomBytes(12).toString('hex');
  private readonly time: SamplingTime;
  private readonly random: () => number;
  private readonly draw: RateDraw;
  private readonly targetsIntervalMs: number;
  private cancelRulesPoll: (() => void) | undefined;
  private cancelTargetsPoll: (() => void) | undefined;
  private targetsStarted = false;
  private rulesInFlight = false;
  private readonly polls = new Set<Promise<void>>();
  private readonly requests = new Set<http.ClientRequest>();
  private stopped = false;

  constructor(private readonly options: XRaySamplingOptions) {
    this.time = options.time ?? REAL_TIME;
    this.random = options.random ?? Math.random;
    this.draw = options.random ? new DrawFrom(options.random) : new RandomPool();
    this.targetsIntervalMs = options.targetsIntervalMs ?? DEFAULT_TARGETS_INTERVAL_MS;
    this.fallback = new Rule(X_RAY_DEFAULT, this.time.monotonicMs());
  }

  /**
   * The request's decision: the first rule by priority that matches it while the rules are fresh, the fallback
   * otherwise. Reads the clock once and allocates nothing; a rule that matches everything reads nothing of the request.
   */
  sample(request: SamplingRequest): boolean {
    const now = this.time.monotonicMs();
    const rules = this.rules;
    if (rules !== undefined && now - this.rulesFetchedAt <= RULE_CACHE_TTL_MS) {
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i];
        if (rule.matches(request)) return rule.sample(now, this.draw);
      }
    }
    return this.fallback.sample(now, this.draw);
  }

  start(): void {
    this.schedule('rules', 0);
  }

  shutdown(): void {
    this.stopped = true;
    this.cancelRulesPoll?.();
    this.cancelTargetsPoll?.();
    for (const request of this.requests) request.destroy();
  }

  /** Resolves once no poll is running (tests wait on it instead of on the clock). */
  async settled(): Promise<void> {
    while (this.polls.size > 0) await Promise.all(this.polls);
  }

  toString(): string {
    return `XRaySampling{endpoint=${this.options.endpoint}}`;
  }

  private schedule(poll: Poll, delayMs: number): void {
    if (this.stopped) return;
    const cancel = this.time.after(delayMs, () => this.track(poll === 'rules' ? this.pollRules() : this.pollTargets()));
    if (poll === 'rules') {
      this.cancelRulesPoll?.();
      this.cancelRulesPoll = cancel;
    } else {
      this.cancelTargetsPoll?.();
      this.cancelTargetsPoll = cancel;
    }
  }

  private track(poll: Promise<void>): void {
    this.polls.add(poll);
    void poll.finally(() => this.polls.delete(poll));
  }

  private expired(now: number): boolean {
    return now - this.rulesFetchedAt > RULE_CACHE_TTL_MS;
  }

  private async pollRules(): Promise<void> {
    // A fetch asked for by a SamplingTargets answer while one runs: the running one reschedules itself, and if it
    // started before the change, the next answer asks again.
    if (this.rulesInFlight) return;
    this.rulesInFlight = true;
    // Taken before the call: a rule changed during the fetch is then newer than the rules it returns.
    const fetchedAt = this.time.monotonicMs();
    const fetchedAtEpochMs = this.time.epochMs();
    try {
      const documents = await this.fetchRules();
      await this.options.resource.waitForAsyncAttributes?.();
      if (this.stopped) return;
      this.answered('rules');
      this.setRules(documents, fetchedAt, fetchedAtEpochMs);
      if (!this.targetsStarted) {
        // The first counts cover the first 10 s under the rules (until then a rule borrows one request a second).
        this.targetsStarted = true;
        this.schedule('targets', this.targetsIntervalMs + this.random() * 100);
      }
    } catch (error) {
      this.failed('rules', error);
    } finally {
      this.rulesInFlight = false;
    }
    // Until a first answer, ask as often as for the counts: the collector usually starts a moment after the service.
    const interval =
      this.rules === undefined
        ? Math.min(this.options.rulesIntervalMs, this.targetsIntervalMs)
        : this.options.rulesIntervalMs;
    this.schedule('rules', interval + this.random() * Math.min(5000, interval / 10));
  }

  private async fetchRules(): Promise<SamplingRuleDocument[]> {
    const documents: SamplingRuleDocument[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_RULE_PAGES; page++) {
      const answer = (await this.post('/GetSamplingRules', nextToken ? { NextToken: nextToken } : {})) as {
        SamplingRuleRecords?: { SamplingRule?: unknown }[];
        NextToken?: unknown;
      } | null;
      if (!Array.isArray(answer?.SamplingRuleRecords)) {
        throw new Error('GetSamplingRules answered no SamplingRuleRecords');
      }
      for (const record of answer.SamplingRuleRecords) {
        if (isRuleDocument(record?.SamplingRule)) documents.push(record.SamplingRule);
      }
      nextToken = typeof answer.NextToken === 'string' && answer.NextToken !== '' ? answer.NextToken : undefined;
      if (nextToken === undefined) break;
    }
    // X-Ray always has its Default rule: an answer without any rule is a fault, not an instruction to drop them
    // (aws-xray-sdk-node's rule_poller.js keeps its cache on an empty answer too).
    if (documents.length === 0) throw new Error('GetSamplingRules answered no valid rule');
    return documents;
  }

  private setRules(documents: SamplingRuleDocument[], fetchedAt: number, fetchedAtEpochMs: number): void {
    const resource = this.options.resource.attributes;
    const now = this.time.monotonicMs();
    const previous = new Map((this.rules ?? []).map((rule) => [rule.name, rule]));
    const rules = documents
      .filter((document) => ruleAppliesTo(document, resource))
      .sort((a, b) => a.Priority - b.Priority || (a.RuleName < b.RuleName ? -1 : 1))
      .map((document) => {
        // The same rule fetched again stays as it is; a changed one keeps its counts and quota by name.
        const kept = previous.get(document.RuleName);
        if (kept?.definition === JSON.stringify(document)) return kept;
        const rule = new Rule(document, now);
        if (kept !== undefined) rule.carryOver(kept);
        return rule;
      });
    const defaultRule = documents.find((document) => document.RuleName === DEFAULT_RULE_NAME);
    if (defaultRule !== undefined && JSON.stringify(defaultRule) !== this.fallback.definition) {
      this.fallback = new Rule(defaultRule, now);
    }
    const changed =
      this.rules === undefined ||
      rules.length !== this.rules.length ||
      rules.some((rule, i) => rule !== this.rules![i]);
    this.rules = rules;
    this.rulesFetchedAt = fetchedAt;
    this.rulesFetchedAtEpochMs = fetchedAtEpochMs;
    this.expiryReported = false;
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
    const rules = this.rules;
    // Expired rules decide nothing, so they have nothing to report.
    if (rules !== undefined && !this.expired(this.time.monotonicMs())) {
      const inUse = rules.filter((rule) => rule.requests > 0);
      if (inUse.length > 0) {
        const epochMs = this.time.epochMs();
        const documents = inUse.map((rule) => rule.statistics(this.clientId, epochMs));
        try {
          nextMs = (await this.reportStatistics(documents)) ?? this.targetsIntervalMs;
        } catch (error) {
          this.failed('targets', error);
        }
      }
    }
    this.schedule('targets', nextMs + this.random() * 100);
  }

  /** Sends the counts, 25 at most a call, and applies X-Ray's answers; resolves with the interval X-Ray asked for. */
  private async reportStatistics(documents: StatisticsDocument[]): Promise<number | undefined> {
    let intervalMs: number | undefined;
    let lastRuleModification = -Infinity;
    for (let from = 0; from < documents.length; from += MAX_STATISTICS_PER_CALL) {
      const answer = (await this.post('/SamplingTargets', {
        SamplingStatisticsDocuments: documents.slice(from, from + MAX_STATISTICS_PER_CALL),
      })) as { SamplingTargetDocuments?: unknown; LastRuleModification?: unknown } | null;
      if (!Array.isArray(answer?.SamplingTargetDocuments)) {
        throw new Error('SamplingTargets answered no SamplingTargetDocuments');
      }
      if (this.stopped) return undefined;
      this.answered('targets');
      // The rules may have been refreshed while the call ran: the answer goes to the rules in force, by name.
      const byName = new Map((this.rules ?? []).map((rule) => [rule.name, rule]));
      const now = this.time.monotonicMs();
      const epochMs = this.time.epochMs();
      for (const document of answer.SamplingTargetDocuments as (TargetDocument & Record<string, unknown>)[]) {
        const rule = typeof document?.RuleName === 'string' ? byName.get(document.RuleName) : undefined;
        if (rule === undefined) continue;
        rule.target(document, now, epochMs);
        if (typeof document.Interval === 'number' && document.Interval > 0) {
          intervalMs = Math.min(intervalMs ?? Infinity, document.Interval * 1000);
        }
      }
      if (typeof answer.LastRuleModification === 'number') {
        lastRuleModification = Math.max(lastRuleModification, answer.LastRuleModification);
      }
    }
    // A rule changed in the console since the rules were fetched: fetch them now, not at the next interval.
    if (lastRuleModification * 1000 > this.rulesFetchedAtEpochMs) this.schedule('rules', 0);
    return intervalMs;
  }

  private answered(poll: Poll): void {
    const outage = this.outage;
    if (outage === undefined) return;
    // Rules that answer after failing end the outage (the proxy is back); otherwise each call that failed must have
    // answered since, so that counts throttled under rules that answer stay one outage, not two lines a poll.
    if (poll === 'rules' && outage.failing.has('rules')) outage.failing.clear();
    else outage.failing.delete(poll);
    if (outage.failing.size > 0) return;
    this.options.logger.warn(
      {
        component: 'sampling',
        endpoint: this.options.endpoint,
        failed_polls: outage.failedPolls,
        outage_s: Math.round((this.time.monotonicMs() - outage.since) / 1000),
      },
      'sampling rules available again',
    );
    this.outage = undefined;
  }

  private failed(poll: Poll, error: unknown): void {
    if (this.stopped) return;
    const now = this.time.monotonicMs();
    const detail = clip(error instanceof Error ? error.message : String(error), 512);
    if (this.outage !== undefined) {
      this.outage.failedPolls += 1;
      this.outage.failing.add(poll);
    } else {
      this.outage = { since: now, failedPolls: 1, failing: new Set([poll]) };
      const fields = { component: 'sampling', endpoint: this.options.endpoint, detail };
      if (this.rules === undefined) {
        this.options.logger.warn(
          fields,
          "sampling rules unavailable: recording by X-Ray's default rule (1 request a second plus 5%) until the proxy answers; reporting once until it does",
        );
      } else if (!this.expired(now)) {
        this.options.logger.warn(
          { ...fields, rules_age_s: Math.round((now - this.rulesFetchedAt) / 1000) },
          'sampling rules unavailable: the rules fetched last keep deciding for up to an hour after they were fetched, then their Default rule; reporting once until the proxy answers',
        );
      }
    }
    if (this.rules !== undefined && this.expired(now) && !this.expiryReported) {
      this.expiryReported = true;
      this.options.logger.warn(
        {
          component: 'sampling',
          endpoint: this.options.endpoint,
          detail,
          rules_age_s: Math.round((now - this.rulesFetchedAt) / 1000),
          fallback: this.fallback.describe(),
        },
        'sampling rules expired: recording by the Default rule fetched last until the proxy answers',
      );
    }
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
      this.requests.add(request);
      const cancelDeadline = this.time.after(timeoutMs, () => {
        request.destroy(new Error(`${url.origin}${path} did not answer within ${timeoutMs} ms`));
      });
      const settle = (error: Error | undefined, value?: unknown) => {
        cancelDeadline();
        this.requests.delete(request);
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
            const errorType = response.headers['x-amzn-errortype'];
            const type = typeof errorType === 'string' ? ` ${errorType.split(':')[0]}` : '';
            settle(new Error(`${path} answered ${response.statusCode}${type}: ${clip(text, 200)}`));
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
