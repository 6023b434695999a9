// Which requests are recorded, and who may decide it. A span with a parent in this process, or a remote parent on
// the internal pricing hop, follows its parent. A root span, and a span continuing a caller's trace at the PUBLIC
// listener, gets the configured root decision (the X-Ray rules by default): a caller on the internet keeps its trace
// ID and parent, for correlation, but its sampled flag cannot have its requests recorded (a bill) or unrecorded.
// The public listener marks its requests' context with PUBLIC_EDGE (telemetry/http-server.ts).
import {
  createContextKey,
  isSpanContextValid,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
} from '@opentelemetry/api';
import { SamplingDecision, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace';
import type { Resource } from '@opentelemetry/resources';
import type { Logger } from 'pino';
import type { SamplerConfig } from '../config';
import { AttributesRequest, type RootDecision, type SamplingRequest } from './root-decision';
import { XRaySampling } from './xray-sampling';

/** Set on the context of a request that came in on the public listener, only when it carries a caller's trace. */
export const PUBLIC_EDGE = createContextKey('otel-fargate-service public listener');

// Shared, never mutated: the tracer only reads a result (and merges its `attributes`, which these have none of).
const SAMPLED: SamplingResult = Object.freeze({ decision: SamplingDecision.RECORD_AND_SAMPLED });
const NOT_SAMPLED: SamplingResult = Object.freeze({ decision: SamplingDecision.NOT_RECORD });

/**
 * Set on the context given to the tracer for a server span whose decision was taken already (telemetry/http-server.ts
 * asks `decide` first, so that an unrecorded request never goes through the tracer): the decision is not taken twice.
 */
export const RECORD_DECIDED = createContextKey('otel-fargate-service recorded by decision');

export class EdgePolicySampler implements Sampler {
  private readonly fromAttributes = new AttributesRequest();

  constructor(readonly root: RootDecision) {}

  /** Whether a span started in `ctx` is recorded; `request` is read only if the root decision is taken. */
  decide(ctx: Context, request: SamplingRequest): boolean {
    const parent = trace.getSpanContext(ctx);
    if (parent !== undefined && isSpanContextValid(parent) && !(parent.isRemote && ctx.getValue(PUBLIC_EDGE))) {
      return (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
    }
    return this.root.sample(request);
  }

  shouldSample(ctx: Context, _traceId: string, _name: string, _kind: unknown, attributes: Attributes): SamplingResult {
    if (ctx.getValue(RECORD_DECIDED) === true) return SAMPLED;
    try {
      return this.decide(ctx, this.fromAttributes.of(attributes)) ? SAMPLED : NOT_SAMPLED;
    } finally {
      this.fromAttributes.release();
    }
  }

  toString(): string {
    return `EdgePolicySampler{root=${this.root.toString()}}`;
  }
}

/**
 * A fixed share of root decisions, drawn at random. Not from the trace ID as the specification's TraceIdRatioBased
 * does: at the public listener the trace ID may be the caller's, and a caller could then pick IDs that are always
 * recorded. Children follow their parent here, so nothing needs the decision to be repeatable from the ID.
 */
export class RatioDecision implements RootDecision {
  constructor(private readonly ratio: number) {}

  sample(): boolean {
    return this.ratio >= 1 || Math.random() < this.ratio;
  }

  shutdown(): void {}

  toString(): string {
    return `ratio ${this.ratio}`;
  }
}

export function createSampler(config: SamplerConfig, resource: Resource, logger: Logger): EdgePolicySampler {
  switch (config.name) {
    case 'always_on':
      return new EdgePolicySampler(new RatioDecision(1));
    case 'always_off':
      return new EdgePolicySampler(new RatioDecision(0));
    case 'traceidratio':
      return new EdgePolicySampler(new RatioDecision(config.ratio));
    case 'xray': {
      const xray = new XRaySampling({
        endpoint: config.endpoint,
        rulesIntervalMs: config.pollingIntervalS * 1000,
        resource,
        logger,
      });
      xray.start();
      return new EdgePolicySampler(xray);
    }
  }
}
