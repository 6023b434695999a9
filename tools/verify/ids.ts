// Trace contexts made before the request is sent, so the verifier knows every trace ID it must find.
// The first 8 hex digits are the epoch seconds: X-Ray accepts such IDs whatever the collector's
// timestamp-validation setting (REFERENCE.md section 2).
import { randomBytes } from 'node:crypto';

export interface TraceContext {
  /** The W3C / OpenTelemetry form: 32 lowercase hex digits. */
  readonly traceId: string;
  /** The span ID the verifier poses as the caller's: 16 hex digits. */
  readonly parentSpanId: string;
  /** The X-Ray form, `1-{8 hex}-{24 hex}`: what the console searches the logs for. */
  readonly xrayTraceId: string;
  /** Headers that carry this context in both formats the service continues. */
  readonly headers: Readonly<Record<string, string>>;
}

export type RandomHex = (bytes: number) => string;

const defaultRandomHex: RandomHex = (bytes) => randomBytes(bytes).toString('hex');

export function toXRayTraceId(traceId: string): string {
  if (!/^[0-9a-f]{32}$/.test(traceId)) {
    throw new Error(`not a 32-hex trace ID: ${traceId}`);
  }
  return `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
}

export function newTraceContext(nowMs: number, randomHex: RandomHex = defaultRandomHex): TraceContext {
  const epochHex = Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0');
  const traceId = `${epochHex}${randomHex(12)}`;
  const parentSpanId = randomHex(8);
  const xrayTraceId = toXRayTraceId(traceId);
  return {
    traceId,
    parentSpanId,
    xrayTraceId,
    headers: {
      traceparent: `00-${traceId}-${parentSpanId}-01`,
      // ALB keeps a Root it receives (adding only Self=), so this survives the load balancer.
      'x-amzn-trace-id': `Root=${xrayTraceId};Parent=${parentSpanId};Sampled=1`,
    },
  };
}
