// What every request needs, recorded or not, made cheaply: its IDs (telemetry/ids.ts), the decision to skip the
// propagators for the load balancer's own header (telemetry/http-server.ts), its context and span
// (telemetry/context.ts, telemetry/unrecorded-span.ts), and its lines' correlation fields, made once per span
// (logger.ts). The service tests (traces-and-logs.test.ts) hold the same behaviour end to end; `node bench/wrapper.mjs`
// counts what it costs.
import {
  context,
  createContextKey,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
  type SpanContext,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { suppressTracing, isTracingSuppressed, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AWSXRayPropagator } from '@opentelemetry/propagator-aws-xray';
import fc from 'fast-check';
import { createLogger } from '../src/logger';
import { ContextLink, withSpan } from '../src/telemetry/context';
import { XRayIdGenerator } from '../src/telemetry/ids';
import { mayCarryContext } from '../src/telemetry/http-server';
import { UnrecordedSpan } from '../src/telemetry/unrecorded-span';

describe('X-Ray trace and span IDs from a pool of random bytes', () => {
  it('when a trace ID is made, then it starts with the epoch second in 8 hex and ends with 24 random hex', () => {
    const ids = new XRayIdGenerator(() => Date.UTC(2026, 11, 7, 1, 30, 0, 999));
    const traceId = ids.generateTraceId();
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId.slice(0, 8)).toBe((Date.UTC(2026, 11, 7, 1, 30, 0) / 1000).toString(16));
  });

  it('when trace IDs are made on the real clock, then each starts with the Unix second it was made in', () => {
    const ids = new XRayIdGenerator();
    const before = Math.floor(Date.now() / 1000);
    const seconds = Array.from({ length: 100 }, () => parseInt(ids.generateTraceId().slice(0, 8), 16));
    const after = Math.floor(Date.now() / 1000);
    expect(seconds.filter((second) => second < before || second > after)).toEqual([]);
  });

  it('when the second changes, then the next trace ID carries the new one', () => {
    let now = 1_700_000_000_000;
    const ids = new XRayIdGenerator(() => now);
    const first = ids.generateTraceId();
    now += 1000;
    expect(parseInt(ids.generateTraceId().slice(0, 8), 16)).toBe(parseInt(first.slice(0, 8), 16) + 1);
  });

  it('when a trace ID is made, then it is the hex of one 16-byte buffer, the epoch second first', () => {
    // One toString of one buffer gives a flat string; the epoch's hex and the random hex concatenated would give a
    // cons string, which each later read of its characters flattens (telemetry/ids.ts).
    const ids = new XRayIdGenerator(() => 1_700_000_000_000);
    const bytes = Buffer.from(ids.generateTraceId(), 'hex');
    expect(bytes).toHaveLength(16);
    expect(bytes.readUInt32BE(0)).toBe(1_700_000_000);
  });

  it('when many more IDs are made than one pool holds, then every one is well formed and none repeats', () => {
    const ids = new XRayIdGenerator();
    const traceIds = new Set<string>();
    const spanIds = new Set<string>();
    for (let i = 0; i < 5000; i += 1) {
      traceIds.add(ids.generateTraceId());
      spanIds.add(ids.generateSpanId());
    }
    expect(traceIds.size).toBe(5000);
    expect(spanIds.size).toBe(5000);
    expect([...spanIds].filter((id) => !/^(?!0{16})[0-9a-f]{16}$/.test(id))).toEqual([]);
    expect([...traceIds].filter((id) => !/^[0-9a-f]{32}$/.test(id))).toEqual([]);
  });
});

