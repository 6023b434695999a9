// pino, JSON lines on stdout. pino's `mixin` reads the active span on every line, so whatever code logs inside a
// request gets the trace fields without passing anything around; outside a span the mixin adds nothing.
import { isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config';

/**
 * The key of each line's own time, ISO 8601 UTC with milliseconds. Not `time`: the task's log router parses every
 * line with Fluent Bit's `json` parser, which reads a string `time` as `%d/%b/%Y:%H:%M:%S %z` and logs
 * `invalid time format` for any other form, once per line. CloudWatch's event time is the log driver's stamp, taken
 * when the line was read, to the millisecond (app/test/log-router.test.ts has the sources).
 */
export const TIME_KEY = 'timestamp';

/** pino's `timestamp` option: `,"timestamp":"2026-11-25T13:15:10.986Z"`, the fragment pino puts after the level. */
export const isoTimestamp = (): string => `,"${TIME_KEY}":"${new Date().toISOString()}"`;

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

/** The correlation fields for the active span (none outside one). A fresh object: pino merges into it. */
export function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
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

/** @param correlate add the active span's IDs to each line (off for the SDK's own diagnostics, which are not
 * about the request whose context happened to schedule an export). */
export function createLogger(level: LogLevel, destination?: DestinationStream, correlate = true): Logger {
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      timestamp: isoTimestamp,
      formatters: { level: (label) => ({ level: label }) },
      ...(correlate ? { mixin: traceFields } : {}),
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
