// What a root decision is and what it may look at. A module of its own so that the sampler (sampler.ts) and the
// X-Ray rules (xray-sampling.ts) both depend on it and not on each other.
import type { Attributes } from '@opentelemetry/api';

/**
 * A request as the sampling rules see it, read only as far as a rule asks: X-Ray's Default rule (method, path and
 * host all `*`) reads nothing, so a request it decides has neither its path nor its host parsed for the decision.
 * The methods are called synchronously during the decision and never after it.
 */
export interface SamplingRequest {
  /** `http.request.method`. */
  method(): string | undefined;
  /** `url.path`; undefined when the span has none. */
  path(): string | undefined;
  /** `server.address`. */
  host(): string | undefined;
  /** A span attribute by name, for a rule's `Attributes` (`user_agent.original`, …). */
  attribute(key: string): unknown;
}

/** A root decision: whether a new trace (or a caller's trace at the public listener) is recorded. */
export interface RootDecision {
  sample(request: SamplingRequest): boolean;
  shutdown(): void;
  toString(): string;
}

const NO_ATTRIBUTES: Attributes = Object.freeze({});

/**
 * A span's attributes as a SamplingRequest, for spans the tracer starts (the server span is decided before, from the
 * request itself: http-server.ts). One instance is reused: point it at the attributes, decide, let go.
 */
export class AttributesRequest implements SamplingRequest {
  private attributes: Attributes = NO_ATTRIBUTES;

  of(attributes: Attributes): this {
    this.attributes = attributes;
    return this;
  }

  release(): void {
    this.attributes = NO_ATTRIBUTES;
  }

  method(): string | undefined {
    return stringOrUndefined(this.attributes['http.request.method']);
  }

  path(): string | undefined {
    return stringOrUndefined(this.attributes['url.path']);
  }

  host(): string | undefined {
    return stringOrUndefined(this.attributes['server.address']);
  }

  attribute(key: string): unknown {
    return this.attributes[key];
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