describe('which requests the propagators read', () => {
  const fields = [...new W3CTraceContextPropagator().fields(), ...new AWSXRayPropagator().fields()];

  it("when a request carries only the load balancer's Root-only header, then the propagators are skipped", () => {
    expect(mayCarryContext({ 'x-amzn-trace-id': 'Root=1-67891233-abcdef012345678912345678' }, fields)).toBe(false);
    expect(mayCarryContext({}, fields)).toBe(false);
  });

  it('when the X-Ray header has a Parent and a Sampled part, or a traceparent is there, then they are read', () => {
    const xray = 'Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1';
    expect(mayCarryContext({ 'x-amzn-trace-id': xray }, fields)).toBe(true);
    expect(mayCarryContext({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, fields)).toBe(
      true,
    );
  });

  it('when a header is skipped, then the X-Ray propagator would not have continued it either', () => {
    // The skip relies on AWSXRayPropagator.getSpanContextFromHeader (propagator-aws-xray 3.0.0) needing both parts.
    const propagator = new AWSXRayPropagator();
    const getter = {
      keys: (h: Record<string, string>) => Object.keys(h),
      get: (h: Record<string, string>, k: string) => h[k],
    };
    for (const header of [
      'Root=1-67891233-abcdef012345678912345678',
      'Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8',
      'Root=1-67891233-abcdef012345678912345678;Sampled=1',
      'Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678',
    ]) {
      const carrier = { 'x-amzn-trace-id': header };
      expect(mayCarryContext(carrier, fields)).toBe(false);
      expect(trace.getSpanContext(propagator.extract(ROOT_CONTEXT, carrier, getter))).toBeUndefined();
    }
  });
});

describe("a line's correlation fields", () => {
  const manager = new AsyncLocalStorageContextManager().enable();
  beforeAll(() => context.setGlobalContextManager(manager));
  afterAll(() => context.disable());

  const spanContext = (traceId: string, spanId: string): SpanContext => ({
    traceId,
    spanId,
    traceFlags: TraceFlags.NONE,
  });

  it('when the lines of two requests interleave, then each line carries the IDs of the request that wrote it', () => {
    const lines: Record<string, string>[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line) as never) });
    const one = trace.wrapSpanContext(spanContext('6789123300000000000000000000000a', '000000000000000a'));
    const two = trace.wrapSpanContext(spanContext('6789123300000000000000000000000b', '000000000000000b'));
    for (const span of [one, two, one, two]) {
      context.with(trace.setSpan(ROOT_CONTEXT, span), () => logger.info('in a request'));
    }
    logger.info('outside any request');
    expect(lines.map((line) => [line.trace_id, line.span_id, line.xray_trace_id, line['AWS-XRAY-TRACE-ID']])).toEqual([
      [
        '6789123300000000000000000000000a',
        '000000000000000a',
        '1-67891233-00000000000000000000000a',
        '1-67891233-00000000000000000000000a@000000000000000a',
      ],
      [
        '6789123300000000000000000000000b',
        '000000000000000b',
        '1-67891233-00000000000000000000000b',
        '1-67891233-00000000000000000000000b@000000000000000b',
      ],
      [
        '6789123300000000000000000000000a',
        '000000000000000a',
        '1-67891233-00000000000000000000000a',
        '1-67891233-00000000000000000000000a@000000000000000a',
      ],
      [
        '6789123300000000000000000000000b',
        '000000000000000b',
        '1-67891233-00000000000000000000000b',
        '1-67891233-00000000000000000000000b@000000000000000b',
      ],
      [undefined, undefined, undefined, undefined],
    ]);
    expect(lines.every((line) => line.trace_flags === undefined || line.trace_flags === '00')).toBe(true);
  });

  it('when the active span context is frozen or invalid, then lines are written all the same', () => {
    const lines: Record<string, string>[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line) as never) });
    const frozen = Object.freeze(spanContext('6789123300000000000000000000000c', '000000000000000c'));
    context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(frozen)), () => logger.info('frozen'));
    context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(spanContext('0'.repeat(32), '0'.repeat(16)))), () =>
      logger.info('invalid'),
    );
    expect(lines.map((line) => [line.msg, line.span_id])).toEqual([
      ['frozen', '000000000000000c'],
      ['invalid', undefined],
    ]);
  });
});

