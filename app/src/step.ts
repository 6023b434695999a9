// One operation of a request as its own child span. A failure is recorded on that span (exception event, status
// ERROR) and logged at error level while the span is active, so the error line carries the failing step's IDs.
// Inside a request that is not recorded, no child span is opened (it would be dropped, and cost as much as the rest
// of the unrecorded path): the step's lines carry the request's own trace and span IDs.
import { SpanStatusCode, trace, type Span, type SpanOptions } from '@opentelemetry/api';
import type { Logger } from 'pino';

export const TRACER_NAME = 'otel-fargate-service';

/** A proxy until the SDK registers its provider (or for good, with tracing off); resolved once, not per span. */
const tracer = trace.getTracer(TRACER_NAME);

const logged = new WeakSet<Error>();

/** True for an error a step already logged at error level, so the error handler does not log it a second time. */
export function loggedByStep(error: unknown): boolean {
  return error instanceof Error && logged.has(error);
}

/** The active span when it is there but not recorded: its children would not be either. */
function unrecordedParent(): Span | undefined {
  const active = trace.getActiveSpan();
  return active !== undefined && !active.isRecording() ? active : undefined;
}

/**
 * For an error its step's caller logged itself (at the level it deserves, e.g. a store that is throttling): the step
 * still records it on its span, and neither the step nor the error handler logs it again.
 */
export function markLogged(error: Error): void {
  logged.add(error);
}

export function step<T>(
  name: string,
  options: SpanOptions,
  logger: Logger,
  work: (span: Span) => Promise<T> | T,
): Promise<T> {
  const run = async (span: Span, own: boolean): Promise<T> => {
    try {
      return await work(span);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      if (!logged.has(err)) logger.error({ step: name, err }, `${name} failed`);
      logged.add(err);
      throw err;
    } finally {
      if (own) span.end();
    }
  };
  const parent = unrecordedParent();
  if (parent !== undefined) return run(parent, false);
  return tracer.startActiveSpan(name, options, (span) => run(span, true));
}

/** A synchronous step without error handling of its own: `work` runs with its child span active. */
export function inChildSpan<T>(name: string, work: (span: Span) => T): T {
  const parent = unrecordedParent();
  if (parent !== undefined) return work(parent);
  return tracer.startActiveSpan(name, (span) => {
    try {
      return work(span);
    } finally {
      span.end();
    }
  });
}
