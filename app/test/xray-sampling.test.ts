// The X-Ray sampler in-process, against the fake sampling API (a real HTTP server, as the collector's awsproxy serves
// it), on time the test moves (test/support/manual-time.ts): nothing here waits for the clock. What is checked is
// what the reference samplers do, and X-Ray's API documentation where they disagree (src/telemetry/xray-sampling.ts
// names them): the rules fetched last survive any failed poll for an hour (opentelemetry-js-contrib
// packages/sampler-aws-xray/src/rule-cache.ts RULE_CACHE_TTL_MILLIS, aws-xray-sdk-node
// packages/core/lib/middleware/sampling/rule_cache.js TTL), then the Default rule fetched last decides; counts go
// only for rules that saw requests (aws-xray-sdk-node target_poller.js getCandidates), at most 25 a call (X-Ray API
// reference, GetSamplingTargets), first 10 s after the rules arrive (opentelemetry-java-contrib
// AwsXrayRemoteSampler.java DEFAULT_TARGET_INTERVAL_NANOS), again after 10 s when an answer names no Interval
// (js-contrib rule-cache.ts updateTargets); a changed rule keeps its counts and quota (aws-xray-sdk-node
// sampling_rule.js merge); the rules' age counts from before their fetch (aws-xray-sdk-node rule_poller.js); and the
// reservoirs run on a monotonic clock (opentelemetry-java-contrib SamplingRuleApplier.java, clock.nanoTime()).
import { resourceFromAttributes } from '@opentelemetry/resources';
import { createLogger } from '../src/logger';
import type { SamplingRequest } from '../src/telemetry/root-decision';
import { RULE_CACHE_TTL_MS, XRaySampling } from '../src/telemetry/xray-sampling';
import { ManualTime } from './support/manual-time';
import {
  DEFAULT_RULE,
  FakeXRayProxy,
  INVALID_REQUEST,
  samplingRule,
  THROTTLED,
  type Fault,
  type SamplingPath,
  type SamplingRule,
} from './support/xray-proxy';

interface Line {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** A request to `path` with GET, as http-server.ts shows it to the rules. */
function get(path: string): SamplingRequest {
  return {
    method: () => 'GET',
    path: () => path,
    host: () => 'service.example',
    attribute: (key) => (key === 'user_agent.original' ? 'test' : undefined),
  };
}

/** With `random` at 0.5, a rate below 0.5 records nothing beyond the reservoir and a rate of 1 everything. */
const HALF = () => 0.5;
/** The rules poll's interval here, and when it comes with `HALF`'s jitter (interval / 10 × 0.5). */
const RULES_INTERVAL_MS = 60_000;
const NEXT_RULES_POLL_MS = RULES_INTERVAL_MS + 2_500;
/** When the first SamplingTargets call comes after the rules: 10 s and `HALF`'s jitter (100 ms × 0.5). */
const FIRST_TARGETS_MS = 10_050;

class Harness {
  readonly lines: Line[] = [];
  readonly time = new ManualTime();
  readonly sampling: XRaySampling;

  private constructor(
    readonly proxy: FakeXRayProxy,
    options: { rulesIntervalMs?: number } = {},
  ) {
    proxy.epochMs = () => this.time.epochMs();
    const logger = createLogger('info', { write: (line: string) => void this.lines.push(JSON.parse(line)) }, false);
    this.sampling = new XRaySampling({
      endpoint: proxy.endpoint,
      rulesIntervalMs: options.rulesIntervalMs ?? RULES_INTERVAL_MS,
      resource: resourceFromAttributes({ 'service.name': 'otel-fargate-service' }),
      logger,
      time: this.time,
      random: HALF,
    });
  }

  /** The sampler, started against a fake proxy answering `rules`, with the first rules poll done. */
  static async start(
    rules: SamplingRule[],
    options: { rulesIntervalMs?: number; targetsIntervalS?: number; proxyDown?: boolean } = {},
  ): Promise<Harness> {
    const proxy = await FakeXRayProxy.start({ rules, targetsIntervalS: options.targetsIntervalS ?? 10 });
    if (options.proxyDown) await proxy.down();
    const harness = new Harness(proxy, options);
    harness.sampling.start();
    await harness.run(0);
    return harness;
  }

  /**
   * Moves time forward timer by timer, waiting after each for the polls it started (real HTTP calls) to finish, so
   * that no deadline passes while an answer is on its way.
   */
  async run(ms: number): Promise<void> {
    const end = this.time.monotonicMs() + ms;
    while (this.time.fireNext(end)) await this.sampling.settled();
    this.time.advance(end - this.time.monotonicMs());
  }

