// The service's JSON answers. Every error names the X-Ray trace ID of the request (when tracing is on), so that a
// user can report it and an operator find its trace and its log lines.
import { trace } from '@opentelemetry/api';
import type { Response } from 'express';
import { toXrayTraceId } from './logger';

/** The X-Ray form of the active trace ID, for response bodies; absent when tracing is off. */
export function xrayTraceId(): { xrayTraceId?: string } {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? { xrayTraceId: toXrayTraceId(sc.traceId) } : {};
}

export function sendError(res: Response, status: number, error: string, message: string): void {
  res.status(status).json({ error, message, ...xrayTraceId() });
}

/** 503 with Retry-After: the client may try again in a second; the body says which trace to report. */
export function sendStoreUnavailable(res: Response): void {
  res.setHeader('retry-after', '1');
  sendError(res, 503, 'store_unavailable', 'the order store is unavailable; try again in a moment');
}
