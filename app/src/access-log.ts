// One access line per request, written when the response is sent, with the load balancer's trace Root when the
// request did not continue it; the same middleware gives the server span its route.
import { trace, type Span } from '@opentelemetry/api';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { clientAddress } from './client-address';
import { clip } from './logger';

/** Span attribute holding the load balancer's `X-Amzn-Trace-Id` Root, to join ALB access logs with the trace. */
export const ATTR_ALB_TRACE_ID = 'aws.alb.trace_id';

const ALB_ROOT = /(?:^|;)\s*Root=(1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24})\s*(?:;|$)/;

/**
 * The Root of an `X-Amzn-Trace-Id` header, if well formed; anything else is ignored, never copied. Whether it
 * needs recording depends on whether the propagator continued it (see `albRootToRecord`).
 */
export function parseAlbRoot(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.length > 512) return undefined;
  return ALB_ROOT.exec(value)?.[1]?.toLowerCase();
}

/**
 * The Root to record on the server span and access line: any Root the request did not continue. The X-Ray
 * propagator ignores a header without `Parent`, with `Sampled=?` or none, or with a malformed Parent (the ALB's
 * own header has no Parent), so a header's form does not tell; comparing with the trace actually used does.
 */
export function albRootToRecord(root: string | undefined, traceId: string | undefined): string | undefined {
  if (root === undefined) return undefined;
  return traceId !== undefined && root.slice(2).replace('-', '') === traceId ? undefined : root;
}

/**
 * The route that matched names the server span `METHOD route` and sets `http.route`, as instrumentation-http does
 * with the route a framework reports (the span itself is telemetry/http-server.ts's, which only the SDK loads).
 */
function nameServerSpan(span: Span, method: string, route: string): void {
  span.setAttribute('http.route', route);
  span.updateName(`${method} ${route}`);
}

/** One line per request, written when the response is sent; it also gives the server span its route. */
export function accessLog(logger: Logger): RequestHandler {
  return (req: Request, res: Response, next) => {
    const started = process.hrtime.bigint();
    const span = trace.getActiveSpan();
    const traceId = span?.spanContext().traceId;
    const albTraceId = albRootToRecord(parseAlbRoot(req.headers['x-amzn-trace-id']), traceId);
    if (albTraceId !== undefined) span?.setAttribute(ATTR_ALB_TRACE_ID, albTraceId);
    let finished = false;
    res.once('finish', () => {
      finished = true;
      const route = (req.route as { path?: unknown } | undefined)?.path;
      const routeName = typeof route === 'string' ? route : undefined;
      // Before the server span ends, which it does on 'close', after 'finish'.
      if (routeName !== undefined && span?.isRecording()) nameServerSpan(span, req.method, routeName);
      logger.info(
        {
          method: clip(req.method, 16),
          route: routeName,
          path: clip(req.path),
          status: res.statusCode,
          duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
          client_address: clientAddress(req),
          alb_trace_id: albTraceId,
        },
        'request completed',
      );
    });
    res.once('close', () => {
      if (!finished) {
        logger.warn(
          { method: clip(req.method, 16), path: clip(req.path), alb_trace_id: albTraceId },
          'client went away',
        );
      }
    });
    next();
  };
}
