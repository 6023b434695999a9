// The SDK's own diagnostics as JSON lines in the service's log stream, at warn level, each distinct message at most
// once a minute (repeats are counted, and so are the spans of repeated "Dropped N spans" warnings). Also keeps the
// number of spans the batch processor dropped, for the `stopped` line.
import { inspect } from 'node:util';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { setGlobalErrorHandler } from '@opentelemetry/core';
import type { Logger } from 'pino';
import type { SdkLogLevel } from '../config';
import { clip } from '../logger';

/** How long an identical SDK diagnostic stays silent after it was logged once. */
const DIAG_REPEAT_WINDOW_MS = 60_000;

/** Errors already logged by the exporter's outage report; the global error handler skips them. */
const reported = new WeakSet<object>();

/** Marks an error as logged already, so that the SDK's global error handler does not log it a second time. */
export function markReported(error: object): void {
  reported.add(error);
}

function describe(args: unknown[]): string {
  return args
    .map((arg) =>
      arg instanceof Error
        ? arg.message
        : typeof arg === 'string'
          ? arg
          : // Never throws (a circular or BigInt argument would make JSON.stringify throw inside the error handler).
            inspect(arg, { depth: 2, breakLength: Infinity }),
    )
    .join(' ');
}

/** Digits and hex IDs vary between repeats of one problem ("Dropped 12 spans", "ended Span {traceId: …}"). */
function repeatKey(level: string, message: string): string {
  return `${level}:${message
    .replace(/\b[0-9a-f]{16,32}\b/gi, '#')
    .replace(/\d+/g, '#')
    .slice(0, 120)}`;
}

/** The span count of the batch processor's "Dropped N spans because maxQueueSize reached" warning. */
const DROPPED = /^Dropped (\d+) spans/;

export interface SdkDiagLogger extends DiagLogger {
  /** Spans the batch processor said it dropped (full queue), logged or not. */
  readonly droppedSpans: number;
}

/** SDK diagnostics as JSON lines; a message seen in the last minute is counted instead of logged again. */
export function createDiagLogger(logger: Logger, now: () => number = Date.now): SdkDiagLogger {
  const lastSeen = new Map<string, Seen>();
  let droppedSpans = 0;
  const write =
    (level: 'error' | 'warn' | 'info' | 'debug' | 'trace') =>
    (message: string, ...args: unknown[]): void => {
      const key = repeatKey(level, message);
      const at = now();
      const seen = lastSeen.get(key);
      const dropped = Number(DROPPED.exec(message)?.[1] ?? 0);
      droppedSpans += dropped;
      if (seen !== undefined && at - seen.at < DIAG_REPEAT_WINDOW_MS) {
        seen.suppressed += 1;
        seen.droppedSpans += dropped;
        return;
      }
      if (lastSeen.size > 256) lastSeen.clear();
      lastSeen.set(key, { at, suppressed: 0, droppedSpans: 0 });
      const detail = describe(args);
      logger[level](
        { component: 'opentelemetry', ...(detail ? { detail: clip(detail, 1024) } : {}), ...suppressedField(seen) },
        clip(message, 1024),
      );
    };
  return {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    verbose: write('trace'),
    get droppedSpans() {
      return droppedSpans;
    },
  };
}

interface Seen {
  at: number;
  suppressed: number;
  /** Spans counted by suppressed "Dropped N spans" warnings, so that no loss goes unreported. */
  droppedSpans: number;
}

function suppressedField(seen: Seen | undefined): Record<string, number> {
  if (seen === undefined || seen.suppressed === 0) return {};
  return {
    repeats_suppressed: seen.suppressed,
    ...(seen.droppedSpans > 0 ? { dropped_spans_suppressed: seen.droppedSpans } : {}),
  };
}

const DIAG_LEVELS: Readonly<Record<SdkLogLevel, DiagLogLevel>> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

/** Routes the API's diagnostics, at OTEL_LOG_LEVEL, and the SDK's global error handler to the log. */
export function installDiagnostics(logger: Logger, level: SdkLogLevel): SdkDiagLogger {
  const diagLogger = createDiagLogger(logger);
  diag.setLogger(diagLogger, { logLevel: DIAG_LEVELS[level], suppressOverrideMessage: true });
  setGlobalErrorHandler((error) => {
    if (typeof error === 'object' && error !== null && reported.has(error)) return;
    diagLogger.error('OpenTelemetry SDK error', error);
  });
  return diagLogger;
}