  /** How many of `count` requests, decided now, are recorded. */
  decide(count: number, request: SamplingRequest = get('/')): number {
    let recorded = 0;
    for (let i = 0; i < count; i++) if (this.sampling.sample(request)) recorded += 1;
    return recorded;
  }

  linesStartingWith(prefix: string): Line[] {
    return this.lines.filter((line) => line.msg.startsWith(prefix));
  }

  async stop(): Promise<void> {
    this.sampling.shutdown();
    await this.proxy.stop();
  }
}

let harness: Harness | undefined;

async function start(...args: Parameters<typeof Harness.start>): Promise<Harness> {
  harness = await Harness.start(...args);
  return harness;
}

afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

/** A rule for this service that records nothing: whatever records while it is in force is the fallback. */
const NOTHING = samplingRule({ RuleName: 'nothing', ServiceName: 'otel-fargate-service' });
/** X-Ray's Default rule as AWS's documentation shows an edited one (xray-api-sampling.html): 0/s + 1%. */
const EDITED_DEFAULT = samplingRule({ RuleName: 'Default', Priority: 10000, ReservoirSize: 0, FixedRate: 0.01 });

type FaultCase = [name: string, fault: Fault | 'refused', detail: RegExp];

const FAULTS: FaultCase[] = [
  ['429 ThrottledException', THROTTLED, /answered 429 ThrottledException/],
  ['400 InvalidRequestException', INVALID_REQUEST, /answered 400 InvalidRequestException/],
  ['500', { status: 500 }, /answered 500/],
  ['502 from the proxy', { status: 502 }, /answered 502/],
  ['a body that is not JSON', 'malformed', /not JSON/],
  ['no answer before the deadline', 'hold', /did not answer within 5000 ms/],
  ['a refused connection', 'refused', /ECONNREFUSED/],
];

/** Makes the next poll of `path` fail as `fault` says, and waits until it has. */
async function failNextPoll(h: Harness, path: SamplingPath, fault: Fault | 'refused'): Promise<void> {
  const untilPoll = path === '/GetSamplingRules' ? NEXT_RULES_POLL_MS : FIRST_TARGETS_MS;
  if (fault === 'refused') await h.proxy.down();
  else h.proxy.fail(path, fault);
  if (fault !== 'hold') {
    await h.run(untilPoll);
    return;
  }
  const calls = path === '/GetSamplingRules' ? h.proxy.ruleRequests : h.proxy.targetRequests;
  await h.run(untilPoll - 1);
  h.time.advance(1);
  await h.proxy.called(path, calls + 1);
  await h.run(5_000);
}

describe('when a poll fails, the rules fetched last keep deciding', () => {
  describe.each<SamplingPath>(['/GetSamplingRules', '/SamplingTargets'])('%s', (path) => {
    it.each(FAULTS)(
      'when it fails with %s, then a 0%% rule still records none of 50, with one warning',
      async (_name, fault, detail) => {
        const h = await start([NOTHING, DEFAULT_RULE]);
        expect(h.decide(5)).toBe(0); // requests, so that SamplingTargets has counts to report

        await failNextPoll(h, path, fault);

        const warnings = h.linesStartingWith('sampling rules unavailable');
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatchObject({
          level: 'warn',
          component: 'sampling',
          msg: expect.stringContaining('the rules fetched last keep deciding for up to an hour'),
        });
        expect(warnings[0].detail).toMatch(detail);
        expect(h.decide(50)).toBe(0);

        // Polls keep failing for a while (a held call is refused instead: each would need the clock moved past its
        // deadline): the rules still decide, and the warning was the only line.
        if (fault === 'hold') h.proxy.fail(path, THROTTLED);
        for (let i = 0; i < 10; i++) {
          h.decide(1);
          await h.run(NEXT_RULES_POLL_MS);
        }
        expect(h.decide(50)).toBe(0);
        expect(h.lines.filter((line) => line.level === 'warn')).toEqual([warnings[0]]);
      },
    );
  });

  it('when a failed poll is followed by one that works, then one line says so', async () => {
    const h = await start([NOTHING, DEFAULT_RULE]);
    h.proxy.fail('/GetSamplingRules', THROTTLED);
    await h.run(NEXT_RULES_POLL_MS * 2);
    h.proxy.heal();
    await h.run(NEXT_RULES_POLL_MS);
    expect(h.lines.filter((line) => line.level === 'warn').map((line) => line.msg)).toEqual([
      expect.stringMatching(/^sampling rules unavailable: the rules fetched last keep deciding/),
      'sampling rules available again',
    ]);
    expect(h.linesStartingWith('sampling rules available again')[0]).toMatchObject({ failed_polls: 2 });
  });
});

describe('when the rules are older than an hour, the Default rule fetched last decides', () => {
  it('when the proxy is gone for more than an hour, then the rules decide until then, the Default rule fetched last after, with one line each', async () => {
    const h = await start([samplingRule({ RuleName: 'everything', FixedRate: 1 }), EDITED_DEFAULT]);
    const fetchedAt = h.time.monotonicMs();
    expect(h.decide(10)).toBe(10);
    await h.proxy.down();

    while (h.time.monotonicMs() + NEXT_RULES_POLL_MS <= fetchedAt + RULE_CACHE_TTL_MS) {
      await h.run(NEXT_RULES_POLL_MS);
      expect(h.decide(1)).toBe(1);
    }
    expect(h.linesStartingWith('sampling rules unavailable')).toHaveLength(1);
    expect(h.linesStartingWith('sampling rules expired')).toHaveLength(0);

    // Past the hour, and a failed poll after it.
    await h.run(NEXT_RULES_POLL_MS * 2);
    expect(h.time.monotonicMs() - fetchedAt).toBeGreaterThan(RULE_CACHE_TTL_MS);
    // The account's Default rule as fetched: 0/s + 1%, which records none of these (X-Ray's own 1/s would record one).
    expect(h.decide(10)).toBe(0);
    const expired = h.linesStartingWith('sampling rules expired');
    expect(expired).toEqual([
      expect.objectContaining({ level: 'warn', fallback: 'Default (priority 10000, 0/s + 1%)' }),
    ]);

    await h.proxy.up();
    await h.run(NEXT_RULES_POLL_MS);
    expect(h.decide(10)).toBe(10);
    expect(h.linesStartingWith('sampling rules available again')).toHaveLength(1);
  });

  it("when no rules have ever arrived, then X-Ray's default decides: 1 request a second plus 5%", async () => {
    const h = await start([NOTHING, DEFAULT_RULE], { proxyDown: true });
    expect(h.decide(10)).toBe(1);
    await h.run(1_000);
    expect(h.decide(10)).toBe(1);
    expect(h.linesStartingWith('sampling rules unavailable')).toEqual([
      expect.objectContaining({
        msg: expect.stringContaining("recording by X-Ray's default rule (1 request a second plus 5%)"),
      }),
    ]);
  });
});

describe('statistics for SamplingTargets', () => {
  it('when rules arrive, then the first counts go about 10 s later, for the rules that saw requests only', async () => {
    const h = await start([NOTHING, DEFAULT_RULE]);
    h.decide(3);
    await h.run(FIRST_TARGETS_MS - 100);
    expect(h.proxy.targetRequests).toBe(0);
    await h.run(100);
    expect(h.proxy.targetCalls).toEqual([[expect.objectContaining({ RuleName: 'nothing', RequestCount: 3 })]]);
  });

  it('when no rule saw a request, then SamplingTargets is not called', async () => {
    const h = await start([NOTHING, DEFAULT_RULE]);
    await h.run(FIRST_TARGETS_MS * 3);
    expect(h.proxy.targetRequests).toBe(0);
  });

  it('when 27 of 30 rules saw requests, then their counts go in two calls of 25 and 2, and X-Ray accepts both', async () => {
    const name = (i: number) => `rule-${String(i).padStart(2, '0')}`;
    const rules = Array.from({ length: 30 }, (_, i) =>
      samplingRule({ RuleName: name(i + 1), Priority: i + 1, URLPath: `/${name(i + 1)}` }),
    );
    const h = await start([...rules, DEFAULT_RULE]);
    for (let i = 1; i <= 27; i++) expect(h.decide(2, get(`/${name(i)}`))).toBe(0);

    await h.run(FIRST_TARGETS_MS);

    expect(h.proxy.targetCalls.map((call) => call.length)).toEqual([25, 2]);
    const reported = h.proxy.targetCalls.flat();
    expect(reported.map((document) => document.RuleName).sort()).toEqual(
      Array.from({ length: 27 }, (_, i) => name(i + 1)),
    );
    expect(reported.every((document) => document.RequestCount === 2)).toBe(true);
    expect(h.linesStartingWith('sampling rules unavailable')).toEqual([]);
    expect(h.decide(10, get(`/${name(30)}`))).toBe(0);
  });

  it('when an answer names no Interval, then the next counts go after 10 s again, not at the interval named before', async () => {
    const h = await start([NOTHING, DEFAULT_RULE], { targetsIntervalS: 2 });
    h.decide(1);
    await h.run(FIRST_TARGETS_MS);
    h.decide(1);
    await h.run(2_050);
    expect(h.proxy.targetRequests).toBe(2);

    h.proxy.targetsIntervalS = undefined;
    h.decide(1);
    await h.run(2_050);
    expect(h.proxy.targetRequests).toBe(3);
    h.decide(1);
    await h.run(2_050);
    expect(h.proxy.targetRequests).toBe(3);
    await h.run(8_000);
    expect(h.proxy.targetRequests).toBe(4);
  });

  it('when a rule changes between two reports, then it keeps its counts and the quota X-Ray assigned', async () => {
    const orders = samplingRule({ RuleName: 'orders', URLPath: '/orders', ReservoirSize: 1 });
    const h = await start([orders, DEFAULT_RULE], { rulesIntervalMs: 15_000 });
    expect(h.decide(1, get('/orders'))).toBe(1); // borrowed: X-Ray has assigned no quota yet
    await h.run(FIRST_TARGETS_MS); // the counts go, and X-Ray assigns a quota of 1 a second
    expect(h.proxy.targetCalls[0]).toEqual([expect.objectContaining({ RequestCount: 1, BorrowCount: 1 })]);
    expect(h.decide(3, get('/orders'))).toBe(1); // taken from the quota, not borrowed

    h.proxy.rules = [{ ...orders, Priority: 5 }, DEFAULT_RULE];
    await h.run(16_750 - FIRST_TARGETS_MS); // the next rules poll
    expect(h.lines.filter((line) => line.msg === 'sampling rules loaded').at(-1)!.rules).toEqual([
      'orders (priority 5, 1/s + 0%)',
      'Default (priority 10000, 1/s + 5%)',
    ]);
    expect(h.decide(2, get('/orders'))).toBe(1); // still the quota

    await h.run(FIRST_TARGETS_MS);
    expect(h.proxy.targetCalls[1]).toEqual([
      expect.objectContaining({ RuleName: 'orders', RequestCount: 5, SampledCount: 2, BorrowCount: 0 }),
    ]);
  });

  it('when a rule changes while the rules are being fetched, then the next report has them fetched again at once', async () => {
    const h = await start([NOTHING, DEFAULT_RULE]);
    h.proxy.fail('/GetSamplingRules', 'hold');
    await h.run(NEXT_RULES_POLL_MS - 1);
    h.time.advance(1);
    await h.proxy.called('/GetSamplingRules', 2);
    // The change is made while the fetch runs (within its deadline), and the answer is the one from before it.
    h.time.advance(2_000);
    h.proxy.rules = [{ ...NOTHING, FixedRate: 1 }, DEFAULT_RULE];
    h.proxy.modifiedAt = Math.floor(h.time.epochMs() / 1000);
    h.proxy.heal();
    h.proxy.release();
    await h.sampling.settled();
    expect(h.decide(1)).toBe(0);

    await h.run(FIRST_TARGETS_MS); // the next SamplingTargets answer names the change
    expect(h.proxy.ruleRequests).toBe(3);
    expect(h.decide(1)).toBe(1);
  });
});

describe('the reservoirs run on a monotonic clock', () => {
  it('when the wall clock steps back an hour, or forward two, then the quota still gives one request a second and the rules stay', async () => {
    const h = await start([samplingRule({ RuleName: 'quota', ReservoirSize: 1 }), EDITED_DEFAULT]);
    h.decide(1);
    await h.run(FIRST_TARGETS_MS); // quota: 1 a second

    h.time.stepWallClock(-60 * 60 * 1000);
    const perSecond: number[] = [];
    for (let second = 0; second < 5; second++) {
      await h.run(1_000);
      perSecond.push(h.decide(3));
    }
    expect(perSecond).toEqual([1, 1, 1, 1, 1]);

    h.time.stepWallClock(2 * 60 * 60 * 1000);
    await h.run(1_000);
    expect(h.decide(3)).toBe(1);
    expect(h.linesStartingWith('sampling rules expired')).toEqual([]);
  });
});
