// pino, JSON lines on stdout. A log-method hook reads the active span on every line, so whatever code logs inside a
// request gets the trace fields without passing anything around; outside a span the hook adds nothing.
import { isSpanContextValid, trace, type SpanContext } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { LogLevel } from './config';

/** Longest string taken from a request into a log line or span attribute. */
export const MAX_LOGGED_VALUE_LENGTH = 256;

/** Cuts a value that came from a request; JSON encoding by pino already stops it from breaking the line. */
export function clip(value: string, max = MAX_LOGGED_VALUE_LENGTH): string {
  return value.length <= max ? value : `${value.slice(0, max)}…`;
}

/** `1-{first 8 hex}-{last 24 hex}`: the form X-Ray and its CloudWatch Logs query use. */
export function toXrayTraceId(traceId: string): string {
  return `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
}

/** The correlation fields of a span (undefined for an invalid one), in the names and forms the log lines use. */
export function correlationFields(sc: SpanContext): Record<string, string> | undefined {
  if (!isSpanContextValid(sc)) return undefined;
  const xray = toXrayTraceId(sc.traceId);
  return {
    // The names and forms @opentelemetry/instrumentation-pino writes.
    trace_id: sc.traceId,
    span_id: sc.spanId,
    trace_flags: `0${sc.traceFlags.toString(16)}`.slice(-2),
    // AWS's convention (as its Java agent writes it) and a plain key for CloudWatch Logs Insights queries.
    'AWS-XRAY-TRACE-ID': `${xray}@${sc.spanId}`,
    xray_trace_id: xray,
  };
}

/**
 * Every line written while a span is active carries that span's correlation fields. They are serialised once per
 * span, as the bindings of a pino child logger kept for the span (pino writes a child's bindings as a ready-made
 * string), not once per line as a `mixin` would: five fields on every line were the largest share of what an
 * unrecorded request cost (bench/FINDINGS.md).
 */
function correlateHook(): NonNullable<LoggerOptions['hooks']>['logMethod'] {
  const bySpan = new WeakMap<SpanContext, { parent: Logger; child: Logger }>();
  return function logMethod(this: Logger, args, method) {
    const sc = trace.getActiveSpan()?.spanContext();
    if (sc !== undefined) {
      let entry = bySpan.get(sc);
      if (entry === undefined || (entry.parent !== this && entry.child !== this)) {
        const fields = correlationFields(sc);
        if (fields === undefined) return method.apply(this, args);
        entry = { parent: this, child: this.child(fields) };
        bySpan.set(sc, entry);
      }
      return method.apply(entry.child, args);
    }
    return method.apply(this, args);
  };
}

/** @param correlate add the active span's IDs to each line (off for the SDK's own diagnostics, which are not
 * about the request whose context happened to schedule an export). */
export function createLogger(level: LogLevel, destination?: DestinationStream, correlate = true): Logger {
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      ...(correlate ? { hooks: { logMethod: correlateHook() } } : {}),
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
