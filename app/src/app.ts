// The routes, without listening. Every line logged while a request is handled is correlated by the logger's mixin;
// each request ends with one access line. Errors answer JSON with the X-Ray trace ID, so a user can report it.
import { SpanKind, trace, type Span } from '@opentelemetry/api';
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { clientAddress } from './client-address';
import { clientErrorAnswer } from './client-errors';
import { clip, toXrayTraceId } from './logger';
import { priceFor, PricingError, type PricingClient } from './pricing';
import { inChildSpan, loggedByStep, markLogged, step } from './step';
import { StoreUnavailableError, type OrderStore, type ProductCache } from './store';

export interface AppDeps {
  readonly logger: Logger;
  readonly store: OrderStore;
  readonly cache: ProductCache;
  readonly pricing: PricingClient;
}

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

/** The X-Ray form of the active trace ID, for response bodies; absent when tracing is off. */
function xrayTraceId(): { xrayTraceId?: string } {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? { xrayTraceId: toXrayTraceId(sc.traceId) } : {};
}

function sendError(res: Response, status: number, error: string, message: string): void {
  res.status(status).json({ error, message, ...xrayTraceId() });
}

const SKU = /^[!-~](?:[ -~]{0,62}[!-~])?$/;
const MAX_QUANTITY = 1000;
/** An order ID: a UUID in its textual form (the service makes v4 IDs, in lower case; upper case is accepted). */
const ORDER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Inside a store step: a store that cannot answer right now is one warn line with the SDK's error name and code (no
 * stack: it is not a bug here), written while the step's span is active; the step records it on its span only.
 */
function storeCall<T>(logger: Logger, call: () => Promise<T>): Promise<T> {
  return call().catch((error: unknown) => {
    if (error instanceof StoreUnavailableError) {
      logger.warn(
        {
          reason: error.reason,
          error_name: error.errorName,
          error_code: error.details.code,
          http_status: error.details.httpStatus,
          aws_request_id: error.details.requestId,
          attempts: error.details.attempts,
        },
        'order store unavailable',
      );
      markLogged(error);
    }
    throw error;
  });
}

/** 503 with Retry-After: the client may try again in a second; the body says which trace to report. */
function sendStoreUnavailable(res: Response): void {
  res.setHeader('retry-after', '1');
  sendError(res, 503, 'store_unavailable', 'the order store is unavailable; try again in a moment');
}

interface OrderRequest {
  readonly sku: string;
  readonly quantity: number;
}

function parseOrder(body: unknown): OrderRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'the body must be a JSON object {"sku": string, "quantity": positive integer}';
  }
  const { sku, quantity } = body as Record<string, unknown>;
  if (typeof sku !== 'string' || !SKU.test(sku)) return 'sku must be 1 to 64 printable ASCII characters';
  if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) {
    return `quantity must be an integer from 1 to ${MAX_QUANTITY}`;
  }
  return { sku, quantity };
}

