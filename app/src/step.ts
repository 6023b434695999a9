// One operation of a request as its own child span. A failure is recorded on that span (exception event, status
// ERROR) and logged at error level while the span is active, so the error line carries the failing step's IDs.
// Inside a request that is not recorded, no child span is opened (it would be dropped, and cost as much as the rest
// of the unrecorded path): the step's lines carry the request's own trace and span IDs. Outside any span (tracing
// off: the service's listeners open a span for every traced request) the tracer is not called either: with tracing
// off it would make a no-op span and a context for every step, which is what "off" must not cost (issue 22).
import { INVALID_SPAN_CONTEXT, SpanStatusCode, trace, type Span, type SpanOptions } from '@opentelemetry/api';
import type { Logger } from 'pino';

export const TRACER_NAME = 'otel-fargate-service';

/** A proxy until the SDK registers its provider (or for good, with tracing off); resolved once, not per span. */
const tracer = trace.getTracer(TRACER_NAME);

const logged = new WeakSet<Error>();

/** True for an error a step already logged at error level, so the error handler does not log it a second time. */
export function loggedByStep(error: unknown): boolean {
  return error instanceof Error && logged.has(error);
}

/** What a step's work gets outside any span: a span that records nothing, shared. */
const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * The span a step uses as it is, instead of a child of its own: the active span when it is not recorded (its children
 * would not be either), or NO_SPAN when there is no active span at all (tracing off, or no request around the step).
 */
function spanToUseAsItIs(): Span | undefined {
  const active = trace.getActiveSpan();
  if (active === undefined) return NO_SPAN;
  return active.isRecording() ? undefined : active;
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
  const parent = spanToUseAsItIs();
  if (parent !== undefined) return run(parent, false);
  return tracer.startActiveSpan(name, options, (span) => run(span, true));
}

/** A synchronous step without error handling of its own: `work` runs with its child span active. */
export function inChildSpan<T>(name: string, work: (span: Span) => T): T {
  const parent = spanToUseAsItIs();
  if (parent !== undefined) return work(parent);
  return tracer.startActiveSpan(name, (span) => {
    try {
      return work(span);
    } finally {
      span.end();
    }
  });
}
