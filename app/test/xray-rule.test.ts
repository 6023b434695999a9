// One X-Ray sampling rule's parts (src/telemetry/xray-rule.ts): X-Ray's wildcards, the reservoir's rate limiter, and a
// rule compiled once so that the Default rule decides a request without reading it. The matching semantics are the
// reference samplers' (opentelemetry-js-contrib packages/sampler-aws-xray/src/utils.ts wildcardMatch: `*` any run,
// `?` one character, case-insensitive, the whole value; rate-limiter.ts for the limiter).
import { DrawFrom, RandomPool, RATE_SCALE, Rule, RateLimiter, wildcard } from '../src/telemetry/xray-rule';
import type { SamplingRequest } from '../src/telemetry/root-decision';
import { DEFAULT_RULE, samplingRule } from './support/xray-proxy';

describe('X-Ray wildcards', () => {
  it.each([
    ['*', ['', '/', '/anything/at/all'], []],
    ['', [''], ['/']],
    ['GET', ['GET', 'get', 'Get'], ['GETS', 'GE', 'POST']],
    ['/a?c', ['/abc', '/aXc', '/a?c'], ['/ac', '/abbc', '/abcd']],
    ['/api/*', ['/api/', '/api/orders', '/API/orders/1'], ['/api', '/apix', '/ap']],
    ['*/items', ['/items', '/orders/1/items'], ['/orders/1/items/2']],
    ['/orders/*/items/*', ['/orders/1/items/2', '/orders//items/', '/orders/a/b/items/c'], ['/orders/1/items']],
    ['*.example.com', ['www.example.com', '.example.com', 'A.EXAMPLE.COM'], ['example.com', 'www.example.org']],
    ['/a.b', ['/a.b'], ['/axb']],
    ['(x)+[y]$^|\\', ['(x)+[y]$^|\\'], ['xxy']],
    ['CAFÉ', ['café', 'CAFÉ'], ['cafe']],
    ['a*b*c', ['abc', 'aXbYc', 'abbbc', 'acbc'], ['ab', 'acb', 'abca']],
  ])('%j matches %j and not %j', (pattern, matching, other) => {
    const matches = wildcard(pattern);
    for (const value of matching) expect([value, matches(value)]).toEqual([value, true]);
    for (const value of other) expect([value, matches(value)]).toEqual([value, false]);
  });

  it('when a pattern has many stars and the value almost matches, then the answer still comes (no backtracking blow-up)', () => {
    // A regular expression for this pattern backtracks in the order of value^5 steps on this value.
    expect(wildcard('*a*a*a*a*a*b')('a'.repeat(5000))).toBe(false);
    expect(wildcard('*a*a*a*a*a*b')(`${'a'.repeat(5000)}b`)).toBe(true);
  });
});

describe('the rate limiter', () => {
  it('when it starts, then it has one second saved: up to its rate at once, then nothing until time passes', () => {
    const limiter = new RateLimiter(2, 0);
    expect([limiter.take(0), limiter.take(0), limiter.take(0)]).toEqual([true, true, false]);
    expect([limiter.take(499), limiter.take(500), limiter.take(500)]).toEqual([false, true, false]);
  });

  it('when it has been idle, then it has saved at most one second', () => {
    const limiter = new RateLimiter(3, 0);
    const takes = [0, 0, 0].map(() => limiter.take(0));
    const later = [1, 2, 3, 4].map(() => limiter.take(60_000));
    expect([takes, later]).toEqual([
      [true, true, true],
      [true, true, true, false],
    ]);
  });

  it('when its rate is 0, then it never gives; when the rate changes, then the new rate applies to the balance', () => {
    const limiter = new RateLimiter(0, 0);
    expect(limiter.take(10_000)).toBe(false);
    limiter.setRate(1);
    expect([limiter.take(10_000), limiter.take(10_000), limiter.take(11_000)]).toEqual([true, false, true]);
  });

  it('when asked all the time, then each second gives its rate, the first one the second saved besides', () => {
    const limiter = new RateLimiter(5, 0);
    const perSecond = [0, 1, 2, 3].map((second) => {
      let given = 0;
      for (let ms = 0; ms < 1000; ms += 10) if (limiter.take(second * 1000 + ms)) given += 1;
      return given;
    });
    expect(perSecond).toEqual([9, 5, 5, 5]);
  });
});

/** A request that counts what is read of it. */
function countingRequest(): SamplingRequest & { reads: Record<string, number> } {
  const reads: Record<string, number> = {};
  const read =
    <T>(what: string, value: T) =>
    () => {
      reads[what] = (reads[what] ?? 0) + 1;
      return value;
    };
  return {
    reads,
    method: read('method', 'GET'),
    path: read('path', '/orders/1'),
    host: read('host', 'service.example'),
    attribute: (key) => read(`attribute ${key}`, key === 'user_agent.original' ? 'curl/8' : undefined)(),
  };
}