describe("a request's context, one link per value", () => {
  const keys = ['a', 'b', 'c'].map((name) => createContextKey(`request-context test ${name}`));
  type Step = { op: 'set'; key: number; value: number } | { op: 'delete'; key: number };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ op: fc.constant('set' as const), key: fc.nat(2), value: fc.integer() }),
    fc.record({ op: fc.constant('delete' as const), key: fc.nat(2) }),
  );
  const apply = (start: Context, steps: Step[]): Context =>
    steps.reduce(
      (ctx, s) => (s.op === 'set' ? ctx.setValue(keys[s.key], s.value) : ctx.deleteValue(keys[s.key])),
      start,
    );

  it('when values are set and deleted in any order, then every context on the way reads as the API’s own', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 6 }), fc.array(step, { maxLength: 12 }), (before, steps) => {
        // The links start over an API context that holds values already, as over a propagator's context.
        let api = apply(ROOT_CONTEXT, before);
        let linked: Context = new ContextLink(api, keys[0], api.getValue(keys[0]));
        const read = (ctx: Context) => keys.map((key) => ctx.getValue(key));
        const seen: [Context, Context][] = [[api, linked]];
        for (const s of steps) {
          api = apply(api, [s]);
          linked = apply(linked, [s]);
          seen.push([api, linked]);
        }
        // Each context, the earlier ones too, still reads as its twin: a set or delete changed nothing before it.
        for (const [apiContext, linkedContext] of seen) expect(read(linkedContext)).toEqual(read(apiContext));
      }),
    );
  });

  it('when a span is set on it, then the API finds that span, as active too, and a child context keeps it', () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const span = new UnrecordedSpan('67891233abcdef012345678912345678', '53995c3f42cd8ad8', undefined);
      const ctx = withSpan(ROOT_CONTEXT, span);
      expect(trace.getSpan(ctx)).toBe(span);
      expect(context.with(ctx, () => trace.getActiveSpan())).toBe(span);
      expect(trace.getSpan(suppressTracing(ctx))).toBe(span);
      expect(isTracingSuppressed(suppressTracing(ctx))).toBe(true);
      expect(trace.getSpan(trace.deleteSpan(ctx))).toBeUndefined();
      const carrier: Record<string, string> = {};
      new W3CTraceContextPropagator().inject(ctx, carrier, { set: (c, k, v) => (c[k] = v) });
      expect(carrier.traceparent).toBe('00-67891233abcdef012345678912345678-53995c3f42cd8ad8-00');
    } finally {
      context.disable();
    }
  });
});

describe('the span of a request that is not recorded', () => {
  const span = new UnrecordedSpan('67891233abcdef012345678912345678', '53995c3f42cd8ad8', undefined);

  it('is its own span context, not sampled, and records nothing', () => {
    expect(span.spanContext()).toBe(span);
    expect(span.spanContext()).toMatchObject({
      traceId: '67891233abcdef012345678912345678',
      spanId: '53995c3f42cd8ad8',
      traceFlags: TraceFlags.NONE,
    });
    expect(span.isRecording()).toBe(false);
    expect(span.setAttribute('k', 'v').addEvent('e').setStatus({ code: 2 }).updateName('n')).toBe(span);
    expect(Object.keys(span)).not.toContain('k');
  });

  it('gets the same correlation fields on its lines as any span context would', () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const lines: Record<string, string>[] = [];
      const logger = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line) as never) });
      const twin = trace.wrapSpanContext({ ...span.spanContext() });
      context.with(withSpan(ROOT_CONTEXT, span), () => logger.info('one'));
      context.with(trace.setSpan(ROOT_CONTEXT, twin), () => logger.info('two'));
      const fields = (line: Record<string, string>) =>
        Object.fromEntries(Object.entries(line).filter(([key]) => key !== 'msg' && key !== 'timestamp'));
      expect(fields(lines[0])).toEqual(fields(lines[1]));
      expect(lines[0].xray_trace_id).toBe('1-67891233-abcdef012345678912345678');
    } finally {
      context.disable();
    }
  });
});