export function createApp(deps: AppDeps): express.Express {
  const { logger, store, cache, pricing } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);

  // Before the access log: health checks are neither traced (telemetry/http-server.ts) nor logged.
  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });

  app.use(accessLog(logger));

  app.get('/', (_req, res) => {
    // The original's child span, active while it logs so that the line carries its IDs.
    inChildSpan('about', () => logger.info('about us page'));
    res.type('text/plain').send('Welcome to the Home Page!');
  });

  app.get('/prices/:sku', (req, res) => {
    const sku = req.params.sku;
    if (!SKU.test(sku)) {
      sendError(res, 400, 'bad_request', 'sku must be 1 to 64 printable ASCII characters');
      return;
    }
    const price = priceFor(sku);
    logger.info({ sku, unit_price_cents: price.unitPriceCents }, 'price quoted');
    res.json(price);
  });

  const orders: RequestHandler = async (req, res) => {
    const order = parseOrder(req.body);
    if (typeof order === 'string') {
      logger.info({ reason: order }, 'order rejected');
      sendError(res, 400, 'bad_request', order);
      return;
    }
    try {
      const { product, hit } = await step(
        'cache.read',
        { attributes: { 'cache.name': 'products', 'cache.key': order.sku } },
        logger,
        async (span) => {
          const result = await cache.read(order.sku);
          span.setAttribute('cache.hit', result.hit);
          logger.info({ sku: order.sku, cache_hit: result.hit }, 'product read from cache');
          return result;
        },
      );
      const price = await pricing.quote(product.sku);
      if (!Number.isSafeInteger(price.unitPriceCents * order.quantity)) {
        // A valid unit price can still make a total past 2^53 cents: no order of ours costs that much.
        logger.warn({ unit_price_cents: price.unitPriceCents, quantity: order.quantity }, 'order total out of range');
        throw new PricingError('the total is not a safe integer of cents', 502, 'pricing_failed');
      }
      const stored = await step(
        'store.write',
        {
          kind: SpanKind.INTERNAL,
          attributes: { 'db.system.name': store.kind, 'db.collection.name': 'orders', 'db.operation.name': 'put' },
        },
        logger,
        async (span) => {
          const saved = await storeCall(logger, () =>
            store.put({
              sku: product.sku,
              quantity: order.quantity,
              unitPriceCents: price.unitPriceCents,
              totalCents: price.unitPriceCents * order.quantity,
              currency: price.currency,
            }),
          );
          span.setAttribute('order.id', saved.id);
          logger.info({ order_id: saved.id, cache_hit: hit, total_cents: saved.totalCents }, 'order stored');
          return saved;
        },
      );
      res.status(201).json({ order: stored, ...xrayTraceId() });
    } catch (error) {
      if (error instanceof PricingError) {
        sendError(res, error.status, error.code, 'the pricing service could not price this order; try again');
        return;
      }
      if (error instanceof StoreUnavailableError) {
        sendStoreUnavailable(res);
        return;
      }
      throw error;
    }
  };
  app.post('/orders', express.json({ limit: '16kb' }), orders);

  const orderById: RequestHandler = async (req, res) => {
    const raw = req.params.id;
    if (typeof raw !== 'string' || !ORDER_ID.test(raw)) {
      logger.info({ reason: 'not a UUID' }, 'order lookup rejected');
      sendError(res, 400, 'bad_request', 'the order ID must be a UUID');
      return;
    }
    const id = raw.toLowerCase();
    try {
      const found = await step(
        'store.read',
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            'db.system.name': store.kind,
            'db.collection.name': 'orders',
            'db.operation.name': 'get',
            'order.id': id,
          },
        },
        logger,
        async (span) => {
          const order = await storeCall(logger, () => store.get(id));
          span.setAttribute('order.found', order !== undefined);
          logger.info({ order_id: id, found: order !== undefined }, 'order read');
          return order;
        },
      );
      if (found === undefined) {
        sendError(res, 404, 'not_found', 'no order with this ID');
        return;
      }
      res.json({ order: found, ...xrayTraceId() });
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        sendStoreUnavailable(res);
        return;
      }
      throw error;
    }
  };
  app.get('/orders/:id', orderById);

  app.use((_req, res) => {
    sendError(res, 404, 'not_found', 'no such route');
  });

  const onError: ErrorRequestHandler = (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    // body-parser and the router mark client errors with a 4xx status (bad JSON, too large, bad encoding). The client
    // gets a fixed message (client-errors.ts); the line keeps the error's own, clipped and JSON-escaped.
    const answer = clientErrorAnswer(error);
    if (answer !== undefined) {
      logger.info({ reason: answer.message, detail: clip(String((error as Error).message ?? '')) }, 'request rejected');
      sendError(res, answer.status, answer.error, answer.message);
      return;
    }
    trace.getActiveSpan()?.recordException(error instanceof Error ? error : new Error(String(error)));
    if (!loggedByStep(error)) logger.error({ err: error }, 'unhandled error');
    sendError(res, 500, 'internal_error', 'something went wrong; report the trace ID');
  };
  app.use(onError);

  return app;
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
function accessLog(logger: Logger): RequestHandler {
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