describe('a rule, compiled when the rules arrive', () => {
  it.each([
    ["X-Ray's Default rule", DEFAULT_RULE],
    ['the Default rule whatever its fields say', { ...DEFAULT_RULE, URLPath: '/never', Host: 'never' }],
    ['a rule whose method, path and host are all *', samplingRule({ RuleName: 'everything', FixedRate: 1 })],
  ])('when it is %s, then it matches without reading the request', (_what, document) => {
    const rule = new Rule(document, 0);
    const request = countingRequest();
    expect(rule.matchesEverything).toBe(true);
    expect(rule.matches(request)).toBe(true);
    expect(request.reads).toEqual({});
  });

  it('when it names a path, then it reads the path and nothing else', () => {
    const rule = new Rule(samplingRule({ RuleName: 'orders', URLPath: '/orders/*' }), 0);
    const request = countingRequest();
    expect(rule.matches(request)).toBe(true);
    expect(request.reads).toEqual({ path: 1 });
  });

  it('when it names a method, host, path and attribute, then each must match, and a missing one does not', () => {
    const rule = new Rule(
      samplingRule({
        RuleName: 'all',
        HTTPMethod: 'get',
        Host: '*.example',
        URLPath: '/orders/?',
        Attributes: { 'user_agent.original': 'curl/*' },
      }),
      0,
    );
    expect(rule.matches(countingRequest())).toBe(true);
    const without = (field: keyof SamplingRequest): SamplingRequest => ({
      ...countingRequest(),
      [field]: () => undefined,
    });
    expect(
      ['method', 'host', 'attribute'].map((field) => rule.matches(without(field as keyof SamplingRequest))),
    ).toEqual([false, false, false]);
    // A span without a path is taken as `/`.
    expect(rule.matches(without('path'))).toBe(false);
    expect(new Rule(samplingRule({ RuleName: 'root', URLPath: '/' }), 0).matches(without('path'))).toBe(true);
  });

  it('when it decides, then the reservoir goes first, borrowed one a second before X-Ray assigns a quota, then the rate', () => {
    const rule = new Rule(samplingRule({ RuleName: 'r', ReservoirSize: 10, FixedRate: 0.25 }), 0);
    const low = new DrawFrom(() => 0.1);
    const high = new DrawFrom(() => 0.9);
    expect([rule.sample(0, high), rule.sample(0, high), rule.sample(0, low)]).toEqual([true, false, true]);
    expect(rule.statistics('c'.repeat(24), 5_000)).toMatchObject({
      RequestCount: 3,
      SampledCount: 2,
      BorrowCount: 1,
      Timestamp: 5,
    });

    // X-Ray assigns 2 a second for 10 s: taken, not borrowed; when it expires, borrowing again.
    rule.target({ ReservoirQuota: 2, ReservoirQuotaTTL: 20, FixedRate: 0 }, 1_000, 10_000);
    expect([1, 2, 3].map(() => rule.sample(1_000, high))).toEqual([true, true, false]);
    expect(rule.statistics('c'.repeat(24), 10_000)).toMatchObject({ RequestCount: 3, SampledCount: 2, BorrowCount: 0 });
    expect([rule.sample(11_001, high), rule.sample(11_001, high)]).toEqual([true, false]);
    expect(rule.statistics('c'.repeat(24), 20_001)).toMatchObject({ SampledCount: 1, BorrowCount: 1 });
  });
});

describe("the fixed rate's draws", () => {
  it('when drawn from the pool a million times, then a rate of 5% records about 5%, 0 none and 1 all', () => {
    const rule = (FixedRate: number) => new Rule(samplingRule({ RuleName: `r${FixedRate}`, FixedRate }), 0);
    const pool = new RandomPool();
    const share = (FixedRate: number) => {
      const r = rule(FixedRate);
      let recorded = 0;
      for (let i = 0; i < 1_000_000; i++) if (r.sample(0, pool)) recorded += 1;
      return recorded / 1_000_000;
    };
    // 5 standard deviations of a binomial share at n = 10^6 and p = 0.05: 0.0011.
    expect(Math.abs(share(0.05) - 0.05)).toBeLessThan(0.0011);
    expect([share(0), share(1)]).toEqual([0, 1]);
  });

  it('when a draw is chosen, then it falls below the threshold exactly as the rate says', () => {
    expect(new DrawFrom(() => 0.25).below(RATE_SCALE / 4)).toBe(false);
    expect(new DrawFrom(() => 0.25 - 1e-9).below(RATE_SCALE / 4)).toBe(true);
  });
});
