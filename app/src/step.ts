// One operation of a request as its own child span. A failure is recorded on that span (exception event, status
// ERROR) and logged at error level while the span is active, so the error line carries the failing step's IDs.
import { SpanStatusCode, trace, type Span, type SpanOptions } from '@opentelemetry/api';
import type { Logger } from 'pino';

export const TRACER_NAME = 'otel-fargate-service';

const logged = new WeakSet<Error>();

/** True for an error a step already logged at error level, so the error handler does not log it a second time. */
export function loggedByStep(error: unknown): boolean {
  return error instanceof Error && logged.has(error);
}

export function step<T>(
  name: string,
  options: SpanOptions,
  logger: Logger,
  work: (span: Span) => Promise<T> | T,
): Promise<T> {
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, options, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      logger.error({ step: name, err }, `${name} failed`);
      logged.add(err);
      throw err;
    } finally {
      span.end();
    }
  });
}
