// pino, JSON lines on stdout. The destination reads the active span for every line, so whatever code logs inside a
// request gets the trace fields without passing anything around; outside a span nothing is added.
import { isSpanContextValid, trace, type SpanContext } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';

/** LOG_LEVEL's values: pino's levels. Here, not in config.ts, so that the logger needs nothing from the config. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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

/**
 * A span's correlation fields as the end of a JSON line (`,"trace_id":…}` and the newline), or '' for an invalid span
 * context. A valid context's IDs are hex (the API checks them), so nothing needs escaping.
 */
function correlationSuffix(sc: SpanContext): string {
  if (!isSpanContextValid(sc)) return '';
  const xray = toXrayTraceId(sc.traceId);
  const flags = `0${sc.traceFlags.toString(16)}`.slice(-2);
  return (
    // The names and forms @opentelemetry/instrumentation-pino writes, then AWS's convention (as its Java agent writes
    // it) and a plain key for CloudWatch Logs Insights queries.
    `,"trace_id":"${sc.traceId}","span_id":"${sc.spanId}","trace_flags":"${flags}"` +
    `,"AWS-XRAY-TRACE-ID":"${xray}@${sc.spanId}","xray_trace_id":"${xray}"}\n`
  );
}

/**
 * Where a span context keeps its correlation string once made: on the object itself, for the span's lifetime. The
 * service's unrecorded span declares it from the start (telemetry/unrecorded-span.ts), so that adding it changes no
 * object's shape on the path every request takes.
 */
export const CORRELATION = Symbol('correlation fields');
type Correlated = SpanContext & { [CORRELATION]?: string };

/**
 * Every line written while a span is active gets that span's correlation fields, appended before the line's closing
 * brace. The destination sees each line synchronously, inside the log call, so the active span is the caller's. The
 * fields are written as one string (hex IDs and fixed names: nothing to escape) rather than handed to pino: a pino
 * `mixin` has them serialised field by field on every line, which measured about 20,000 instructions a line against
 * 8,000 here, the largest part of what an unrecorded request cost (bench/FINDINGS.md). The string is made once per
 * span and kept on its span context (which the span hands out as the same object every time), so the lines of one
 * request share it however they interleave with other requests' lines; a per-span WeakMap cost more than it saved,
 * in the major collections its entries caused under concurrent requests.
 */
export function correlating(destination: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      const sc: Correlated | undefined = trace.getActiveSpan()?.spanContext();
      if (sc === undefined || !line.endsWith('}\n')) {
        destination.write(line);
        return;
      }
      let suffix = sc[CORRELATION];
      if (suffix === undefined) {
        suffix = correlationSuffix(sc);
        // Not on the API's shared invalid context (no fields to add), nor on a context someone froze.
        if (suffix !== '' && Object.isExtensible(sc)) sc[CORRELATION] = suffix;
      }
      destination.write(suffix === '' ? line : line.slice(0, -2) + suffix);
    },
  };
}

/** @param correlate add the active span's IDs to each line (off for the SDK's own diagnostics, which are not
 * about the request whose context happened to schedule an export). */
export function createLogger(level: LogLevel, destination?: DestinationStream, correlate = true): Logger {
  const stream = destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      timestamp: isoTimestamp,
      formatters: { level: (label) => ({ level: label }) },
    },
    correlate ? correlating(stream) : stream,
  );
}
